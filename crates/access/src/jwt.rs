//! JWTs for a tenant's people: verifying a bearer token against the issuer the tenant configured.
//!
//! A tenant names its identity provider by issuer (`iss`), audience (`aud`) and the provider's
//! public keys as a JWKS document ([`Jwks`], RFC 7517). [`verify`] checks a compact JWS
//! (RFC 7515) signed with RS256, ES256 or EdDSA (Ed25519) and returns the person's
//! [`UserClaims`]. The token never decides how it is checked: the key comes from the configured
//! JWKS only (`jku`, `jwk`, `x5u` and `x5c` headers are ignored), and the key's own type fixes
//! the algorithm, so a header cannot turn an RSA public key into an HMAC secret or ask for `none`.
//!
//! A tenant's issuer may be trusted by other tenants too (a shared identity provider); its
//! [`TenantBinding`] then names a claim (`tenant`, `org_id`, ...) whose value must be the tenant
//! the request is for, so a token for one tenant is refused by every other.
//!
//! Errors say precisely what failed, for the server's logs, and never repeat token contents.

use std::fmt;

use data_encoding::BASE64URL_NOPAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::Value;

use crate::Role;

/// Longest token accepted. Providers' tokens are 1 to 4 KiB; the bound caps the work an
/// unauthenticated caller can cause before the signature check.
pub const TOKEN_BYTES_MAX: usize = 16 * 1024;
/// Largest JWKS document accepted; providers publish a few keys, a few KiB.
pub const JWKS_BYTES_MAX: usize = 256 * 1024;
/// Most keys in a JWKS document, usable or not.
pub const JWKS_KEYS_MAX: usize = 64;
const KID_BYTES_MAX: usize = 256;
const SUB_BYTES_MAX: usize = 256;
const ROLES_MAX: usize = 16;
const PURPOSES_MAX: usize = 64;
const PURPOSE_BYTES_MAX: usize = 32;
const AUDIENCES_MAX: usize = 32;
/// RSA moduli ring verifies with `RSA_PKCS1_2048_8192_SHA256`; smaller keys are forgeable.
const RSA_MODULUS_BITS_MIN: usize = 2048;
const RSA_MODULUS_BITS_MAX: usize = 8192;
/// ring accepts odd public exponents from 3 to 2^33 - 1.
const RSA_EXPONENT_MAX: u64 = (1 << 33) - 1;

const _: () = assert!(TOKEN_BYTES_MAX < JWKS_BYTES_MAX);
const _: () = assert!(
    RSA_MODULUS_BITS_MAX / 8 * 4 / 3 < TOKEN_BYTES_MAX / 4,
    "an RSA-8192 signature leaves room for claims"
);

/// Why a token was refused. Vague to the client, precise in the logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    #[error("token longer than {TOKEN_BYTES_MAX} bytes")]
    TooLong,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("unsupported token algorithm (accepted: RS256, ES256, EdDSA)")]
    UnsupportedAlgorithm,
    #[error("token algorithm does not match the type of its key")]
    AlgorithmMismatch,
    #[error("no key in the issuer's JWKS matches the token")]
    UnknownKey,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token issuer is not the configured issuer")]
    WrongIssuer,
    #[error("token audience does not include the configured audience")]
    WrongAudience,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token claim {claim:?} {reason}")]
    BadClaim {
        claim: &'static str,
        reason: &'static str,
    },
    /// The configured tenant claim is missing, not a string, or names another tenant.
    #[error("token's tenant claim {reason}")]
    WrongTenant { reason: &'static str },
}

/// Why a JWKS document was refused. It is the operator's configuration, so the message may name
/// keys by `kid` and position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JWKS: {0}")]
pub struct JwksError(String);

/// The signature algorithms accepted; each belongs to exactly one key type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alg {
    Rs256,
    Es256,
    EdDsa,
}

