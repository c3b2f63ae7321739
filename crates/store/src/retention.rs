//! Retention: rows past their event type's time to live are removed from every file. The
//! engine hides them from reads at once (it knows the schemas); this makes it physical.
//!
//! A check flushes the memtables when they hold an expired row (so the WAL files holding it
//! are deleted), then rewrites the segments whose oldest row could have expired.

use crate::StoreError;
use crate::partition::Partition;

/// What a retention pass found and removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    pub rows_removed: u64,
    pub segments_rewritten: u64,
    /// Seconds the oldest expired row had been past its expiry when this pass found it (0:
    /// none); after the pass nothing expired is left on disk.
    pub oldest_overdue_s: u64,
}

impl Partition {
    /// Removes every row for which `ttl_s(event_type)` is set and `time + ttl <= now`.
    /// `shortest_ttl_s` (the smallest TTL of any type) lets segments too young be skipped.
    pub fn expire(
        &self,
        ttl_s: &(dyn Fn(&str) -> Option<u64> + Sync),
        shortest_ttl_s: u64,
        now_us: i64,
    ) -> Result<Expired, StoreError> {
        let expiry = |time_us: i64, event_type: &str| {
            ttl_s(event_type).map(|ttl| {
                time_us.saturating_add(
                    i64::try_from(ttl)
                        .unwrap_or(i64::MAX / 2)
                        .saturating_mul(1_000_000),
                )
            })
        };
        let overdue_s = |time_us: i64, event_type: &str| {
            expiry(time_us, event_type)
                .filter(|e| *e <= now_us)
                .map(|e| ((now_us - e) / 1_000_000) as u64)
        };
        let mut oldest = 0u64;
        let mut memtable_expired = false;
        {
            let state = self.state.read();
            let tables =
                std::iter::once(&state.active).chain(state.frozen.iter().map(|t| t.as_ref()));
            for table in tables {
                for (record, _) in table.sorted_rows() {
                    if let Some(o) = overdue_s(record.event.time_us, &record.event.event_type) {
                        memtable_expired = true;
                        oldest = oldest.max(o + 1);
                    }
                }
            }
        }
        if memtable_expired {
            self.flush_and_drop_wal()?;
        }
        let horizon = now_us.saturating_sub(
            i64::try_from(shortest_ttl_s)
                .unwrap_or(i64::MAX / 2)
                .saturating_mul(1_000_000),
        );
        let oldest_cell = std::sync::atomic::AtomicU64::new(oldest);
        let rewritten = self.rewrite_segments(
            |meta| meta.min_time_us <= horizon,
            |r| match overdue_s(r.event.time_us, &r.event.event_type) {
                Some(o) => {
                    oldest_cell.fetch_max(o + 1, std::sync::atomic::Ordering::Relaxed);
                    true
                }
                None => false,
            },
        )?;
        if rewritten.rows_removed > 0 {
            metrics::counter!("steward_retention_rows_removed_total", "tenant" => self.config.tenant.clone()).increment(rewritten.rows_removed);
        }
        Ok(Expired {
            rows_removed: rewritten.rows_removed,
            segments_rewritten: rewritten.segments_rewritten,
            oldest_overdue_s: oldest_cell.into_inner().saturating_sub(1),
        })
    }
}
