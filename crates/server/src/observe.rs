//! Per-request observation: request id, structured log line, request count and latency.
//!
//! Logs and metrics carry the route *template* (`/v1/tenants/{tenant}/subjects/{subject}/events`),
//! never the concrete path, so no identifier of a person reaches them.

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use std::time::Instant;
use tracing::Instrument;

use crate::AppState;

const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request id, for handlers and the audit record.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub(crate) async fn observe(
    State(_state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    let span = tracing::info_span!("request", id = %request_id, %method, %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    if response.status().as_u16() >= 400 && is_plain_text(&response) {
        response = into_problem(response).await;
    }
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    metrics::counter!("steward_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!("steward_http_request_duration_seconds", "method" => method, "route" => route).record(seconds);
    span.in_scope(|| tracing::info!(status, ms = seconds * 1e3, "done"));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Our own errors are JSON (problem+json, or the ingest report); the framework's are text.
fn is_plain_text(response: &Response) -> bool {
    response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"))
}

/// Rewrites an error answered by the framework itself (a path that does not decode, a
/// method the route lacks) as problem+json, so every error has the same shape and a code.
async fn into_problem(response: Response) -> Response {
    let status = response.status();
    let code = match status.as_u16() {
        400 => "bad_request",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        _ if status.is_server_error() => "internal",
        _ => "error",
    };
    // The framework's text quotes what it could not parse (a path parameter, a header), so it
    // is replaced by a fixed sentence per status; it never reaches the client.
    let detail = match status.as_u16() {
        400 => "the request's path, query string or headers could not be read",
        404 => "not found",
        405 => "the route does not accept this method",
        413 => "request body too large",
        415 => "unsupported content type",
        422 => "the request could not be processed",
        _ if status.is_server_error() => "internal error",
        _ => "the request could not be processed",
    };
    drop(response);
    crate::ApiError::new(status, code, detail).into_response()
}

fn new_request_id() -> String {
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    data_encoding::HEXLOWER.encode(&bytes)
}
