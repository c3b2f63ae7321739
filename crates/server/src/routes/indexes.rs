//! Embeddings, vector indexes, semantic search and RAG (issue 13). Texts, questions and
//! answers are never logged: the audit record of a search names the hits' subjects by their
//! keyed references, and that of an answer the passages it cited (by reference) and the model.

use std::convert::Infallible;
use std::ops::ControlFlow;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use steward_engine::Engine;
use steward_serve::ItemFilter;
use steward_serve::indexes::{
    AnswerRequest, Hit, IndexSource, Passage, SearchQuery, TextColumns, embed_texts,
};

use crate::auth::{AuditFacts, Authorized};
use crate::routes::body;
use crate::{ApiError, AppState};

const K_DEFAULT: usize = 5;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedArg {
    texts: Vec<String>,
    purpose: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateArg {
    name: String,
    source: Value,
    purpose: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchArg {
    query: Option<String>,
    vector: Option<Vec<f32>>,
    k: Option<usize>,
    #[serde(default)]
    filter: Value,
    from: Option<String>,
    to: Option<String>,
    hybrid: Option<bool>,
    purpose: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrieveArg {
    question: String,
    k: Option<usize>,
    purpose: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerArg {
    question: String,
    k: Option<usize>,
    stream: Option<bool>,
    max_tokens: Option<usize>,
    purpose: Option<String>,
}

/// A source as the request names it: a data set version may be `"latest"`, resolved when the
/// index is made.
enum SourceArg {
    Named(IndexSource),
    Dataset {
        name: String,
        version: String,
        columns: TextColumns,
    },
}

/// Bytes of a column name a data set source may give.
const COLUMN_NAME_BYTES_MAX: usize = 128;

/// `{"dataset": {"name", "version"}, "columns": {"text", "id"?, "subject"?, "time"?}}`.
fn parse_dataset_source(object: &serde_json::Map<String, Value>) -> Result<SourceArg, ApiError> {
    let bad = |field: &'static str, message: &'static str| {
        ApiError::bad_request("invalid_source", Some(field), message)
    };
    if object.keys().any(|k| k != "dataset" && k != "columns") {
        return Err(bad(
            "source",
            "a data set source has only `dataset` and `columns`",
        ));
    }
    let dataset = object
        .get("dataset")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            bad(
                "source.dataset",
                "expected {\"name\": ..., \"version\": ...}",
            )
        })?;
    if dataset.keys().any(|k| k != "name" && k != "version") {
        return Err(bad("source.dataset", "expected only `name` and `version`"));
    }
    let name = match dataset.get("name") {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        _ => return Err(bad("source.dataset.name", "expected a data set name")),
    };
    let version = match dataset.get("version") {
        Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v <= u64::from(u32::MAX)) => {
            n.to_string()
        }
        Some(Value::String(s)) if s == "latest" => s.clone(),
        _ => {
            return Err(bad(
                "source.dataset.version",
                "expected a version number or \"latest\"",
            ));
        }
    };
    let columns = object
        .get("columns")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            bad(
                "source.columns",
                "expected {\"text\": ..., \"id\"?, \"subject\"?, \"time\"?}",
            )
        })?;
    let mut text = None;
    let (mut id, mut subject, mut time) = (None, None, None);
    for (key, value) in columns {
        let (slot, field) = match key.as_str() {
            "text" => (&mut text, "source.columns.text"),
            "id" => (&mut id, "source.columns.id"),
            "subject" => (&mut subject, "source.columns.subject"),
            "time" => (&mut time, "source.columns.time"),
            _ => {
                return Err(bad(
                    "source.columns",
                    "expected only `text`, `id`, `subject` and `time`",
                ));
            }
        };
        match value {
            Value::String(c) if !c.is_empty() && c.len() <= COLUMN_NAME_BYTES_MAX => {
                *slot = Some(c.clone())
            }
            _ => return Err(bad(field, "expected a column name")),
        }
    }
    let text = text.ok_or_else(|| bad("source.columns.text", "the text column is required"))?;
    Ok(SourceArg::Dataset {
        name,
        version,
        columns: TextColumns {
            text,
            id,
            subject,
            time,
        },
    })
}

