//! Short-lived signed download links: a training job gets URLs, not a key. A link names the
//! path, its expiry, the key it was made for and the purpose; the signature is an HMAC under
//! a key derived from the tenant key, so links die with the tenant's keys and a revoked API
//! key's links stop working (the server re-checks the key on every use).

use steward_crypto::{Key256, constant_time_eq, hmac_sha256};

/// Longest life of a link.
pub const LINK_TTL_MAX_S: u64 = 24 * 3600;

pub fn signature(key: &Key256, path: &str, expires: i64, key_id: &str, purpose: &str) -> String {
    let mac = hmac_sha256(
        key,
        &[
            b"steward-link",
            path.as_bytes(),
            &expires.to_be_bytes(),
            key_id.as_bytes(),
            purpose.as_bytes(),
        ],
    );
    data_encoding::BASE64URL_NOPAD.encode(&mac)
}

/// The query string of a signed link to `path`.
pub fn sign(key: &Key256, path: &str, expires: i64, key_id: &str, purpose: &str) -> String {
    format!(
        "expires={expires}&key_id={key_id}&purpose={purpose}&sig={}",
        signature(key, path, expires, key_id, purpose)
    )
}

pub fn verify(
    key: &Key256,
    path: &str,
    expires: i64,
    key_id: &str,
    purpose: &str,
    sig: &str,
    now: i64,
) -> bool {
    expires >= now
        && constant_time_eq(
            signature(key, path, expires, key_id, purpose).as_bytes(),
            sig.as_bytes(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_verifies_until_it_expires_and_only_for_its_path() {
        let key = Key256::random();
        let sig = signature(&key, "/a", 100, "k1", "model_training");
        assert!(verify(&key, "/a", 100, "k1", "model_training", &sig, 99));
        assert!(!verify(&key, "/a", 100, "k1", "model_training", &sig, 101));
        assert!(!verify(&key, "/b", 100, "k1", "model_training", &sig, 99));
        assert!(!verify(&key, "/a", 101, "k1", "model_training", &sig, 99));
        assert!(!verify(&key, "/a", 100, "k2", "model_training", &sig, 99));
        assert!(!verify(&key, "/a", 100, "k1", "analytics", &sig, 99));
        assert!(!verify(
            &Key256::random(),
            "/a",
            100,
            "k1",
            "model_training",
            &sig,
            99
        ));
    }
}