impl Alg {
    /// `Ed25519` is the fully specified name for EdDSA over Ed25519 (RFC 9864).
    fn from_name(name: &str) -> Option<Alg> {
        match name {
            "RS256" => Some(Alg::Rs256),
            "ES256" => Some(Alg::Es256),
            "EdDSA" | "Ed25519" => Some(Alg::EdDsa),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }
}

/// A public key, in the form ring verifies with.
#[derive(Clone)]
enum PublicKey {
    /// Big-endian modulus and exponent, without leading zeros.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// The uncompressed point `0x04 || x || y`.
    P256 {
        point: Vec<u8>,
    },
    Ed25519 {
        x: Vec<u8>,
    },
}

impl PublicKey {
    fn alg(&self) -> Alg {
        match self {
            PublicKey::Rsa { .. } => Alg::Rs256,
            PublicKey::P256 { .. } => Alg::Es256,
            PublicKey::Ed25519 { .. } => Alg::EdDsa,
        }
    }

    fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), JwtError> {
        let verified = match self {
            PublicKey::Rsa { n, e } => RsaPublicKeyComponents { n, e }.verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                message,
                sig,
            ),
            PublicKey::P256 { point } => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
            }
            PublicKey::Ed25519 { x } => {
                UnparsedPublicKey::new(&signature::ED25519, x).verify(message, sig)
            }
        };
        verified.map_err(|_| JwtError::BadSignature)
    }
}

#[derive(Clone)]
struct Jwk {
    kid: Option<String>,
    key: PublicKey,
}

/// An issuer's signing keys, parsed from its JWKS document: only keys usable for RS256, ES256
/// or EdDSA signatures, each with a distinct `kid`.
#[derive(Clone)]
pub struct Jwks {
    keys: Vec<Jwk>,
}

impl fmt::Debug for Jwks {
    /// Key ids and algorithms; the key material is public but long.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.keys
                    .iter()
                    .map(|k| (k.kid.as_deref().unwrap_or("-"), k.key.alg().name())),
            )
            .finish()
    }
}

impl Jwks {
    /// Parses `{"keys": [...]}`. Keys of other types, curves or algorithms, and keys not for
    /// signatures (`use` other than `sig`, `key_ops` without `verify`), are skipped so that a
    /// provider's full set can be used as published. A key of a supported type with bad members
    /// fails the whole set rather than vanishing, as does a set with no usable key or a `kid`
    /// used twice.
    pub fn parse(json: &[u8]) -> Result<Jwks, JwksError> {
        if json.len() > JWKS_BYTES_MAX {
            return Err(JwksError(format!(
                "document longer than {JWKS_BYTES_MAX} bytes"
            )));
        }
        let document: Value =
            serde_json::from_slice(json).map_err(|e| JwksError(format!("not JSON: {e}")))?;
        let Some(entries) = document.get("keys").and_then(Value::as_array) else {
            return Err(JwksError(
                "expected an object with a \"keys\" array".to_owned(),
            ));
        };
        if entries.len() > JWKS_KEYS_MAX {
            return Err(JwksError(format!("more than {JWKS_KEYS_MAX} keys")));
        }
        let mut keys: Vec<Jwk> = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let Some(jwk) = parse_jwk(entry).map_err(|reason| {
                let kid = entry.get("kid").and_then(Value::as_str).unwrap_or("-");
                JwksError(format!("key {index} (kid {kid:?}): {reason}"))
            })?
            else {
                continue;
            };
            if let Some(kid) = &jwk.kid
                && keys.iter().any(|k| k.kid.as_ref() == Some(kid))
            {
                return Err(JwksError(format!("kid {kid:?} is used by two keys")));
            }
            keys.push(jwk);
        }
        if keys.is_empty() {
            return Err(JwksError(
                "no key usable for RS256, ES256 or EdDSA signatures".to_owned(),
            ));
        }
        Ok(Jwks { keys })
    }

    /// The key a token names by `kid`; with no `kid`, the only key, if there is one.
    fn select(&self, kid: Option<&str>) -> Option<&PublicKey> {
        let found = match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        };
        found.map(|k| &k.key)
    }
}

