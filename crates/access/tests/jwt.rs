//! JWT verification: tokens signed here with ring (RS256, ES256, EdDSA), RFC example tokens,
//! and the ways a token must be refused.

use std::sync::LazyLock;

use data_encoding::BASE64URL_NOPAD;
use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
};
use serde_json::{Value, json};
use steward_access::{
    IssuerConfig, Jwks, JwtError, Role, TOKEN_BYTES_MAX, TenantBinding, UserClaims,
    check_tenant_claim_name, looks_like_jwt, verify,
};

const ISSUER: &str = "https://login.acme.example/";
const AUDIENCE: &str = "steward-acme";
const NOW: i64 = 1_800_000_000;

/// Our own 2048-bit test key (`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048
/// -outform DER`), PKCS#8: ring cannot generate RSA keys.
const RSA_PKCS8: &[u8] = include_bytes!("data/rsa2048.pk8.der");

fn b64(bytes: &[u8]) -> String {
    BASE64URL_NOPAD.encode(bytes)
}

enum SigningKey {
    Rsa(RsaKeyPair),
    P256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A key pair that signs test tokens and publishes its public half as a JWK.
struct Signer {
    kid: &'static str,
    key: SigningKey,
}

impl Signer {
    fn rsa(kid: &'static str) -> Signer {
        Signer {
            kid,
            key: SigningKey::Rsa(RsaKeyPair::from_pkcs8(RSA_PKCS8).expect("test RSA key")),
        }
    }

    fn p256(kid: &'static str) -> Signer {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("P-256 key");
        Signer {
            kid,
            key: SigningKey::P256(
                EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("P-256 key"),
            ),
        }
    }

    fn ed25519(kid: &'static str) -> Signer {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("Ed25519 key");
        Signer {
            kid,
            key: SigningKey::Ed25519(
                Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("Ed25519 key"),
            ),
        }
    }

    fn alg(&self) -> &'static str {
        match self.key {
            SigningKey::Rsa(_) => "RS256",
            SigningKey::P256(_) => "ES256",
            SigningKey::Ed25519(_) => "EdDSA",
        }
    }

    fn jwk(&self) -> Value {
        match &self.key {
            SigningKey::Rsa(pair) => {
                let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": b64(&public.n), "e": b64(&public.e)})
            }
            SigningKey::P256(pair) => {
                let point = pair.public_key().as_ref();
                assert_eq!((point.len(), point[0]), (65, 4), "uncompressed point");
                json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "x": b64(&point[1..33]), "y": b64(&point[33..])})
            }
            SigningKey::Ed25519(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "kid": self.kid, "alg": "EdDSA", "x": b64(pair.public_key().as_ref())})
            }
        }
    }

    fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.key {
            SigningKey::Rsa(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .expect("RSA signature");
                sig
            }
            SigningKey::P256(pair) => pair
                .sign(&rng, message)
                .expect("ECDSA signature")
                .as_ref()
                .to_vec(),
            SigningKey::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }

    /// A compact JWS of any header and payload JSON, signed with this key.
    fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        format!("{input}.{}", b64(&self.sign_bytes(input.as_bytes())))
    }

    /// A token as the issuer would send it: this key's `alg` and `kid`.
    fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({"alg": self.alg(), "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }
}

struct Fixture {
    rsa: Signer,
    p256: Signer,
    ed25519: Signer,
    config: IssuerConfig,
}

/// One key of each type in one JWKS, made once: RSA signing and key generation are slow in
/// debug builds.
static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let (rsa, p256, ed25519) = (
        Signer::rsa("rsa-1"),
        Signer::p256("ec-1"),
        Signer::ed25519("ed-1"),
    );
    let jwks = json!({"keys": [rsa.jwk(), p256.jwk(), ed25519.jwk()]});
    let jwks = Jwks::parse(jwks.to_string().as_bytes()).expect("test JWKS");
    let config = IssuerConfig {
        issuer: ISSUER.to_owned(),
        audience: AUDIENCE.to_owned(),
        jwks,
        leeway_s: 0,
        tenant_binding: None,
    };
    Fixture {
        rsa,
        p256,
        ed25519,
        config,
    }
});

/// Claims that verify at `NOW`; tests change one thing.
fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-42",
        "iat": NOW - 60,
        "nbf": NOW - 60,
        "exp": NOW + 600,
        "roles": ["reader"],
        "purposes": ["support"],
    })
}

