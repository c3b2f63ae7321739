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
    model: Option<String>,
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
    experiment: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RerankArg {
    model: Option<String>,
    subject: Option<String>,
    external_id: Option<String>,
    items: Vec<String>,
    purpose: Option<String>,
    experiment: Option<String>,
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

/// The experiment facts of a call: its name, the arm served, whether it was an exposure.
struct ArmFacts {
    experiment: String,
    arm: String,
    exposed: bool,
}

fn answer(served: &Served, purpose: &str, with_unknown: bool, arm: Option<&ArmFacts>) -> Value {
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
    if let Some(arm) = arm {
        v["experiment"] = json!(arm.experiment);
        // The arm only for an exposure: a subject left out was not assigned one.
        if arm.exposed {
            v["arm"] = json!(arm.arm);
        }
        v["exposed"] = json!(arm.exposed);
    }
    v
}

fn respond(
    served: &Served,
    purpose: &str,
    with_unknown: bool,
    reference: Option<[u8; 32]>,
    arm: Option<&ArmFacts>,
) -> Response {
    let mut statement = served
        .model
        .as_ref()
        .map(|(name, version)| format!("model {name}@v{version}"));
    if let Some(arm) = arm {
        let facts = format!(
            "experiment {} arm {}{}",
            arm.experiment,
            arm.arm,
            if arm.exposed {
                " exposed"
            } else {
                " (not exposed)"
            }
        );
        statement = Some(match statement {
            Some(s) => format!("{s}; {facts}"),
            None => facts,
        });
    }
    let mut response = Json(answer(served, purpose, with_unknown, arm)).into_response();
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
    let model = model_or_experiment(request.model.as_deref(), request.experiment.as_deref())?;
    let fallback = request
        .fallback
        .iter()
        .map(|m| model_ref(m))
        .collect::<Result<Vec<_>, _>>()?;
    let access = auth.read_access();
    let models = state.models.clone();
    let experiments = state.experiments.clone();
    let call_purpose = purpose.clone();
    // An experiment call records an exposure (a durable write) and a filter reads the item
    // catalog: those go to the blocking pool, as does a model not yet in memory.
    let in_memory = request.experiment.is_none()
        && filter.is_empty()
        && model
            .iter()
            .chain(&fallback)
            .all(|m| models.serves_from_memory(&tenant, m));
    let (served, reference, arm) = state
        .serving_api(in_memory, move |engine| {
            let subject = subject_of(
                engine,
                &tenant,
                request.subject.as_deref(),
                request.external_id.as_deref(),
            )?;
            let guard = engine.read_guard(&tenant, access).map_err(ApiError::from)?;
            let mut call = ServeCall {
                model: model.unwrap_or_else(|| ModelRef::Default(String::new())),
                subject,
                k: request.k.unwrap_or(K_DEFAULT),
                exclude_seen: request.exclude_seen.unwrap_or(true),
                exclude_items: request.exclude_items,
                filter,
                fallback,
            };
            let (served, arm) = match request.experiment.as_deref() {
                None => (
                    models.recommend(&guard, &call).map_err(ApiError::from)?,
                    None,
                ),
                Some(name) => {
                    let chosen = choose_arm(
                        &experiments,
                        &guard,
                        &tenant,
                        name,
                        &call_purpose,
                        call.subject.as_ref(),
                    )?;
                    call.model = chosen.model.clone();
                    let served = if chosen.control {
                        models.control(&guard, &call)
                    } else {
                        models.recommend(&guard, &call)
                    }
                    .map_err(ApiError::from)?;
                    record_exposure(engine, &tenant, &chosen, call.subject.as_ref(), &served)?;
                    (served, Some(chosen.facts))
                }
            };
            let reference = match &call.subject {
                Some(s) => engine.subject_ref(&tenant, s).map_err(ApiError::from)?,
                None => None,
            };
            Ok((served, reference, arm))
        })
        .await?;
    observe("recommend", &served, started);
    observe_arm(arm.as_ref());
    Ok(respond(&served, &purpose, false, reference, arm.as_ref()))
}

/// `model` for a plain call; neither or both with `experiment` is an error (the arm names the
/// model of an experiment's call).
fn model_or_experiment(
    model: Option<&str>,
    experiment: Option<&str>,
) -> Result<Option<ModelRef>, ApiError> {
    match (model, experiment) {
        (Some(m), None) => Ok(Some(model_ref(m)?)),
        (None, Some(_)) => Ok(None),
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "invalid_request",
            Some("model"),
            "name a model or an experiment (its arm names the model), not both",
        )),
        (None, None) => Err(ApiError::bad_request(
            "invalid_request",
            Some("model"),
            "expected a model (or an experiment)",
        )),
    }
}

/// The arm an experiment applies to this call.
struct Chosen {
    model: ModelRef,
    control: bool,
    facts: ArmFacts,
}

