//! AES-256-GCM sealing with random nonces: `nonce ‖ ciphertext ‖ tag`.
//!
//! Random 96-bit nonces are safe here because every key seals few messages (a subject key
//! seals one subject's fields; a segment key one file), far below the 2^32 birthday bound.

use crate::{CryptoError, Key256};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use rand::RngCore;

const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
/// Bytes a sealed message has beyond its plaintext.
pub const SEAL_OVERHEAD_BYTES: usize = NONCE_BYTES + TAG_BYTES;

/// A key ready to seal and open many messages: the AES key schedule is computed once,
/// which matters when one subject key seals every personal field of an event.
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl Sealer {
    pub fn new(key: &Key256) -> Sealer {
        Sealer {
            cipher: Aes256Gcm::new(key.expose().into()),
        }
    }

    pub fn seal_into(&self, aad: &[u8], plain: &[u8], out: &mut Vec<u8>) {
        seal_with(&self.cipher, aad, plain, out);
    }

    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_with(&self.cipher, aad, sealed)
    }
}

/// Seals `plain` under `key` with associated data `aad`.
pub fn seal(key: &Key256, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plain.len() + SEAL_OVERHEAD_BYTES);
    seal_into(key, aad, plain, &mut out);
    out
}

/// Appends the sealed form of `plain` to `out` (no intermediate allocation).
pub fn seal_into(key: &Key256, aad: &[u8], plain: &[u8], out: &mut Vec<u8>) {
    seal_with(&Aes256Gcm::new(key.expose().into()), aad, plain, out);
}

fn seal_with(cipher: &Aes256Gcm, aad: &[u8], plain: &[u8], out: &mut Vec<u8>) {
    let mut nonce = [0u8; NONCE_BYTES];
    rand::thread_rng().fill_bytes(&mut nonce);
    out.extend_from_slice(&nonce);
    let start = out.len();
    out.extend_from_slice(plain);
    // Encryption in place cannot fail for messages below GCM's 64 GiB limit, which
    // every caller's size limits keep us far under.
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), aad, &mut out[start..])
        .map_err(|_| ())
        .unwrap_or_else(|()| panic!("AES-GCM refused a {} byte message", plain.len()));
    out.extend_from_slice(&tag);
}

/// Opens a message sealed by [`seal`] with the same key and associated data.
pub fn open(key: &Key256, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    open_with(&Aes256Gcm::new(key.expose().into()), aad, sealed)
}

fn open_with(cipher: &Aes256Gcm, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < SEAL_OVERHEAD_BYTES {
        return Err(CryptoError::Malformed(
            "sealed message shorter than nonce and tag",
        ));
    }
    let (nonce, rest) = sealed.split_at(NONCE_BYTES);
    let (body, tag) = rest.split_at(rest.len() - TAG_BYTES);
    let mut buf = body.to_vec();
    cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            aad,
            &mut buf,
            Tag::from_slice(tag),
        )
        .map_err(|_| CryptoError::Authentication)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn seal_open_round_trip(plain in proptest::collection::vec(any::<u8>(), 0..512), aad in proptest::collection::vec(any::<u8>(), 0..64)) {
            let key = Key256::random();
            let sealed = seal(&key, &aad, &plain);
            prop_assert_eq!(sealed.len(), plain.len() + SEAL_OVERHEAD_BYTES);
            prop_assert_eq!(open(&key, &aad, &sealed).unwrap(), plain);
        }

        #[test]
        fn any_flipped_bit_is_rejected(plain in proptest::collection::vec(any::<u8>(), 0..64), bit in 0usize..1000) {
            let key = Key256::random();
            let mut sealed = seal(&key, b"ad", &plain);
            let bit = bit % (sealed.len() * 8);
            sealed[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(open(&key, b"ad", &sealed).is_err());
        }
    }

    #[test]
    fn sealer_matches_the_one_shot_functions() {
        let key = Key256::random();
        let sealer = Sealer::new(&key);
        let mut out = Vec::new();
        sealer.seal_into(b"ad", b"hello", &mut out);
        assert_eq!(open(&key, b"ad", &out).unwrap(), b"hello");
        assert_eq!(sealer.open(b"ad", &seal(&key, b"ad", b"x")).unwrap(), b"x");
    }

    #[test]
    fn wrong_aad_is_rejected() {
        let key = Key256::random();
        let sealed = seal(&key, b"event-1|email", b"canary@example.org");
        assert!(open(&key, b"event-2|email", &sealed).is_err());
    }
}