/// `{"items": "text"}`, `{"event_type": ..., "field": ...}` or a data set version's columns.
fn parse_source(value: &Value) -> Result<SourceArg, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "invalid_source",
            Some("source"),
            "expected {\"items\": \"text\"}, {\"event_type\": ..., \"field\": ...} or {\"dataset\": {\"name\": ..., \"version\": ...}, \"columns\": {\"text\": ...}}",
        )
    };
    let object = value.as_object().ok_or_else(bad)?;
    if object.contains_key("dataset") {
        return parse_dataset_source(object);
    }
    match (
        object.get("items"),
        object.get("event_type"),
        object.get("field"),
    ) {
        (Some(Value::String(t)), None, None) if t == "text" && object.len() == 1 => {
            Ok(SourceArg::Named(IndexSource::Items))
        }
        (None, Some(Value::String(event_type)), Some(Value::String(field)))
            if object.len() == 2 =>
        {
            steward_privacy::validate_event_type(event_type).map_err(|_| {
                ApiError::bad_request(
                    "invalid_source",
                    Some("source.event_type"),
                    "not an event type name",
                )
            })?;
            steward_privacy::validate_field_name(field).map_err(|_| {
                ApiError::bad_request("invalid_source", Some("source.field"), "not a field name")
            })?;
            Ok(SourceArg::Named(IndexSource::Events {
                event_type: event_type.clone(),
                field: field.clone(),
            }))
        }
        _ => Err(bad()),
    }
}

fn time_us(text: Option<&str>, field: &'static str) -> Result<Option<i64>, ApiError> {
    text.map(|t| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| d.timestamp_micros())
            .map_err(|_| ApiError::bad_request("invalid_time", Some(field), "expected RFC 3339"))
    })
    .transpose()
}

/// Audit facts of a read that returned these hits: each subject by its keyed reference.
fn facts(engine: &Engine, tenant: &str, hits: &[&Hit], statement: Option<String>) -> AuditFacts {
    let mut subjects = Vec::new();
    for hit in hits {
        if let Some(s) = &hit.subject
            && let Ok(Some(reference)) = engine.subject_ref(tenant, s)
            && !subjects.contains(&reference)
        {
            subjects.push(reference);
        }
    }
    AuditFacts {
        rows: hits.len() as u64,
        subjects,
        statement,
    }
}

/// A passage's reference for the audit record: its kind and id, restricted to the characters
/// an audit record allows.
fn reference(hit: &Hit) -> String {
    let id: String = hit
        .id
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_:/.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{}:{id}", hit.kind)
}

