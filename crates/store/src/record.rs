//! Stored events and the binary encoding of a WAL batch (new subject keys + events).
//!
//! Format v1, all integers little-endian:
//! `version u8 | key count u32 | (subject [32], wrapped key [61])* | event count u32 |
//!  (subject [32], time i64, schema version u32, id len u16, id, type len u16, type,
//!   public len u32, public, sealed len u32, sealed)*`

use steward_crypto::{PSEUDONYM_BYTES, Pseudonym, WRAPPED_KEY_BYTES, WrappedKey};

use crate::limits::{BATCH_EVENTS_MAX, EVENT_ID_BYTES_MAX, EVENT_TYPE_BYTES_MAX, SEQ_INDEX_BITS};

const BATCH_FORMAT_VERSION: u8 = 1;

/// An event ready to store: subject pseudonymized, personal fields sealed by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    pub subject: Pseudonym,
    pub time_us: i64,
    pub event_id: String,
    pub event_type: String,
    pub schema_version: u32,
    /// Public fields as a JSON object (opaque to the store).
    pub public: Vec<u8>,
    /// Sealed fields (opaque to the store; only the subject key opens them).
    pub sealed: Vec<u8>,
}

/// A stored event: a [`NewEvent`] plus its position in the tenant's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    /// `lsn << SEQ_INDEX_BITS | index in batch`: unique, increasing in acknowledgement order.
    pub seq: u64,
    pub event: NewEvent,
}

impl EventRecord {
    pub fn seq_of(lsn: u64, index: usize) -> u64 {
        debug_assert!(index < BATCH_EVENTS_MAX);
        (lsn << SEQ_INDEX_BITS) | index as u64
    }

    /// Bytes this record holds in memory, for memtable accounting.
    pub fn footprint_bytes(&self) -> usize {
        let e = &self.event;
        96 + e.event_id.len() + e.event_type.len() + e.public.len() + e.sealed.len()
    }
}

/// One WAL record: the subject keys first used by these events, and the events.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WalBatch {
    pub new_keys: Vec<(Pseudonym, WrappedKey)>,
    pub events: Vec<NewEvent>,
}

pub fn encode_batch(batch: &WalBatch) -> Vec<u8> {
    assert!(
        batch.events.len() <= BATCH_EVENTS_MAX,
        "batch larger than seq can index"
    );
    let events_bytes: usize = batch
        .events
        .iter()
        .map(|e| 56 + e.event_id.len() + e.event_type.len() + e.public.len() + e.sealed.len())
        .sum();
    let mut out = Vec::with_capacity(9 + batch.new_keys.len() * 93 + events_bytes);
    out.push(BATCH_FORMAT_VERSION);
    out.extend_from_slice(&(batch.new_keys.len() as u32).to_le_bytes());
    for (subject, key) in &batch.new_keys {
        out.extend_from_slice(subject.as_bytes());
        out.extend_from_slice(key.as_bytes());
    }
    out.extend_from_slice(&(batch.events.len() as u32).to_le_bytes());
    for e in &batch.events {
        assert!(
            e.event_id.len() <= EVENT_ID_BYTES_MAX && e.event_type.len() <= EVENT_TYPE_BYTES_MAX
        );
        out.extend_from_slice(e.subject.as_bytes());
        out.extend_from_slice(&e.time_us.to_le_bytes());
        out.extend_from_slice(&e.schema_version.to_le_bytes());
        out.extend_from_slice(&(e.event_id.len() as u16).to_le_bytes());
        out.extend_from_slice(e.event_id.as_bytes());
        out.extend_from_slice(&(e.event_type.len() as u16).to_le_bytes());
        out.extend_from_slice(e.event_type.as_bytes());
        out.extend_from_slice(&(e.public.len() as u32).to_le_bytes());
        out.extend_from_slice(&e.public);
        out.extend_from_slice(&(e.sealed.len() as u32).to_le_bytes());
        out.extend_from_slice(&e.sealed);
    }
    out
}

