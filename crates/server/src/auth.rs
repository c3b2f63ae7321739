//! Authentication and the one Cedar decision every route goes through.
//!
//! `authorize_route` is a middleware on the whole router: it finds the route in [`ROUTES`]
//! by method and matched path, authenticates the bearer token, applies the principal's rate
//! limit, and asks the tenant's policies (`steward-policy`) about the route's action on the
//! route's resource, with the declared purpose, the client address and the time as context.
//! Handlers receive the outcome as the [`Authorized`] extractor, which exists only if the
//! middleware allowed the request, so a handler cannot run without a decision. A route
//! missing from the table is refused (fail closed).
//!
//! Every decision is recorded in the audit log of the tenant it targeted (deployment-wide
//! requests in the system log): denials and reads batched (durable within
//! `steward_audit::limits::READ_FLUSH_MS`), mutations durably before the answer. If the log
//! cannot write, the request fails with 503 and no data.

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use steward_access::Principal;
use steward_engine::steward_policy::{
    Action, AuthzRequest, Decision, PolicyEngine, PrincipalRef, ResourceKind, ResourceRef,
};
use steward_engine::{AuditDecision, AuditRecord, Engine};
use steward_privacy::PrivacyClass;

use crate::observe::RequestId;
use crate::openapi::RouteSpec;
use crate::{ApiError, AppState, ROUTES};

/// The response header naming the purpose a read was served under.
pub const PURPOSE_HEADER: &str = "steward-purpose";

/// What the middleware established about an allowed request.
#[derive(Clone, Debug)]
pub struct Authorized {
    pub principal: Principal,
    /// The declared purpose (reads always have one).
    pub purpose: Option<String>,
    /// For reads: the field classes this principal sees in the clear for this purpose.
    pub visible: Vec<PrivacyClass>,
    /// The policies that permitted the request.
    pub policy_ids: Vec<String>,
    /// Set when the handler took its read access (to make a read guard): a route that answers
    /// with event-derived data and never did is refused by the middleware.
    guarded: Arc<std::sync::atomic::AtomicBool>,
}

impl Authorized {
    /// The purpose this request reads for: the query string's (the one the policies decided
    /// on); a body that names another is refused rather than silently ignored.
    pub fn purpose_matching(&self, stated: Option<&str>) -> Result<String, ApiError> {
        let purpose = self.purpose.clone().unwrap_or_default();
        if stated.is_some_and(|p| p != purpose) {
            return Err(ApiError::bad_request(
                "purpose_mismatch",
                Some("purpose"),
                "the body and the query string name different purposes",
            ));
        }
        Ok(purpose)
    }

    /// The read the policies decided for this request (purpose and visible classes), for the
    /// engine's read guard. The one way a handler reads event-derived data.
    pub fn read_access(&self) -> steward_engine::ReadAccess {
        self.guarded
            .store(true, std::sync::atomic::Ordering::SeqCst);
        steward_engine::ReadAccess::declared(
            self.purpose.clone().unwrap_or_default(),
            self.visible.clone(),
        )
    }

    /// A subject's own access request: every class, consent not applied (the policies allowed
    /// the access request action).
    pub fn subject_access(&self) -> steward_engine::ReadAccess {
        self.guarded
            .store(true, std::sync::atomic::Ordering::SeqCst);
        steward_engine::ReadAccess::subject_access()
    }

    /// What the unguarded bench router inserts (every class, no decision).
    #[cfg(feature = "bench-unguarded")]
    pub(crate) fn unguarded(principal: Principal, visible: Vec<PrivacyClass>) -> Authorized {
        Authorized {
            principal,
            purpose: None,
            visible,
            policy_ids: Vec::new(),
            guarded: Arc::default(),
        }
    }

    fn was_guarded(&self) -> bool {
        self.guarded.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The response header naming the read guard's purpose on routes that return event data.
pub const READ_GUARD_HEADER: &str = "steward-read-guard";

impl<S: Send + Sync> FromRequestParts<S> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Authorized, ApiError> {
        parts
            .extensions
            .get::<Authorized>()
            .cloned()
            .ok_or_else(|| {
                tracing::error!("handler reached without an authorization decision");
                ApiError::internal()
            })
    }
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let header = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        tracing::debug!("no Authorization header");
        ApiError::unauthenticated()
    })?;
    header
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or_else(ApiError::unauthenticated)
}