fn choose_arm(
    experiments: &steward_serve::Experiments,
    guard: &steward_engine::ReadGuard,
    tenant: &str,
    name: &str,
    purpose: &str,
    subject: Option<&Pseudonym>,
) -> Result<Chosen, ApiError> {
    let doc = experiments.get(tenant, name).map_err(ApiError::from)?;
    if doc.purpose != purpose {
        return Err(ApiError::bad_request(
            "experiment_purpose_mismatch",
            Some("purpose"),
            "the call's purpose must be the experiment's (subjects are assigned by consent to it)",
        ));
    }
    let assignment = experiments
        .assign(guard, &doc, subject)
        .map_err(ApiError::from)?;
    let arm = &doc.arms[assignment.arm];
    let model_text = arm
        .model
        .as_deref()
        .or_else(|| doc.popularity_model())
        .unwrap_or_default();
    Ok(Chosen {
        model: model_ref(model_text)?,
        control: arm.model.is_none(),
        facts: ArmFacts {
            experiment: doc.name.clone(),
            arm: arm.name.clone(),
            exposed: assignment.exposed,
        },
    })
}

/// An exposure is durable before the answer leaves (group-committed with concurrent calls).
fn record_exposure(
    engine: &steward_engine::Engine,
    tenant: &str,
    chosen: &Chosen,
    subject: Option<&Pseudonym>,
    served: &Served,
) -> Result<(), ApiError> {
    let (true, Some(subject)) = (chosen.facts.exposed, subject) else {
        return Ok(());
    };
    engine
        .record_exposures(
            tenant,
            &[steward_engine::Exposure {
                subject: *subject,
                experiment: chosen.facts.experiment.clone(),
                arm: chosen.facts.arm.clone(),
                model: served.model.clone(),
                time_us: chrono::Utc::now().timestamp_micros(),
            }],
        )
        .map_err(ApiError::from)?;
    Ok(())
}

fn observe_arm(arm: Option<&ArmFacts>) {
    if let Some(arm) = arm
        && arm.exposed
    {
        metrics::counter!("steward_experiment_served_total", "experiment" => arm.experiment.clone(), "arm" => arm.arm.clone())
            .increment(1);
    }
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
    let model = model_or_experiment(request.model.as_deref(), request.experiment.as_deref())?;
    let access = auth.read_access();
    let models = state.models.clone();
    let experiments = state.experiments.clone();
    let call_purpose = purpose.clone();
    let in_memory = request.experiment.is_none()
        && model
            .as_ref()
            .is_some_and(|m| models.serves_from_memory(&tenant, m));
    let (served, reference, arm) = state
        .serving_api(in_memory, move |engine| {
            let subject = subject_of(
                engine,
                &tenant,
                request.subject.as_deref(),
                request.external_id.as_deref(),
            )?;
            let guard = engine.read_guard(&tenant, access).map_err(ApiError::from)?;
            let (served, arm) = match (request.experiment.as_deref(), model) {
                (Some(name), _) => {
                    let chosen = choose_arm(
                        &experiments,
                        &guard,
                        &tenant,
                        name,
                        &call_purpose,
                        subject.as_ref(),
                    )?;
                    let served = if chosen.control {
                        models.rerank_control(
                            &guard,
                            &chosen.model,
                            subject.as_ref(),
                            &request.items,
                        )
                    } else {
                        models.rerank(&guard, &chosen.model, subject.as_ref(), &request.items)
                    }
                    .map_err(ApiError::from)?;
                    record_exposure(engine, &tenant, &chosen, subject.as_ref(), &served)?;
                    (served, Some(chosen.facts))
                }
                (None, Some(model)) => (
                    models
                        .rerank(&guard, &model, subject.as_ref(), &request.items)
                        .map_err(ApiError::from)?,
                    None,
                ),
                (None, None) => {
                    return Err(ApiError::bad_request(
                        "invalid_request",
                        Some("model"),
                        "expected a model (or an experiment)",
                    ));
                }
            };
            let reference = match &subject {
                Some(s) => engine.subject_ref(&tenant, s).map_err(ApiError::from)?,
                None => None,
            };
            Ok((served, reference, arm))
        })
        .await?;
    observe("rerank", &served, started);
    observe_arm(arm.as_ref());
    Ok(respond(&served, &purpose, true, reference, arm.as_ref()))
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
    let in_memory = filter.is_empty() && models.serves_from_memory(&tenant, &model);
    let served = state
        .serving_api(in_memory, move |engine| {
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
    Ok(respond(&served, &purpose, false, None, None))
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
    let in_memory = filter.is_empty() && models.serves_from_memory(&tenant, &model);
    let served = state
        .serving_api(in_memory, move |engine| {
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
    Ok(respond(&served, &purpose, false, None, None))
}
