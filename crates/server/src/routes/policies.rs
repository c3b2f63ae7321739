//! A tenant's Cedar policies: read the set in force (or an older version), replace it whole,
//! list versions, and dry-run a request against it.
//!
//! `PUT` takes the Cedar text as the body. A text that does not validate changes nothing:
//! the answer is 422 with every diagnostic (policy id, line, column, message).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::IpAddr;
use steward_access::Role;
use steward_engine::steward_policy::{
    Action, AuthzRequest, Decision, PolicyDiagnostic, PolicyEngine, PrincipalRef, ResourceKind,
    ResourceRef,
};
use steward_engine::{EngineError, PolicyVersion};

use crate::auth::Authorized;
use crate::routes::body;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionParam {
    version: Option<u32>,
}

fn version_json(v: &PolicyVersion, with_text: bool) -> Value {
    let mut out = json!({
        "version": v.version,
        "created_at": v.created_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "created_by": v.created_by,
        "default": v.version == 0,
    });
    if with_text {
        out["text"] = Value::String(v.text.clone());
        out["policy_ids"] = json!(v.policy_ids);
    }
    out
}

pub(crate) fn diagnostics_error(diagnostics: &[PolicyDiagnostic]) -> ApiError {
    let mut error = ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_policies",
        format!(
            "{} problem(s); the policies in force are unchanged",
            diagnostics.len()
        ),
    );
    error.errors = diagnostics
        .iter()
        .map(|d| json!({"policy_id": d.policy_id, "line": d.line, "column": d.column, "message": d.message}))
        .collect();
    error
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    params: Result<Query<VersionParam>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(crate::echo::query_rejection)?;
    let version = state
        .blocking(move |engine| engine.policies(&tenant, params.version))
        .await?;
    Ok(Json(version_json(&version, true)))
}

pub async fn put(
    State(state): State<AppState>,
    auth: Authorized,
    Path(tenant): Path<String>,
    text: Bytes,
) -> Result<Json<Value>, ApiError> {
    let text = String::from_utf8(text.to_vec()).map_err(|_| {
        ApiError::bad_request(
            "invalid_policies",
            None,
            "expected Cedar policy text in UTF-8",
        )
    })?;
    let by = auth.principal.audit_name();
    // Cedar's diagnostics quote the text's identifiers and literals; they are redacted.
    let submitted = text.clone();
    let stored = state
        .blocking(
            move |engine| match engine.put_policies(&tenant, &text, &by) {
                Err(EngineError::Policies(diagnostics)) => Ok(Err(diagnostics)),
                other => other.map(Ok),
            },
        )
        .await?
        .map_err(|diagnostics| diagnostics_error(&diagnostics).redacted_entries(&submitted))?;
    Ok(Json(version_json(&stored, true)))
}

pub async fn versions(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let history = state
        .blocking(move |engine| engine.policy_history(&tenant))
        .await?;
    Ok(Json(
        json!({"versions": history.iter().map(|v| version_json(v, false)).collect::<Vec<_>>()}),
    ))
}

/// A request to dry-run. The principal is an existing key (by id) or a role with an optional
/// purpose scope; the resource defaults to the tenant.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    #[serde(default)]
    key_id: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    purposes: Vec<String>,
    action: String,
    #[serde(default)]
    resource: Option<CheckResource>,
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    source_ip: Option<String>,
    /// Unix seconds; default now.
    #[serde(default)]
    time: Option<i64>,
    /// A draft policy text to check instead of the set in force.
    #[serde(default)]
    policies: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckResource {
    kind: String,
    #[serde(default)]
    id: Option<String>,
}

fn decision_json(decision: &Decision) -> Value {
    json!({
        "decision": if decision.allowed { "allow" } else { "deny" },
        "policy_ids": decision.policy_ids,
        "errors": decision.errors,
    })
}

