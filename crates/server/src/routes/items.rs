//! The item catalog: upsert one item by id, upsert many (a JSON array or NDJSON, one commit,
//! per-entry errors like event ingest), read, delete and list with a cursor.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use steward_engine::EngineError;
use steward_engine::items::ItemsReport;

use crate::auth::Authorized;
use crate::limits::{ITEMS_BODY_BYTES_MAX, NDJSON_LINE_BYTES_MAX};
use crate::routes::body;
use crate::{ApiError, AppState};

pub async fn put(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, item_id)): Path<(String, String)>,
    request: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let document = body(request)?;
    if let Some(id) = document.get("item_id")
        && id.as_str() != Some(item_id.as_str())
    {
        return Err(ApiError::bad_request(
            "item_id_mismatch",
            Some("item_id"),
            "the body's item_id differs from the one in the path",
        ));
    }
    let indexes = state.indexes.clone();
    let changed = tenant.clone();
    let item = state
        .blocking(move |engine| {
            let mut report = engine.upsert_items(&tenant, vec![(item_id.clone(), document)])?;
            if let Some((_, error)) = report.rejected.pop() {
                return Err(error);
            }
            engine.item(&tenant, &item_id)
        })
        .await;
    // After the commit: the follower re-syncs items indexes at its next pass.
    indexes.items_changed(&changed);
    Ok(Json(item?.to_json()))
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, item_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let item = state
        .blocking(move |engine| engine.item(&tenant, &item_id))
        .await?;
    Ok(Json(item.to_json()))
}

pub async fn delete(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, item_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let indexes = state.indexes.clone();
    let changed = tenant.clone();
    let existed = state
        .blocking(move |engine| engine.delete_item(&tenant, &item_id))
        .await;
    indexes.items_changed(&changed);
    let existed = existed?;
    if existed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("item"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    cursor: Option<String>,
    limit: Option<usize>,
}

pub async fn list(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(crate::echo::query_rejection)?;
    let limit = params.limit.unwrap_or(100);
    let (page, total) = state
        .blocking(move |engine| {
            let page = engine.items_page(&tenant, params.cursor.as_deref(), limit)?;
            Ok::<_, EngineError>((page, engine.item_count(&tenant)?))
        })
        .await?;
    Ok(Json(json!({
        "items": page.items.iter().map(|i| i.to_json()).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
        "total": total,
    })))
}

/// Bulk upsert: `application/json` (an array of `{item_id, properties?, text?}`) or NDJSON,
/// one durable commit. `index` in `rejected` is the entry's position (its 0-based line for NDJSON).
pub async fn bulk(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
    let ndjson = match essence.as_str() {
        "application/json" => false,
        "application/x-ndjson" | "application/jsonl" | "application/ndjson" => true,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected Content-Type application/json (an array of items) or application/x-ndjson",
            ));
        }
    };
    let bytes = axum::body::to_bytes(body, ITEMS_BODY_BYTES_MAX)
        .await
        .map_err(|_| ApiError::too_large(format!("an items body may hold at most {ITEMS_BODY_BYTES_MAX} bytes; split it into several requests")))?;
    let indexes = state.indexes.clone();
    let changed = tenant.clone();
    let report = state
        .blocking(move |engine| {
            let (entries, mut early) = split_entries(&bytes, ndjson)?;
            let positions: Vec<usize> = entries.iter().map(|(p, _, _)| *p).collect();
            let mut report = engine.upsert_items(
                &tenant,
                entries.into_iter().map(|(_, id, doc)| (id, doc)).collect(),
            )?;
            // Map indexes in the accepted list back to positions in the body.
            for (index, _) in report.rejected.iter_mut() {
                *index = positions.get(*index).copied().unwrap_or(*index);
            }
            report.rejected.append(&mut early);
            report.rejected.sort_by_key(|(index, _)| *index);
            Ok::<ItemsReport, EngineError>(report)
        })
        .await;
    indexes.items_changed(&changed);
    let report = report?;
    let rejected: Vec<Value> = report
        .rejected
        .into_iter()
        .map(|(index, error)| rejection(index, error))
        .collect();
    Ok((
        StatusCode::OK,
        Json(
            json!({"upserted": report.upserted, "unchanged": report.unchanged, "rejected": rejected}),
        ),
    ))
}

/// Entries as (position, item id, document), and the positions refused before the engine.
type Entries = (Vec<(usize, String, Value)>, Vec<(usize, EngineError)>);

fn split_entries(bytes: &[u8], ndjson: bool) -> Result<Entries, EngineError> {
    let mut values: Vec<(usize, Result<Value, EngineError>)> = Vec::new();
    if ndjson {
        for (line_no, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            let parsed = if line.len() > NDJSON_LINE_BYTES_MAX {
                Err(EngineError::Invalid {
                    code: "too_large",
                    field: None,
                    message: format!("a line may hold at most {NDJSON_LINE_BYTES_MAX} bytes"),
                })
            } else {
                serde_json::from_slice::<Value>(line).map_err(|e| EngineError::Invalid {
                    code: "invalid_json",
                    field: None,
                    message: format!("the line is not JSON: {}", crate::echo::json_message(&e)),
                })
            };
            values.push((line_no, parsed));
        }
    } else {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| EngineError::Invalid {
            code: "invalid_json",
            field: None,
            message: format!("body is not JSON: {}", crate::echo::json_message(&e)),
        })?;
        let Value::Array(array) = value else {
            return Err(EngineError::Invalid {
                code: "invalid_items",
                field: None,
                message:
                    "expected a JSON array of items (or NDJSON); PUT .../items/{item_id} takes one"
                        .into(),
            });
        };
        values.extend(array.into_iter().enumerate().map(|(i, v)| (i, Ok(v))));
    }
    let mut entries = Vec::with_capacity(values.len());
    let mut early = Vec::new();
    for (position, parsed) in values {
        match parsed.and_then(|doc| match doc.get("item_id").and_then(Value::as_str) {
            Some(id) => Ok((id.to_owned(), doc)),
            None => Err(EngineError::Invalid {
                code: "invalid_item_id",
                field: Some("item_id".into()),
                message: "each entry needs an item_id string".into(),
            }),
        }) {
            Ok((id, doc)) => entries.push((position, id, doc)),
            Err(error) => early.push((position, error)),
        }
    }
    Ok((entries, early))
}

/// One refused entry: its position, a stable code, the field and a message (never the value).
fn rejection(index: usize, error: EngineError) -> Value {
    let problem = ApiError::from(error);
    let mut out = json!({"index": index, "code": problem.code, "message": problem.detail});
    if let Some(field) = problem.field {
        out["field"] = Value::String(field);
    }
    if !problem.errors.is_empty() {
        out["errors"] = Value::Array(problem.errors);
    }
    out
}