/// Decodes a batch; any inconsistency is reported, never panics (the input passed a
/// checksum, but a format bug must not crash recovery).
pub fn decode_batch(bytes: &[u8]) -> Result<WalBatch, String> {
    let mut r = Reader { bytes, at: 0 };
    let version = r.u8()?;
    if version != BATCH_FORMAT_VERSION {
        return Err(format!("unknown batch format version {version}"));
    }
    let key_count = r.u32()? as usize;
    if key_count > bytes.len() / (PSEUDONYM_BYTES + WRAPPED_KEY_BYTES) {
        return Err("key count exceeds record size".into());
    }
    let mut new_keys = Vec::with_capacity(key_count);
    for _ in 0..key_count {
        let subject = Pseudonym::from_slice(r.take(PSEUDONYM_BYTES)?).map_err(|e| e.to_string())?;
        let key = WrappedKey::from_bytes(r.take(WRAPPED_KEY_BYTES)?.to_vec())
            .map_err(|e| e.to_string())?;
        new_keys.push((subject, key));
    }
    let event_count = r.u32()? as usize;
    if event_count > BATCH_EVENTS_MAX || event_count > bytes.len() / 56 {
        return Err("event count exceeds record size".into());
    }
    let mut events = Vec::with_capacity(event_count);
    for _ in 0..event_count {
        let subject = Pseudonym::from_slice(r.take(PSEUDONYM_BYTES)?).map_err(|e| e.to_string())?;
        let time_us = i64::from_le_bytes(r.array()?);
        let schema_version = r.u32()?;
        let id_len = r.u16()? as usize;
        let event_id = r.string(id_len)?;
        let type_len = r.u16()? as usize;
        let event_type = r.string(type_len)?;
        let public_len = r.u32()? as usize;
        let public = r.take(public_len)?.to_vec();
        let sealed_len = r.u32()? as usize;
        let sealed = r.take(sealed_len)?.to_vec();
        events.push(NewEvent {
            subject,
            time_us,
            event_id,
            event_type,
            schema_version,
            public,
            sealed,
        });
    }
    if r.at != bytes.len() {
        return Err(format!("{} trailing bytes", bytes.len() - r.at));
    }
    Ok(WalBatch { new_keys, events })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| format!("truncated at byte {}", self.at))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn string(&mut self, n: usize) -> Result<String, String> {
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "invalid UTF-8".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn new_event() -> impl Strategy<Value = NewEvent> {
        (
            any::<[u8; 32]>(),
            any::<i64>(),
            "[a-z0-9-]{1,40}",
            "[a-z_]{1,20}",
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..200),
            proptest::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(
                |(s, time_us, event_id, event_type, schema_version, public, sealed)| NewEvent {
                    subject: Pseudonym::from_bytes(s),
                    time_us,
                    event_id,
                    event_type,
                    schema_version,
                    public,
                    sealed,
                },
            )
    }

    proptest! {
        #[test]
        fn batch_round_trips(events in proptest::collection::vec(new_event(), 0..20),
                             keys in proptest::collection::vec((any::<[u8; 32]>(), proptest::collection::vec(any::<u8>(), WRAPPED_KEY_BYTES..=WRAPPED_KEY_BYTES)), 0..5)) {
            let new_keys = keys.into_iter().map(|(s, k)| (Pseudonym::from_bytes(s), WrappedKey::from_bytes(k).unwrap())).collect();
            let batch = WalBatch { new_keys, events };
            prop_assert_eq!(decode_batch(&encode_batch(&batch)).unwrap(), batch);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode_batch(&bytes);
        }

        #[test]
        fn truncation_is_an_error(events in proptest::collection::vec(new_event(), 1..5), cut in any::<prop::sample::Index>()) {
            let bytes = encode_batch(&WalBatch { new_keys: vec![], events });
            let cut = cut.index(bytes.len());
            prop_assert!(decode_batch(&bytes[..cut]).is_err());
        }
    }
}
