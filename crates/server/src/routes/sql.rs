//! `POST /v1/tenants/{t}/sql`: a read-only query for a declared purpose, in the format the
//! `Accept` header names. The audit record carries the query's normalized text (literals
//! and unknown words as `?`) and its row count, for failures too.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use steward_privacy::PrivacyClass;
use steward_query::{QueryLimits, QueryOptions, ResultFormat, Session};

use crate::auth::{AuditFacts, Authorized};
use crate::routes::body;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlRequest {
    sql: String,
    purpose: Option<String>,
    max_rows: Option<usize>,
    max_bytes: Option<usize>,
    timeout_ms: Option<u64>,
}

/// The request's limits: the defaults, lowered (never raised past the ceilings) on request.
fn limits(request: &SqlRequest) -> Result<QueryLimits, ApiError> {
    let mut limits = QueryLimits::default();
    let bad = |field: &str, max: String| {
        ApiError::bad_request("invalid_limit", Some(field), format!("expected 1 to {max}"))
    };
    if let Some(rows) = request.max_rows {
        if rows == 0 || rows > steward_query::session::MAX_ROWS_CEILING {
            return Err(bad(
                "max_rows",
                steward_query::session::MAX_ROWS_CEILING.to_string(),
            ));
        }
        limits.max_rows = rows;
    }
    if let Some(bytes) = request.max_bytes {
        if bytes == 0 || bytes > steward_query::session::MAX_BYTES_CEILING {
            return Err(bad(
                "max_bytes",
                steward_query::session::MAX_BYTES_CEILING.to_string(),
            ));
        }
        limits.max_bytes = bytes;
    }
    if let Some(ms) = request.timeout_ms {
        if ms == 0 || ms > steward_query::session::TIMEOUT_CEILING.as_millis() as u64 {
            return Err(bad(
                "timeout_ms",
                steward_query::session::TIMEOUT_CEILING
                    .as_millis()
                    .to_string(),
            ));
        }
        limits.timeout = Duration::from_millis(ms);
    }
    Ok(limits)
}

pub async fn query(
    State(state): State<AppState>,
    auth: Authorized,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    request: Result<Json<SqlRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = body(request)?;
    let purpose = auth.purpose_matching(request.purpose.as_deref())?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = ResultFormat::from_accept(accept).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_ACCEPTABLE, "not_acceptable", "Accept one of application/json, text/csv, application/vnd.apache.arrow.stream, application/vnd.apache.parquet")
    })?;
    let limits = limits(&request)?;
    let visible = auth.visible.clone();
    let access = auth.read_access();
    let guard = {
        let tenant = tenant.clone();
        Arc::new(
            state
                .blocking(move |engine| engine.read_guard(&tenant, access))
                .await?,
        )
    };
    let statement = steward_query::session::normalize_for(&guard, &request.sql);
    // Planned, run and collected on the heavy-work pool, never on the HTTP runtime.
    let sql = request.sql.clone();
    let run_limits = limits.clone();
    let outcome = state
        .pool
        .run(async move {
            let session = Session::open(guard, &run_limits, &QueryOptions::default()).await?;
            match tokio::time::timeout(run_limits.timeout + Duration::from_millis(250), async {
                session.start(&sql).await?.collect().await
            })
            .await
            {
                Ok(result) => result,
                Err(_) => Err(steward_query::QueryError::Timeout {
                    limit_ms: run_limits.timeout.as_millis() as u64,
                }),
            }
        })
        .await
        .map_err(steward_query::QueryError::from)
        .and_then(|r| r);
    let result = match outcome {
        Ok(result) => result,
        // The planner's messages quote the statement's identifiers and literals: redacted.
        Err(error) => {
            return Ok(with_facts(
                ApiError::from(error).redacted(&request.sql).into_response(),
                0,
                statement,
            ));
        }
    };
    metrics::counter!("steward_sql_queries_total").increment(1);
    metrics::counter!("steward_sql_rows_scanned_total").increment(result.rows_scanned);
    let mut extra = serde_json::Map::new();
    extra.insert("purpose".into(), json!(purpose));
    extra.insert("decided_by".into(), json!(auth.policy_ids));
    extra.insert(
        "visible_classes".into(),
        json!(visible.iter().map(|c| c.as_str()).collect::<Vec<_>>()),
    );
    extra.insert(
        "masked_classes".into(),
        json!(
            PrivacyClass::ALL
                .into_iter()
                .filter(|c| !visible.contains(c))
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
        ),
    );
    extra.insert("stats".into(), json!({"segments_read": result.segments_read, "row_groups_read": result.row_groups_read, "rows_scanned": result.rows_scanned}));
    let rows = result.rows;
    let bytes = state
        .pool
        .blocking(move || steward_query::encode(format, &result.schema, &result.batches, &extra))
        .await??;
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        )],
        bytes,
    )
        .into_response();
    response
        .headers_mut()
        .insert("steward-row-count", HeaderValue::from(rows));
    Ok(with_facts(response, rows, statement))
}

fn with_facts(mut response: Response, rows: u64, statement: String) -> Response {
    response.extensions_mut().insert(AuditFacts {
        rows,
        subjects: Vec::new(),
        statement: Some(statement),
    });
    response
}
