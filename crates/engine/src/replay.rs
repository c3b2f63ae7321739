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

/// Left in a restored directory by `steward restore` (written before the directory appears
/// under its name): the erasure ledger to replay. Removed once a replay has completed.
pub const RESTORE_PENDING_FILE: &str = "RESTORE_PENDING";

#[derive(serde::Serialize, serde::Deserialize)]
struct Pending {
    ledger: std::path::PathBuf,
}

/// Writes the marker into a directory being restored.
pub fn mark_restore_pending(
    data_dir: &std::path::Path,
    ledger: &std::path::Path,
) -> std::io::Result<()> {
    let text = serde_json::to_vec(&Pending {
        ledger: ledger.to_owned(),
    })
    .map_err(std::io::Error::other)?;
    let path = data_dir.join(RESTORE_PENDING_FILE);
    std::fs::write(&path, text)?;
    std::fs::File::open(&path)?.sync_all()
}

impl Engine {
    /// Replays the ledger a restore left to replay (see [`RESTORE_PENDING_FILE`]), then
    /// removes the marker. An unreadable ledger keeps the directory from opening.
    pub(crate) fn replay_if_restored(&self) -> Result<(), EngineError> {
        let marker = self.data_dir().join(RESTORE_PENDING_FILE);
        let bytes = match std::fs::read(&marker) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(EngineError::DataDir {
                    path: marker,
                    reason: e.to_string(),
                });
            }
        };
        let refuse = |reason: String| EngineError::DataDir {
            path: marker.clone(),
            reason,
        };
        let pending: Pending = serde_json::from_slice(&bytes)
            .map_err(|_| refuse("a restore's marker does not decode".into()))?;
        let entries = crate::erasure_ledger::read_ledger(&pending.ledger).map_err(|e| {
            refuse(format!(
                "this directory was restored from a backup and its erasure ledger cannot be replayed ({e});                  nothing serves it until it is"
            ))
        })?;
        let report = self.replay_erasure_ledger(&entries)?;
        tracing::info!(
            entries = report.entries,
            erasures = report
                .tenants
                .values()
                .map(|t| t.erasures.len())
                .sum::<usize>(),
            "restored directory: erasure ledger replayed"
        );
        *self.last_replay.lock() = Some(report);
        std::fs::remove_file(&marker).map_err(|e| refuse(e.to_string()))?;
        std::fs::File::open(self.data_dir())
            .and_then(|d| d.sync_all())
            .map_err(|e| refuse(e.to_string()))?;
        Ok(())
    }

    /// What the replay at this open did, if the directory was a restore's.
    pub fn last_replay(&self) -> Option<ReplayReport> {
        self.last_replay.lock().clone()
    }

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
