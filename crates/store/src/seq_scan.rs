//! Rows of one event type in acknowledgement (seq) order after a watermark: how a derived
//! artifact that follows the log (a vector index over a text field) catches up.
//!
//! A follower needs a point up to which it has seen *everything*. Appenders hold the append
//! lock shared across "WAL append + memtable insert", so two batches can reach the memtable
//! out of seq order; [`Partition::settled_seq`] takes the lock exclusively for an instant, so
//! every seq at or below the value it returns is already readable. A scan of `(after, upto]`
//! with `upto` settled therefore misses nothing, and the follower moves its watermark to
//! `upto`. The store applies no read rule: the caller's `admit` (the read guard's point rule)
//! picks rows from the key columns, and only picked rows are decoded.

use arrow_array::{StringArray, UInt64Array};

use crate::StoreError;
use crate::limits::SCAN_EVENTS_MAX;
use crate::limits::SEQ_INDEX_BITS;
use crate::partition::Partition;
use crate::record::EventRecord;
use crate::segment::Segment;
use crate::subject_scan::{Admit, keyed};

/// What [`Partition::scan_since`] reads.
#[derive(Clone, Debug)]
pub struct SeqScan {
    pub event_type: String,
    /// Rows with `after < seq <= upto`.
    pub after: u64,
    pub upto: u64,
    /// At most this many rows (bounded by `SCAN_EVENTS_MAX`).
    pub limit: usize,
}

impl Partition {
    /// A seq such that every row at or below it is readable now (0 when empty). O(tables +
    /// segments): a memtable knows its highest lsn, and every seq of an lsn is below the next
    /// lsn's first.
    pub fn settled_seq(&self) -> u64 {
        let _exclusive = self.append_lock.write();
        let state = self.state.read();
        let mut max = 0u64;
        for table in std::iter::once(&state.active).chain(state.frozen.iter().map(|t| t.as_ref())) {
            if !table.is_empty() {
                let next_lsn = table.max_lsn.saturating_add(1);
                max = max.max((next_lsn << SEQ_INDEX_BITS).saturating_sub(1));
            }
        }
        for segment in state.segments.iter() {
            max = max.max(segment.meta.max_seq);
        }
        max
    }

    /// Admitted rows of the scan's type with `after < seq <= upto`, in seq order; `.1` is true
    /// when the limit cut the page (continue after the last row's seq).
    pub fn scan_since(
        &self,
        scan: &SeqScan,
        admit: Admit<'_>,
    ) -> Result<(Vec<EventRecord>, bool), StoreError> {
        let limit = scan.limit.clamp(1, SCAN_EVENTS_MAX);
        if scan.upto <= scan.after {
            return Ok((Vec::new(), false));
        }
        let within = |event_type: &str, seq: u64| {
            seq > scan.after && seq <= scan.upto && event_type == scan.event_type
        };
        let (mut out, segments) = {
            let state = self.state.read();
            let mut rows = Vec::new();
            for table in
                std::iter::once(&state.active).chain(state.frozen.iter().map(|t| t.as_ref()))
            {
                for (r, _) in table.rows() {
                    let e = &r.event;
                    if within(&e.event_type, r.seq)
                        && admit(&e.subject, r.seq, &e.event_type, e.time_us)
                    {
                        rows.push(r.clone());
                    }
                }
            }
            (rows, state.segments.clone())
        };
        // Keep the `limit` lowest seqs seen so far; a segment wholly at or below `after` is
        // skipped on its catalog entry.
        let trim = |rows: &mut Vec<EventRecord>| {
            if rows.len() > limit {
                rows.sort_unstable_by_key(|r| r.seq);
                rows.truncate(limit + 1);
            }
        };
        trim(&mut out);
        for segment in segments.iter() {
            if segment.meta.max_seq <= scan.after {
                continue;
            }
            out.extend(segment.rows_since(&within, admit)?);
            trim(&mut out);
        }
        out.sort_unstable_by_key(|r| r.seq);
        let more = out.len() > limit;
        out.truncate(limit);
        Ok((out, more))
    }
}

impl Segment {
    /// Every row of this segment that `within` and `admit` pick, decoded.
    fn rows_since(
        &self,
        within: &dyn Fn(&str, u64) -> bool,
        admit: Admit<'_>,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let meta = self.reader_meta()?;
        let groups = meta.metadata().num_row_groups();
        let mut out = Vec::new();
        for g in 0..groups {
            // Key columns: subject (0), time (1), seq (2), type (5).
            let Some(keys) = self.read_group(g, Some(&[0, 1, 2, 5]))? else {
                continue;
            };
            let subjects = keyed::<arrow_array::FixedSizeBinaryArray>(self, &keys, 0)?;
            let times = keyed::<arrow_array::TimestampMicrosecondArray>(self, &keys, 1)?;
            let seqs = keyed::<UInt64Array>(self, &keys, 2)?;
            let types = keyed::<StringArray>(self, &keys, 3)?;
            let mut picked = Vec::new();
            for i in 0..seqs.len() {
                let (seq, event_type) = (seqs.value(i), types.value(i));
                if !within(event_type, seq) {
                    continue;
                }
                let Ok(subject) = steward_crypto::Pseudonym::from_slice(subjects.value(i)) else {
                    return Err(self.corrupt("a subject key is not 32 bytes".into()));
                };
                if admit(&subject, seq, event_type, times.value(i)) {
                    picked.push(i);
                }
            }
            if picked.is_empty() {
                continue;
            }
            out.extend(self.read_rows(g, &picked)?);
        }
        Ok(out)
    }
}