/// One JWK: `Ok(None)` for a key this module does not use, `Err` for a usable type with bad
/// members.
fn parse_jwk(entry: &Value) -> Result<Option<Jwk>, String> {
    let text = |name: &str| entry.get(name).and_then(Value::as_str);
    if !entry.is_object() {
        return Err("not an object".to_owned());
    }
    if entry.get("use").is_some_and(|u| u.as_str() != Some("sig")) {
        return Ok(None);
    }
    if let Some(ops) = entry.get("key_ops")
        && !ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")))
    {
        return Ok(None);
    }
    let alg = match (text("kty"), text("crv")) {
        (Some("RSA"), _) => Alg::Rs256,
        (Some("EC"), Some("P-256")) => Alg::Es256,
        (Some("OKP"), Some("Ed25519")) => Alg::EdDsa,
        _ => return Ok(None),
    };
    match entry.get("alg") {
        None => {}
        Some(named) if named.as_str().and_then(Alg::from_name) == Some(alg) => {}
        Some(_) => return Ok(None),
    }
    let kid = match entry.get("kid") {
        None => None,
        Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= KID_BYTES_MAX => {
            Some(kid.clone())
        }
        Some(_) => {
            return Err(format!(
                "kid must be a string of 1 to {KID_BYTES_MAX} bytes"
            ));
        }
    };
    let member = |name: &'static str| -> Result<Vec<u8>, String> {
        let value = text(name).ok_or_else(|| format!("member {name:?} missing or not a string"))?;
        // Some publishers pad; the alphabet and trailing bits stay strict.
        BASE64URL_NOPAD
            .decode(value.trim_end_matches('=').as_bytes())
            .map_err(|_| format!("member {name:?} is not base64url"))
    };
    let key = match alg {
        Alg::Rs256 => {
            let n = strip_leading_zeros(member("n")?);
            let e = strip_leading_zeros(member("e")?);
            let bits = bit_length(&n);
            if !(RSA_MODULUS_BITS_MIN..=RSA_MODULUS_BITS_MAX).contains(&bits) {
                return Err(format!(
                    "RSA modulus of {bits} bits; {RSA_MODULUS_BITS_MIN} to {RSA_MODULUS_BITS_MAX} accepted"
                ));
            }
            let exponent =
                (e.len() <= 8).then(|| e.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)));
            if !exponent.is_some_and(|e| (3..=RSA_EXPONENT_MAX).contains(&e) && e % 2 == 1) {
                return Err("RSA exponent must be odd, 3 to 2^33 - 1".to_owned());
            }
            PublicKey::Rsa { n, e }
        }
        Alg::Es256 => {
            let (x, y) = (member("x")?, member("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err("P-256 coordinates must be 32 bytes each".to_owned());
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            PublicKey::P256 { point }
        }
        Alg::EdDsa => {
            let x = member("x")?;
            if x.len() != 32 {
                return Err("Ed25519 public key must be 32 bytes".to_owned());
            }
            PublicKey::Ed25519 { x }
        }
    };
    Ok(Some(Jwk { kid, key }))
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// Bits in a big-endian number without leading zero bytes.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.first() {
        None => 0,
        Some(first) => bytes.len() * 8 - first.leading_zeros() as usize,
    }
}

/// The issuer a tenant trusts for its people, and how much clock skew to allow.
#[derive(Clone, Debug)]
pub struct IssuerConfig {
    /// Exactly the `iss` the provider puts in its tokens; empty matches nothing.
    pub issuer: String,
    /// The `aud` the provider issues for this deployment; empty matches nothing.
    pub audience: String,
    pub jwks: Jwks,
    /// Seconds of clock skew allowed on `exp` and `nbf`.
    pub leeway_s: u64,
    /// The claim that must name the tenant (`None`: the issuer is this tenant's alone).
    pub tenant_binding: Option<TenantBinding>,
}