fn with(changes: Value) -> Value {
    let mut claims = claims();
    for (name, value) in changes.as_object().expect("an object of changes") {
        if value.is_null() {
            claims.as_object_mut().expect("claims object").remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

/// Verifies `token` against the fixture at `NOW` and compares with `expect`.
fn check(token: &str, expect: Result<UserClaims, JwtError>) {
    check_with(token, &FIXTURE.config, expect);
}

fn check_with(token: &str, config: &IssuerConfig, expect: Result<UserClaims, JwtError>) {
    assert_eq!(verify(token, config, NOW), expect);
}

fn check_claims(changes: Value, expect: Result<UserClaims, JwtError>) {
    check(&FIXTURE.ed25519.sign(&with(changes)), expect);
}

fn bad_claim(claim: &'static str, reason: &'static str) -> Result<UserClaims, JwtError> {
    Err(JwtError::BadClaim { claim, reason })
}

fn user() -> UserClaims {
    UserClaims {
        sub: "user-42".to_owned(),
        roles: vec![Role::Reader],
        purposes: vec!["support".to_owned()],
        expires_at: NOW + 600,
    }
}

/// Replaces one character of `part` (0 header, 1 payload, 2 signature) with another base64url
/// character that keeps the part decodable.
fn tamper(token: &str, part: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let bytes = BASE64URL_NOPAD
        .decode(parts[part].as_bytes())
        .expect("base64url");
    let mut changed = bytes.clone();
    changed[bytes.len() / 2] ^= 0x01;
    parts[part] = b64(&changed);
    parts.join(".")
}

#[test]
fn valid_tokens_of_each_algorithm_verify() {
    let f = &*FIXTURE;
    for signer in [&f.rsa, &f.p256, &f.ed25519] {
        let token = signer.sign(&claims());
        assert!(looks_like_jwt(&token));
        check(&token, Ok(user()));
    }
}

#[test]
fn a_token_without_kid_uses_the_only_key() {
    let signer = Signer::ed25519("only");
    let jwks = Jwks::parse(json!({"keys": [signer.jwk()]}).to_string().as_bytes()).unwrap();
    let config = IssuerConfig {
        jwks,
        ..FIXTURE.config.clone()
    };
    let token = signer.sign_with_header(&json!({"alg": "EdDSA"}), &claims());
    check_with(&token, &config, Ok(user()));
    // With several keys, a missing kid names none of them.
    check(
        &FIXTURE
            .ed25519
            .sign_with_header(&json!({"alg": "EdDSA"}), &claims()),
        Err(JwtError::UnknownKey),
    );
}

#[test]
fn tampered_tokens_are_refused() {
    let f = &*FIXTURE;
    for signer in [&f.rsa, &f.p256, &f.ed25519] {
        let token = signer.sign(&claims());
        check(&tamper(&token, 1), Err(JwtError::BadSignature));
        check(&tamper(&token, 2), Err(JwtError::BadSignature));
        // A header still naming the same key, re-encoded: the signing input changed.
        let header = json!({"kid": signer.kid, "alg": signer.alg()});
        let mut parts: Vec<&str> = token.split('.').collect();
        let reencoded = b64(header.to_string().as_bytes());
        parts[0] = &reencoded;
        check(&parts.join("."), Err(JwtError::BadSignature));
        // The payload of another valid token under this token's signature.
        let other = signer.sign(&with(json!({"roles": ["admin"]})));
        let spliced = format!(
            "{}.{}.{}",
            parts[0],
            other.split('.').nth(1).unwrap(),
            token.split('.').nth(2).unwrap()
        );
        check(&spliced, Err(JwtError::BadSignature));
    }
}

#[test]
fn signatures_by_a_key_outside_the_jwks_are_refused() {
    let stranger = Signer::ed25519("ed-1"); // the same kid as the fixture's key
    check(&stranger.sign(&claims()), Err(JwtError::BadSignature));
    let stranger = Signer::p256("ec-1");
    check(&stranger.sign(&claims()), Err(JwtError::BadSignature));
}

#[test]
fn algorithm_none_is_refused() {
    let payload = b64(claims().to_string().as_bytes());
    for header in [
        json!({"alg": "none"}),
        json!({"alg": "none", "kid": "ed-1"}),
        json!({"alg": "None"}),
        json!({"alg": "NONE"}),
    ] {
        let header = b64(header.to_string().as_bytes());
        check(
            &format!("{header}.{payload}."),
            Err(JwtError::UnsupportedAlgorithm),
        );
        check(
            &format!("{header}.{payload}.AAAA"),
            Err(JwtError::UnsupportedAlgorithm),
        );
    }
    let no_alg = b64(json!({"kid": "ed-1"}).to_string().as_bytes());
    check(
        &format!("{no_alg}.{payload}.AAAA"),
        Err(JwtError::UnsupportedAlgorithm),
    );
}

#[test]
fn the_header_cannot_choose_another_algorithm_for_a_key() {
    let f = &*FIXTURE;
    // HS256 keyed with the RSA key's public JWK, the classic confusion: never accepted.
    let header = json!({"alg": "HS256", "kid": "rsa-1"});
    check(
        &f.ed25519.sign_with_header(&header, &claims()),
        Err(JwtError::UnsupportedAlgorithm),
    );
    for alg in [
        "HS384", "HS512", "RS384", "PS256", "ES384", "ES256K", "rs256", "",
    ] {
        check(
            &f.rsa
                .sign_with_header(&json!({"alg": alg, "kid": "rsa-1"}), &claims()),
            Err(JwtError::UnsupportedAlgorithm),
        );
    }
    // A supported algorithm naming a key of another type.
    check(
        &f.p256
            .sign_with_header(&json!({"alg": "RS256", "kid": "ec-1"}), &claims()),
        Err(JwtError::AlgorithmMismatch),
    );
    check(
        &f.rsa
            .sign_with_header(&json!({"alg": "ES256", "kid": "rsa-1"}), &claims()),
        Err(JwtError::AlgorithmMismatch),
    );
    check(
        &f.ed25519
            .sign_with_header(&json!({"alg": "ES256", "kid": "ed-1"}), &claims()),
        Err(JwtError::AlgorithmMismatch),
    );
    check(
        &f.p256
            .sign_with_header(&json!({"alg": "EdDSA", "kid": "ec-1"}), &claims()),
        Err(JwtError::AlgorithmMismatch),
    );
}

#[test]
fn keys_embedded_in_the_header_are_ignored() {
    let attacker = Signer::ed25519("ed-1");
    let header = json!({"alg": "EdDSA", "kid": "ed-1", "jwk": attacker.jwk(), "jku": "https://evil.example/jwks"});
    check(
        &attacker.sign_with_header(&header, &claims()),
        Err(JwtError::BadSignature),
    );
}

#[test]
fn critical_header_extensions_are_refused() {
    let header = json!({"alg": "EdDSA", "kid": "ed-1", "crit": ["b64"], "b64": false});
    check(
        &FIXTURE.ed25519.sign_with_header(&header, &claims()),
        Err(JwtError::Malformed(
            "critical header extensions are not supported",
        )),
    );
}

#[test]
fn unknown_kid_is_refused() {
    let token = FIXTURE
        .ed25519
        .sign_with_header(&json!({"alg": "EdDSA", "kid": "ed-2"}), &claims());
    check(&token, Err(JwtError::UnknownKey));
    let token = FIXTURE
        .ed25519
        .sign_with_header(&json!({"alg": "EdDSA", "kid": 7}), &claims());
    check(
        &token,
        Err(JwtError::Malformed(
            "header is not a JSON object of string members",
        )),
    );
}

#[test]
fn expiry_with_and_without_leeway() {
    check_claims(json!({"exp": NOW}), Err(JwtError::Expired));
    check_claims(json!({"exp": NOW - 1}), Err(JwtError::Expired));
    check_claims(
        json!({"exp": NOW + 1}),
        Ok(UserClaims {
            expires_at: NOW + 1,
            ..user()
        }),
    );
    check_claims(json!({"exp": null}), bad_claim("exp", "missing"));
    check_claims(
        json!({"exp": "soon"}),
        bad_claim("exp", "is not a number of seconds"),
    );
    check_claims(
        json!({"exp": 1e300}),
        bad_claim("exp", "is not a number of seconds"),
    );
    // Fractional seconds round down.
    check_claims(json!({"exp": NOW as f64 + 0.5}), Err(JwtError::Expired));
    check_claims(
        json!({"exp": NOW as f64 + 1.5}),
        Ok(UserClaims {
            expires_at: NOW + 1,
            ..user()
        }),
    );

    let lenient = IssuerConfig {
        leeway_s: 30,
        ..FIXTURE.config.clone()
    };
    let token = |exp: i64| FIXTURE.ed25519.sign(&with(json!({"exp": exp})));
    check_with(
        &token(NOW - 29),
        &lenient,
        Ok(UserClaims {
            expires_at: NOW - 29,
            ..user()
        }),
    );
    check_with(&token(NOW - 30), &lenient, Err(JwtError::Expired));
    let huge = IssuerConfig {
        leeway_s: u64::MAX,
        ..FIXTURE.config.clone()
    };
    check_with(
        &token(i64::MAX),
        &huge,
        Ok(UserClaims {
            expires_at: i64::MAX,
            ..user()
        }),
    );
}

#[test]
fn not_before_with_and_without_leeway() {
    check_claims(json!({"nbf": NOW + 1}), Err(JwtError::NotYetValid));
    check_claims(json!({"nbf": NOW}), Ok(user()));
    check_claims(json!({"nbf": null}), Ok(user()));
    check_claims(
        json!({"nbf": [NOW]}),
        bad_claim("nbf", "is not a number of seconds"),
    );
    let lenient = IssuerConfig {
        leeway_s: 30,
        ..FIXTURE.config.clone()
    };
    let token = |nbf: i64| FIXTURE.ed25519.sign(&with(json!({"nbf": nbf})));
    check_with(&token(NOW + 30), &lenient, Ok(user()));
    check_with(&token(NOW + 31), &lenient, Err(JwtError::NotYetValid));
}

#[test]
fn issuer_must_match_exactly() {
    check_claims(
        json!({"iss": "https://login.acme.example"}),
        Err(JwtError::WrongIssuer),
    );
    check_claims(
        json!({"iss": "https://evil.example/"}),
        Err(JwtError::WrongIssuer),
    );
    check_claims(json!({"iss": null}), bad_claim("iss", "missing"));
    check_claims(
        json!({"iss": [ISSUER]}),
        bad_claim("iss", "is not a string"),
    );
    let unset = IssuerConfig {
        issuer: String::new(),
        ..FIXTURE.config.clone()
    };
    check_with(
        &FIXTURE.ed25519.sign(&with(json!({"iss": ""}))),
        &unset,
        Err(JwtError::WrongIssuer),
    );
}

#[test]
fn audience_as_string_or_array() {
    check_claims(json!({"aud": [AUDIENCE]}), Ok(user()));
    check_claims(json!({"aud": ["other", AUDIENCE]}), Ok(user()));
    check_claims(
        json!({"aud": "steward-other"}),
        Err(JwtError::WrongAudience),
    );
    check_claims(
        json!({"aud": ["steward-other", "steward-acme2"]}),
        Err(JwtError::WrongAudience),
    );
    check_claims(json!({"aud": []}), Err(JwtError::WrongAudience));
    check_claims(json!({"aud": null}), bad_claim("aud", "missing"));
    check_claims(
        json!({"aud": [AUDIENCE, 3]}),
        bad_claim("aud", "is not an array of strings"),
    );
    check_claims(
        json!({"aud": {"aud": AUDIENCE}}),
        bad_claim("aud", "is not a string or an array of strings"),
    );
    let unset = IssuerConfig {
        audience: String::new(),
        ..FIXTURE.config.clone()
    };
    check_with(
        &FIXTURE.ed25519.sign(&with(json!({"aud": ""}))),
        &unset,
        Err(JwtError::WrongAudience),
    );
}

#[test]
fn subject_is_required_and_plain() {
    check_claims(json!({"sub": null}), bad_claim("sub", "missing"));
    check_claims(
        json!({"sub": ""}),
        bad_claim("sub", "must be 1 to 256 bytes"),
    );
    check_claims(
        json!({"sub": "x".repeat(257)}),
        bad_claim("sub", "must be 1 to 256 bytes"),
    );
    check_claims(
        json!({"sub": "x".repeat(256)}),
        Ok(UserClaims {
            sub: "x".repeat(256),
            ..user()
        }),
    );
    for sub in ["a b", "tab\there", "line\n", "ünïcode", "nul\0"] {
        check_claims(
            json!({"sub": sub}),
            bad_claim("sub", "must be printable ASCII without spaces"),
        );
    }
    check_claims(json!({"sub": 42}), bad_claim("sub", "is not a string"));
    check_claims(
        json!({"sub": "auth0|5f1c:a@b.example"}),
        Ok(UserClaims {
            sub: "auth0|5f1c:a@b.example".to_owned(),
            ..user()
        }),
    );
}

#[test]
fn roles_are_known_roles() {
    check_claims(
        json!({"roles": ["admin", "privacy_officer", "admin"]}),
        Ok(UserClaims {
            roles: vec![Role::Admin, Role::PrivacyOfficer],
            ..user()
        }),
    );
    check_claims(
        json!({"roles": []}),
        Ok(UserClaims {
            roles: vec![],
            ..user()
        }),
    );
    check_claims(
        json!({"roles": ["reader", "superuser"]}),
        bad_claim("roles", "names an unknown role"),
    );
    check_claims(
        json!({"roles": ["Reader"]}),
        bad_claim("roles", "names an unknown role"),
    );
    check_claims(
        json!({"roles": "reader"}),
        bad_claim("roles", "is not an array of strings"),
    );
    check_claims(
        json!({"roles": [1]}),
        bad_claim("roles", "is not an array of strings"),
    );
    check_claims(json!({"roles": null}), bad_claim("roles", "missing"));
    check_claims(
        json!({"roles": vec!["reader"; 17]}),
        bad_claim("roles", "has too many entries"),
    );
}

#[test]
fn purposes_are_optional_names() {
    check_claims(
        json!({"purposes": null}),
        Ok(UserClaims {
            purposes: vec![],
            ..user()
        }),
    );
    check_claims(
        json!({"purposes": ["support", "fraud_2", "support"]}),
        Ok(UserClaims {
            purposes: vec!["support".to_owned(), "fraud_2".to_owned()],
            ..user()
        }),
    );
    let longest = format!("a{}", "b".repeat(31));
    check_claims(
        json!({"purposes": [longest]}),
        Ok(UserClaims {
            purposes: vec![longest.clone()],
            ..user()
        }),
    );
    let reason = "entries must match [a-z][a-z0-9_]{0,31}";
    for bad in [
        "",
        "Support",
        "2fa",
        "_x",
        "with space",
        "sup-port",
        "é",
        &format!("{longest}c"),
    ] {
        check_claims(json!({"purposes": [bad]}), bad_claim("purposes", reason));
    }
    check_claims(
        json!({"purposes": "support"}),
        bad_claim("purposes", "is not an array of strings"),
    );
    check_claims(
        json!({"purposes": vec!["p"; 65]}),
        bad_claim("purposes", "has too many entries"),
    );
}

#[test]
fn claims_named_twice_are_refused() {
    let f = &*FIXTURE;
    let body = claims().to_string();
    // Append a second `sub` inside the object: which one a reader takes must not matter.
    let twice = format!("{},\"sub\":\"admin-1\"}}", &body[..body.len() - 1]);
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "EdDSA", "kid": "ed-1"})
            .to_string()
            .as_bytes()),
        b64(twice.as_bytes())
    );
    let token = format!("{input}.{}", b64(&f.ed25519.sign_bytes(input.as_bytes())));
    check(
        &token,
        Err(JwtError::Malformed(
            "payload is not a JSON object with distinct claims",
        )),
    );
}

