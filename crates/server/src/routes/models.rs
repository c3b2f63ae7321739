//! The model registry over HTTP: start a training job from a data set version (202; the job
//! runs in the background), list models and versions (state, progress, parameters, metrics
//! beside the popularity baseline, lineage, who trained it, duration, bytes), cancel a job,
//! and move aliases (each move audited with the alias and both versions). Wire shapes live
//! here; the registry is `steward-serve`.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use steward_serve::{
    Algorithm, Columns, EvaluationSpec, ModelManifest, Progress, SplitKind, TrainRequest,
    params_from_json,
};

use crate::auth::{AuditFacts, Authorized};
use crate::observe::RequestId;
use crate::routes::body;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetArg {
    name: String,
    /// A number or `"latest"` (the newest ready version).
    version: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnsArg {
    user: String,
    item: String,
    weight: Option<String>,
    time: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationArg {
    split: String,
    holdout: Option<f64>,
    k: Vec<usize>,
    seed: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateModel {
    name: String,
    algorithm: String,
    dataset: DatasetArg,
    columns: ColumnsArg,
    #[serde(default)]
    params: Value,
    evaluation: Option<EvaluationArg>,
    seed: Option<u64>,
    purpose: Option<String>,
}

/// The body of a cancel: `{}` (nothing to say yet).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelArg {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasArg {
    version: u32,
}

/// The seed of a job that names none.
const SEED_DEFAULT: u64 = 42;

fn facts(response: &mut Response, rows: u64) {
    response.extensions_mut().insert(AuditFacts {
        rows,
        subjects: Vec::new(),
        statement: None,
    });
}

async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, steward_serve::ServeError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(ApiError::from)
}

fn metrics_json(manifest: &ModelManifest) -> Value {
    match &manifest.metrics {
        None => Value::Null,
        Some(m) => {
            let at = |list: &[steward_serve::MetricsAtK]| -> Vec<Value> {
                list.iter().map(|a| json!({"k": a.k, "recall": a.recall, "precision": a.precision, "ndcg": a.ndcg, "map": a.map, "coverage": a.coverage})).collect()
            };
            json!({"split": m.split, "holdout": m.holdout, "users_evaluated": m.users_evaluated, "users_cold": m.users_cold, "at": at(&m.at), "baseline": at(&m.baseline)})
        }
    }
}

/// A version as the API shows it.
pub(crate) fn version_json(manifest: &ModelManifest, progress: Option<&Progress>) -> Value {
    let d = &manifest.dataset;
    let mut v = json!({
        "name": manifest.name,
        "version": manifest.version,
        "state": manifest.state.as_str(),
        "algorithm": manifest.algorithm,
        "params": manifest.params,
        "seed": manifest.seed,
        "columns": {"user": manifest.columns.user, "item": manifest.columns.item, "weight": manifest.columns.weight, "time": manifest.columns.time},
        "evaluation": manifest.evaluation.as_ref().map(|e| json!({"split": serde_json::to_value(e.split).unwrap_or(Value::Null), "holdout": e.holdout, "k": e.k, "seed": e.seed})),
        "metrics": metrics_json(manifest),
        "lineage": {
            "dataset": {"name": d.name, "version": d.version, "content_sha256": d.content_sha256, "rows": d.rows},
            "purpose": manifest.purpose,
            "dataset_purpose": d.purpose,
            "consent_snapshot_at": d.consent_snapshot_at,
            "erasure_generation": d.generation,
        },
        "trained_by": manifest.trained_by,
        "created_at": manifest.created_at,
        "started_at": manifest.started_at,
        "finished_at": manifest.finished_at,
        "duration_ms": manifest.duration_ms,
        "timings": {"read_ms": manifest.timings.read_ms, "rows_read": manifest.timings.rows_read, "evaluation_ms": manifest.timings.evaluation_ms, "fit_ms": manifest.timings.fit_ms, "write_ms": manifest.timings.write_ms},
        "memory_estimate_bytes": manifest.memory_estimate_bytes,
        "bytes": manifest.bytes,
        "sha256": manifest.sha256,
        "users": manifest.users,
        "user_rows": manifest.user_rows,
        "items": manifest.items,
        "interactions": manifest.interactions,
        "attempts": manifest.attempts,
        "replaces": manifest.replaces,
        "reason": manifest.reason,
        "retrained_as": manifest.retrained_as,
        "files_removed": manifest.files_removed,
        "erasure_steps": manifest.erasure_steps.iter().map(|s| json!({"action": s.action, "at": s.at, "successor": s.successor, "users": s.users, "files": s.files})).collect::<Vec<_>>(),
    });
    if let Some(code) = &manifest.error {
        v["error"] = json!(code);
        v["message"] = json!(manifest.message);
    }
    if let Some(p) = progress {
        v["progress"] = json!({"phase": p.phase, "iteration": p.iteration, "iterations": p.iterations, "loss": p.loss});
    }
    v
}

fn split_kind(text: &str) -> Result<SplitKind, ApiError> {
    match text {
        "time" => Ok(SplitKind::Time),
        "leave_last" => Ok(SplitKind::LeaveLast),
        "random" => Ok(SplitKind::Random),
        _ => Err(ApiError::bad_request(
            "invalid_evaluation",
            Some("evaluation.split"),
            "expected time, leave_last or random",
        )),
    }
}

pub async fn create(
    State(state): State<AppState>,
    auth: Authorized,
    Path(tenant): Path<String>,
    request: Result<Json<CreateModel>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = body(request)?;
    let purpose = auth.purpose_matching(request.purpose.as_deref())?;
    let algorithm = Algorithm::from_name(&request.algorithm).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_algorithm",
            Some("algorithm"),
            "expected als, bpr, item_knn or popularity",
        )
    })?;
    let params = params_from_json(algorithm, &request.params)?;
    let evaluation = match request.evaluation {
        None => None,
        Some(e) => {
            let split = split_kind(&e.split)?;
            let holdout = e.holdout.unwrap_or(if split == SplitKind::LeaveLast {
                1.0
            } else {
                0.2
            });
            Some(EvaluationSpec {
                split,
                holdout,
                k: e.k,
                seed: e.seed.unwrap_or(SEED_DEFAULT),
            })
        }
    };
    let version_text = match &request.dataset.version {
        Value::Number(n) => n.to_string(),
        Value::String(s) if s == "latest" => s.clone(),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_version",
                Some("dataset.version"),
                "expected a version number or latest",
            ));
        }
    };
    let access = auth.read_access();
    let guard = {
        let tenant = tenant.clone();
        Arc::new(
            state
                .blocking(move |engine| engine.read_guard(&tenant, access))
                .await?,
        )
    };
    let train = TrainRequest {
        name: request.name,
        params,
        dataset: request.dataset.name.clone(),
        dataset_version: 0,
        columns: Columns {
            user: request.columns.user,
            item: request.columns.item,
            weight: request.columns.weight,
            time: request.columns.time,
        },
        evaluation,
        seed: request.seed.unwrap_or(SEED_DEFAULT),
        purpose,
        visible: auth.visible.clone(),
        trained_by: auth.principal.audit_name(),
    };
    let models = state.models.clone();
    let dataset_name = request.dataset.name;
    let manifest = run(move || {
        let dataset_version =
            models
                .datasets()
                .resolve_version(guard.tenant(), &dataset_name, &version_text)?;
        models.submit(
            &guard,
            TrainRequest {
                dataset_version,
                ..train
            },
        )
    })
    .await?;
    let mut response = (StatusCode::ACCEPTED, Json(json!({"name": manifest.name, "version": manifest.version, "state": manifest.state.as_str(), "dataset": {"name": manifest.dataset.name, "version": manifest.dataset.version}, "memory_estimate_bytes": manifest.memory_estimate_bytes}))).into_response();
    facts(&mut response, 0);
    Ok(response)
}

