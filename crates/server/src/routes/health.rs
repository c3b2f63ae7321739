//! Liveness, readiness, Prometheus metrics and the OpenAPI document (no authentication).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::{ApiError, AppState};

pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Ready while serving and while no background worker (flush, compaction and erasures, the
/// ledger's workers) is failing: a worker whose last round panicked keeps this at 503 until
/// it runs cleanly again. Tenants that failed to open are listed in the detail.
pub async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    if !state.is_ready() {
        return Err(ApiError::unavailable("shutting down"));
    }
    let failing = state.engine.failing_workers();
    if !failing.is_empty() {
        let mut error = ApiError::unavailable(format!(
            "background workers failing: {}",
            failing.join(", ")
        ));
        error.errors = failing.iter().map(|w| json!({"worker": w})).collect();
        return Err(error);
    }
    // A tenant whose stored state failed to open is named, but does not make the server
    // unready: every other tenant serves (failing the probe would take them all out).
    let unavailable = state.engine.unavailable_tenants();
    if !unavailable.is_empty() {
        let names: Vec<&str> = unavailable.iter().map(|(t, _)| t.as_str()).collect();
        return Ok(Json(json!({
            "status": "ready",
            "detail": format!("tenants unavailable (stored data failed an integrity check at start; see the server log): {}", names.join(", ")),
            "unavailable_tenants": names,
        })));
    }
    Ok(Json(json!({"status": "ready"})))
}

pub async fn metrics() -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::state::prometheus().render(),
    )
}

pub async fn openapi() -> impl IntoResponse {
    Json(crate::openapi_document())
}