fn bound_to(tenant: &str) -> IssuerConfig {
    IssuerConfig {
        tenant_binding: Some(TenantBinding {
            claim: "org_id".to_owned(),
            tenant: tenant.to_owned(),
        }),
        ..FIXTURE.config.clone()
    }
}

#[test]
fn a_bound_issuer_accepts_only_tokens_naming_its_tenant() {
    let f = &*FIXTURE;
    let for_b = f.ed25519.sign(&with(json!({"org_id": "tenant-b"})));
    check_with(&for_b, &bound_to("tenant-b"), Ok(user()));
    // The same token, from the same issuer and audience, is refused by every other tenant.
    check_with(
        &for_b,
        &bound_to("tenant-a"),
        Err(JwtError::WrongTenant {
            reason: "names another tenant",
        }),
    );
    check_with(
        &for_b,
        &bound_to("tenant-b-"),
        Err(JwtError::WrongTenant {
            reason: "names another tenant",
        }),
    );
    check_with(
        &f.ed25519.sign(&claims()),
        &bound_to("tenant-b"),
        Err(JwtError::WrongTenant {
            reason: "is missing",
        }),
    );
    for not_a_string in [
        json!(["tenant-b"]),
        json!({"id": "tenant-b"}),
        json!(7),
        json!(null),
    ] {
        let mut payload = claims();
        payload["org_id"] = not_a_string;
        check_with(
            &f.ed25519.sign(&payload),
            &bound_to("tenant-b"),
            Err(JwtError::WrongTenant {
                reason: "is not a string",
            }),
        );
    }
    // Unbound, the claim is not read at all.
    check(&for_b, Ok(user()));
}