/// A claim every token must carry, whose value must equal the tenant the request is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantBinding {
    /// The claim's name, checked by [`check_tenant_claim_name`].
    pub claim: String,
    /// The tenant's id: the claim's value must be exactly this string.
    pub tenant: String,
}

/// Longest tenant claim name (namespaced claims such as `https://example.com/org_id` included).
pub const TENANT_CLAIM_BYTES_MAX: usize = 128;

/// Claims with a meaning of their own, which cannot also name the tenant.
const RESERVED_CLAIMS: [&str; 9] = [
    "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "roles", "purposes",
];

/// Whether `name` may be a tenant claim: 1 to 128 printable ASCII characters without spaces,
/// not a registered claim nor one Steward reads for another purpose. The error is a reason to
/// show the tenant's admin; it does not repeat the name.
pub fn check_tenant_claim_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty()
        || name.len() > TENANT_CLAIM_BYTES_MAX
        || !name.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err("expected 1 to 128 printable ASCII characters without spaces");
    }
    if RESERVED_CLAIMS.contains(&name) {
        return Err(
            "a registered claim or one Steward reads for another purpose cannot name the tenant",
        );
    }
    Ok(())
}

/// What a verified token says about the person presenting it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserClaims {
    /// The provider's stable id for the person (`sub`): printable ASCII, no spaces.
    pub sub: String,
    /// From the `roles` claim; required, so that a provider not yet sending roles is told so
    /// rather than producing users who can do nothing.
    pub roles: Vec<Role>,
    /// From the optional `purposes` claim; empty when absent.
    pub purposes: Vec<String>,
    /// `exp`, in seconds since the Unix epoch; the server can end a session with it.
    pub expires_at: i64,
}

/// Whether a bearer token has the shape of a compact JWS rather than an API key (`stw_...`):
/// three non-empty dot-separated parts, the header starting `{"` in base64url.
#[must_use]
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ")
        && token.split('.').count() == 3
        && token.split('.').all(|p| !p.is_empty())
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
    crit: Option<serde::de::IgnoredAny>,
}

/// The registered claims read, kept as JSON values so each gets a precise error; the derived
/// parser refuses a claim named twice, which readers might otherwise resolve differently.
#[derive(Deserialize)]
struct Claims {
    iss: Option<Value>,
    sub: Option<Value>,
    aud: Option<Value>,
    exp: Option<Value>,
    nbf: Option<Value>,
    roles: Option<Value>,
    purposes: Option<Value>,
}

/// Verifies `token` (the text after `Bearer `) against `config` at `now_s` (seconds since the
/// Unix epoch). The signature is checked before the payload is read.
pub fn verify(token: &str, config: &IssuerConfig, now_s: i64) -> Result<UserClaims, JwtError> {
    if token.len() > TOKEN_BYTES_MAX {
        return Err(JwtError::TooLong);
    }
    let three_parts = JwtError::Malformed("expected three dot-separated parts");
    let (signing_input, sig_b64) = token.rsplit_once('.').ok_or(three_parts.clone())?;
    let (header_b64, payload_b64) = signing_input.split_once('.').ok_or(three_parts.clone())?;
    if payload_b64.contains('.') {
        return Err(three_parts);
    }
    let header: Header = parse_object(&decode(header_b64, "header is not base64url")?).ok_or(
        JwtError::Malformed("header is not a JSON object of string members"),
    )?;
    let alg = header
        .alg
        .as_deref()
        .and_then(Alg::from_name)
        .ok_or(JwtError::UnsupportedAlgorithm)?;
    if header.crit.is_some() {
        return Err(JwtError::Malformed(
            "critical header extensions are not supported",
        ));
    }
    let key = config
        .jwks
        .select(header.kid.as_deref())
        .ok_or(JwtError::UnknownKey)?;
    if key.alg() != alg {
        return Err(JwtError::AlgorithmMismatch);
    }
    let sig = decode(sig_b64, "signature is not base64url")?;
    key.verify(signing_input.as_bytes(), &sig)?;

    let payload = decode(payload_b64, "payload is not base64url")?;
    let claims: Claims = parse_object(&payload).ok_or(JwtError::Malformed(
        "payload is not a JSON object with distinct claims",
    ))?;
    let user = check_claims(&claims, config, now_s)?;
    if let Some(binding) = &config.tenant_binding {
        check_tenant(&payload, binding)?;
    }
    Ok(user)
}

