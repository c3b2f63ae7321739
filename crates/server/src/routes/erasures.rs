//! Erasure requests: `POST` files one (the external id in the body, never the URL) and
//! answers 202 once the subject's key is destroyed and its rows hidden; `GET` follows it
//! through purged, derived and done.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use steward_engine::ErasureRequest;

use crate::auth::Authorized;
use crate::routes::body;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EraseBody {
    external_id: String,
    /// Purge at once instead of at the deployment's deadline.
    #[serde(default)]
    now: bool,
    /// Refuse the subject's future events (default: they start a new subject key).
    #[serde(default)]
    block_future: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EraseBatchBody {
    external_ids: Vec<String>,
    #[serde(default)]
    now: bool,
    #[serde(default)]
    block_future: bool,
}

fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(crate) fn erasure_json(r: &ErasureRequest) -> Value {
    json!({
        "id": r.id,
        "state": r.state.as_str(),
        "history": r.history.iter().map(|(s, at)| json!({"state": s.as_str(), "at": time(at)})).collect::<Vec<_>>(),
        "no_data": r.no_data,
        "purge_after": time(&r.purge_after),
        "rows_removed": r.rows_removed,
        "segments_rewritten": r.segments_rewritten,
        "files_removed": r.files_removed,
        "derived_artifacts": r.derived_artifacts,
        "subject_hash": r.subject_hash,
    })
}

pub async fn create(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    request: Result<Json<EraseBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request = body(request)?;
    let erasure = state
        .blocking(move |engine| {
            engine.request_erasure(
                &tenant,
                &request.external_id,
                request.now,
                request.block_future,
            )
        })
        .await?;
    Ok((StatusCode::ACCEPTED, Json(filed_json(&erasure))))
}

/// A request as answered to whoever filed it: only that answer carries the salt (keep it with
/// your receipt to show the receipt is about you: SHA-256(salt ‖ pseudonym) = subject_hash).
fn filed_json(erasure: &ErasureRequest) -> Value {
    let mut out = erasure_json(erasure);
    if let Some(salt) = &erasure.subject_salt {
        out["subject_salt"] = Value::String(salt.clone());
    }
    out
}

/// Many subjects at once (up to 10,000): one commit and one audit append per step.
pub async fn create_batch(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    request: Result<Json<EraseBatchBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request = body(request)?;
    let erasures = state
        .blocking(move |engine| {
            engine.request_erasures(
                &tenant,
                &request.external_ids,
                request.now,
                request.block_future,
            )
        })
        .await?;
    let requests: Vec<Value> = erasures.iter().map(filed_json).collect();
    Ok((StatusCode::ACCEPTED, Json(json!({"requests": requests}))))
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "invalid_erasure_id",
            Some("id"),
            "expected the 32-hex-digit id a request returned",
        ));
    }
    Ok(())
}

/// The signed receipt of a done erasure (404 until it is done).
pub async fn receipt(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    check_id(&id)?;
    Ok(Json(
        state
            .blocking(move |engine| engine.erasure_receipt(&tenant, &id))
            .await?,
    ))
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    check_id(&id)?;
    let erasure = state
        .blocking(move |engine| engine.erasure(&tenant, &id))
        .await?;
    Ok(Json(erasure_json(&erasure)))
}
