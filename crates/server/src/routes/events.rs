//! Ingest: one event, a JSON array, or a streamed NDJSON body processed in bounded chunks.

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use steward_access::Action;
use steward_engine::IngestOptions;

use crate::auth::Caller;
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
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
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
    caller: Caller,
    Path(tenant): Path<String>,
    params: Result<Query<IngestParams>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<IngestResponse>), ApiError> {
    caller.may(Action::Ingest, Some(&tenant))?;
    let Query(params) = params.map_err(|e| ApiError::bad_request("invalid_query", None, e.body_text()))?;
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

async fn ingest_json(state: AppState, tenant: String, params: IngestParams, body: Body) -> Result<(StatusCode, Json<IngestResponse>), ApiError> {
    let bytes = axum::body::to_bytes(body, INGEST_JSON_BODY_BYTES_MAX)
        .await
        .map_err(|_| ApiError::too_large(format!("a JSON ingest body may hold at most {INGEST_JSON_BODY_BYTES_MAX} bytes; use application/x-ndjson for bulk")))?;
    let all_or_nothing = params.all_or_nothing;
    let report = state
        .blocking(move |engine| {
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| steward_engine::EngineError::Invalid {
                code: "invalid_json",
                field: None,
                message: format!("body is not JSON: {e}"),
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
    let status = if all_or_nothing && response.rejected_count > 0 { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok((status, Json(response)))
}

/// A chunk of NDJSON lines with their event index in the request.
type Chunk = Vec<(usize, Bytes)>;

async fn ingest_ndjson(state: AppState, tenant: String, body: Body) -> Result<(StatusCode, Json<IngestResponse>), ApiError> {
    let mut stream = body.into_data_stream();
    let mut response = IngestResponse::default();
    let mut pending = Vec::<u8>::new();
    let mut chunk: Chunk = Vec::new();
    let mut chunk_bytes = 0usize;
    let mut next_index = 0usize;
    let mut total_bytes = 0u64;
    let mut in_flight: Option<tokio::task::JoinHandle<Result<(IngestResponse, usize), ApiError>>> = None;
    let mut discarding_long_line = false;
    loop {
        let data = match stream.next().await {
            Some(Ok(data)) => Some(data),
            Some(Err(error)) => {
                tracing::warn!(%error, "NDJSON body ended with an error");
                return Err(ApiError::bad_request("body_read_failed", None, "the request body could not be read to the end; events before the failure may be stored (retrying is safe: event ids are idempotent)"));
            }
            None => None,
        };
        let done = data.is_none();
        if let Some(data) = data {
            total_bytes += data.len() as u64;
            if total_bytes > INGEST_NDJSON_BODY_BYTES_MAX {
                return Err(ApiError::too_large(format!("an NDJSON body may hold at most {INGEST_NDJSON_BODY_BYTES_MAX} bytes; events before the limit may be stored (retrying is safe)")));
            }
            pending.extend_from_slice(&data);
        } else if !pending.is_empty() {
            pending.push(b'\n');
        }
        let mut start = 0;
        while let Some(offset) = pending[start..].iter().position(|&b| b == b'\n') {
            let line = &pending[start..start + offset];
            start += offset + 1;
            if discarding_long_line {
                discarding_long_line = false;
                continue;
            }
            let trimmed = line.trim_ascii();
            if trimmed.is_empty() {
                continue;
            }
            let index = next_index;
            next_index += 1;
            if trimmed.len() > NDJSON_LINE_BYTES_MAX {
                response.reject_line(index, "too_large", &format!("a line may hold at most {NDJSON_LINE_BYTES_MAX} bytes"));
                continue;
            }
            chunk_bytes += trimmed.len();
            chunk.push((index, Bytes::copy_from_slice(trimmed)));
        }
        pending.drain(..start);
        if pending.len() > NDJSON_LINE_BYTES_MAX && !discarding_long_line {
            // A line longer than the limit: reject it without buffering the rest of it.
            response.reject_line(next_index, "too_large", &format!("a line may hold at most {NDJSON_LINE_BYTES_MAX} bytes"));
            next_index += 1;
            pending.clear();
            discarding_long_line = true;
        } else if discarding_long_line {
            pending.clear();
        }
        if chunk.len() >= NDJSON_CHUNK_EVENTS_MAX || chunk_bytes >= NDJSON_CHUNK_BYTES_MAX || (done && !chunk.is_empty()) {
            if let Some(previous) = in_flight.take() {
                merge(&mut response, previous).await?;
            }
            let lines = std::mem::take(&mut chunk);
            chunk_bytes = 0;
            let state2 = state.clone();
            let tenant2 = tenant.clone();
            in_flight = Some(tokio::spawn(async move { ingest_chunk(state2, tenant2, lines).await }));
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

async fn merge(response: &mut IngestResponse, task: tokio::task::JoinHandle<Result<(IngestResponse, usize), ApiError>>) -> Result<(), ApiError> {
    let (part, _) = task.await.map_err(|_| ApiError::internal())??;
    response.accepted += part.accepted;
    response.duplicates += part.duplicates;
    response.rejected_count += part.rejected_count;
    for item in part.rejected {
        if response.rejected.len() < REJECTED_LISTED_MAX {
            response.rejected.push(item);
        }
    }
    Ok(())
}

/// Parses and ingests one chunk on the blocking pool (JSON parsing is CPU work).
async fn ingest_chunk(state: AppState, tenant: String, lines: Chunk) -> Result<(IngestResponse, usize), ApiError> {
    state
        .blocking(move |engine| {
            let mut response = IngestResponse::default();
            let mut events = Vec::with_capacity(lines.len());
            let mut indexes = Vec::with_capacity(lines.len());
            for (index, line) in &lines {
                match serde_json::from_slice::<Value>(line) {
                    Ok(value) => {
                        events.push(value);
                        indexes.push(*index);
                    }
                    Err(e) => response.reject_line(*index, "invalid_json", &format!("line is not JSON: {e}")),
                }
            }
            if !events.is_empty() {
                let report = engine.ingest(&tenant, &events, IngestOptions::default())?;
                let mut part = IngestResponse::default();
                part.add(&report, 0);
                response.accepted += part.accepted;
                response.duplicates += part.duplicates;
                response.rejected_count += part.rejected_count;
                for mut item in part.rejected {
                    let local = item["index"].as_u64().unwrap_or(0) as usize;
                    item["index"] = Value::from(indexes.get(local).copied().unwrap_or(0));
                    response.rejected.push(item);
                }
            }
            Ok((response, lines.len()))
        })
        .await
}
