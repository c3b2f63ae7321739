//! The idempotency index: a keyed 128-bit hash of every stored event id.
//!
//! 128 bits keep the chance of two distinct ids colliding below 2^-64 even at 10^9 events,
//! and the per-tenant SipHash key stops a client from crafting collisions.

use siphasher::sip128::{Hasher128, SipHasher13};
use std::collections::HashSet;
use std::hash::Hasher;

/// A stored event's idempotency key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey(pub u128);

impl EventKey {
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_le_bytes()
    }

    pub fn from_bytes(bytes: [u8; 16]) -> EventKey {
        EventKey(u128::from_le_bytes(bytes))
    }
}

/// The set of event keys of one tenant (about 32 bytes of memory per event).
pub struct DedupIndex {
    hasher_key: [u8; 16],
    keys: HashSet<u128, BuildIdentity>,
}

impl DedupIndex {
    pub fn new(hasher_key: [u8; 16]) -> DedupIndex {
        DedupIndex {
            hasher_key,
            keys: HashSet::with_hasher(BuildIdentity),
        }
    }

    pub fn key_of(&self, event_id: &str) -> EventKey {
        let mut hasher = SipHasher13::new_with_key(&self.hasher_key);
        hasher.write(event_id.as_bytes());
        EventKey(hasher.finish128().as_u128())
    }

    /// Inserts the key; false if it was already present.
    pub fn insert(&mut self, key: EventKey) -> bool {
        self.keys.insert(key.0)
    }

    pub fn remove(&mut self, key: EventKey) {
        self.keys.remove(&key.0);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

/// The keys are already uniformly random, so hashing them again is wasted work.
#[derive(Clone, Copy, Default)]
pub struct BuildIdentity;

impl std::hash::BuildHasher for BuildIdentity {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}

pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }
    fn write_u128(&mut self, value: u128) {
        self.0 = (value as u64) ^ ((value >> 64) as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_keyed() {
        let a = DedupIndex::new([1; 16]);
        let b = DedupIndex::new([2; 16]);
        assert_eq!(a.key_of("e-1"), a.key_of("e-1"));
        assert_ne!(a.key_of("e-1"), a.key_of("e-2"));
        assert_ne!(a.key_of("e-1"), b.key_of("e-1"));
        let mut index = DedupIndex::new([1; 16]);
        assert!(index.insert(a.key_of("e-1")));
        assert!(!index.insert(a.key_of("e-1")));
        assert_eq!(index.len(), 1);
    }
}
