//! A tenant's JWT issuer for its people (issuer, audience, JWKS document). Users then call
//! with `Authorization: Bearer <JWT>`; roles and purposes come from the token's claims, and the
//! optional `tenant_claim` names the claim that must carry this tenant's id (required when
//! another tenant trusts the same issuer).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use steward_engine::IdentityInfo;

use crate::auth::Authorized;
use crate::routes::body;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityBody {
    issuer: String,
    audience: String,
    /// The JWKS document (RFC 7517), as JSON.
    jwks: Value,
    /// The claim whose value must be this tenant's id; required when another tenant trusts the
    /// same issuer.
    #[serde(default)]
    tenant_claim: Option<String>,
}

fn info_json(info: Option<&IdentityInfo>) -> Value {
    match info {
        None => json!({"configured": false}),
        Some(i) => json!({
            "configured": true,
            "issuer": i.issuer,
            "audience": i.audience,
            "tenant_claim": i.tenant_claim,
            "jwks": serde_json::from_str::<Value>(&i.jwks).unwrap_or(Value::Null),
        }),
    }
}

pub async fn get(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let info = state
        .blocking(move |engine| engine.identity(&tenant))
        .await?;
    Ok(Json(info_json(info.as_ref())))
}

pub async fn put(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
    request: Result<Json<IdentityBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let request = body(request)?;
    let jwks = request.jwks.to_string();
    let info = state
        .blocking(move |engine| {
            engine.set_identity(
                &tenant,
                &request.issuer,
                &request.audience,
                &jwks,
                request.tenant_claim.as_deref(),
            )
        })
        .await?;
    Ok(Json(info_json(Some(&info))))
}
