//! Authentication and the one authorization decision every route goes through.
//!
//! `authorize_route` is a middleware on the whole router: it finds the route in [`ROUTES`]
//! by method and matched path, authenticates the bearer token, and asks for a decision on
//! the route's action and tenant. Handlers receive the outcome as the [`Authorized`]
//! extractor, which exists only if the middleware allowed the request, so a handler cannot
//! run without a decision. A route missing from the table is refused (fail closed).

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use steward_access::{authorize, Action, Denied, Principal};
use steward_engine::{AuditDecision, AuditRecord};

use crate::observe::RequestId;

use crate::{ApiError, AppState, ROUTES};

/// What the middleware established about an allowed request.
#[derive(Clone, Debug)]
pub struct Authorized {
    pub principal: Principal,
    pub action: Action,
    pub tenant: Option<String>,
}

impl Authorized {
    /// A further decision within an allowed request (e.g. opening personal fields), through
    /// the same decision function.
    pub fn also_may(&self, action: Action) -> bool {
        let allowed = authorize(&self.principal, action, self.tenant.as_deref()).is_ok();
        tracing::debug!(route_action = ?self.action, further = ?action, allowed, "further decision");
        allowed
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Authorized, ApiError> {
        parts.extensions.get::<Authorized>().cloned().ok_or_else(|| {
            tracing::error!("handler reached without an authorization decision");
            ApiError::internal()
        })
    }
}

pub(crate) fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let header = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        tracing::debug!("no Authorization header");
        ApiError::unauthenticated()
    })?;
    let token = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(ApiError::unauthenticated)?;
    Ok(state.engine.authenticate(token)?)
}

pub(crate) async fn authorize_route(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let Some(matched) = parts.extensions.get::<MatchedPath>().map(|m| m.as_str().to_owned()) else {
        // Unmatched requests reach the fallback (404) and carry no data.
        return next.run(Request::from_parts(parts, body)).await;
    };
    let method = parts.method.as_str().to_owned();
    let Some(spec) = ROUTES.iter().find(|r| r.method == method && r.path == matched) else {
        tracing::error!(%method, route = %matched, "route has no authorization rule; refused");
        return ApiError::forbidden("this route has no authorization rule").into_response();
    };
    let Some(action) = spec.action else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let tenant = match RawPathParams::from_request_parts(&mut parts, &state).await {
        Ok(params) => params.iter().find(|(name, _)| *name == "tenant").map(|(_, value)| value.to_owned()),
        Err(rejection) => return rejection.into_response(),
    };
    let principal = match authenticate(&state, &parts.headers) {
        Ok(principal) => principal,
        Err(error) => {
            // A failed authentication against a tenant is a denied attempt in its log.
            if let Some(t) = tenant {
                let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
                let record = decision_record("unauthenticated".to_owned(), action, None, &matched, request_id, AuditDecision::Deny);
                let engine = state.engine.clone();
                let _ = tokio::task::spawn_blocking(move || engine.audit(&t, &record, false)).await;
            }
            return error.into_response();
        }
    };
    let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let purpose = parts.uri.query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("purpose="))).map(str::to_owned);
    let record = |decision: AuditDecision| decision_record(principal_name(&principal), action, purpose.clone(), &matched, request_id.clone(), decision);
    if let Err(denied) = authorize(&principal, action, tenant.as_deref()) {
        tracing::info!(?action, reason = %denied, "denied");
        // The denial goes to the log of the tenant that was targeted, if it exists.
        if let Some(t) = &tenant {
            let (engine, t, r) = (state.engine.clone(), t.clone(), record(AuditDecision::Deny));
            let _ = tokio::task::spawn_blocking(move || engine.audit(&t, &r, false)).await;
        }
        return match denied {
            Denied::OtherTenant => ApiError::not_found("tenant"),
            other => ApiError::forbidden(other.to_string()),
        }
        .into_response();
    }
    let mutating = parts.method != axum::http::Method::GET;
    parts.extensions.insert(Authorized { principal: principal.clone(), action, tenant: tenant.clone() });
    let Some(t) = tenant else {
        // Deployment-level requests (the operator's tenant list and creation) have no tenant log yet.
        return next.run(Request::from_parts(parts, body)).await;
    };
    if mutating {
        // Durable before the response: the record is written alongside the handler's work and
        // the answer waits for both; if the audit log cannot write, the request fails closed.
        let (engine, t2, r) = (state.engine.clone(), t.clone(), record(AuditDecision::Allow));
        let audit = tokio::task::spawn_blocking(move || engine.audit(&t2, &r, true));
        let response = next.run(Request::from_parts(parts, body)).await;
        return match audit.await {
            Ok(Ok(_)) => response,
            _ => ApiError::unavailable("the audit log could not record this request").into_response(),
        };
    }
    let response = next.run(Request::from_parts(parts, body)).await;
    let mut r = record(AuditDecision::Allow);
    if let Some(facts) = response.extensions().get::<AuditFacts>() {
        r.result_rows = facts.rows;
        r.subject_count = facts.subjects.len() as u64;
        r.subject_refs = facts.subjects.clone();
    }
    let engine = state.engine.clone();
    match tokio::task::spawn_blocking(move || engine.audit(&t, &r, false)).await {
        Ok(Ok(_)) => response,
        _ => ApiError::unavailable("the audit log could not record this read").into_response(),
    }
}

/// What a handler tells the audit record about its result: rows returned, subjects touched.
#[derive(Clone, Debug, Default)]
pub struct AuditFacts {
    pub rows: u64,
    pub subjects: Vec<[u8; 32]>,
}

/// An audit record of a decision on a route. Only ids, names and the route template go in; a
/// purpose outside the audit character set (it is caller text) is left out rather than logged.
fn decision_record(principal: String, action: Action, purpose: Option<String>, route: &str, request_id: String, decision: AuditDecision) -> AuditRecord {
    AuditRecord {
        time_us: chrono::Utc::now().timestamp_micros(),
        principal,
        action: format!("{action:?}"),
        purpose: purpose.filter(|p| !p.is_empty() && p.len() <= 64 && p.bytes().all(steward_audit_char)),
        resource: route.replace(['{', '}'], ""),
        subject_refs: Vec::new(),
        subject_count: 0,
        decision,
        policy_ids: Vec::new(),
        request_id,
        result_rows: 0,
    }
}

fn principal_name(principal: &Principal) -> String {
    match principal {
        Principal::Operator => "operator".to_owned(),
        Principal::Key { key_id, .. } => format!("key:{key_id}"),
    }
}

fn steward_audit_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'/' | b'.' | b'-')
}
