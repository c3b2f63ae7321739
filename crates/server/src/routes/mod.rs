//! Route handlers, one file per resource.

pub mod access_requests;
pub mod audit;
pub mod backup;
pub mod consents;
pub mod console;
pub mod datasets;
pub mod erasures;
pub mod events;
pub mod experiments;
pub mod health;
pub mod identity;
pub mod indexes;
pub mod items;
pub mod keys;
pub mod models;
pub mod pii;
pub mod policies;
pub mod reports;
pub mod schemas;
pub mod serving;
pub mod sql;
pub mod subjects;
pub mod tenants;

use axum::Json;
use axum::extract::rejection::JsonRejection;

use crate::ApiError;

pub async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

/// Unwraps a JSON body, mapping axum's rejection to our problem shape.
pub(crate) fn body<T>(json: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    json.map(|Json(v)| v)
        .map_err(crate::error::from_json_rejection)
}