pub async fn list(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let models = state.models.clone();
    let list = run(move || models.list(&tenant)).await?;
    let n = list.len() as u64;
    let mut response = Json(json!({"models": list.iter().map(|m| json!({"name": m.name, "versions": m.versions, "latest_version": m.latest_version, "latest_state": m.latest_state.as_str(), "aliases": m.aliases})).collect::<Vec<_>>()})).into_response();
    facts(&mut response, n);
    Ok(response)
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let models = state.models.clone();
    let (versions, aliases) = run(move || {
        Ok((
            models.versions(&tenant, &name)?,
            models.aliases(&tenant, &name)?,
        ))
    })
    .await?;
    let n = versions.len() as u64;
    let name = versions
        .first()
        .map(|(m, _)| m.name.clone())
        .unwrap_or_default();
    let alias_map: serde_json::Map<String, Value> = aliases.aliases.iter().map(|(a, e)| (a.clone(), json!({"version": e.version, "moved_at": e.moved_at, "moved_by": e.moved_by, "previous": e.previous}))).collect();
    let history: Vec<Value> = aliases.history.iter().map(|(a, e)| json!({"alias": a, "version": e.version, "moved_at": e.moved_at, "moved_by": e.moved_by, "previous": e.previous})).collect();
    let mut response = Json(json!({
        "name": name,
        "versions": versions.iter().map(|(m, p)| version_json(m, p.as_ref())).collect::<Vec<_>>(),
        "aliases": alias_map,
        "alias_history": history,
    }))
    .into_response();
    facts(&mut response, n);
    Ok(response)
}

