//! Event schemas: versioned per tenant and event type.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use steward_privacy::SchemaVersion;

use crate::auth::Authorized;
use crate::routes::body;
use crate::{ApiError, AppState};

fn schema_json(version: &SchemaVersion) -> Value {
    json!({"event_type": version.event_type, "version": version.version, "schema": version.schema.to_json()})
}

pub async fn put(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, event_type)): Path<(String, String)>,
    request: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let document = body(request)?;
    let version = state
        .blocking(move |engine| engine.put_schema(&tenant, &event_type, &document))
        .await?;
    Ok(Json(schema_json(&version)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    version: Option<u32>,
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, event_type)): Path<(String, String)>,
    query: Result<Query<VersionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(crate::echo::query_rejection)?;
    let version = state
        .blocking(move |engine| engine.get_schema(&tenant, &event_type, query.version))
        .await?;
    Ok(Json(schema_json(&version)))
}

pub async fn list(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let versions = state
        .blocking(move |engine| engine.list_schemas(&tenant))
        .await?;
    Ok(Json(
        json!({"schemas": versions.iter().map(|v| schema_json(v)).collect::<Vec<_>>()}),
    ))
}