#[test]
fn a_bound_tenant_claim_named_twice_is_refused() {
    let f = &*FIXTURE;
    let body = with(json!({"org_id": "tenant-a"})).to_string();
    let twice = format!("{},\"org_id\":\"tenant-b\"}}", &body[..body.len() - 1]);
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "EdDSA", "kid": "ed-1"})
            .to_string()
            .as_bytes()),
        b64(twice.as_bytes())
    );
    let token = format!("{input}.{}", b64(&f.ed25519.sign_bytes(input.as_bytes())));
    for tenant in ["tenant-a", "tenant-b"] {
        check_with(
            &token,
            &bound_to(tenant),
            Err(JwtError::Malformed(
                "payload is not a JSON object with distinct claims",
            )),
        );
    }
}

#[test]
fn tenant_claim_names_are_plain_and_not_reserved() {
    for good in ["tenant", "org_id", "https://example.com/org_id", "x"] {
        assert_eq!(check_tenant_claim_name(good), Ok(()), "{good}");
    }
    let long = "t".repeat(129);
    for bad in [
        "",
        "org id",
        "tenant\n",
        long.as_str(),
        "iss",
        "aud",
        "sub",
        "roles",
        "purposes",
        "exp",
    ] {
        assert!(check_tenant_claim_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn payloads_other_than_an_object_are_refused() {
    let f = &*FIXTURE;
    for payload in [
        json!([ISSUER, AUDIENCE, "user-42"]),
        json!("claims"),
        json!(null),
    ] {
        check(
            &f.ed25519.sign(&payload),
            Err(JwtError::Malformed(
                "payload is not a JSON object with distinct claims",
            )),
        );
    }
}

#[test]
fn oversize_tokens_are_refused_before_parsing() {
    let padded = FIXTURE
        .ed25519
        .sign(&with(json!({"padding": "x".repeat(TOKEN_BYTES_MAX)})));
    check(&padded, Err(JwtError::TooLong));
    check(&"a".repeat(TOKEN_BYTES_MAX + 1), Err(JwtError::TooLong));
    // Just under the bound still verifies.
    let fits = FIXTURE
        .ed25519
        .sign(&with(json!({"padding": "x".repeat(TOKEN_BYTES_MAX / 2)})));
    check(&fits, Ok(user()));
}

#[test]
fn garbage_is_refused() {
    let valid = FIXTURE.ed25519.sign(&claims());
    let [h, p, s]: [&str; 3] = valid.split('.').collect::<Vec<_>>().try_into().unwrap();
    let parts = Err(JwtError::Malformed("expected three dot-separated parts"));
    check("", parts.clone());
    check("stw_k_abc_def", parts.clone());
    check(&format!("{h}.{p}"), parts.clone());
    check(&format!("{h}.{p}.{s}."), parts.clone());
    check(&format!("{h}.{p}.{s}.{s}"), parts);
    check(
        &format!("{h}=.{p}.{s}"),
        Err(JwtError::Malformed("header is not base64url")),
    );
    check(
        &format!(" {h}.{p}.{s}"),
        Err(JwtError::Malformed("header is not base64url")),
    );
    check(
        &format!("{h}.{p}.{s}="),
        Err(JwtError::Malformed("signature is not base64url")),
    );
    check(
        &format!("{h}.{p}.{s}\n"),
        Err(JwtError::Malformed("signature is not base64url")),
    );
    check(&format!("{h}.{p}."), Err(JwtError::BadSignature));
    check(&format!("{h}.{p}!.{s}"), Err(JwtError::BadSignature));
    check(&format!("{h}..{s}"), Err(JwtError::BadSignature));
    let not_json = b64(b"not json");
    check(
        &format!("{not_json}.{p}.{s}"),
        Err(JwtError::Malformed(
            "header is not a JSON object of string members",
        )),
    );
    let twice = b64(br#"{"alg":"EdDSA","kid":"ed-1","alg":"none"}"#);
    check(
        &format!("{twice}.{p}.{s}"),
        Err(JwtError::Malformed(
            "header is not a JSON object of string members",
        )),
    );
    let array = b64(b"[\"EdDSA\"]");
    check(
        &format!("{array}.{p}.{s}"),
        Err(JwtError::Malformed(
            "header is not a JSON object of string members",
        )),
    );
}

#[test]
fn looks_like_jwt_tells_tokens_from_api_keys() {
    assert!(looks_like_jwt(&FIXTURE.ed25519.sign(&claims())));
    assert!(looks_like_jwt("eyJ.a.b"));
    assert!(!looks_like_jwt("stw_k_abcdefgh_ijklmnop"));
    assert!(!looks_like_jwt("eyJ.a"));
    assert!(!looks_like_jwt("eyJ.a.b.c"));
    assert!(!looks_like_jwt("eyJ..b"));
    assert!(!looks_like_jwt("eyJ.a."));
    assert!(!looks_like_jwt("abc.a.b"));
    assert!(!looks_like_jwt(""));
}

// RFC 7515 appendix A.2 and A.3, RFC 8037 appendix A.4: tokens signed elsewhere, so the
// encodings (PKCS#1 v1.5, ECDSA r || s, Ed25519) are checked against other implementations.
const RFC7515_RSA_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
const RFC7515_PAYLOAD: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
const RFC7515_RS256_SIG: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
const RFC7515_ES256_SIG: &str =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
const RFC8037_ED25519_TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

/// The RFC keys, for tokens with issuer "joe" and no `aud`: once the signature verifies, the
/// first claim check to fail is the missing audience.
fn rfc_config(jwk: Value) -> IssuerConfig {
    let jwks = Jwks::parse(json!({"keys": [jwk]}).to_string().as_bytes()).expect("RFC JWKS");
    IssuerConfig {
        issuer: "joe".to_owned(),
        audience: AUDIENCE.to_owned(),
        jwks,
        leeway_s: 0,
        tenant_binding: None,
    }
}

#[test]
fn rfc_example_tokens_verify() {
    let signed_past_claims = bad_claim("aud", "missing");
    let rsa = rfc_config(json!({"kty": "RSA", "n": RFC7515_RSA_N, "e": "AQAB"}));
    let rs256 = format!("eyJhbGciOiJSUzI1NiJ9.{RFC7515_PAYLOAD}.{RFC7515_RS256_SIG}");
    assert_eq!(verify(&rs256, &rsa, 1_300_000_000), signed_past_claims);
    assert_eq!(
        verify(&tamper(&rs256, 2), &rsa, 1_300_000_000),
        Err(JwtError::BadSignature)
    );

    let ec = rfc_config(json!({
        "kty": "EC", "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    }));
    let es256 = format!("eyJhbGciOiJFUzI1NiJ9.{RFC7515_PAYLOAD}.{RFC7515_ES256_SIG}");
    assert_eq!(verify(&es256, &ec, 1_300_000_000), signed_past_claims);
    assert_eq!(
        verify(&tamper(&es256, 2), &ec, 1_300_000_000),
        Err(JwtError::BadSignature)
    );
    // The RSA token against the EC key, and back: the key's type decides.
    assert_eq!(
        verify(&rs256, &ec, 1_300_000_000),
        Err(JwtError::AlgorithmMismatch)
    );
    assert_eq!(
        verify(&es256, &rsa, 1_300_000_000),
        Err(JwtError::AlgorithmMismatch)
    );

    // RFC 7515 A.1 (HS256) and A.5 (unsecured) are refused outright.
    let hs256 = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    assert_eq!(
        verify(hs256, &rsa, 1_300_000_000),
        Err(JwtError::UnsupportedAlgorithm)
    );
    let unsecured = format!("eyJhbGciOiJub25lIn0.{RFC7515_PAYLOAD}.");
    assert_eq!(
        verify(&unsecured, &rsa, 1_300_000_000),
        Err(JwtError::UnsupportedAlgorithm)
    );

    // The payload is text, not claims: refused only after the signature verified.
    let ed = rfc_config(
        json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
    );
    let payload_refused = Err(JwtError::Malformed(
        "payload is not a JSON object with distinct claims",
    ));
    assert_eq!(verify(RFC8037_ED25519_TOKEN, &ed, NOW), payload_refused);
    assert_eq!(
        verify(&tamper(RFC8037_ED25519_TOKEN, 2), &ed, NOW),
        Err(JwtError::BadSignature)
    );
}

fn parse(jwks: Value) -> Result<Jwks, String> {
    Jwks::parse(jwks.to_string().as_bytes()).map_err(|e| e.to_string())
}

#[test]
fn jwks_skips_keys_it_does_not_use() {
    let f = &*FIXTURE;
    let ed = f.ed25519.jwk();
    let mut enc = f.p256.jwk();
    enc["use"] = json!("enc");
    let mut wrap_only = f.p256.jwk();
    wrap_only["key_ops"] = json!(["wrapKey"]);
    wrap_only["kid"] = json!("ec-2");
    let mut rs384 = f.rsa.jwk();
    rs384["alg"] = json!("RS384");
    let others = [
        json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}),
        json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "kid": "p384"}),
        json!({"kty": "OKP", "crv": "X25519", "x": "AA", "kid": "x25519"}),
        json!({"kty": 5}),
        enc,
        wrap_only,
        rs384,
    ];
    let mut keys = vec![ed];
    keys.extend(others.iter().cloned());
    let jwks = parse(json!({"keys": keys})).expect("usable key among others");
    assert_eq!(format!("{jwks:?}"), r#"[("ed-1", "EdDSA")]"#);
    let config = IssuerConfig {
        jwks,
        ..f.config.clone()
    };
    check_with(&f.ed25519.sign(&claims()), &config, Ok(user()));
    check_with(&f.p256.sign(&claims()), &config, Err(JwtError::UnknownKey));
    check_with(&f.rsa.sign(&claims()), &config, Err(JwtError::UnknownKey));

    let error = parse(json!({"keys": others})).unwrap_err();
    assert!(error.contains("no key usable"), "{error}");
}

#[test]
fn jwks_refuses_bad_documents_and_bad_usable_keys() {
    let f = &*FIXTURE;
    let refused = |jwks: Value, expect: &str| {
        let error = parse(jwks).expect_err(expect);
        assert!(
            error.contains(expect),
            "{error:?} should mention {expect:?}"
        );
    };
    refused(json!([f.ed25519.jwk()]), "\"keys\" array");
    refused(json!({"keys": f.ed25519.jwk()}), "\"keys\" array");
    refused(json!({"keys": []}), "no key usable");
    refused(
        json!({"keys": [f.ed25519.jwk(), f.ed25519.jwk()]}),
        "kid \"ed-1\" is used by two keys",
    );
    refused(
        json!({"keys": vec![json!({"kty": "oct"}); 65]}),
        "more than 64 keys",
    );
    refused(json!({"keys": ["ed-1"]}), "not an object");

    let mut short = f.ed25519.jwk();
    short["x"] = json!("AAAA");
    refused(json!({"keys": [short]}), "32 bytes");
    let mut bad_b64 = f.p256.jwk();
    bad_b64["y"] = json!("not base64!");
    refused(json!({"keys": [bad_b64]}), "member \"y\" is not base64url");
    let mut missing = f.rsa.jwk();
    missing.as_object_mut().unwrap().remove("n");
    refused(json!({"keys": [missing]}), "member \"n\" missing");
    let mut small = f.rsa.jwk();
    small["n"] = json!(b64(&[0xff; 128]));
    refused(json!({"keys": [small]}), "RSA modulus of 1024 bits");
    let mut even = f.rsa.jwk();
    even["e"] = json!(b64(&[1, 0, 0]));
    refused(json!({"keys": [even]}), "RSA exponent");
    let mut kid = f.ed25519.jwk();
    kid["kid"] = json!(12);
    refused(json!({"keys": [kid]}), "kid must be a string");

    assert!(Jwks::parse(b"").is_err());
    assert!(Jwks::parse(b"{\"keys\": [").is_err());
    let huge = format!("{{\"keys\": [], \"pad\": \"{}\"}}", "x".repeat(256 * 1024));
    assert!(
        Jwks::parse(huge.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("longer than")
    );
}

#[test]
fn jwks_accepts_padded_values_and_a_leading_zero_in_n() {
    let f = &*FIXTURE;
    let mut jwk = f.rsa.jwk();
    let n = BASE64URL_NOPAD
        .decode(jwk["n"].as_str().unwrap().as_bytes())
        .unwrap();
    let mut padded_n = vec![0];
    padded_n.extend_from_slice(&n);
    jwk["n"] = json!(b64(&padded_n));
    jwk["e"] = json!("AQAB");
    let mut ed = f.ed25519.jwk();
    ed["x"] = json!(format!("{}=", ed["x"].as_str().unwrap()));
    let jwks = parse(json!({"keys": [jwk, ed]})).expect("lenient key encodings");
    let config = IssuerConfig {
        jwks,
        ..f.config.clone()
    };
    check_with(&f.rsa.sign(&claims()), &config, Ok(user()));
    check_with(&f.ed25519.sign(&claims()), &config, Ok(user()));
}

#[test]
fn errors_do_not_repeat_the_token() {
    let secret_sub = "secret-subject-text";
    let token = FIXTURE.ed25519.sign(&with(
        json!({"sub": format!("{secret_sub} x"), "roles": ["secret-role-text"]}),
    ));
    let error = verify(&token, &FIXTURE.config, NOW)
        .unwrap_err()
        .to_string();
    assert!(!error.contains("secret"), "{error}");
    let token = FIXTURE
        .ed25519
        .sign(&with(json!({"roles": ["secret-role-text"]})));
    let error = verify(&token, &FIXTURE.config, NOW)
        .unwrap_err()
        .to_string();
    assert!(!error.contains("secret"), "{error}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_text_never_verifies(text in ".{0,300}") {
        prop_assert!(verify(&text, &FIXTURE.config, NOW).is_err());
    }

    #[test]
    fn random_token_shapes_never_verify(
        header in "eyJ[A-Za-z0-9_-]{0,80}",
        payload in "[A-Za-z0-9_-]{0,200}",
        sig in "[A-Za-z0-9_-]{0,120}",
    ) {
        let token = format!("{header}.{payload}.{sig}");
        prop_assert!(verify(&token, &FIXTURE.config, NOW).is_err());
    }

    #[test]
    fn any_changed_character_is_refused(index in any::<prop::sample::Index>(), replacement in "[A-Za-z0-9_.=-]") {
        let token = FIXTURE.ed25519.sign(&claims());
        let at = index.index(token.len());
        prop_assume!(token[at..].chars().next() != replacement.chars().next());
        let changed = format!("{}{}{}", &token[..at], replacement, &token[at + 1..]);
        prop_assert!(verify(&changed, &FIXTURE.config, NOW).is_err());
    }
}
