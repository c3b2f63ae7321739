//! One page of a subject's timeline, read by seeking: every source (memtables, segments)
//! yields at most `limit + 1` admitted rows after the cursor, and only those rows are decoded.
//!
//! A segment holds rows sorted by (subject, time, seq), so within a row group the subject's
//! rows are one run sorted by (time, seq): the key columns locate the run and the cursor by
//! binary search, the caller's `admit` (the read guard's point rule) picks rows from the key
//! columns alone, and the full columns are decoded only for the picked rows (a row selection).
//! The store applies no read rule of its own: tombstones, consent and retention are the
//! guard's.

use arrow_array::{
    Array, FixedSizeBinaryArray, StringArray, TimestampMicrosecondArray, UInt64Array,
};
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::file::statistics::Statistics;
use steward_crypto::Pseudonym;

use crate::StoreError;
use crate::limits::{ROW_GROUP_ROWS, SCAN_EVENTS_MAX};
use crate::partition::{Partition, SubjectScan};
use crate::record::EventRecord;
use crate::segment::Segment;

/// The guard's point rule: may a row of this subject, seq, type and time be returned.
pub type Admit<'a> = &'a (dyn Fn(&Pseudonym, u64, &str, i64) -> bool + Sync);

impl SubjectScan {
    fn within(&self, event_type: &str, time_us: i64, seq: u64) -> bool {
        self.from_us.is_none_or(|from| time_us >= from)
            && self.to_us.is_none_or(|to| time_us < to)
            && self
                .types
                .as_ref()
                .is_none_or(|types| types.iter().any(|t| t == event_type))
            && self.after.is_none_or(|after| (time_us, seq) > after)
    }
}

impl Partition {
    /// One page of the subject's rows in (time, seq) order after the scan's cursor, each
    /// admitted by `admit`; `.1` is true if more admitted rows follow.
    pub fn scan_subject(
        &self,
        scan: &SubjectScan,
        admit: Admit<'_>,
    ) -> Result<(Vec<EventRecord>, bool), StoreError> {
        let limit = scan.limit.clamp(1, SCAN_EVENTS_MAX);
        let want = limit + 1;
        let mut out = Vec::new();
        let (tables, segments) = {
            let state = self.state.read();
            let mut rows = Vec::new();
            for table in
                std::iter::once(&state.active).chain(state.frozen.iter().map(|t| t.as_ref()))
            {
                table.scan_subject(&scan.subject, |r| {
                    let e = &r.event;
                    if scan.within(&e.event_type, e.time_us, r.seq)
                        && admit(&e.subject, r.seq, &e.event_type, e.time_us)
                    {
                        rows.push(r.clone());
                    }
                });
            }
            (rows, state.segments.clone())
        };
        let mut memtable = tables;
        memtable.sort_unstable_by_key(|r| (r.event.time_us, r.seq));
        memtable.truncate(want);
        out.extend(memtable);
        for segment in &segments {
            let m = &segment.meta;
            if scan.subject < m.min_subject || scan.subject > m.max_subject {
                continue;
            }
            if scan.from_us.is_some_and(|from| m.max_time_us < from)
                || scan.to_us.is_some_and(|to| m.min_time_us >= to)
                || scan.after.is_some_and(|(t, _)| m.max_time_us < t)
            {
                continue;
            }
            out.extend(segment.subject_page(scan, want, admit)?);
        }
        out.sort_unstable_by_key(|r| (r.event.time_us, r.seq));
        let more = out.len() > limit;
        out.truncate(limit);
        Ok((out, more))
    }
}

