//! Rewriting segments without some rows: the physical step shared by erasure (one subject's
//! old rows) and retention (rows past their type's time to live).

use std::sync::Arc;

use crate::partition::Partition;
use crate::{EventRecord, SegmentMeta, StoreError};

/// One rewritten segment: its index among the candidates, the rows removed, and its
/// replacement (None when no row was left).
type Replaced = (usize, u64, Option<crate::segment::Segment>);

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
    pub(crate) fn rewrite_segments(
        &self,
        may_hold: impl Fn(&SegmentMeta) -> bool,
        drop: impl Fn(&EventRecord) -> bool + Sync,
    ) -> Result<Rewritten, StoreError> {
        let _one_at_a_time = self.compaction_lock.lock();
        let mut out = Rewritten::default();
        let segments: Vec<Arc<crate::segment::Segment>> = self
            .state
            .read()
            .segments
            .iter()
            .filter(|s| may_hold(&s.meta))
            .cloned()
            .collect();
        // Reading, filtering and writing the replacements runs on every core; the catalog
        // swaps follow one by one. At most `threads` segments' rows are in memory at once.
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, self.config.rewrite_threads_max.max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Result<Vec<Replaced>, StoreError>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let Some(segment) = segments.get(i) else {
                                return Ok(done);
                            };
                            let rows = segment.read_all()?;
                            let before = rows.len();
                            let kept: Vec<_> = rows.into_iter().filter(|(r, _)| !drop(r)).collect();
                            if kept.len() == before {
                                continue;
                            }
                            let refs: Vec<_> = kept.iter().collect();
                            let replacement = if refs.is_empty() {
                                None
                            } else {
                                Some(self.write_new_segment(&refs, segment.meta.level)?)
                            };
                            done.push((i, (before - kept.len()) as u64, replacement));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|_| Err(StoreError::Poisoned)))
                .collect()
        });
        let mut rewritten = Vec::new();
        for result in results {
            rewritten.extend(result?);
        }
        rewritten.sort_by_key(|(i, _, _)| *i);
        for (i, removed, replacement) in rewritten {
            let segment = &segments[i];
            out.rows_removed += removed;
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
