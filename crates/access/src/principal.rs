//! Who is calling: an authenticated principal, with what scopes and limits.
//!
//! Deciding what a principal may do is not here: every request is decided by the Cedar
//! policies in `steward-policy`. This crate only establishes identity.

use crate::Role;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The deployment's operator: manages tenants (and a tenant's keys), sees no tenant data.
    Operator,
    /// A tenant's API key. `purposes` empty: whatever purposes its role permits.
    Key {
        tenant: String,
        key_id: String,
        role: Role,
        purposes: Vec<String>,
        rate_limit: Option<RateLimit>,
    },
    /// A person authenticated by a JWT from the issuer its tenant configured.
    User {
        tenant: String,
        sub: String,
        roles: Vec<Role>,
        purposes: Vec<String>,
    },
}

impl Principal {
    /// The tenant the principal belongs to (`None` for the operator).
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Principal::Operator => None,
            Principal::Key { tenant, .. } | Principal::User { tenant, .. } => Some(tenant),
        }
    }

    /// A stable, non-personal name for audit records and rate limiting: `operator`,
    /// `key:<id>` or `user:<sub>` (a user's `sub` is the issuer's opaque id, not a name).
    pub fn audit_name(&self) -> String {
        match self {
            Principal::Operator => "operator".to_owned(),
            Principal::Key { key_id, .. } => format!("key:{key_id}"),
            Principal::User { sub, .. } => format!("user:{sub}"),
        }
    }
}

/// A token bucket: `per_second` requests on average, bursts of up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl RateLimit {
    /// Most requests per second a key may be given; a guard against typos, not a policy.
    pub const PER_SECOND_MAX: u32 = 1_000_000;

    /// Checks the bounds: both at least 1, rate at most [`Self::PER_SECOND_MAX`], burst at
    /// most 60 seconds' worth.
    pub fn new(per_second: u32, burst: u32) -> Result<RateLimit, String> {
        if per_second == 0 || per_second > Self::PER_SECOND_MAX {
            return Err(format!("per_second must be 1 to {}", Self::PER_SECOND_MAX));
        }
        if burst == 0 || u64::from(burst) > 60 * u64::from(per_second) {
            return Err("burst must be 1 to 60 times per_second".to_owned());
        }
        Ok(RateLimit { per_second, burst })
    }
}