impl Segment {
    /// At most `want` admitted rows of the scan's subject after its cursor, in (time, seq)
    /// order, decoding only those rows.
    fn subject_page(
        &self,
        scan: &SubjectScan,
        want: usize,
        admit: Admit<'_>,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let meta = self.reader_meta()?;
        let target = scan.subject.as_bytes().as_slice();
        let mut out = Vec::new();
        for (g, group) in meta.metadata().row_groups().iter().enumerate() {
            if out.len() >= want {
                break;
            }
            let subject_ok = match group.column(0).statistics() {
                Some(Statistics::FixedLenByteArray(s)) => match (s.min_opt(), s.max_opt()) {
                    (Some(min), Some(max)) => min.data() <= target && target <= max.data(),
                    _ => true,
                },
                _ => true,
            };
            let time_ok = match group.column(1).statistics() {
                Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                    (Some(&min), Some(&max)) => {
                        scan.from_us.is_none_or(|f| max >= f)
                            && scan.to_us.is_none_or(|t| min < t)
                            && scan.after.is_none_or(|(t, _)| max >= t)
                    }
                    _ => true,
                },
                _ => true,
            };
            if !(subject_ok && time_ok) {
                continue;
            }
            let keys = self.read_group(g, Some(&[0, 1, 2, 5]))?;
            let Some(keys) = keys else { continue };
            let subjects = keyed::<FixedSizeBinaryArray>(self, &keys, 0)?;
            let times = keyed::<TimestampMicrosecondArray>(self, &keys, 1)?;
            let seqs = keyed::<UInt64Array>(self, &keys, 2)?;
            let types = keyed::<StringArray>(self, &keys, 3)?;
            let start = partition_point(subjects.len(), |i| subjects.value(i) < target);
            let end = partition_point(subjects.len(), |i| subjects.value(i) <= target);
            if start == end {
                continue;
            }
            // The subject's run is sorted by (time, seq): seek to the first row past the cursor
            // and the lower time bound.
            let first = match (scan.after, scan.from_us) {
                (Some((t, s)), from) => {
                    let after = start
                        + partition_point(end - start, |k| {
                            (times.value(start + k), seqs.value(start + k)) <= (t, s)
                        });
                    match from {
                        Some(f) => after.max(
                            start + partition_point(end - start, |k| times.value(start + k) < f),
                        ),
                        None => after,
                    }
                }
                (None, Some(f)) => {
                    start + partition_point(end - start, |k| times.value(start + k) < f)
                }
                (None, None) => start,
            };
            let mut picked = Vec::new();
            for i in first..end {
                let (time, seq, event_type) = (times.value(i), seqs.value(i), types.value(i));
                if scan.to_us.is_some_and(|to| time >= to) {
                    break;
                }
                if scan.within(event_type, time, seq) && admit(&scan.subject, seq, event_type, time)
                {
                    picked.push(i);
                    if out.len() + picked.len() >= want {
                        break;
                    }
                }
            }
            if picked.is_empty() {
                continue;
            }
            out.extend(self.read_rows(g, &picked)?);
        }
        Ok(out)
    }

    /// One whole row group (the given root columns, or all) as one batch.
    pub(crate) fn read_group(
        &self,
        group: usize,
        columns: Option<&[usize]>,
    ) -> Result<Option<arrow_array::RecordBatch>, StoreError> {
        // The reader's batch size is a whole row group, so a group is one batch.
        let mut reader = self.reader_with(vec![group], columns, None)?;
        let first = reader
            .next()
            .transpose()
            .map_err(|e| self.corrupt(e.to_string()))?;
        if reader.next().is_some() {
            return Err(self.corrupt(format!(
                "row group {group} is larger than {ROW_GROUP_ROWS} rows"
            )));
        }
        Ok(first)
    }

    /// The rows at `positions` (sorted, within one row group), decoded.
    pub(crate) fn read_rows(
        &self,
        group: usize,
        positions: &[usize],
    ) -> Result<Vec<EventRecord>, StoreError> {
        let mut selectors = Vec::new();
        let mut at = 0usize;
        let mut run: Option<(usize, usize)> = None;
        for &p in positions {
            match run {
                Some((s, len)) if s + len == p => run = Some((s, len + 1)),
                Some((s, len)) => {
                    selectors.push(RowSelector::skip(s - at));
                    selectors.push(RowSelector::select(len));
                    at = s + len;
                    run = Some((p, 1));
                }
                None => run = Some((p, 1)),
            }
        }
        if let Some((s, len)) = run {
            selectors.push(RowSelector::skip(s - at));
            selectors.push(RowSelector::select(len));
        }
        let mut out = Vec::with_capacity(positions.len());
        for batch in self.reader_with(vec![group], None, Some(RowSelection::from(selectors)))? {
            let batch = batch.map_err(|e| self.corrupt(e.to_string()))?;
            for i in 0..batch.num_rows() {
                out.push(self.row(&batch, i)?.0);
            }
        }
        Ok(out)
    }
}

pub(crate) fn keyed<'a, T: 'static>(
    segment: &Segment,
    batch: &'a arrow_array::RecordBatch,
    i: usize,
) -> Result<&'a T, StoreError> {
    batch.column(i).as_any().downcast_ref::<T>().ok_or_else(|| {
        segment.corrupt(format!(
            "key column {i} has type {}",
            batch.column(i).data_type()
        ))
    })
}

/// First index in 0..len for which `pred` is false (pred must be monotone).
fn partition_point(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}
