//! A tenant's JWT issuer for its people: issuer, audience and JWKS, stored in the tenant
//! catalog; a bearer JWT for that tenant is verified against it and becomes a `User`.

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use steward_access::{IssuerConfig, Jwks, Principal};
use steward_store::Catalog;

use crate::{Engine, EngineError};

const META: &str = "identity";
const KEY: &[u8] = b"issuer";
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_S: u64 = 60;

#[derive(Serialize, Deserialize)]
struct IdentityDoc {
    issuer: String,
    audience: String,
    jwks: String,
}

/// What a tenant configured, as shown back to its admins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityInfo {
    pub issuer: String,
    pub audience: String,
    pub jwks: String,
}

pub(crate) struct TenantIdentity {
    current: RwLock<Option<(IdentityInfo, Arc<IssuerConfig>)>>,
}

fn build(doc: &IdentityDoc) -> Result<IssuerConfig, String> {
    let jwks = Jwks::parse(doc.jwks.as_bytes()).map_err(|e| e.to_string())?;
    Ok(IssuerConfig { issuer: doc.issuer.clone(), audience: doc.audience.clone(), jwks, leeway_s: LEEWAY_S })
}

impl TenantIdentity {
    pub fn load(catalog: &Catalog) -> Result<TenantIdentity, EngineError> {
        let current = match catalog.get(META, KEY)? {
            None => None,
            Some(bytes) => {
                let corrupted = |reason: String| EngineError::DataDir { path: "catalog.redb".into(), reason: format!("corrupted identity entry: {reason}") };
                let doc: IdentityDoc = serde_json::from_slice(&bytes).map_err(|e| corrupted(e.to_string()))?;
                let config = build(&doc).map_err(corrupted)?;
                Some((IdentityInfo { issuer: doc.issuer, audience: doc.audience, jwks: doc.jwks }, Arc::new(config)))
            }
        };
        Ok(TenantIdentity { current: RwLock::new(current) })
    }

    fn issuer(&self) -> Option<Arc<IssuerConfig>> {
        self.current.read().as_ref().map(|(_, c)| c.clone())
    }
}

fn check_text(field: &str, value: &str) -> Result<(), EngineError> {
    if value.is_empty() || value.len() > 512 || value.chars().any(char::is_control) {
        return Err(EngineError::invalid("invalid_identity", Some(field), "expected 1 to 512 bytes without control characters"));
    }
    Ok(())
}

impl Engine {
    /// Configures (or replaces) the tenant's JWT issuer; the JWKS must hold at least one usable
    /// signing key (RS256, ES256 or EdDSA).
    pub fn set_identity(&self, tenant: &str, issuer: &str, audience: &str, jwks: &str) -> Result<IdentityInfo, EngineError> {
        check_text("issuer", issuer)?;
        check_text("audience", audience)?;
        let doc = IdentityDoc { issuer: issuer.to_owned(), audience: audience.to_owned(), jwks: jwks.to_owned() };
        let config = build(&doc).map_err(|e| EngineError::invalid("invalid_jwks", Some("jwks"), e))?;
        let t = self.tenant(tenant)?;
        let value = serde_json::to_vec(&doc).map_err(|e| EngineError::invalid("invalid_jwks", Some("jwks"), e.to_string()))?;
        let mut current = t.identity().current.write();
        t.partition().catalog().write(|txn| txn.put(META, KEY, &value))?;
        let info = IdentityInfo { issuer: doc.issuer, audience: doc.audience, jwks: doc.jwks };
        *current = Some((info.clone(), Arc::new(config)));
        tracing::info!(tenant, "JWT issuer configured");
        Ok(info)
    }

    pub fn identity(&self, tenant: &str) -> Result<Option<IdentityInfo>, EngineError> {
        Ok(self.tenant(tenant)?.identity().current.read().as_ref().map(|(info, _)| info.clone()))
    }

    /// Verifies a JWT against the tenant's issuer.
    pub(crate) fn authenticate_user(&self, token: &str, tenant: Option<&str>) -> Result<Principal, EngineError> {
        let unauthenticated = |reason| EngineError::Unauthenticated { reason };
        let tenant = tenant.ok_or(unauthenticated("a JWT is only accepted on a tenant's routes"))?;
        let t = self.tenant(tenant).map_err(|_| unauthenticated("JWT for an unknown tenant"))?;
        let config = t.identity().issuer().ok_or(unauthenticated("tenant has no JWT issuer"))?;
        let claims = steward_access::verify(token, &config, chrono::Utc::now().timestamp()).map_err(|e| {
            tracing::debug!(error = %e, "JWT refused");
            unauthenticated("JWT refused")
        })?;
        Ok(Principal::User { tenant: tenant.to_owned(), sub: claims.sub, roles: claims.roles, purposes: claims.purposes })
    }
}
