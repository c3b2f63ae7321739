//! Replaying the erasure ledger into a restored data directory (see `erasure_ledger.rs`).

use std::collections::{BTreeMap, HashSet};

use crate::erasure_ledger::{LedgerEntry, fingerprint};
use crate::{Engine, EngineError, ErasureRequest};

/// Per tenant: the destroyed keys' fingerprints and the suppression entries.
type Wanted = (HashSet<[u8; 32]>, Vec<[u8; 32]>);

/// What a replay did, per tenant.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReplayReport {
    pub entries: usize,
    pub tenants: BTreeMap<String, TenantReplay>,
    /// Tenants the ledger names that the restored directory does not hold (made after the
    /// backup, or deleted): nothing of theirs came back.
    pub tenants_absent: Vec<String>,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TenantReplay {
    /// Erasure requests filed (or found) again: the subjects' keys came back with the backup.
    pub erasures: Vec<String>,
    pub suppressions: usize,
}

impl Engine {
    /// Appends to the erasure ledger (durably).
    pub(crate) fn note_erasures(&self, entries: Vec<LedgerEntry>) -> Result<(), EngineError> {
        self.erasure_ledger
            .append(&entries)
            .map_err(|e| EngineError::DataDir {
                path: self.erasure_ledger.path().to_owned(),
                reason: e.to_string(),
            })
    }

    /// Erases again every subject whose destroyed key the ledger lists and that holds that
    /// key here, and restores the suppression entries: a restored backup never brings an
    /// erased subject back. The erasures are filed `now` (shredded and hidden before this
    /// returns; purge and derived work follow on the background threads).
    pub fn replay_erasure_ledger(
        &self,
        entries: &[LedgerEntry],
    ) -> Result<ReplayReport, EngineError> {
        let mut report = ReplayReport {
            entries: entries.len(),
            ..ReplayReport::default()
        };
        let mut by_tenant: BTreeMap<&str, Wanted> = BTreeMap::new();
        for entry in entries {
            let slot = by_tenant.entry(entry.tenant.as_str()).or_default();
            slot.0
                .extend(entry.keys.iter().filter_map(|k| fingerprint(k)));
            slot.1
                .extend(entry.suppress.iter().filter_map(|k| fingerprint(k)));
        }
        for (tenant_id, (keys, suppress)) in by_tenant {
            let tenant = match self.tenant(tenant_id) {
                Ok(tenant) => tenant,
                Err(EngineError::NotFound { .. }) => {
                    report.tenants_absent.push(tenant_id.to_owned());
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut done = TenantReplay::default();
            tenant.suppress_keys(&suppress)?;
            done.suppressions = suppress.len();
            let subjects = tenant.partition().subjects_with_key_fingerprints(&keys)?;
            if !subjects.is_empty() {
                let requests: Vec<ErasureRequest> =
                    self.request_erasures_of(&tenant, &subjects, true, false)?;
                done.erasures = requests.into_iter().map(|r| r.id).collect();
            }
            report.tenants.insert(tenant_id.to_owned(), done);
        }
        Ok(report)
    }
}
