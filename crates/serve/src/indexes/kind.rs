//! Vector indexes as the ledger's `index` kind.
//!
//! - hide (an erasure or an opt-out, synchronous): nothing to do in memory: every search asks
//!   the request's guard about each candidate's subject, and the guard refuses an erased
//!   subject from the shred commit on and an opted-out one from the consent commit on.
//! - erase (durable, before `derived`): under each index's writer lock (so no follower pass
//!   read before the shred can add the subject back after), the subject's documents are
//!   deleted (codes, links and f32 rows zeroed at once), a new sealed snapshot without them is
//!   written and the old snapshot's key destroyed and its file removed. The receipt lists each
//!   index with `vectors_removed`.
//! - retention: documents of events past their type's retention are removed the same way.
//! - opt-out and regime changes: nothing physical; search asks the guard's consent.
//!
//! An index of a data set version (`dataset.rs`) holds a subject when the version's subjects
//! bitmap (kept in the index) does, whatever its columns: an erasure of a subject erased after
//! the version was cut rebuilds it from the version's newest ready successor (`Wait` while the
//! data set kind builds it, as for models), writes the new snapshot and destroys the old
//! snapshot's key; the receipt lists it as `rebuilt` with the successor version (or
//! `vectors_removed` when the version has no successor and the index is emptied). Opt-outs and
//! regime changes of the index's purpose, and retention, rebuild it the same way once the
//! artifact rule no longer admits the version for the index's purpose: until then every search
//! answers 409 `dataset_version_stale`. Receipt entries of an erase that had to wait part way
//! are kept in memory until the task is done.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use steward_crypto::Pseudonym;
use steward_engine::{
    ArtifactKind, DerivedArtifact, DerivedStep, HeldArtifact, Hide, Outcome, ReadAccess, Work,
    subject_bit,
};

use super::dataset::Rebuilt;
use super::{IndexSource, Indexes};
use crate::registry::now_rfc3339;

/// Receipt entries of erase work that waited part way, by tenant and subject.
type Pending = Mutex<HashMap<(String, Pseudonym), Vec<DerivedArtifact>>>;

pub const INDEX_KIND: &str = "index";

pub struct IndexKind {
    indexes: Weak<Indexes>,
    pending: Pending,
}

impl IndexKind {
    pub fn new(indexes: &Arc<Indexes>) -> Arc<IndexKind> {
        Arc::new(IndexKind {
            indexes: Arc::downgrade(indexes),
            pending: Mutex::new(HashMap::new()),
        })
    }

    fn indexes(&self) -> Result<Arc<Indexes>, String> {
        self.indexes
            .upgrade()
            .ok_or_else(|| "the index service is gone".to_owned())
    }
}

impl ArtifactKind for IndexKind {
    fn name(&self) -> &'static str {
        INDEX_KIND
    }

    fn hide(&self, _tenant: &str, _hide: &Hide<'_>) -> Result<(), String> {
        Ok(())
    }

    fn process(&self, tenant: &str, work: &Work) -> Result<Outcome, String> {
        let indexes = self.indexes()?;
        match work {
            Work::Erase { subjects } => indexes
                .erase(tenant, subjects, &self.pending)
                .map_err(|e| e.to_string()),
            Work::Retention => {
                indexes.retention(tenant).map_err(|e| e.to_string())?;
                // Retention work is retried only when it fails: a wait for a successor is one.
                match indexes.refresh_datasets(tenant, None) {
                    Ok(Outcome::Wait { reason }) => Err(reason),
                    other => other.map_err(|e| e.to_string()),
                }
            }
            Work::OptOut { purpose, .. } | Work::RegimeChanged { purpose } => indexes
                .refresh_datasets(tenant, Some(purpose))
                .map_err(|e| e.to_string()),
        }
    }

    fn holding(&self, tenant: &str, subject: &Pseudonym) -> Result<Vec<HeldArtifact>, String> {
        let indexes = self.indexes()?;
        let all = indexes.tenant_indexes(tenant).map_err(|e| e.to_string())?;
        Ok(all
            .iter()
            .filter(|l| {
                let state = l.state.read();
                state.by_subject.contains_key(subject)
                    || state
                        .cut
                        .as_ref()
                        .is_some_and(|c| c.subjects.contains(subject_bit(subject)))
            })
            .map(|l| HeldArtifact {
                kind: INDEX_KIND.into(),
                name: l.def.name.clone(),
                version: 0,
                state: "ready".into(),
                purpose: l.def.purpose.clone(),
                built_at: l.def.created_at.clone(),
            })
            .collect())
    }

    fn maintain(&self, tenant: &str) -> Result<(), String> {
        self.indexes()?
            .ensure_open(tenant)
            .map_err(|e| e.to_string())
    }
}

