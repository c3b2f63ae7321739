//! `AuditConfig`: the tenant a log belongs to and the bounds of the batched (read) path.

use crate::limits::{BATCHED_FLUSH_EARLY_RECORDS, BATCHED_RECORDS_MAX, READ_FLUSH_MS};

/// How one tenant's audit log is opened.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// The tenant id, bound into every signed head (so a head cannot be replayed for another
    /// tenant). Must match `[A-Za-z0-9_:/.-]{1,256}`.
    pub tenant: String,
    /// A batched record is written and fsynced at most this long after it was queued (plus the
    /// time of one write+fsync), or the log is poisoned and every later append fails.
    pub read_flush_ms: u64,
    /// Batched records that may wait at once; one more fails with `QueueFull`.
    pub batched_records_max: usize,
    /// This many waiting batched records make the flusher write without waiting out the delay.
    pub batched_flush_early_records: usize,
}

impl AuditConfig {
    /// Defaults from `limits.rs` for `tenant`.
    pub fn new(tenant: impl Into<String>) -> AuditConfig {
        AuditConfig {
            tenant: tenant.into(),
            read_flush_ms: READ_FLUSH_MS,
            batched_records_max: BATCHED_RECORDS_MAX,
            batched_flush_early_records: BATCHED_FLUSH_EARLY_RECORDS,
        }
    }

    /// Sets `read_flush_ms`.
    pub fn with_read_flush_ms(mut self, ms: u64) -> AuditConfig {
        self.read_flush_ms = ms;
        self
    }

    /// Sets `batched_records_max` (at least 1).
    pub fn with_batched_records_max(mut self, records: usize) -> AuditConfig {
        self.batched_records_max = records.max(1);
        self
    }
}
