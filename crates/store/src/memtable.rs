//! The in-memory table of acknowledged events not yet in a segment.

use std::collections::HashMap;
use std::time::Instant;
use steward_crypto::{Pseudonym, WrappedKey};

use crate::dedup::EventKey;
use crate::record::EventRecord;
use crate::segment::sort_key;

/// Rows per storage chunk: growing one big Vec would copy every row again at each doubling
/// (a profile showed ~10% of ingest CPU in that memmove).
const CHUNK_ROWS: usize = 4096;

/// Events in acknowledgement order, indexed by subject for timeline reads.
pub struct Memtable {
    chunks: Vec<Vec<(EventRecord, EventKey)>>,
    len: usize,
    by_subject: HashMap<Pseudonym, Vec<u32>>,
    /// Subject keys first written by the batches in this table; committed to the catalog with its segment.
    pub new_keys: Vec<(Pseudonym, WrappedKey)>,
    bytes: usize,
    pub max_lsn: u64,
    pub created: Instant,
}

impl Memtable {
    pub fn new() -> Memtable {
        Memtable {
            chunks: Vec::new(),
            len: 0,
            by_subject: HashMap::new(),
            new_keys: Vec::new(),
            bytes: 0,
            max_lsn: 0,
            created: Instant::now(),
        }
    }

    pub fn insert(&mut self, lsn: u64, record: EventRecord, key: EventKey) {
        // Group commit acknowledges a frame's appenders together, so they may insert in any
        // order; `seq` (from the lsn) orders events, `max_lsn` only bounds the table.
        self.max_lsn = self.max_lsn.max(lsn);
        self.bytes += record.footprint_bytes();
        let index = u32::try_from(self.len).unwrap_or(u32::MAX);
        self.by_subject
            .entry(record.event.subject)
            .or_default()
            .push(index);
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK_ROWS) {
            self.chunks.push(Vec::with_capacity(CHUNK_ROWS));
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.push((record, key));
        }
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn row(&self, index: usize) -> &(EventRecord, EventKey) {
        &self.chunks[index / CHUNK_ROWS][index % CHUNK_ROWS]
    }

    pub fn bytes(&self) -> usize {
        self.bytes + self.new_keys.len() * 96
    }

    pub fn scan_subject(&self, subject: &Pseudonym, mut f: impl FnMut(&EventRecord)) {
        if let Some(indexes) = self.by_subject.get(subject) {
            for &i in indexes {
                f(&self.row(i as usize).0);
            }
        }
    }

    /// Every row, in insertion order.
    pub(crate) fn rows(&self) -> impl Iterator<Item = &(EventRecord, EventKey)> {
        self.chunks.iter().flatten()
    }

    /// The rows in the order a segment stores them (borrowed: the table stays readable).
    pub fn sorted_rows(&self) -> Vec<&(EventRecord, EventKey)> {
        let mut rows: Vec<&(EventRecord, EventKey)> = self.chunks.iter().flatten().collect();
        rows.sort_unstable_by(|a, b| sort_key(&a.0).cmp(&sort_key(&b.0)));
        rows
    }
}

impl Default for Memtable {
    fn default() -> Memtable {
        Memtable::new()
    }
}
