//! Serving calls (purpose `personalization` unless named): recommendations for a subject,
//! re-ranking a caller's candidates, similar items, popular items. The subject is a pseudonym
//! or an `external_id` in the body (never in the URL); whether the answer is personalized is
//! the read guard's decision, and the answer says why not. Each call is audited with the model
//! version it used and the subject's keyed reference.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use steward_crypto::Pseudonym;
use steward_serve::{ItemFilter, ModelRef, ServeCall, Served};

use crate::auth::{AuditFacts, Authorized};
use crate::routes::body;
use crate::{ApiError, AppState};

const K_DEFAULT: usize = 10;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendArg {
    model: String,
    subject: Option<String>,
    external_id: Option<String>,
    k: Option<usize>,
    exclude_seen: Option<bool>,
    #[serde(default)]
    exclude_items: Vec<String>,
    #[serde(default)]
    filter: Value,
    #[serde(default)]
    fallback: Vec<String>,
    purpose: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RerankArg {
    model: String,
    subject: Option<String>,
    external_id: Option<String>,
    items: Vec<String>,
    purpose: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimilarArg {
    model: String,
    k: Option<usize>,
    #[serde(default)]
    filter: Value,
    purpose: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopularArg {
    model: String,
    k: Option<usize>,
    #[serde(default)]
    filter: Value,
    #[serde(default)]
    exclude_items: Vec<String>,
    purpose: Option<String>,
}

fn model_ref(text: &str) -> Result<ModelRef, ApiError> {
    ModelRef::parse(text).map_err(ApiError::from)
}

/// The subject a call names: a pseudonym, or an external id resolved now; both is an error.
fn subject_of(
    engine: &steward_engine::Engine,
    tenant: &str,
    subject: Option<&str>,
    external_id: Option<&str>,
) -> Result<Option<Pseudonym>, ApiError> {
    match (subject, external_id) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "invalid_subject",
            Some("subject"),
            "name the subject or its external_id, not both",
        )),
        (Some(hex), None) => Pseudonym::parse_hex(hex).map(Some).map_err(|_| {
            ApiError::bad_request(
                "invalid_subject",
                Some("subject"),
                "expected a 64-hex-digit pseudonym from subjects/resolve",
            )
        }),
        (None, Some(external)) => Ok(Some(
            engine
                .resolve_subject(tenant, external)
                .map_err(ApiError::from)?,
        )),
        (None, None) => Ok(None),
    }
}

fn answer(served: &Served, purpose: &str, with_unknown: bool) -> Value {
    let mut v = json!({
        "items": served.items.iter().map(|(id, score)| {
            if score.is_finite() { json!({"item": id, "score": score}) } else { json!({"item": id, "score": null}) }
        }).collect::<Vec<_>>(),
        "model": served.model.as_ref().map(|(name, version)| json!({"name": name, "version": version})),
        "personalized": served.personalized,
        "purpose": purpose,
    });
    if let Some(reason) = served.reason {
        v["reason"] = json!(reason.as_str());
    }
    if served.folded_in {
        v["folded_in"] = json!(true);
    }
    if with_unknown {
        v["unknown"] = json!(served.unknown);
    }
    v
}

fn respond(
    served: &Served,
    purpose: &str,
    with_unknown: bool,
    reference: Option<[u8; 32]>,
) -> Response {
    let statement = served
        .model
        .as_ref()
        .map(|(name, version)| format!("model {name}@v{version}"));
    let mut response = Json(answer(served, purpose, with_unknown)).into_response();
    response.extensions_mut().insert(AuditFacts {
        rows: served.items.len() as u64,
        subjects: reference.into_iter().collect(),
        statement,
    });
    response
}

fn labels(served: &Served) -> (String, String) {
    served.model.as_ref().map_or_else(
        || ("none".to_owned(), "none".to_owned()),
        |(n, v)| (n.clone(), v.to_string()),
    )
}