/// The request as the middleware sees it before a decision.
struct Pending {
    spec: &'static RouteSpec,
    action: Action,
    tenant: Option<String>,
    resource_id: Option<String>,
    request_id: String,
    purpose: Option<String>,
    source_ip: Option<std::net::IpAddr>,
}

pub(crate) async fn authorize_route(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let Some(matched) = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        // Unmatched requests reach the fallback (404) and carry no data.
        return next.run(Request::from_parts(parts, body)).await;
    };
    let method = parts.method.as_str().to_owned();
    let Some(spec) = ROUTES
        .iter()
        .find(|r| r.method == method && r.path == matched)
    else {
        tracing::error!(%method, route = %matched, "route has no authorization rule; refused");
        return ApiError::forbidden("this route has no authorization rule").into_response();
    };
    let Some(action) = spec.action else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let (tenant, resource_id) = match RawPathParams::from_request_parts(&mut parts, &state).await {
        Ok(params) => {
            let find = |name: &str| {
                params
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_owned())
            };
            (find("tenant"), spec.resource_param.and_then(find))
        }
        Err(rejection) => return rejection.into_response(),
    };
    let mut body = body;
    let mut purpose = purpose_param(parts.uri.query());
    if spec.purpose_in_body && purpose.is_none() {
        // Buffered within the JSON body bound the handler applies anyway.
        let bytes = match axum::body::to_bytes(body, crate::limits::JSON_BODY_BYTES_MAX).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return ApiError::too_large(format!(
                    "the body is larger than {} bytes",
                    crate::limits::JSON_BODY_BYTES_MAX
                ))
                .into_response();
            }
        };
        purpose = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("purpose").and_then(|p| p.as_str()).map(str::to_owned));
        body = axum::body::Body::from(bytes);
    }
    if purpose.is_none() {
        purpose = spec.default_purpose.map(str::to_owned);
    }
    let pending = Pending {
        spec,
        action,
        tenant,
        resource_id,
        request_id: parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default(),
        purpose,
        source_ip: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip()),
    };
    let signed = spec.signed_link
        && parts.headers.get(header::AUTHORIZATION).is_none()
        && parts.uri.query().is_some_and(|q| q.contains("sig="));
    let authenticated = if signed {
        link_principal(
            &state.engine,
            pending.tenant.as_deref(),
            parts.uri.path(),
            parts.uri.query().unwrap_or(""),
        )
    } else {
        bearer(&parts.headers).and_then(|token| {
            Ok(state
                .engine
                .authenticate_for(token, pending.tenant.as_deref())?)
        })
    };
    let principal = match authenticated {
        Ok(principal) => principal,
        Err(error) => {
            // A failed authentication against a tenant is a denied attempt in its log.
            let record = pending.record("unauthenticated".to_owned(), &[], AuditDecision::Deny);
            if record_decision(
                &state.engine,
                pending.tenant.clone(),
                record,
                false,
                pending.subject(),
            )
            .await
            .is_err()
            {
                return audit_unavailable();
            }
            return error.into_response();
        }
    };
    // A tenant whose stored state failed to open has no log and no data: its own principals
    // and the operator learn so (503); anyone else meets the tenant wall below (404).
    if let Some(t) = pending.tenant.as_deref()
        && state.engine.is_tenant_unavailable(t)
        && principal.tenant().is_none_or(|own| own == t)
    {
        tracing::warn!(
            tenant = t,
            "request to a tenant that failed to open at start refused"
        );
        return ApiError::tenant_unavailable(t).into_response();
    }
    if let Some(limit) = state.rate_limit_of(&principal)
        && let Err(retry_after) =
            state
                .limiter
                .take(&principal.audit_name(), limit, std::time::Instant::now())
    {
        metrics::counter!("steward_rate_limited_total").increment(1);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "this key's rate limit is {}/s with bursts of {}; retry later",
                limit.per_second, limit.burst
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        return response;
    }
    let decided = decide(&state.engine, &principal, &pending);
    let (authorized, decision) = match decided {
        Ok(pair) => pair,
        Err(DecideError::Api(error)) => {
            let record = pending.record(principal.audit_name(), &[], AuditDecision::Deny);
            if record_decision(
                &state.engine,
                pending.tenant.clone(),
                record,
                false,
                pending.subject(),
            )
            .await
            .is_err()
            {
                return audit_unavailable();
            }
            return error.into_response();
        }
        Err(DecideError::Internal(error)) => {
            tracing::error!(%error, "policy engine unavailable; refused");
            return ApiError::internal().into_response();
        }
    };
    if !decision.allowed {
        tracing::info!(action = %action, policies = ?decision.policy_ids, errors = ?decision.errors, "denied");
        let record = pending.record(
            principal.audit_name(),
            &decision.policy_ids,
            AuditDecision::Deny,
        );
        if record_decision(
            &state.engine,
            pending.tenant.clone(),
            record,
            false,
            pending.subject(),
        )
        .await
        .is_err()
        {
            return audit_unavailable();
        }
        return denial(&pending, &decision).into_response();
    }
    let mut record = pending.record(
        principal.audit_name(),
        &decision.policy_ids,
        AuditDecision::Allow,
    );
    let check = authorized.clone();
    parts.extensions.insert(authorized);
    if pending.spec.changes {
        // Durable before the response: the record is written alongside the handler's work and
        // the answer waits for both; if the audit log cannot write, the request fails closed.
        let engine = state.engine.clone();
        let tenant = pending.tenant.clone();
        let audit =
            tokio::spawn(async move { record_decision(&engine, tenant, record, true, None).await });
        let response = guard_checked(
            pending.spec,
            &check,
            next.run(Request::from_parts(parts, body)).await,
        );
        return match audit.await {
            Ok(Ok(())) => response,
            _ => audit_unavailable(),
        };
    }
    let mut response = guard_checked(
        pending.spec,
        &check,
        next.run(Request::from_parts(parts, body)).await,
    );
    if let Some(facts) = response.extensions().get::<AuditFacts>() {
        record.result_rows = facts.rows;
        // Up to SUBJECT_REFS_MAX subjects are named, more only counted (a search over many
        // subjects' documents must not make the record invalid and the answer 503).
        record.set_subjects(facts.subjects.clone());
        record.statement = facts.statement.clone();
    }
    if record_decision(
        &state.engine,
        pending.tenant.clone(),
        record,
        false,
        pending.subject(),
    )
    .await
    .is_err()
    {
        return audit_unavailable();
    }
    if action.is_read()
        && let Some(value) = pending
            .purpose
            .as_deref()
            .and_then(|p| HeaderValue::from_str(p).ok())
    {
        response.headers_mut().insert(PURPOSE_HEADER, value);
    }
    response
}

