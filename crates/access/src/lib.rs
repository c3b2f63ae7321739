//! Who is calling: principals, API keys, roles, rate limits.
//!
//! Main types: [`ApiKeySecret`] (the bearer token shown once), [`ApiKeyRecord`] (what is
//! stored: a hash, never the secret), [`Principal`] (an authenticated caller). What a
//! principal may do is decided by the Cedar policies of `steward-policy`, not here.

mod jwt;
mod key;
mod principal;
mod role;

pub use principal::{Principal, RateLimit};
pub use jwt::{
    check_tenant_claim_name, looks_like_jwt, verify, IssuerConfig, Jwks, JwksError, JwtError, TenantBinding, UserClaims,
    JWKS_BYTES_MAX, JWKS_KEYS_MAX, TENANT_CLAIM_BYTES_MAX, TOKEN_BYTES_MAX,
};
pub use key::{ApiKeyRecord, ApiKeySecret, KeyParseError, TokenKind, KEY_ID_BYTES};
pub use role::{Role, RoleParseError};
