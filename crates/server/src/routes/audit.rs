//! The audit log's head and its RFC 9162 proofs (format: crates/audit/FORMAT.md).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Authorized;
use crate::{ApiError, AppState};

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

pub async fn head(State(state): State<AppState>, _auth: Authorized, Path(tenant): Path<String>) -> Result<Json<Value>, ApiError> {
    let (current, signed, public_key) = state
        .blocking(move |engine| {
            let (current, signed) = engine.audit_head(&tenant)?;
            Ok((current, signed, engine.audit_public_key()))
        })
        .await?;
    Ok(Json(json!({
        "size": current.size,
        "root": hex(&current.root),
        "signed": signed.map(|h| steward_audit::head_json(&h)),
        "public_key": hex(public_key.as_bytes()),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionParams {
    index: u64,
    size: Option<u64>,
}

pub async fn inclusion(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    params: Result<Query<InclusionParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request("invalid_query", None, e.body_text()))?;
    let proof = state
        .blocking(move |engine| {
            let size = match params.size {
                Some(size) => size,
                None => engine.audit_head(&tenant)?.0.size,
            };
            engine.audit_inclusion(&tenant, params.index, size)
        })
        .await?;
    Ok(Json(proof.to_json()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyParams {
    from: u64,
    to: u64,
}

pub async fn consistency(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    params: Result<Query<ConsistencyParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request("invalid_query", None, e.body_text()))?;
    let proof = state.blocking(move |engine| engine.audit_consistency(&tenant, params.from, params.to)).await?;
    Ok(Json(proof.to_json()))
}
