//! The audit log's head and its RFC 9162 proofs (format: crates/audit/FORMAT.md).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Authorized;
use crate::{ApiError, AppState};

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

pub async fn head(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
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
    let Query(params) = params.map_err(crate::echo::query_rejection)?;
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
    let Query(params) = params.map_err(crate::echo::query_rejection)?;
    let proof = state
        .blocking(move |engine| engine.audit_consistency(&tenant, params.from, params.to))
        .await?;
    Ok(Json(proof.to_json()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadsParams {
    start: Option<usize>,
    limit: Option<usize>,
}

/// What a monitor needs to pin heads (as a Certificate Transparency monitor does): every
/// signed head, oldest first, a page at a time, with the public key that verifies them. A
/// monitor saves one, later asks for a consistency proof from its size to a newer head's, and
/// `steward audit verify --since-head FILE` checks the same offline.
pub async fn heads(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    params: Result<Query<HeadsParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(crate::echo::query_rejection)?;
    let limit = params.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request(
            "invalid_limit",
            Some("limit"),
            "expected 1 to 1000",
        ));
    }
    let (page, public_key) = state
        .blocking(move |engine| {
            Ok((
                engine.audit_heads(&tenant, params.start.unwrap_or(0), limit)?,
                engine.audit_public_key(),
            ))
        })
        .await?;
    let next =
        (page.start + page.heads.len() < page.total).then_some(page.start + page.heads.len());
    Ok(Json(json!({
        "start": page.start,
        "total": page.total,
        "next_start": next,
        "heads": page.heads.iter().map(steward_audit::head_json).collect::<Vec<_>>(),
        "public_key": hex(public_key.as_bytes()),
    })))
}
