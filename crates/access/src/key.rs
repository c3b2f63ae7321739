//! API key tokens (`stw_<kind>_<id>_<secret>`) and their stored, hashed records.

use chrono::{DateTime, Utc};
use rand::RngCore;
use steward_crypto::{constant_time_eq, sha256};

use crate::Role;

/// Random bytes in a key id; the id is public (it names the key in lists and logs).
pub const KEY_ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;
const ENC: data_encoding::Encoding = data_encoding::BASE32_NOPAD;

/// Whether a token belongs to a tenant or to the operator of the deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Tenant,
    Operator,
}

impl TokenKind {
    fn tag(self) -> &'static str {
        match self {
            TokenKind::Tenant => "k",
            TokenKind::Operator => "op",
        }
    }
}

/// A bearer token as the client holds it. Only its hash is ever stored.
pub struct ApiKeySecret {
    pub kind: TokenKind,
    pub id: String,
    secret: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("malformed API key")]
pub struct KeyParseError;

impl ApiKeySecret {
    pub fn generate(kind: TokenKind) -> ApiKeySecret {
        let mut id = [0u8; KEY_ID_BYTES];
        let mut secret = vec![0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut id);
        rand::rngs::OsRng.fill_bytes(&mut secret);
        ApiKeySecret {
            kind,
            id: ENC.encode(&id).to_lowercase(),
            secret,
        }
    }

    /// The token to hand to the client, once.
    pub fn token(&self) -> String {
        format!(
            "stw_{}_{}_{}",
            self.kind.tag(),
            self.id,
            ENC.encode(&self.secret).to_lowercase()
        )
    }

    pub fn parse(token: &str) -> Result<ApiKeySecret, KeyParseError> {
        let mut parts = token.trim().split('_');
        let (Some("stw"), Some(tag), Some(id), Some(secret), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(KeyParseError);
        };
        let kind = match tag {
            "k" => TokenKind::Tenant,
            "op" => TokenKind::Operator,
            _ => return Err(KeyParseError),
        };
        let id_ok = ENC
            .decode(id.to_uppercase().as_bytes())
            .map(|b| b.len() == KEY_ID_BYTES);
        if id_ok != Ok(true) {
            return Err(KeyParseError);
        }
        let secret = ENC
            .decode(secret.to_uppercase().as_bytes())
            .map_err(|_| KeyParseError)?;
        if secret.len() != SECRET_BYTES {
            return Err(KeyParseError);
        }
        Ok(ApiKeySecret {
            kind,
            id: id.to_owned(),
            secret,
        })
    }

    pub fn hash(&self) -> [u8; 32] {
        sha256(&[b"steward-api-key", self.id.as_bytes(), &self.secret])
    }
}

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeySecret({:?}, {}, <redacted>)", self.kind, self.id)
    }
}

/// A stored tenant API key: hashed secret, role, lifetime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub tenant: String,
    pub name: String,
    pub role: Role,
    pub secret_hash: [u8; 32],
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Purposes the key may read for; empty: whatever its role permits.
    pub purposes: Vec<String>,
    /// Token-bucket limit; `None`: the deployment's default.
    pub rate_limit: Option<crate::RateLimit>,
}

impl ApiKeyRecord {
    /// True when `secret` is this key's and the key is neither revoked nor expired at `now`.
    pub fn accepts(&self, secret: &ApiKeySecret, now: DateTime<Utc>) -> bool {
        let hash_ok = constant_time_eq(&secret.hash(), &self.secret_hash);
        hash_ok && secret.id == self.id && self.is_live(now)
    }

    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(secret: &ApiKeySecret) -> ApiKeyRecord {
        ApiKeyRecord {
            id: secret.id.clone(),
            tenant: "acme".into(),
            name: "ingest".into(),
            role: Role::Writer,
            secret_hash: secret.hash(),
            created_at: Utc::now(),
            expires_at: None,
            revoked_at: None,
            purposes: Vec::new(),
            rate_limit: None,
        }
    }

    #[test]
    fn token_round_trips_and_checks() {
        let secret = ApiKeySecret::generate(TokenKind::Tenant);
        let parsed = ApiKeySecret::parse(&secret.token()).unwrap();
        assert_eq!(parsed.hash(), secret.hash());
        let mut rec = record(&secret);
        assert!(rec.accepts(&parsed, Utc::now()));
        rec.expires_at = Some(Utc::now() - chrono::Duration::seconds(1));
        assert!(!rec.accepts(&parsed, Utc::now()));
        rec.expires_at = None;
        rec.revoked_at = Some(Utc::now());
        assert!(!rec.accepts(&parsed, Utc::now()));
    }

    #[test]
    fn wrong_secret_and_garbage_are_rejected() {
        let a = ApiKeySecret::generate(TokenKind::Tenant);
        let b = ApiKeySecret::generate(TokenKind::Tenant);
        let forged = ApiKeySecret::parse(&format!(
            "stw_k_{}_{}",
            a.id,
            b.token().rsplit('_').next().unwrap()
        ))
        .unwrap();
        assert!(!record(&a).accepts(&forged, Utc::now()));
        for bad in [
            "",
            "stw",
            "stw_k_x_y",
            "Bearer stw",
            "stw_zz_aaaaaaaaaaaaa_bbbb",
            "stw_k_a_b_c",
        ] {
            assert!(ApiKeySecret::parse(bad).is_err(), "{bad}");
        }
    }
}
