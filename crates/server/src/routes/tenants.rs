//! Tenants: created and listed by the operator key.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::auth::Authorized;
use crate::routes::body;
use crate::{ApiError, AppState, wire};

pub async fn create(
    State(state): State<AppState>,
    _auth: Authorized,
    request: Result<Json<wire::CreateTenant>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request = body(request)?;
    let (info, record, secret) = state
        .blocking(move |engine| {
            let info = engine.create_tenant(&request.id)?;
            let (record, secret) = engine.create_key(
                &info.id,
                steward_engine::NewKey::new("initial-admin", steward_access::Role::Admin),
            )?;
            Ok((info, record, secret))
        })
        .await?;
    let mut body = wire::tenant(&info);
    let mut key = wire::key(&record);
    key["secret"] = Value::String(secret);
    body["admin_key"] = key;
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn list(
    State(state): State<AppState>,
    _auth: Authorized,
) -> Result<Json<Value>, ApiError> {
    let tenants = state.blocking(|engine| engine.list_tenants()).await?;
    Ok(Json(
        json!({"tenants": tenants.iter().map(wire::tenant).collect::<Vec<_>>()}),
    ))
}