/// A route that returns event-derived data answers only if its handler read through the
/// read guard; otherwise the answer is replaced by a 500 and the bug is logged.
fn guard_checked(spec: &RouteSpec, authorized: &Authorized, mut response: Response) -> Response {
    if !spec.reads_events {
        return response;
    }
    if authorized.was_guarded() {
        if let Some(value) = authorized
            .purpose
            .as_deref()
            .or(Some("subject_access"))
            .and_then(|p| HeaderValue::from_str(p).ok())
        {
            response.headers_mut().insert(READ_GUARD_HEADER, value);
        }
        return response;
    }
    if response.status().is_success() {
        tracing::error!(
            route = spec.path,
            "a route that returns event data answered without the read guard; refused"
        );
        return ApiError::internal().into_response();
    }
    response
}

enum DecideError {
    /// The request is refused before policies are asked (malformed or unknown purpose).
    Api(ApiError),
    Internal(steward_engine::EngineError),
}

/// Asks the policies in force for the targeted tenant (the default set when the tenant does
/// not exist: the guardrails refuse the same everywhere, and the handler answers 404).
fn decide(
    engine: &Engine,
    principal: &Principal,
    pending: &Pending,
) -> Result<(Authorized, Decision), DecideError> {
    let policies: Arc<PolicyEngine> =
        match pending.tenant.as_deref().map(|t| engine.policy_engine(t)) {
            Some(Ok((_, policies))) => policies,
            _ => engine
                .default_policy_engine()
                .map_err(DecideError::Internal)?,
        };
    if let Some(purpose) = pending.purpose.as_deref() {
        policies.purpose(purpose).map_err(|e| {
            DecideError::Api(ApiError::bad_request(
                "invalid_purpose",
                Some("purpose"),
                format!(
                    "{e}; this tenant's purposes: {}",
                    policies.purposes().join(", ")
                ),
            ))
        })?;
    }
    let request = pending.authz_request(principal);
    let decision = policies.decide(&request);
    let visible = if decision.allowed && pending.action.is_read() {
        let classes = policies.visible_classes(&request);
        PrivacyClass::ALL
            .into_iter()
            .filter(|c| classes.iter().any(|f| f.as_str() == c.as_str()))
            .collect()
    } else {
        Vec::new()
    };
    let authorized = Authorized {
        principal: principal.clone(),
        purpose: pending.purpose.clone(),
        visible,
        policy_ids: decision.policy_ids.clone(),
        guarded: Arc::default(),
    };
    Ok((authorized, decision))
}

