//! Ingest: one event, a JSON array, or a streamed NDJSON body processed in bounded chunks.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use steward_engine::IngestOptions;

use crate::auth::Authorized;
use crate::limits::*;
use crate::wire::IngestResponse;
use crate::{ApiError, AppState};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct IngestParams {
    #[serde(default)]
    all_or_nothing: bool,
}

enum Format {
    Json,
    Ndjson,
}

fn format_of(headers: &HeaderMap) -> Result<Format, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(Format::Json),
        "application/x-ndjson" | "application/jsonl" | "application/ndjson" => Ok(Format::Ndjson),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type application/json (one event or an array) or application/x-ndjson",
        )),
    }
}

pub async fn ingest(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    params: Result<Query<IngestParams>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<IngestResponse>), ApiError> {
    let Query(params) = params.map_err(crate::echo::query_rejection)?;
    match format_of(&headers)? {
        Format::Json => ingest_json(state, tenant, params, body).await,
        Format::Ndjson => {
            if params.all_or_nothing {
                return Err(ApiError::bad_request(
                    "unsupported_option",
                    Some("all_or_nothing"),
                    "all_or_nothing applies to JSON arrays; an NDJSON stream is stored chunk by chunk",
                ));
            }
            ingest_ndjson(state, tenant, body).await
        }
    }
}

async fn ingest_json(
    state: AppState,
    tenant: String,
    params: IngestParams,
    body: Body,
) -> Result<(StatusCode, Json<IngestResponse>), ApiError> {
    let bytes = axum::body::to_bytes(body, INGEST_JSON_BODY_BYTES_MAX)
        .await
        .map_err(|_| ApiError::too_large(format!("a JSON ingest body may hold at most {INGEST_JSON_BODY_BYTES_MAX} bytes; use application/x-ndjson for bulk")))?;
    let all_or_nothing = params.all_or_nothing;
    let report = state
        .blocking(move |engine| {
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| steward_engine::EngineError::Invalid {
                code: "invalid_json",
                field: None,
                message: format!("body is not JSON: {}", crate::echo::json_message(&e)),
            })?;
            let events = match value {
                Value::Array(events) => events,
                single => vec![single],
            };
            if events.len() > INGEST_ARRAY_EVENTS_MAX {
                return Err(steward_engine::EngineError::Limit(format!(
                    "a JSON array may hold at most {INGEST_ARRAY_EVENTS_MAX} events; use application/x-ndjson for bulk"
                )));
            }
            engine.ingest(&tenant, &events, IngestOptions { all_or_nothing })
        })
        .await?;
    let mut response = IngestResponse::default();
    response.add(&report, 0);
    let status = if all_or_nothing && response.rejected_count > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(response)))
}