impl Indexes {
    /// Removes the subjects' vectors from every index of the tenant and writes each changed
    /// index's snapshot before answering; rebuilds indexes of data set versions that hold them.
    fn erase(
        &self,
        tenant: &str,
        subjects: &[(Pseudonym, u64)],
        pending: &Pending,
    ) -> Result<Outcome, crate::ServeError> {
        let mut artifacts: HashMap<Pseudonym, Vec<DerivedArtifact>> = HashMap::new();
        // Indexes of data set versions first: one that must wait for its successor stops the
        // work before any events index is touched (what was done is kept in `pending`).
        for live in self.tenant_indexes(tenant)? {
            let holders: Vec<Pseudonym> = {
                let state = live.state.read();
                let Some(cut) = state.cut.as_ref() else {
                    continue;
                };
                subjects
                    .iter()
                    .filter(|(s, g)| {
                        (*g > cut.generation && cut.subjects.contains(subject_bit(s)))
                            || state.by_subject.contains_key(s)
                    })
                    .map(|(s, _)| *s)
                    .collect()
            };
            if holders.is_empty() {
                continue;
            }
            match self.rebuild_dataset(tenant, &live, true)? {
                Rebuilt::Fresh => {}
                Rebuilt::Wait(reason) => return Ok(Outcome::Wait { reason }),
                Rebuilt::Done {
                    from,
                    to,
                    removed,
                    files_removed,
                } => {
                    let at = now_rfc3339();
                    let mut steps = vec![DerivedStep {
                        action: "vectors_removed".into(),
                        at: at.clone(),
                        successor: None,
                    }];
                    if to.is_some() {
                        steps.push(DerivedStep {
                            action: "rebuilt".into(),
                            at: at.clone(),
                            successor: to,
                        });
                    }
                    tracing::info!(tenant, index = %live.def.name, from, removed, "index of a data set version rebuilt for an erasure");
                    let artifact = DerivedArtifact {
                        kind: INDEX_KIND.into(),
                        name: live.def.name.clone(),
                        version: from,
                        action: if to.is_some() {
                            "rebuilt"
                        } else {
                            "vectors_removed"
                        }
                        .into(),
                        successor: to,
                        files_removed,
                        at: Some(at),
                        steps,
                    };
                    let mut kept = pending.lock();
                    for s in holders {
                        kept.entry((tenant.to_owned(), s))
                            .or_default()
                            .push(artifact.clone());
                    }
                }
            }
        }
        {
            let mut kept = pending.lock();
            for (s, _) in subjects {
                if let Some(done) = kept.remove(&(tenant.to_owned(), *s)) {
                    artifacts.entry(*s).or_default().extend(done);
                }
            }
        }
        for live in self.tenant_indexes(tenant)? {
            if !matches!(live.def.source, IndexSource::Events { .. }) {
                continue;
            }
            let _write = live.write.lock();
            let mut removed_for = Vec::new();
            {
                let mut state = live.state.write();
                for (subject, _) in subjects {
                    let n = state.remove_subject(subject);
                    if n > 0 {
                        removed_for.push((*subject, n));
                    }
                }
            }
            if removed_for.is_empty() {
                continue;
            }
            let files_removed = self.snapshot(tenant, &live)?;
            let at = now_rfc3339();
            for (subject, _) in removed_for {
                artifacts.entry(subject).or_default().push(DerivedArtifact {
                    kind: INDEX_KIND.into(),
                    name: live.def.name.clone(),
                    version: 0,
                    action: "vectors_removed".into(),
                    successor: None,
                    files_removed,
                    at: Some(at.clone()),
                    steps: vec![DerivedStep {
                        action: "vectors_removed".into(),
                        at: at.clone(),
                        successor: None,
                    }],
                });
            }
        }
        Ok(Outcome::Done { artifacts })
    }

    /// Rebuilds indexes of data set versions (of `purpose`'s, or all) that the index's purpose
    /// may no longer read, from their successors.
    fn refresh_datasets(
        &self,
        tenant: &str,
        purpose: Option<&str>,
    ) -> Result<Outcome, crate::ServeError> {
        for live in self.tenant_indexes(tenant)? {
            if !matches!(live.def.source, IndexSource::Dataset { .. })
                || purpose.is_some_and(|p| p != live.def.purpose)
            {
                continue;
            }
            if let Rebuilt::Wait(reason) = self.rebuild_dataset(tenant, &live, false)? {
                return Ok(Outcome::Wait { reason });
            }
        }
        Ok(Outcome::done())
    }

    /// Removes documents of events past their type's retention.
    fn retention(&self, tenant: &str) -> Result<(), crate::ServeError> {
        for live in self.tenant_indexes(tenant)? {
            let IndexSource::Events { event_type, .. } = &live.def.source else {
                continue;
            };
            let guard = self.engine.read_guard(
                tenant,
                ReadAccess::declared(live.def.purpose.clone(), Vec::new()),
            )?;
            let Some(cut) = guard.retention_cut_us(event_type) else {
                continue;
            };
            let _write = live.write.lock();
            let removed = live.state.write().remove_where(|d| d.time_us <= cut);
            if removed > 0 {
                self.snapshot(tenant, &live)?;
            }
        }
        Ok(())
    }
}
