//! Fuzzes JWT verification: arbitrary tokens and JWKS documents, and arbitrary headers and claims under a valid signature.
#![no_main]
use std::sync::LazyLock;

use data_encoding::BASE64URL_NOPAD;
use libfuzzer_sys::fuzz_target;
use ring::signature::{Ed25519KeyPair, KeyPair};
use steward_access::{verify, IssuerConfig, Jwks};

const NOW: i64 = 1_800_000_000;
const LEEWAY_S: u64 = 60;

static KEY: LazyLock<Ed25519KeyPair> =
    LazyLock::new(|| Ed25519KeyPair::from_seed_unchecked(&[7; 32]).expect("any 32 bytes are a seed"));

static CONFIG: LazyLock<IssuerConfig> = LazyLock::new(|| {
    let x = BASE64URL_NOPAD.encode(KEY.public_key().as_ref());
    let jwks = format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"{x}"}}]}}"#);
    let jwks = Jwks::parse(jwks.as_bytes()).expect("the fuzz JWKS parses");
    IssuerConfig { issuer: "iss".to_owned(), audience: "aud".to_owned(), jwks, leeway_s: LEEWAY_S }
});

/// A token whose signature verifies, over whatever header and payload bytes.
fn signed(header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", BASE64URL_NOPAD.encode(header), BASE64URL_NOPAD.encode(payload));
    format!("{input}.{}", BASE64URL_NOPAD.encode(KEY.sign(input.as_bytes()).as_ref()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 4 {
        // No valid signature can be guessed.
        0 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                assert!(verify(text, &CONFIG, NOW).is_err());
            }
        }
        1 => {
            let _ = Jwks::parse(rest);
        }
        // Arbitrary claims, validly signed: whatever passes keeps the promised shape.
        2 => {
            if let Ok(claims) = verify(&signed(br#"{"alg":"EdDSA","kid":"k1"}"#, rest), &CONFIG, NOW) {
                assert!(!claims.sub.is_empty() && claims.sub.len() <= 256);
                assert!(claims.sub.bytes().all(|b| b.is_ascii_graphic()));
                assert!(NOW < claims.expires_at.saturating_add(LEEWAY_S as i64));
                assert!(claims.purposes.iter().all(|p| !p.is_empty() && p.len() <= 32));
            }
        }
        // Arbitrary headers over valid claims: only EdDSA with this key's kid, or no kid, passes.
        _ => {
            let claims = format!(r#"{{"iss":"iss","aud":"aud","sub":"s","exp":{},"roles":[]}}"#, NOW + 10);
            if verify(&signed(rest, claims.as_bytes()), &CONFIG, NOW).is_ok() {
                let header: serde_json::Value = serde_json::from_slice(rest).expect("an accepted header is JSON");
                assert!(matches!(header["alg"].as_str(), Some("EdDSA" | "Ed25519")));
                assert!(header["kid"].is_null() || header["kid"] == "k1");
            }
        }
    }
});