pub async fn embeddings(
    State(state): State<AppState>,
    auth: Authorized,
    Path(_tenant): Path<String>,
    request: Result<Json<EmbedArg>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = body(request)?;
    auth.purpose_matching(request.purpose.as_deref())?;
    if request.texts.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_texts",
            Some("texts"),
            "expected at least one text",
        ));
    }
    let indexes = state.indexes.clone();
    let (model, dim, vectors) = state
        .blocking_api(move |_| embed_texts(&indexes, request.texts).map_err(ApiError::from))
        .await?;
    Ok(Json(json!({"model": model, "dim": dim, "vectors": vectors})).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    auth: Authorized,
    Path(tenant): Path<String>,
    request: Result<Json<CreateArg>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = body(request)?;
    let purpose = auth.purpose_matching(request.purpose.as_deref())?;
    let source = parse_source(&request.source)?;
    let access = auth.read_access();
    let visible = access.visible().to_vec();
    let indexes = state.indexes.clone();
    let datasets = state.datasets.clone();
    let summary = state
        .blocking_api(move |_| {
            let source = match source {
                SourceArg::Named(source) => source,
                SourceArg::Dataset {
                    name,
                    version,
                    columns,
                } => IndexSource::Dataset {
                    version: datasets.resolve_version(&tenant, &name, &version)?,
                    dataset: name,
                    columns,
                },
            };
            indexes
                .create(&tenant, &request.name, source, &purpose, &visible)
                .map_err(ApiError::from)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!(summary))).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let indexes = state.indexes.clone();
    let all = state
        .blocking_api(move |_| indexes.list(&tenant).map_err(ApiError::from))
        .await?;
    Ok(Json(json!({"indexes": all})).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let indexes = state.indexes.clone();
    let one = state
        .blocking_api(move |_| indexes.get(&tenant, &name).map_err(ApiError::from))
        .await?;
    Ok(Json(json!(one)).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let indexes = state.indexes.clone();
    state
        .blocking_api(move |_| indexes.delete(&tenant, &name).map_err(ApiError::from))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn search(
    State(state): State<AppState>,
    auth: Authorized,
    Path((tenant, name)): Path<(String, String)>,
    request: Result<Json<SearchArg>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = body(request)?;
    let purpose = auth.purpose_matching(request.purpose.as_deref())?;
    let filter = ItemFilter::parse(&request.filter)?;
    let query = SearchQuery {
        text: request.query,
        vector: request.vector,
        k: request.k.unwrap_or(K_DEFAULT),
        filter: (!filter.is_empty()).then_some(filter),
        from_us: time_us(request.from.as_deref(), "from")?,
        to_us: time_us(request.to.as_deref(), "to")?,
        hybrid: request.hybrid.unwrap_or(false),
    };
    let access = auth.read_access();
    let indexes = state.indexes.clone();
    let (hits, facts) = state
        .blocking_api(move |engine| {
            let guard = engine.read_guard(&tenant, access).map_err(ApiError::from)?;
            let hits = indexes
                .search(&guard, &name, &query)
                .map_err(ApiError::from)?;
            let facts = facts(engine, &tenant, &hits.iter().collect::<Vec<_>>(), None);
            Ok((hits, facts))
        })
        .await?;
    let mut response = Json(json!({"hits": hits, "purpose": purpose})).into_response();
    response.extensions_mut().insert(facts);
    Ok(response)
}

pub async fn retrieve(
    State(state): State<AppState>,
    auth: Authorized,
    Path((tenant, name)): Path<(String, String)>,
    request: Result<Json<RetrieveArg>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = body(request)?;
    let purpose = auth.purpose_matching(request.purpose.as_deref())?;
    let query = SearchQuery {
        text: Some(request.question),
        vector: None,
        k: request.k.unwrap_or(K_DEFAULT),
        filter: None,
        from_us: None,
        to_us: None,
        hybrid: false,
    };
    let access = auth.read_access();
    let indexes = state.indexes.clone();
    let (passages, facts) = state
        .blocking_api(move |engine| {
            let guard = engine.read_guard(&tenant, access).map_err(ApiError::from)?;
            let passages = indexes
                .retrieve(&guard, &name, &query)
                .map_err(ApiError::from)?;
            let hits: Vec<&Hit> = passages.iter().map(|p| &p.citation).collect();
            let facts = facts(engine, &tenant, &hits, None);
            Ok((passages, facts))
        })
        .await?;
    let mut response = Json(json!({"passages": passages, "purpose": purpose})).into_response();
    response.extensions_mut().insert(facts);
    Ok(response)
}

fn answer_json(answer: &steward_serve::indexes::Answer, purpose: &str) -> Value {
    json!({
        "answer": answer.text,
        "citations": answer.cited.iter().filter_map(|&n| answer.passages.get(n - 1).map(|p| json!({"passage": n, "id": p.citation.id, "kind": p.citation.kind, "time": p.citation.time, "by": answer.cited_by}))).collect::<Vec<_>>(),
        "passages": answer.passages.iter().map(|p: &Passage| json!({"text": p.text, "citation": p.citation, "redacted": p.redacted})).collect::<Vec<_>>(),
        "model": answer.model,
        "tokens": answer.tokens,
        "ttft_ms": answer.ttft_ms,
        "tokens_per_s": answer.tokens_per_s,
        "purpose": purpose,
    })
}

fn answer_facts(
    engine: &Engine,
    tenant: &str,
    answer: &steward_serve::indexes::Answer,
) -> AuditFacts {
    let cited: Vec<&Hit> = answer
        .cited
        .iter()
        .filter_map(|&n| answer.passages.get(n - 1).map(|p| &p.citation))
        .collect();
    let refs: Vec<String> = cited.iter().take(16).map(|h| reference(h)).collect();
    let hits: Vec<&Hit> = answer.passages.iter().map(|p| &p.citation).collect();
    facts(
        engine,
        tenant,
        &hits,
        Some(format!(
            "answer model {} cited {}",
            answer.model,
            refs.join(" ")
        )),
    )
}

pub async fn answer(
    State(state): State<AppState>,
    auth: Authorized,
    Path((tenant, name)): Path<(String, String)>,
    request: Result<Json<AnswerArg>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = body(request)?;
    let purpose = auth.purpose_matching(request.purpose.as_deref())?;
    let ask = AnswerRequest {
        question: request.question,
        k: request.k.unwrap_or(K_DEFAULT),
        max_tokens: request.max_tokens,
    };
    let access = auth.read_access();
    let indexes = state.indexes.clone();
    if !request.stream.unwrap_or(false) {
        let (answer, facts) = state
            .blocking_api(move |engine| {
                let guard = engine.read_guard(&tenant, access).map_err(ApiError::from)?;
                let passages = indexes
                    .answer_passages(&guard, &name, &ask)
                    .map_err(ApiError::from)?;
                let answer = indexes
                    .generate_answer(&ask, passages, &mut |_| ControlFlow::Continue(()))
                    .map_err(ApiError::from)?;
                let facts = answer_facts(engine, &tenant, &answer);
                Ok((answer, facts))
            })
            .await?;
        let mut response = Json(answer_json(&answer, &purpose)).into_response();
        response.extensions_mut().insert(facts);
        return Ok(response);
    }
    // Streamed: the retrieval runs first (its errors are the call's status, and its passages
    // the audit record's: the model sees those only); then tokens go out as `token` events and
    // the whole answer as `done`. A client that leaves stops the model at its next token.
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(256);
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<Result<AuditFacts, ApiError>>();
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || {
        let passages = engine
            .read_guard(&tenant, access)
            .map_err(ApiError::from)
            .and_then(|guard| {
                indexes
                    .answer_passages(&guard, &name, &ask)
                    .map_err(ApiError::from)
            });
        let passages = match passages {
            Ok(p) => p,
            Err(e) => {
                let _ = first_tx.send(Err(e));
                return;
            }
        };
        let hits: Vec<&Hit> = passages.iter().map(|p| &p.citation).collect();
        let refs: Vec<String> = hits.iter().take(16).map(|h| reference(h)).collect();
        let audit = facts(
            &engine,
            &tenant,
            &hits,
            Some(format!("answer stream passages {}", refs.join(" "))),
        );
        if first_tx.send(Ok(audit)).is_err() {
            return;
        }
        let mut on_token = |piece: &str| {
            let event = Event::default()
                .event("token")
                .data(json!({"text": piece}).to_string());
            if tx.blocking_send(event).is_err() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let event = match indexes.generate_answer(&ask, passages, &mut on_token) {
            Ok(answer) => Event::default()
                .event("done")
                .data(answer_json(&answer, &purpose).to_string()),
            Err(e) => Event::default()
                .event("error")
                .data(ApiError::from(e).problem_json().to_string()),
        };
        let _ = tx.blocking_send(event);
    });
    let facts = match first_rx.await {
        Ok(Ok(facts)) => facts,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(ApiError::internal()),
    };
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|event| (Ok::<Event, Infallible>(event), rx))
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    response.extensions_mut().insert(facts);
    Ok(response)
}
