//! 256-bit secrets and key wrapping (a key sealed under a key-encryption key).

use crate::{CryptoError, aead};
use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Size of a wrapped 256-bit key: version, nonce, ciphertext, tag.
pub const WRAPPED_KEY_BYTES: usize = 1 + 32 + aead::SEAL_OVERHEAD_BYTES;
const WRAP_VERSION: u8 = 1;

/// A 256-bit secret that is wiped from memory when dropped and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Key256([u8; 32]);

impl Key256 {
    /// A fresh key from the operating system's CSPRNG.
    pub fn random() -> Key256 {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Key256(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Key256 {
        Key256(bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Key256, CryptoError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| {
            CryptoError::InvalidKey(format!("expected 32 bytes, got {}", bytes.len()))
        })?;
        Ok(Key256(array))
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// Seals `key` under `self`, bound to `context` (e.g. tenant id and purpose of the key),
    /// so a wrapped key copied to another context does not unwrap.
    pub fn wrap(&self, key: &Key256, context: &[u8]) -> WrappedKey {
        let mut out = Vec::with_capacity(WRAPPED_KEY_BYTES);
        out.push(WRAP_VERSION);
        aead::seal_into(self, context, key.expose(), &mut out);
        debug_assert_eq!(out.len(), WRAPPED_KEY_BYTES);
        WrappedKey(out)
    }

    pub fn unwrap_key(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<Key256, CryptoError> {
        let bytes = wrapped.as_bytes();
        if bytes.len() != WRAPPED_KEY_BYTES {
            return Err(CryptoError::Malformed("wrapped key length"));
        }
        if bytes[0] != WRAP_VERSION {
            return Err(CryptoError::Malformed("wrapped key version"));
        }
        let mut plain = aead::open(self, context, &bytes[1..])?;
        let key = Key256::from_slice(&plain);
        plain.zeroize();
        key
    }
}

impl std::fmt::Debug for Key256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key256(<redacted>)")
    }
}

/// A key sealed under a key-encryption key; safe to store next to the data it protects.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey(Vec<u8>);

impl WrappedKey {
    pub fn from_bytes(bytes: Vec<u8>) -> Result<WrappedKey, CryptoError> {
        if bytes.len() != WRAPPED_KEY_BYTES {
            return Err(CryptoError::Malformed("wrapped key length"));
        }
        Ok(WrappedKey(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrappedKey({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_round_trips_and_binds_context() {
        let kek = Key256::random();
        let key = Key256::random();
        let wrapped = kek.wrap(&key, b"tenant:a");
        assert_eq!(kek.unwrap_key(&wrapped, b"tenant:a").unwrap(), key);
        assert!(matches!(
            kek.unwrap_key(&wrapped, b"tenant:b"),
            Err(CryptoError::Authentication)
        ));
        assert!(Key256::random().unwrap_key(&wrapped, b"tenant:a").is_err());
    }

    #[test]
    fn debug_never_prints_key_bytes() {
        let key = Key256::from_bytes([0xab; 32]);
        assert!(!format!("{key:?}").contains("ab"));
    }
}
