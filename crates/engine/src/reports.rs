//! Compliance reports from a tenant's audit log: every decision about one subject, or
//! everything one principal did in a time range.
//!
//! A subject is found by its keyed reference, computed from its data key: before erasure the
//! report finds its records; after, the key is gone, the same records still verify, and no
//! reference can be computed to find them.

use steward_audit::AuditRecord;
use steward_crypto::Pseudonym;

use crate::limits::REPORT_ROWS_MAX;
use crate::{Engine, EngineError};

/// Which records a report selects; every given condition must hold.
#[derive(Clone, Debug, Default)]
pub struct ReportFilter {
    pub subject: Option<Pseudonym>,
    /// An audit principal name: `key:<id>`, `user:<sub>`, `operator`, `unauthenticated`.
    pub principal: Option<String>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    /// Start after this record index (paging).
    pub after_index: Option<u64>,
    /// At most this many rows (bounded by `REPORT_ROWS_MAX`).
    pub limit: usize,
}

/// The selected records, oldest first, with their indexes in the log.
#[derive(Clone, Debug)]
pub struct Report {
    pub rows: Vec<(u64, AuditRecord)>,
    /// Records scanned (the log's size when the scan ended).
    pub scanned: u64,
    /// More rows matched than `limit`: ask again with `after_index` = the last row's index.
    pub truncated: bool,
    /// For a subject report: whether the subject still has a key (false: unknown or erased).
    pub subject_known: Option<bool>,
}

impl Engine {
    pub fn audit_report(&self, tenant: &str, filter: &ReportFilter) -> Result<Report, EngineError> {
        if filter.limit == 0 || filter.limit > REPORT_ROWS_MAX {
            return Err(EngineError::invalid(
                "invalid_limit",
                Some("limit"),
                format!("expected 1 to {REPORT_ROWS_MAX}"),
            ));
        }
        let t = self.tenant(tenant)?;
        // Batched read records become visible to the scan once they are on disk.
        t.audit()
            .flush()
            .map_err(|e| EngineError::Audit(e.to_string()))?;
        let reference = match &filter.subject {
            Some(subject) => match self.subject_ref(tenant, subject)? {
                Some(r) => Some(r),
                None => {
                    return Ok(Report {
                        rows: Vec::new(),
                        scanned: 0,
                        truncated: false,
                        subject_known: Some(false),
                    });
                }
            },
            None => None,
        };
        let mut rows = Vec::new();
        let mut scanned = 0;
        let mut truncated = false;
        let dir = self.dir.tenant_dir(tenant).join("audit");
        steward_audit::for_each_record(&dir, |index, record| {
            scanned = index + 1;
            if filter.after_index.is_some_and(|after| index <= after) {
                return true;
            }
            let keep = reference
                .as_ref()
                .is_none_or(|r| record.subject_refs.contains(r))
                && filter
                    .principal
                    .as_ref()
                    .is_none_or(|p| &record.principal == p)
                && filter.from_us.is_none_or(|from| record.time_us >= from)
                && filter.to_us.is_none_or(|to| record.time_us < to);
            if keep {
                if rows.len() == filter.limit {
                    truncated = true;
                    return false;
                }
                rows.push((index, record));
            }
            true
        })
        .map_err(|e| EngineError::Audit(e.to_string()))?;
        Ok(Report {
            rows,
            scanned,
            truncated,
            subject_known: filter.subject.map(|_| true),
        })
    }
}
