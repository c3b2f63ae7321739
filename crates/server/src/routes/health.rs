//! Liveness, readiness, Prometheus metrics and the OpenAPI document (no authentication).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use crate::{ApiError, AppState};

pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    if state.is_ready() {
        Ok(Json(json!({"status": "ready"})))
    } else {
        Err(ApiError::unavailable("shutting down"))
    }
}

pub async fn metrics() -> impl IntoResponse {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::state::prometheus().render())
}

pub async fn openapi() -> impl IntoResponse {
    Json(crate::openapi_document())
}