impl Pending {
    /// The pseudonym a subject route names (for linking refusals to the subject).
    fn subject(&self) -> Option<String> {
        (self.spec.resource == ResourceKind::Subject)
            .then(|| self.resource_id.clone())
            .flatten()
    }

    fn authz_request(&self, principal: &Principal) -> AuthzRequest {
        let tenant = self.tenant.clone().unwrap_or_default();
        let resource = match self.spec.resource {
            ResourceKind::Deployment => ResourceRef::deployment(),
            ResourceKind::Tenant => ResourceRef::tenant(tenant),
            kind => ResourceRef::new(
                kind,
                tenant,
                self.resource_id
                    .clone()
                    .unwrap_or_else(|| kind.as_str().to_owned()),
            ),
        };
        let mut request =
            AuthzRequest::new(PrincipalRef::from_access(principal), self.action, resource)
                .with_time(chrono::Utc::now().timestamp())
                .with_subject_in_request(self.spec.resource == ResourceKind::Subject);
        if let Some(purpose) = &self.purpose {
            request = request.with_purpose(purpose.clone());
        }
        if let Some(ip) = self.source_ip {
            request = request.with_source_ip(ip);
        }
        request
    }

    /// An audit record of this request's decision: ids, names and the route template only.
    fn record(
        &self,
        principal: String,
        policy_ids: &[String],
        decision: AuditDecision,
    ) -> AuditRecord {
        AuditRecord {
            time_us: chrono::Utc::now().timestamp_micros(),
            principal: audit_safe(&principal),
            action: self.action.as_str().to_owned(),
            // Caller text: recorded only if it is a well-formed purpose name.
            purpose: self
                .purpose
                .clone()
                .filter(|p| steward_engine::steward_policy::Purpose::parse(p).is_ok()),
            resource: self.spec.path.replace(['{', '}'], ""),
            subject_refs: Vec::new(),
            subject_count: 0,
            decision,
            policy_ids: policy_ids
                .iter()
                .take(steward_audit::limits::POLICY_IDS_MAX)
                .map(|id| audit_safe(id))
                .collect(),
            request_id: self.request_id.clone(),
            result_rows: 0,
            statement: None,
        }
    }
}

/// The refusal: another tenant's resource is "not found" (a key cannot probe which tenants
/// exist); anything else is 403 naming the deciding policies and the purpose.
fn denial(pending: &Pending, decision: &Decision) -> ApiError {
    if decision
        .policy_ids
        .iter()
        .any(|id| id.starts_with("platform.tenant-wall"))
    {
        return ApiError::not_found("tenant");
    }
    let purpose = pending
        .purpose
        .as_deref()
        .map(|p| format!(" for purpose {p}"))
        .unwrap_or_default();
    let detail = if decision.policy_ids.is_empty() {
        format!("no policy permits {}{purpose}", pending.action)
    } else {
        format!(
            "{}{purpose} is forbidden by policy {}",
            pending.action,
            decision.policy_ids.join(", ")
        )
    };
    let mut error = ApiError::forbidden(detail);
    error.errors = decision
        .policy_ids
        .iter()
        .map(|id| serde_json::json!({"policy_id": id}))
        .collect();
    error
}