/// The payload's members, refusing a member named twice (readers could resolve it differently).
struct DistinctMembers(std::collections::BTreeMap<String, Value>);

impl<'de> Deserialize<'de> for DistinctMembers {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = DistinctMembers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with distinct members")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<DistinctMembers, A::Error> {
                let mut members = std::collections::BTreeMap::new();
                while let Some((name, value)) = map.next_entry::<String, Value>()? {
                    if members.insert(name, value).is_some() {
                        return Err(serde::de::Error::custom("a member is named twice"));
                    }
                }
                Ok(DistinctMembers(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// The binding claim must be a string equal to the tenant's id.
fn check_tenant(payload: &[u8], binding: &TenantBinding) -> Result<(), JwtError> {
    let DistinctMembers(members) = parse_object(payload).ok_or(JwtError::Malformed(
        "payload is not a JSON object with distinct claims",
    ))?;
    match members.get(&binding.claim) {
        None => Err(JwtError::WrongTenant {
            reason: "is missing",
        }),
        Some(Value::String(tenant)) if *tenant == binding.tenant => Ok(()),
        Some(Value::String(_)) => Err(JwtError::WrongTenant {
            reason: "names another tenant",
        }),
        Some(_) => Err(JwtError::WrongTenant {
            reason: "is not a string",
        }),
    }
}

fn decode(part: &str, what: &'static str) -> Result<Vec<u8>, JwtError> {
    BASE64URL_NOPAD
        .decode(part.as_bytes())
        .map_err(|_| JwtError::Malformed(what))
}

/// A JSON object into `T`; `None` for anything else (serde would also take an array).
fn parse_object<T: serde::de::DeserializeOwned>(json: &[u8]) -> Option<T> {
    if json.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    serde_json::from_slice(json).ok()
}

fn check_claims(
    claims: &Claims,
    config: &IssuerConfig,
    now_s: i64,
) -> Result<UserClaims, JwtError> {
    let iss = string_claim(claims.iss.as_ref(), "iss")?;
    if config.issuer.is_empty() || iss != config.issuer {
        return Err(JwtError::WrongIssuer);
    }
    check_audience(claims.aud.as_ref(), &config.audience)?;

    let leeway_s = i64::try_from(config.leeway_s).unwrap_or(i64::MAX);
    let expires_at = numeric_date(claims.exp.as_ref(), "exp")?.ok_or(JwtError::BadClaim {
        claim: "exp",
        reason: "missing",
    })?;
    if now_s >= expires_at.saturating_add(leeway_s) {
        return Err(JwtError::Expired);
    }
    if let Some(not_before) = numeric_date(claims.nbf.as_ref(), "nbf")?
        && now_s.saturating_add(leeway_s) < not_before
    {
        return Err(JwtError::NotYetValid);
    }

    let sub = string_claim(claims.sub.as_ref(), "sub")?;
    if sub.is_empty() || sub.len() > SUB_BYTES_MAX {
        return Err(JwtError::BadClaim {
            claim: "sub",
            reason: "must be 1 to 256 bytes",
        });
    }
    if !sub.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(JwtError::BadClaim {
            claim: "sub",
            reason: "must be printable ASCII without spaces",
        });
    }

    let mut roles = Vec::new();
    let Some(role_names) = &claims.roles else {
        return Err(JwtError::BadClaim {
            claim: "roles",
            reason: "missing",
        });
    };
    for name in string_array(role_names, "roles", ROLES_MAX)? {
        let role = Role::parse(name).map_err(|_| JwtError::BadClaim {
            claim: "roles",
            reason: "names an unknown role",
        })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }

    let mut purposes: Vec<String> = Vec::new();
    if let Some(names) = &claims.purposes {
        for name in string_array(names, "purposes", PURPOSES_MAX)? {
            if !is_purpose_name(name) {
                return Err(JwtError::BadClaim {
                    claim: "purposes",
                    reason: "entries must match [a-z][a-z0-9_]{0,31}",
                });
            }
            if !purposes.iter().any(|p| p == name) {
                purposes.push(name.to_owned());
            }
        }
    }
    Ok(UserClaims {
        sub: sub.to_owned(),
        roles,
        purposes,
        expires_at,
    })
}

fn string_claim<'a>(value: Option<&'a Value>, claim: &'static str) -> Result<&'a str, JwtError> {
    match value {
        None => Err(JwtError::BadClaim {
            claim,
            reason: "missing",
        }),
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(JwtError::BadClaim {
            claim,
            reason: "is not a string",
        }),
    }
}

/// `aud` is one string or an array of them (RFC 7519 section 4.1.3).
fn check_audience(aud: Option<&Value>, audience: &str) -> Result<(), JwtError> {
    let matches = |candidate: &str| !audience.is_empty() && candidate == audience;
    let found = match aud {
        None => {
            return Err(JwtError::BadClaim {
                claim: "aud",
                reason: "missing",
            });
        }
        Some(Value::String(one)) => matches(one),
        Some(many @ Value::Array(_)) => string_array(many, "aud", AUDIENCES_MAX)?
            .into_iter()
            .any(matches),
        Some(_) => {
            return Err(JwtError::BadClaim {
                claim: "aud",
                reason: "is not a string or an array of strings",
            });
        }
    };
    if found {
        Ok(())
    } else {
        Err(JwtError::WrongAudience)
    }
}

/// A NumericDate (RFC 7519 section 2): seconds, possibly fractional; fractions round down.
fn numeric_date(value: Option<&Value>, claim: &'static str) -> Result<Option<i64>, JwtError> {
    let Some(value) = value else { return Ok(None) };
    let bad = JwtError::BadClaim {
        claim,
        reason: "is not a number of seconds",
    };
    let Value::Number(number) = value else {
        return Err(bad);
    };
    if let Some(whole) = number.as_i64() {
        return Ok(Some(whole));
    }
    match number.as_f64() {
        // The range check keeps the cast exact (no saturation hiding a wild value).
        Some(seconds) if seconds.is_finite() && seconds.abs() < 1e15 => {
            Ok(Some(seconds.floor() as i64))
        }
        _ => Err(bad),
    }
}

fn string_array<'a>(
    value: &'a Value,
    claim: &'static str,
    entries_max: usize,
) -> Result<Vec<&'a str>, JwtError> {
    let Value::Array(entries) = value else {
        return Err(JwtError::BadClaim {
            claim,
            reason: "is not an array of strings",
        });
    };
    if entries.len() > entries_max {
        return Err(JwtError::BadClaim {
            claim,
            reason: "has too many entries",
        });
    }
    entries
        .iter()
        .map(|entry| {
            entry.as_str().ok_or(JwtError::BadClaim {
                claim,
                reason: "is not an array of strings",
            })
        })
        .collect()
}

/// `[a-z][a-z0-9_]{0,31}`, as `steward_policy::Purpose` (a crate above this one) requires.
fn is_purpose_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() <= PURPOSE_BYTES_MAX
        && bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}
