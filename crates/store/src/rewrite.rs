//! Rewriting segments without some rows: the physical step shared by erasure (one subject's
//! old rows) and retention (rows past their type's time to live).

use std::sync::Arc;

use crate::partition::Partition;
use crate::{EventRecord, SegmentMeta, StoreError};

/// What a rewrite removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rewritten {
    pub rows_removed: u64,
    /// Segments replaced (or dropped, when nothing else was left in them).
    pub segments_rewritten: u64,
}

impl Partition {
    /// Replaces every segment that `may_hold` admits and that holds a row `drop` selects with
    /// one without those rows (catalog swap, then the old file is deleted once unread). Runs
    /// under the compaction lock, so it never races a merge.
    pub(crate) fn rewrite_segments(&self, may_hold: impl Fn(&SegmentMeta) -> bool, drop: impl Fn(&EventRecord) -> bool) -> Result<Rewritten, StoreError> {
        let _one_at_a_time = self.compaction_lock.lock();
        let mut out = Rewritten::default();
        let segments: Vec<Arc<crate::segment::Segment>> = self.state.read().segments.clone();
        for segment in segments.iter().filter(|s| may_hold(&s.meta)) {
            let rows = segment.read_all()?;
            let before = rows.len();
            let kept: Vec<_> = rows.into_iter().filter(|(r, _)| !drop(r)).collect();
            if kept.len() == before {
                continue;
            }
            out.rows_removed += (before - kept.len()) as u64;
            let refs: Vec<_> = kept.iter().collect();
            let replacement = if refs.is_empty() { None } else { Some(self.write_new_segment(&refs, segment.meta.level)?) };
            self.catalog.write(|txn| {
                txn.remove_segment(segment.meta.id)?;
                if let Some(r) = &replacement {
                    txn.put_segment(&r.meta)?;
                }
                Ok(())
            })?;
            {
                let mut state = self.state.write();
                state.segments.retain(|s| s.meta.id != segment.meta.id);
                if let Some(r) = replacement {
                    state.segments.push(Arc::new(r));
                }
            }
            segment.retire();
            out.segments_rewritten += 1;
        }
        if out.segments_rewritten > 0 {
            self.publish_gauges();
        }
        Ok(out)
    }
}