/// Writes a decision to the targeted tenant's log, or the system log for deployment-wide
/// requests; a tenant that does not exist has no log (the attempt is in the server log).
async fn record_decision(
    engine: &Arc<Engine>,
    tenant: Option<String>,
    mut record: AuditRecord,
    durable: bool,
    subject: Option<String>,
) -> Result<(), ()> {
    let engine = engine.clone();
    let outcome = tokio::task::spawn_blocking(move || match tenant {
        Some(t) => match link_subject(&engine, &t, &mut record, subject.as_deref())
            .and_then(|()| engine.audit(&t, &record, durable))
        {
            Err(
                steward_engine::EngineError::NotFound { .. }
                | steward_engine::EngineError::TenantUnavailable { .. },
            ) => Ok(0),
            other => other,
        },
        None => engine.audit_system(&record, durable),
    })
    .await;
    match outcome {
        Ok(Ok(_)) => Ok(()),
        _ => Err(()),
    }
}

/// A refused request about one subject names it in the record (by its keyed reference, if the
/// subject has a key in that tenant), so the subject's compliance report shows the attempt.
fn link_subject(
    engine: &Engine,
    tenant: &str,
    record: &mut AuditRecord,
    subject: Option<&str>,
) -> Result<(), steward_engine::EngineError> {
    let Some(pseudonym) = subject.and_then(|s| steward_crypto::Pseudonym::parse_hex(s).ok()) else {
        return Ok(());
    };
    if record.subject_refs.is_empty()
        && let Some(reference) = engine.subject_ref(tenant, &pseudonym)?
    {
        record.subject_refs = vec![reference];
        record.subject_count = 1;
    }
    Ok(())
}

fn audit_unavailable() -> Response {
    ApiError::unavailable("the audit log could not record this request").into_response()
}

/// The key a signed download link acts for, if the link is intact, unexpired, and its key
/// still live. Any failure is the same 401 as a bad key.
fn link_principal(
    engine: &Engine,
    tenant: Option<&str>,
    path: &str,
    query: &str,
) -> Result<Principal, ApiError> {
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .map(str::to_owned)
    };
    let tenant = tenant.ok_or_else(ApiError::unauthenticated)?;
    let (Some(expires), Some(key_id), Some(purpose), Some(sig)) = (
        param("expires").and_then(|e| e.parse::<i64>().ok()),
        param("key_id"),
        param("purpose"),
        param("sig"),
    ) else {
        return Err(ApiError::unauthenticated());
    };
    let key = engine
        .tenant_derived_key(tenant, b"dataset-links")
        .map_err(|_| ApiError::unauthenticated())?;
    if !steward_lineage::links::verify(
        &key,
        path,
        expires,
        &key_id,
        &purpose,
        &sig,
        chrono::Utc::now().timestamp(),
    ) {
        tracing::info!("signed link refused: bad signature or expired");
        return Err(ApiError::unauthenticated());
    }
    Ok(engine.key_principal(tenant, &key_id)?)
}

fn purpose_param(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("purpose="))
        .map(|p| p.to_owned())
}

/// Policy ids and principal names are caller-chosen text; the audit log takes only
/// `[A-Za-z0-9_:/.-]`, so anything else becomes `_` (never a failed append, never content).
fn audit_safe(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii() && steward_audit::is_audit_char(c as u8) {
                c
            } else {
                '_'
            }
        })
        .collect();
    out.truncate(steward_audit::limits::STRING_BYTES_MAX);
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// What a handler tells the audit record about its result: rows returned, subjects touched.
#[derive(Clone, Debug, Default)]
pub struct AuditFacts {
    pub rows: u64,
    pub subjects: Vec<[u8; 32]>,
    /// A query's normalized text (literals and unknown words replaced by `?`).
    pub statement: Option<String>,
}