fn observe(endpoint: &'static str, served: &Served, started: std::time::Instant) {
    let (model, version) = labels(served);
    metrics::histogram!("steward_serving_seconds", "endpoint" => endpoint, "model" => model.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("steward_serving_calls_total", "endpoint" => endpoint, "model" => model, "version" => version, "personalized" => if served.personalized { "true" } else { "false" })
        .increment(1);
}

pub async fn recommend(
    State(state): State<AppState>,
    auth: Authorized,
    Path(tenant): Path<String>,
    request: Result<Json<RecommendArg>, JsonRejection>,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let request = body(request)?;
    let purpose = auth.purpose_matching(request.purpose.as_deref())?;
    let filter = ItemFilter::parse(&request.filter)?;
    let model = model_ref(&request.model)?;
    let fallback = request
        .fallback
        .iter()
        .map(|m| model_ref(m))
        .collect::<Result<Vec<_>, _>>()?;
    let access = auth.read_access();
    let models = state.models.clone();
    let (served, reference) = state
        .blocking_api(move |engine| {
            let subject = subject_of(
                engine,
                &tenant,
                request.subject.as_deref(),
                request.external_id.as_deref(),
            )?;
            let guard = engine.read_guard(&tenant, access).map_err(ApiError::from)?;
            let call = ServeCall {
                model,
                subject,
                k: request.k.unwrap_or(K_DEFAULT),
                exclude_seen: request.exclude_seen.unwrap_or(true),
                exclude_items: request.exclude_items,
                filter,
                fallback,
            };
            let served = models.recommend(&guard, &call).map_err(ApiError::from)?;
            let reference = match &call.subject {
                Some(s) => engine.subject_ref(&tenant, s).map_err(ApiError::from)?,
                None => None,
            };
            Ok((served, reference))
        })
        .await?;
    observe("recommend", &served, started);
    Ok(respond(&served, &purpose, false, reference))
}

pub async fn rerank(
    State(state): State<AppState>,
    auth: Authorized,
    Path(tenant): Path<String>,
    request: Result<Json<RerankArg>, JsonRejection>,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let request = body(request)?;
    let purpose = auth.purpose_matching(request.purpose.as_deref())?;
    let model = model_ref(&request.model)?;
    let access = auth.read_access();
    let models = state.models.clone();
    let (served, reference) = state
        .blocking_api(move |engine| {
            let subject = subject_of(
                engine,
                &tenant,
                request.subject.as_deref(),
                request.external_id.as_deref(),
            )?;
            let guard = engine.read_guard(&tenant, access).map_err(ApiError::from)?;
            let served = models
                .rerank(&guard, &model, subject.as_ref(), &request.items)
                .map_err(ApiError::from)?;
            let reference = match &subject {
                Some(s) => engine.subject_ref(&tenant, s).map_err(ApiError::from)?,
                None => None,
            };
            Ok((served, reference))
        })
        .await?;
    observe("rerank", &served, started);
    Ok(respond(&served, &purpose, true, reference))
}

pub async fn similar(
    State(state): State<AppState>,
    auth: Authorized,
    Path((tenant, item_id)): Path<(String, String)>,
    request: Result<Json<SimilarArg>, JsonRejection>,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let request = body(request)?;
    let purpose = auth.purpose_matching(request.purpose.as_deref())?;
    let filter = ItemFilter::parse(&request.filter)?;
    let model = model_ref(&request.model)?;
    steward_engine::items::validate_item_id(&item_id)?;
    let access = auth.read_access();
    let models = state.models.clone();
    let served = state
        .blocking_api(move |engine| {
            // Nothing personal is read; the guard is made so the call is a read like any other.
            let _guard = engine.read_guard(&tenant, access).map_err(ApiError::from)?;
            models
                .similar(
                    &tenant,
                    &model,
                    &item_id,
                    request.k.unwrap_or(K_DEFAULT),
                    &filter,
                )
                .map_err(ApiError::from)
        })
        .await?;
    observe("similar", &served, started);
    Ok(respond(&served, &purpose, false, None))
}

pub async fn popular(
    State(state): State<AppState>,
    auth: Authorized,
    Path(tenant): Path<String>,
    request: Result<Json<PopularArg>, JsonRejection>,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let request = body(request)?;
    let purpose = auth.purpose_matching(request.purpose.as_deref())?;
    let filter = ItemFilter::parse(&request.filter)?;
    let model = model_ref(&request.model)?;
    let access = auth.read_access();
    let models = state.models.clone();
    let served = state
        .blocking_api(move |engine| {
            let _guard = engine.read_guard(&tenant, access).map_err(ApiError::from)?;
            models
                .popular(
                    &tenant,
                    &model,
                    request.k.unwrap_or(K_DEFAULT),
                    &filter,
                    &request.exclude_items,
                )
                .map_err(ApiError::from)
        })
        .await?;
    observe("popular", &served, started);
    Ok(respond(&served, &purpose, false, None))
}