/// Reads the NDJSON body in chunks of whole lines (≤ NDJSON_CHUNK_BYTES_MAX) and hands each
/// to the blocking pool, keeping one chunk in flight while the next is read. An event's
/// `index` in the response is its 0-based line number in the body.
async fn ingest_ndjson(
    state: AppState,
    tenant: String,
    body: Body,
) -> Result<(StatusCode, Json<IngestResponse>), ApiError> {
    let mut stream = body.into_data_stream();
    let mut response = IngestResponse::default();
    let mut pending = Vec::<u8>::with_capacity(NDJSON_CHUNK_BYTES_MAX + NDJSON_LINE_BYTES_MAX);
    let mut pending_first_line = 0usize;
    let mut total_bytes = 0u64;
    let mut discarding_long_line = false;
    let mut in_flight: Option<tokio::task::JoinHandle<Result<IngestResponse, ApiError>>> = None;
    loop {
        let data = match stream.next().await {
            Some(Ok(data)) => Some(data),
            Some(Err(error)) => {
                tracing::warn!(%error, "NDJSON body ended with an error");
                return Err(ApiError::bad_request(
                    "body_read_failed",
                    None,
                    "the request body could not be read to the end; events before the failure may be stored (retrying is safe: event ids are idempotent)",
                ));
            }
            None => None,
        };
        let done = data.is_none();
        if let Some(mut data) = data {
            total_bytes += data.len() as u64;
            if total_bytes > INGEST_NDJSON_BODY_BYTES_MAX {
                return Err(ApiError::too_large(format!(
                    "an NDJSON body may hold at most {INGEST_NDJSON_BODY_BYTES_MAX} bytes; events before the limit may be stored (retrying is safe)"
                )));
            }
            if discarding_long_line {
                // Skip the rest of an over-long line without buffering it.
                match data.iter().position(|&b| b == b'\n') {
                    Some(at) => {
                        data = data.slice(at + 1..);
                        discarding_long_line = false;
                        pending_first_line += 1;
                    }
                    None => continue,
                }
            }
            pending.extend_from_slice(&data);
        } else if !pending.is_empty() && pending.last() != Some(&b'\n') {
            pending.push(b'\n');
        }
        let complete = pending
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |at| at + 1);
        let tail_too_long = pending.len() - complete > NDJSON_LINE_BYTES_MAX;
        if complete > 0 && (complete >= NDJSON_CHUNK_BYTES_MAX || done || tail_too_long) {
            let chunk: Vec<u8> = pending.drain(..complete).collect();
            let first_line = pending_first_line;
            pending_first_line += chunk.iter().filter(|&&b| b == b'\n').count();
            if let Some(previous) = in_flight.take() {
                merge(&mut response, previous).await?;
            }
            let (state2, tenant2) = (state.clone(), tenant.clone());
            in_flight = Some(tokio::spawn(async move {
                ingest_chunk(state2, tenant2, chunk, first_line).await
            }));
        }
        if tail_too_long {
            response.reject_line(
                pending_first_line,
                "too_large",
                &format!("a line may hold at most {NDJSON_LINE_BYTES_MAX} bytes"),
            );
            pending.clear();
            discarding_long_line = true;
        }
        if done {
            break;
        }
    }
    if let Some(previous) = in_flight.take() {
        merge(&mut response, previous).await?;
    }
    Ok((StatusCode::OK, Json(response)))
}

async fn merge(
    response: &mut IngestResponse,
    task: tokio::task::JoinHandle<Result<IngestResponse, ApiError>>,
) -> Result<(), ApiError> {
    let part = task.await.map_err(|_| ApiError::internal())??;
    response.merge(part);
    Ok(())
}

/// Splits, parses and ingests one chunk of whole lines on the blocking pool (parsing is CPU work).
async fn ingest_chunk(
    state: AppState,
    tenant: String,
    chunk: Vec<u8>,
    first_line: usize,
) -> Result<IngestResponse, ApiError> {
    state
        .blocking(move |engine| {
            let mut response = IngestResponse::default();
            let mut events = Vec::with_capacity(NDJSON_CHUNK_EVENTS_MAX);
            let mut lines = Vec::with_capacity(NDJSON_CHUNK_EVENTS_MAX);
            let submit = |events: &mut Vec<Value>,
                          lines: &mut Vec<usize>,
                          response: &mut IngestResponse|
             -> Result<(), steward_engine::EngineError> {
                if events.is_empty() {
                    return Ok(());
                }
                let report = engine.ingest(&tenant, events, IngestOptions::default())?;
                response.add_mapped(&report, lines);
                events.clear();
                lines.clear();
                Ok(())
            };
            for (offset, line) in chunk.split(|&b| b == b'\n').enumerate() {
                let index = first_line + offset;
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                if line.len() > NDJSON_LINE_BYTES_MAX {
                    response.reject_line(
                        index,
                        "too_large",
                        &format!("a line may hold at most {NDJSON_LINE_BYTES_MAX} bytes"),
                    );
                    continue;
                }
                match serde_json::from_slice::<Value>(line) {
                    Ok(value) => {
                        events.push(value);
                        lines.push(index);
                    }
                    Err(e) => response.reject_line(
                        index,
                        "invalid_json",
                        &format!("line is not JSON: {}", crate::echo::json_message(&e)),
                    ),
                }
                if events.len() >= NDJSON_CHUNK_EVENTS_MAX {
                    submit(&mut events, &mut lines, &mut response)?;
                }
            }
            submit(&mut events, &mut lines, &mut response)?;
            Ok(response)
        })
        .await
}
