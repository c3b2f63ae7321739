//! A tenant's JWT issuer for its people: issuer, audience, JWKS and the tenant claim, stored in
//! the tenant catalog; a bearer JWT for that tenant is verified against it and becomes a `User`.
//!
//! No token may be accepted by two tenants: tenants that trust the same issuer must all name
//! the same tenant claim, whose value must then be the tenant's id. The audience does not
//! separate them (a token may list several audiences). A configuration breaking this is refused
//! (`identity_issuer_shared`); one stored before the rule, unbound and sharing its issuer, makes
//! every JWT for that tenant refused until an admin names the claim.

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use steward_access::{IssuerConfig, Jwks, Principal, TenantBinding, check_tenant_claim_name};
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
    /// Absent in documents stored before tenant binding.
    #[serde(default)]
    tenant_claim: Option<String>,
}

/// What a tenant configured, as shown back to its admins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityInfo {
    pub issuer: String,
    pub audience: String,
    pub jwks: String,
    /// The claim whose value must be the tenant's id (`None`: the issuer is this tenant's alone).
    pub tenant_claim: Option<String>,
}

/// Serializes changes of identity configurations across tenants, so two tenants cannot both
/// pass the shared-issuer check at once.
static IDENTITY_CHANGE: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

pub(crate) struct TenantIdentity {
    current: RwLock<Option<(IdentityInfo, Arc<IssuerConfig>)>>,
}

fn build(doc: &IdentityDoc, tenant: &str) -> Result<IssuerConfig, String> {
    let jwks = Jwks::parse(doc.jwks.as_bytes()).map_err(|e| e.to_string())?;
    let tenant_binding = doc.tenant_claim.as_ref().map(|claim| TenantBinding {
        claim: claim.clone(),
        tenant: tenant.to_owned(),
    });
    Ok(IssuerConfig {
        issuer: doc.issuer.clone(),
        audience: doc.audience.clone(),
        jwks,
        leeway_s: LEEWAY_S,
        tenant_binding,
    })
}

fn info_of(doc: IdentityDoc) -> IdentityInfo {
    IdentityInfo {
        issuer: doc.issuer,
        audience: doc.audience,
        jwks: doc.jwks,
        tenant_claim: doc.tenant_claim,
    }
}

impl TenantIdentity {
    pub fn load(catalog: &Catalog, tenant: &str) -> Result<TenantIdentity, EngineError> {
        let current = match catalog.get(META, KEY)? {
            None => None,
            Some(bytes) => {
                let corrupted = |reason: String| EngineError::DataDir {
                    path: "catalog.redb".into(),
                    reason: format!("corrupted identity entry: {reason}"),
                };
                let doc: IdentityDoc =
                    serde_json::from_slice(&bytes).map_err(|e| corrupted(e.to_string()))?;
                let config = build(&doc, tenant).map_err(corrupted)?;
                Some((info_of(doc), Arc::new(config)))
            }
        };
        Ok(TenantIdentity {
            current: RwLock::new(current),
        })
    }

    fn issuer(&self) -> Option<Arc<IssuerConfig>> {
        self.current.read().as_ref().map(|(_, c)| c.clone())
    }

    /// The issuer and tenant claim configured, if any.
    fn trust(&self) -> Option<(String, Option<String>)> {
        self.current
            .read()
            .as_ref()
            .map(|(info, _)| (info.issuer.clone(), info.tenant_claim.clone()))
    }
}

/// Whether two tenants' configurations could both accept one token: same issuer, and not both
/// bound by the same claim.
fn could_share_tokens(
    issuer: &str,
    claim: Option<&str>,
    other_issuer: &str,
    other_claim: Option<&str>,
) -> bool {
    issuer == other_issuer && (claim.is_none() || claim != other_claim)
}

fn check_text(field: &str, value: &str) -> Result<(), EngineError> {
    if value.is_empty() || value.len() > 512 || value.chars().any(char::is_control) {
        return Err(EngineError::invalid(
            "invalid_identity",
            Some(field),
            "expected 1 to 512 bytes without control characters",
        ));
    }
    Ok(())
}

