//! Tenant API keys: create (secret shown once; optionally scoped to purposes, with its own
//! rate limit), list, revoke.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use steward_access::{RateLimit, Role};
use steward_engine::NewKey;

use crate::auth::Authorized;
use crate::routes::body;
use crate::{ApiError, AppState, wire};

pub async fn create(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    request: Result<Json<wire::CreateKey>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request = body(request)?;
    let role = Role::parse(&request.role)
        .map_err(|e| ApiError::bad_request("invalid_role", Some("role"), e.to_string()))?;
    let expires_at = match &request.expires_at {
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| {
                    ApiError::bad_request(
                        "invalid_expiry",
                        Some("expires_at"),
                        "expected an RFC 3339 timestamp",
                    )
                })?
                .with_timezone(&chrono::Utc),
        ),
        None => None,
    };
    let rate_limit = request
        .rate_limit
        .as_ref()
        .map(|r| RateLimit::new(r.per_second, r.burst))
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_rate_limit", Some("rate_limit"), e))?;
    let new = NewKey {
        name: request.name,
        role,
        expires_at,
        purposes: request.purposes,
        rate_limit,
    };
    let (record, secret) = state
        .blocking(move |engine| engine.create_key(&tenant, new))
        .await?;
    let mut out = wire::key(&record);
    out["secret"] = Value::String(secret);
    Ok((StatusCode::CREATED, Json(out)))
}

pub async fn list(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let keys = state
        .blocking(move |engine| engine.list_keys(&tenant))
        .await?;
    Ok(Json(
        json!({"keys": keys.iter().map(wire::key).collect::<Vec<_>>()}),
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, key_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let record = state
        .blocking(move |engine| engine.revoke_key(&tenant, &key_id))
        .await?;
    Ok(Json(wire::key(&record)))
}