pub async fn check(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    request: Result<Json<CheckRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let request = body(request)?;
    let action = Action::parse(&request.action).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_action",
            Some("action"),
            format!(
                "expected one of {}",
                Action::ALL.map(|a| a.as_str()).join(", ")
            ),
        )
    })?;
    let (kind, id) = match &request.resource {
        None => (ResourceKind::Tenant, tenant.clone()),
        Some(r) => {
            let kind = ResourceKind::parse(&r.kind).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_resource",
                    Some("resource.kind"),
                    "expected Tenant, Subject, EventType, Dataset, Model, PolicySet or AuditLog",
                )
            })?;
            (
                kind,
                r.id.clone().unwrap_or_else(|| kind.as_str().to_owned()),
            )
        }
    };
    let source_ip = request
        .source_ip
        .as_deref()
        .map(|ip| {
            ip.parse::<IpAddr>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_source_ip",
                    Some("source_ip"),
                    "expected an IPv4 or IPv6 address",
                )
            })
        })
        .transpose()?;
    if let Some(text) = &request.policies {
        steward_policy::check_complexity(text).map_err(|e| {
            ApiError::bad_request("policy_too_complex", Some("policies"), e.to_string())
        })?;
    }
    let draft = request.policies.clone();
    let submitted = request.policies.clone().unwrap_or_default();
    let t = tenant.clone();
    let (policies, principal) = state
        .blocking(move |engine| {
            let policies = match draft {
                Some(text) => Ok(PolicyEngine::new(Some(&text))
                    .map(std::sync::Arc::new)
                    .map_err(|_| PolicyEngine::validate(&text).err().unwrap_or_default())),
                None => engine.policy_engine(&t).map(|(_, p)| Ok(p)),
            }?;
            let principal = match &request.key_id {
                Some(id) => engine
                    .list_keys(&t)?
                    .into_iter()
                    .find(|k| &k.id == id)
                    .map(|k| PrincipalRef::ApiKey {
                        id: k.id,
                        tenant: t.clone(),
                        role: k.role,
                        purposes: k.purposes,
                    })
                    .ok_or(EngineError::NotFound { what: "key" })?,
                None => {
                    let role = request
                        .role
                        .as_deref()
                        .ok_or_else(|| EngineError::Invalid {
                            code: "invalid_principal",
                            field: Some("role".into()),
                            message: "name key_id or role".into(),
                        })?;
                    let role = Role::parse(role).map_err(|e| EngineError::Invalid {
                        code: "invalid_role",
                        field: Some("role".into()),
                        message: e.to_string(),
                    })?;
                    PrincipalRef::ApiKey {
                        id: "dry-run".into(),
                        tenant: t.clone(),
                        role,
                        purposes: request.purposes.clone(),
                    }
                }
            };
            Ok((policies, principal))
        })
        .await?;
    let policies = policies
        .map_err(|diagnostics| diagnostics_error(&diagnostics).redacted_entries(&submitted))?;
    let mut authz = AuthzRequest::new(principal, action, ResourceRef::new(kind, tenant, id))
        .with_time(
            request
                .time
                .unwrap_or_else(|| chrono::Utc::now().timestamp()),
        );
    if let Some(purpose) = &request.purpose {
        policies.purpose(purpose).map_err(|e| {
            ApiError::bad_request("invalid_purpose", Some("purpose"), e.to_string())
        })?;
        authz = authz.with_purpose(purpose.clone());
    }
    if let Some(ip) = source_ip {
        authz = authz.with_source_ip(ip);
    }
    let decision = policies.decide_uncached(&authz);
    let mut out = decision_json(&decision);
    if action.is_read() {
        out["field_classes"] = policies
            .explain_classes(&authz)
            .iter()
            .map(|(class, d)| {
                let mut v = decision_json(d);
                v["class"] = Value::String(class.as_str().to_owned());
                v
            })
            .collect();
    }
    Ok(Json(out))
}