pub async fn get_version(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, name, version)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let models = state.models.clone();
    let (manifest, progress) = run(move || {
        let v = models.resolve_version(&tenant, &name, &version)?;
        models.version(&tenant, &name, v)
    })
    .await?;
    let mut response = Json(version_json(&manifest, progress.as_ref())).into_response();
    facts(&mut response, 1);
    Ok(response)
}

pub async fn cancel(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, name, version)): Path<(String, String, String)>,
    request: Result<Json<CancelArg>, JsonRejection>,
) -> Result<Response, ApiError> {
    let CancelArg {} = body(request)?;
    let models = state.models.clone();
    let manifest = run(move || {
        let v = version.parse::<u32>().map_err(|_| {
            steward_serve::ServeError::invalid(
                "invalid_version",
                "version",
                "expected a version number",
            )
        })?;
        models.cancel(&tenant, &name, v)
    })
    .await?;
    let cancelling = manifest.state.is_running();
    Ok(Json(json!({"name": manifest.name, "version": manifest.version, "state": manifest.state.as_str(), "cancelling": cancelling})).into_response())
}

pub async fn put_alias(
    State(state): State<AppState>,
    auth: Authorized,
    request_id: Option<Extension<RequestId>>,
    Path((tenant, name, alias)): Path<(String, String, String)>,
    request: Result<Json<AliasArg>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = body(request)?;
    let models = state.models.clone();
    let by = auth.principal.audit_name();
    let (t, n, a, b) = (tenant.clone(), name.clone(), alias.clone(), by.clone());
    let previous = run(move || models.set_alias(&t, &n, &a, request.version, &b)).await?;
    // The move itself, with the alias and both versions, durably in the tenant's log (the
    // middleware's record names the route only).
    let record = steward_serve::alias_audit_record(
        &tenant,
        &name,
        &alias,
        request.version,
        previous,
        &by,
        &request_id.map(|Extension(r)| r.0).unwrap_or_default(),
    );
    {
        let tenant = tenant.clone();
        state
            .blocking(move |engine| engine.audit(&tenant, &record, true))
            .await?;
    }
    Ok(Json(
        json!({"name": name, "alias": alias, "version": request.version, "previous": previous}),
    )
    .into_response())
}