impl Engine {
    /// Configures (or replaces) the tenant's JWT issuer; the JWKS must hold at least one usable
    /// signing key (RS256, ES256 or EdDSA). `tenant_claim` names the claim whose value must be
    /// the tenant's id; it is required when another tenant trusts the same issuer (and must be
    /// the claim that tenant names), so no token is accepted by two tenants.
    pub fn set_identity(
        &self,
        tenant: &str,
        issuer: &str,
        audience: &str,
        jwks: &str,
        tenant_claim: Option<&str>,
    ) -> Result<IdentityInfo, EngineError> {
        check_text("issuer", issuer)?;
        check_text("audience", audience)?;
        if let Some(claim) = tenant_claim {
            check_tenant_claim_name(claim).map_err(|reason| {
                EngineError::invalid("invalid_identity", Some("tenant_claim"), reason)
            })?;
        }
        let doc = IdentityDoc {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            jwks: jwks.to_owned(),
            tenant_claim: tenant_claim.map(str::to_owned),
        };
        let config = build(&doc, tenant)
            .map_err(|e| EngineError::invalid("invalid_jwks", Some("jwks"), e))?;
        let t = self.tenant(tenant)?;
        let value = serde_json::to_vec(&doc)
            .map_err(|e| EngineError::invalid("invalid_jwks", Some("jwks"), e.to_string()))?;
        let _change = IDENTITY_CHANGE.lock();
        let shared = self
            .tenant_list()
            .iter()
            .filter(|other| other.id() != tenant)
            .any(|other| {
                other
                    .identity()
                    .trust()
                    .is_some_and(|(other_issuer, other_claim)| {
                        could_share_tokens(
                            issuer,
                            tenant_claim,
                            &other_issuer,
                            other_claim.as_deref(),
                        ) || could_share_tokens(
                            &other_issuer,
                            other_claim.as_deref(),
                            issuer,
                            tenant_claim,
                        )
                    })
            });
        if shared {
            return Err(EngineError::invalid(
                "identity_issuer_shared",
                Some("tenant_claim"),
                "another tenant trusts this issuer: every tenant of a shared issuer must name the same tenant_claim, whose value is the tenant's id",
            ));
        }
        let mut current = t.identity().current.write();
        t.partition()
            .catalog()
            .write(|txn| txn.put(META, KEY, &value))?;
        let info = info_of(doc);
        *current = Some((info.clone(), Arc::new(config)));
        tracing::info!(
            tenant,
            bound = tenant_claim.is_some(),
            "JWT issuer configured"
        );
        Ok(info)
    }

    pub fn identity(&self, tenant: &str) -> Result<Option<IdentityInfo>, EngineError> {
        Ok(self
            .tenant(tenant)?
            .identity()
            .current
            .read()
            .as_ref()
            .map(|(info, _)| info.clone()))
    }

    /// Verifies a JWT against the tenant's issuer.
    pub(crate) fn authenticate_user(
        &self,
        token: &str,
        tenant: Option<&str>,
    ) -> Result<Principal, EngineError> {
        let unauthenticated = |reason| EngineError::Unauthenticated { reason };
        let tenant = tenant.ok_or(unauthenticated(
            "a JWT is only accepted on a tenant's routes",
        ))?;
        let t = self
            .tenant(tenant)
            .map_err(|_| unauthenticated("JWT for an unknown tenant"))?;
        let config = t
            .identity()
            .issuer()
            .ok_or(unauthenticated("tenant has no JWT issuer"))?;
        if config.tenant_binding.is_none()
            && self.issuer_shared_with_another(tenant, &config.issuer)
        {
            // A configuration stored before tenant binding: refuse rather than let a token of
            // another tenant in.
            tracing::warn!(
                tenant,
                "JWT refused: this tenant's issuer is trusted by another tenant and names no tenant_claim"
            );
            return Err(unauthenticated("unbound issuer shared with another tenant"));
        }
        let claims = steward_access::verify(token, &config, chrono::Utc::now().timestamp())
            .map_err(|e| {
                tracing::debug!(error = %e, "JWT refused");
                unauthenticated("JWT refused")
            })?;
        Ok(Principal::User {
            tenant: tenant.to_owned(),
            sub: claims.sub,
            roles: claims.roles,
            purposes: claims.purposes,
        })
    }

    fn issuer_shared_with_another(&self, tenant: &str, issuer: &str) -> bool {
        self.tenant_list()
            .iter()
            .filter(|other| other.id() != tenant)
            .any(|other| {
                other
                    .identity()
                    .trust()
                    .is_some_and(|(other_issuer, _)| other_issuer == issuer)
            })
    }
}
