//! Bulk reads for SQL and data sets: a consistent snapshot of a partition (its memtable rows
//! copied, its segments held open), and reads of one segment that prune row groups by their
//! statistics and decode only the projected columns.
//!
//! Tombstones come with the snapshot, taken under the same lock as the segment list, so a
//! purge that rewrites segments concurrently never exposes a row the snapshot hides.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;
use steward_crypto::Pseudonym;

use crate::StoreError;
use crate::dedup::EventKey;
use crate::limits::ROW_GROUP_ROWS;
use crate::partition::Partition;
use crate::record::EventRecord;
use crate::segment::{COLUMN_NAMES, Segment};

/// What a bulk read needs; every bound prunes segments, row groups and memtable rows.
#[derive(Clone, Debug, Default)]
pub struct ScanBounds {
    pub from_us: Option<i64>,
    /// Exclusive.
    pub to_us: Option<i64>,
    pub types: Option<Vec<String>>,
    pub subject: Option<Pseudonym>,
    /// Only rows acknowledged at or before this sequence number (a data set's snapshot).
    pub max_seq: Option<u64>,
}

impl ScanBounds {
    fn admits_time(&self, min: i64, max: i64) -> bool {
        self.from_us.is_none_or(|from| max >= from) && self.to_us.is_none_or(|to| min < to)
    }

    fn admits_record(&self, r: &EventRecord) -> bool {
        let e = &r.event;
        self.admits_time(e.time_us, e.time_us)
            && self
                .types
                .as_ref()
                .is_none_or(|t| t.iter().any(|t| t == &e.event_type))
            && self.subject.is_none_or(|s| s == e.subject)
            && self.max_seq.is_none_or(|m| r.seq <= m)
    }
}

/// A consistent view of a partition at one instant.
pub struct ReadSnapshot {
    /// Unflushed rows that pass the bounds, in segment batches of the full segment schema.
    pub memtable: Vec<RecordBatch>,
    /// Segments whose catalog metadata may hold rows within the bounds.
    pub segments: Vec<Arc<Segment>>,
    /// Erased subjects: rows with `seq <=` the value are hidden.
    pub tombstones: Arc<HashMap<Pseudonym, u64>>,
    /// The highest sequence number the snapshot can hold (a data set records it).
    pub max_seq: u64,
}

impl ReadSnapshot {
    /// Whether a row is hidden by an erasure tombstone.
    pub fn hidden(&self, subject: &Pseudonym, seq: u64) -> bool {
        self.tombstones.get(subject).is_some_and(|&cut| seq <= cut)
    }
}

impl Partition {
    /// Takes a snapshot for a bulk read within `bounds`.
    pub fn read_snapshot(&self, bounds: &ScanBounds) -> Result<ReadSnapshot, StoreError> {
        let mut rows: Vec<&(EventRecord, EventKey)> = Vec::new();
        let state = self.state.read();
        let tombstones = self.tombstones.read().clone();
        let tables = std::iter::once(&state.active).chain(state.frozen.iter().map(|t| t.as_ref()));
        let mut max_seq = 0u64;
        for table in tables {
            for row in table.rows() {
                max_seq = max_seq.max(row.0.seq);
                if bounds.admits_record(&row.0) {
                    rows.push(row);
                }
            }
        }
        let mut memtable = Vec::new();
        for chunk in rows.chunks(ROW_GROUP_ROWS) {
            memtable.push(crate::segment::to_batch(chunk)?);
        }
        let segments: Vec<Arc<Segment>> = state
            .segments
            .iter()
            .inspect(|s| max_seq = max_seq.max(s.meta.max_seq))
            .filter(|s| {
                bounds.admits_time(s.meta.min_time_us, s.meta.max_time_us)
                    && bounds.subject.is_none_or(|subject| {
                        s.meta.min_subject <= subject && subject <= s.meta.max_subject
                    })
            })
            .cloned()
            .collect();
        Ok(ReadSnapshot {
            memtable,
            segments,
            tombstones,
            max_seq: bounds.max_seq.map_or(max_seq, |m| m.min(max_seq)),
        })
    }
}

impl Segment {
    /// Row groups that may hold rows within `bounds`, by their column statistics.
    pub fn row_groups_within(&self, bounds: &ScanBounds) -> Result<Vec<usize>, StoreError> {
        let meta = self.reader_meta()?;
        Ok(meta
            .metadata()
            .row_groups()
            .iter()
            .enumerate()
            .filter(|(_, g)| group_admits(g, bounds))
            .map(|(i, _)| i)
            .collect())
    }

    /// Reads the named columns (in segment order) of the given row groups.
    pub fn read_columns(
        &self,
        row_groups: Vec<usize>,
        columns: &[&str],
    ) -> Result<Vec<RecordBatch>, StoreError> {
        let indexes: Vec<usize> = columns
            .iter()
            .map(|c| {
                COLUMN_NAMES
                    .iter()
                    .position(|n| n == c)
                    .ok_or_else(|| self.corrupt(format!("no column {c}")))
            })
            .collect::<Result<_, _>>()?;
        if row_groups.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for batch in self.reader(row_groups, Some(&indexes))? {
            out.push(batch.map_err(|e| self.corrupt(e.to_string()))?);
        }
        Ok(out)
    }
}

fn group_admits(group: &RowGroupMetaData, bounds: &ScanBounds) -> bool {
    // Columns: 0 subject, 1 time, 2 seq, 5 type (segment format v1).
    let time_ok = match group.column(1).statistics() {
        Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
            (Some(&min), Some(&max)) => bounds.admits_time(min, max),
            _ => true,
        },
        _ => true,
    };
    let seq_ok = match (bounds.max_seq, group.column(2).statistics()) {
        (Some(limit), Some(Statistics::Int64(s))) => {
            s.min_opt().is_none_or(|&min| (min as u64) <= limit)
        }
        _ => true,
    };
    let subject_ok = match (&bounds.subject, group.column(0).statistics()) {
        (Some(subject), Some(Statistics::FixedLenByteArray(s))) => match (s.min_opt(), s.max_opt())
        {
            (Some(min), Some(max)) => {
                min.data() <= subject.as_bytes().as_slice()
                    && subject.as_bytes().as_slice() <= max.data()
            }
            _ => true,
        },
        _ => true,
    };
    let type_ok = match (&bounds.types, group.column(5).statistics()) {
        (Some(types), Some(Statistics::ByteArray(s))) => match (s.min_opt(), s.max_opt()) {
            (Some(min), Some(max)) => types
                .iter()
                .any(|t| min.data() <= t.as_bytes() && t.as_bytes() <= max.data()),
            _ => true,
        },
        _ => true,
    };
    time_ok && seq_ok && subject_ok && type_ok
}
