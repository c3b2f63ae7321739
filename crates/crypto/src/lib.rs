//! Steward's key hierarchy and primitives: master → tenant → subject / segment keys, AEAD sealing, HMAC pseudonyms.
//!
//! Main types: [`Key256`] (a zeroized 256-bit secret), [`WrappedKey`] (a key sealed under
//! another key, bound to a context), [`MasterKey`] (the root, loaded from a key file or the
//! environment), [`Pseudonym`] (a subject's stable, keyed name). Everything is RustCrypto:
//! AES-256-GCM for sealing and wrapping, HMAC-SHA256 for pseudonyms and references.

mod aead;
mod error;
mod key;
mod master;
mod pseudonym;
pub mod sealed_file;

pub use aead::{SEAL_OVERHEAD_BYTES, Sealer, open, seal, seal_into};
pub use error::CryptoError;
pub use key::{Key256, WRAPPED_KEY_BYTES, WrappedKey};
pub use master::{MASTER_KEY_ENV, MasterKey};
pub use pseudonym::{PSEUDONYM_BYTES, Pseudonym, PseudonymKey, hmac_sha256, sha256};

/// Builds associated data from parts with length prefixes, so ("ab","c") and ("a","bc") differ.
pub fn context(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
    for part in parts {
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// Compares secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
