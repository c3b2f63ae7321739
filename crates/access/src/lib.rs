//! Who may do what: principals, API keys, roles and the one authorization function.
//!
//! Main types: [`ApiKeySecret`] (the bearer token shown once), [`ApiKeyRecord`] (what is
//! stored: a hash, never the secret), [`Principal`] (an authenticated caller), [`Action`]
//! and [`authorize`]. Every request is decided by `authorize` alone, so the Cedar engine
//! of the next phase replaces one function, not a scattering of checks.

mod authorize;
mod jwt;
mod key;
mod role;

pub use authorize::{authorize, Action, Denied, Principal};
pub use jwt::{
    looks_like_jwt, verify, IssuerConfig, Jwks, JwksError, JwtError, UserClaims, JWKS_BYTES_MAX, JWKS_KEYS_MAX,
    TOKEN_BYTES_MAX,
};
pub use key::{ApiKeyRecord, ApiKeySecret, KeyParseError, TokenKind, KEY_ID_BYTES};
pub use role::{Role, RoleParseError};
