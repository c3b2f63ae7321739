//! Who is calling: principals, API keys, roles, rate limits.
//!
//! Main types: [`ApiKeySecret`] (the bearer token shown once), [`ApiKeyRecord`] (what is
//! stored: a hash, never the secret), [`Principal`] (an authenticated caller). What a
//! principal may do is decided by the Cedar policies of `steward-policy`, not here.

mod jwt;
mod key;
mod principal;
mod role;

pub use jwt::{
    IssuerConfig, JWKS_BYTES_MAX, JWKS_KEYS_MAX, Jwks, JwksError, JwtError, TENANT_CLAIM_BYTES_MAX,
    TOKEN_BYTES_MAX, TenantBinding, UserClaims, check_tenant_claim_name, looks_like_jwt, verify,
};
pub use key::{ApiKeyRecord, ApiKeySecret, KEY_ID_BYTES, KeyParseError, TokenKind};
pub use principal::{Principal, RateLimit};
pub use role::{Role, RoleParseError};
