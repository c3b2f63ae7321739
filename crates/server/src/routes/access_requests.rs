//! Access requests: everything held about a subject (external id in the body) as one tar
//! archive: events with every field opened, consents and history, erasure requests, the
//! access report from the audit log, derived artifacts.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::auth::{AuditFacts, Authorized};
use crate::routes::body;
use crate::{ApiError, AppState, wire};

pub async fn create(
    State(state): State<AppState>,
    auth: Authorized,
    Path(tenant): Path<String>,
    request: Result<Json<wire::Resolve>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = body(request)?;
    let access = auth.subject_access();
    let archive = state
        .blocking(move |engine| engine.access_archive(&tenant, &request.external_id, access))
        .await?;
    let facts = AuditFacts {
        rows: archive.events,
        subjects: archive.subject_ref.into_iter().collect(),
        statement: None,
    };
    let mut response = archive.tar.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"access-request.tar\""),
    );
    response.extensions_mut().insert(facts);
    Ok(response)
}
