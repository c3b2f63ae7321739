//! Subject pseudonyms: HMAC-SHA256 of the external id under the tenant's pseudonym secret.

use crate::{CryptoError, Key256};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const PSEUDONYM_BYTES: usize = 32;

/// The only name a subject has inside Steward. Printed as 64 lowercase hex digits, which is
/// what URLs carry; the external id it came from is never stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pseudonym([u8; PSEUDONYM_BYTES]);

/// A tenant's pseudonym secret with the HMAC key schedule precomputed: deriving then costs
/// two SHA-256 compressions instead of four.
#[derive(Clone)]
pub struct PseudonymKey {
    mac: Hmac<Sha256>,
}

impl PseudonymKey {
    pub fn new(secret: &Key256) -> PseudonymKey {
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        PseudonymKey { mac }
    }

    pub fn derive(&self, external_id: &str) -> Pseudonym {
        let mut mac = self.mac.clone();
        mac.update(external_id.as_bytes());
        Pseudonym(mac.finalize().into_bytes().into())
    }
}

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(<redacted>)")
    }
}

impl Pseudonym {
    pub fn derive(secret: &Key256, external_id: &str) -> Pseudonym {
        Pseudonym(hmac_sha256(secret, &[external_id.as_bytes()]))
    }

    pub fn from_bytes(bytes: [u8; PSEUDONYM_BYTES]) -> Pseudonym {
        Pseudonym(bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Pseudonym, CryptoError> {
        let array: [u8; PSEUDONYM_BYTES] = bytes
            .try_into()
            .map_err(|_| CryptoError::Malformed("pseudonym length"))?;
        Ok(Pseudonym(array))
    }

    pub fn as_bytes(&self) -> &[u8; PSEUDONYM_BYTES] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }

    /// Parses the 64-hex-digit form; anything else is rejected.
    pub fn parse_hex(text: &str) -> Result<Pseudonym, CryptoError> {
        if text.len() != PSEUDONYM_BYTES * 2 {
            return Err(CryptoError::Malformed("pseudonym must be 64 hex digits"));
        }
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.as_bytes())
            .map_err(|_| CryptoError::Malformed("pseudonym must be 64 hex digits"))?;
        Pseudonym::from_slice(&bytes)
    }
}

impl std::fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pseudonym({})", &self.to_hex()[..12])
    }
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub fn hmac_sha256(key: &Key256, parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so construction cannot fail for 32 bytes.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonym_is_stable_keyed_and_hex_round_trips() {
        let secret = Key256::from_bytes([7; 32]);
        let a = Pseudonym::derive(&secret, "user-42@example.org");
        assert_eq!(a, Pseudonym::derive(&secret, "user-42@example.org"));
        assert_ne!(
            a,
            Pseudonym::derive(&Key256::from_bytes([8; 32]), "user-42@example.org")
        );
        assert_ne!(a, Pseudonym::derive(&secret, "user-43@example.org"));
        assert_eq!(Pseudonym::parse_hex(&a.to_hex()).unwrap(), a);
        assert!(Pseudonym::parse_hex("zz").is_err());
        assert!(!a.to_hex().contains("example"));
        assert_eq!(PseudonymKey::new(&secret).derive("user-42@example.org"), a);
    }
}
