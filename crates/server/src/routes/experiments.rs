//! Experiments over HTTP: create (arms, outcome, guardrail), list, read, results, stop. The
//! definitions and the statistics are `steward-serve`'s; results run two SQL statements
//! through the query engine with the caller's read access (purpose-checked like any SQL, on
//! the heavy-work pool) and are audited with the statement.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use steward_query::{QueryLimits, QueryOptions, Session};
use steward_serve::experiments::{ArmAggregate, ExperimentArg, ExperimentDoc, MetricSpec};

use crate::auth::{AuditFacts, Authorized};
use crate::routes::body;
use crate::{ApiError, AppState};

/// The purpose an experiment assigns by when its definition names none.
const PURPOSE_DEFAULT: &str = "personalization";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopArg {
    conclusion: Option<String>,
}

fn with_statement(mut response: Response, rows: u64, statement: Option<String>) -> Response {
    response.extensions_mut().insert(AuditFacts {
        rows,
        subjects: Vec::new(),
        statement,
    });
    response
}

async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, steward_serve::ServeError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(ApiError::from)
}

pub async fn create(
    State(state): State<AppState>,
    auth: Authorized,
    Path(tenant): Path<String>,
    request: Result<Json<ExperimentArg>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = body(request)?;
    let experiments = state.experiments.clone();
    let models = state.models.clone();
    let by = auth.principal.audit_name();
    let doc =
        run(move || experiments.create(&models, &tenant, request, PURPOSE_DEFAULT, &by)).await?;
    let statement = Some(format!(
        "experiment {} created with arms {}",
        doc.name,
        doc.arms
            .iter()
            .map(|a| format!("{}={}", a.name, a.weight))
            .collect::<Vec<_>>()
            .join(",")
    ));
    Ok(with_statement(
        (StatusCode::CREATED, Json(doc.public())).into_response(),
        1,
        statement,
    ))
}

pub async fn list(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let experiments = state.experiments.clone();
    let docs = run(move || experiments.list(&tenant)).await?;
    let rows = docs.len() as u64;
    Ok(with_statement(
        Json(json!({"experiments": docs.iter().map(|d| d.public()).collect::<Vec<_>>()}))
            .into_response(),
        rows,
        None,
    ))
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let experiments = state.experiments.clone();
    let doc = run(move || experiments.get(&tenant, &name)).await?;
    Ok(with_statement(Json(doc.public()).into_response(), 1, None))
}

pub async fn stop(
    State(state): State<AppState>,
    auth: Authorized,
    Path((tenant, name)): Path<(String, String)>,
    request: Result<Json<StopArg>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = body(request)?;
    let experiments = state.experiments.clone();
    let by = auth.principal.audit_name();
    let doc =
        run(move || experiments.stop(&tenant, &name, request.conclusion.as_deref(), &by)).await?;
    let statement = Some(format!(
        "experiment {} stopped; conclusion {}",
        doc.name,
        doc.conclusion.as_deref().unwrap_or("none")
    ));
    Ok(with_statement(
        Json(doc.public()).into_response(),
        1,
        statement,
    ))
}

/// Runs one aggregate statement with the caller's read access on the heavy-work pool.
async fn aggregate(
    state: &AppState,
    guard: Arc<steward_engine::ReadGuard>,
    sql: String,
) -> Result<Vec<ArmAggregate>, ApiError> {
    let limits = QueryLimits::default();
    let outcome = state
        .pool
        .run(async move {
            let session = Session::open(guard, &limits, &QueryOptions::default()).await?;
            match tokio::time::timeout(limits.timeout + Duration::from_millis(250), async {
                session.start(&sql).await?.collect().await
            })
            .await
            {
                Ok(result) => result,
                Err(_) => Err(steward_query::QueryError::Timeout {
                    limit_ms: limits.timeout.as_millis() as u64,
                }),
            }
        })
        .await
        .map_err(steward_query::QueryError::from)
        .and_then(|r| r)
        .map_err(ApiError::from)?;
    steward_serve::experiments::aggregates(&outcome.batches).map_err(ApiError::from)
}

/// Results: per arm subjects, conversions (Wilson interval), mean value (t interval); against
/// the baseline the difference and lift with intervals, the fixed-horizon p-value and the
/// always-valid sequential p-value; the sample-ratio check; the guardrail (which may stop an
/// arm). Read for the experiment's purpose: what an opt-out or erasure removed is not counted.
pub async fn results(
    State(state): State<AppState>,
    auth: Authorized,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let purpose = auth.purpose_matching(None)?;
    let experiments = state.experiments.clone();
    let doc: Arc<ExperimentDoc> = {
        let (t, n) = (tenant.clone(), name.clone());
        run(move || experiments.get(&t, &n)).await?
    };
    if doc.purpose != purpose {
        return Err(ApiError::bad_request(
            "experiment_purpose_mismatch",
            Some("purpose"),
            "read an experiment's results for its own purpose (?purpose=)",
        ));
    }
    let access = auth.read_access();
    let guard = {
        let tenant = tenant.clone();
        Arc::new(
            state
                .blocking(move |engine| engine.read_guard(&tenant, access))
                .await?,
        )
    };
    let metric_sql = |m: &MetricSpec| steward_serve::experiments::results_sql(&doc, m);
    let outcome_sql = metric_sql(&doc.outcome);
    let guardrail_sql = doc.guardrail.as_ref().map(|g| metric_sql(&g.metric));
    let outcome = aggregate(&state, guard.clone(), outcome_sql).await?;
    let guardrail = match guardrail_sql {
        Some(sql) => Some(aggregate(&state, guard, sql).await?),
        None => None,
    };
    let experiments = state.experiments.clone();
    let subjects: u64 = outcome.iter().map(|a| a.subjects).sum();
    let analysed = {
        let doc = doc.clone();
        run(move || experiments.analyze(&tenant, &doc, &outcome, guardrail.as_deref())).await?
    };
    let mut value: Value = analysed;
    value["purpose"] = json!(purpose);
    Ok(with_statement(
        Json(value).into_response(),
        subjects,
        Some(format!("experiment {} results", doc.name)),
    ))
}
