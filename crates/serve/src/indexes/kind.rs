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

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use steward_crypto::Pseudonym;
use steward_engine::{
    ArtifactKind, DerivedArtifact, DerivedStep, HeldArtifact, Hide, Outcome, ReadAccess, Work,
};

use super::{IndexSource, Indexes};
use crate::registry::now_rfc3339;

pub const INDEX_KIND: &str = "index";

pub struct IndexKind {
    indexes: Weak<Indexes>,
}

impl IndexKind {
    pub fn new(indexes: &Arc<Indexes>) -> Arc<IndexKind> {
        Arc::new(IndexKind {
            indexes: Arc::downgrade(indexes),
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
            Work::Erase { subjects } => indexes.erase(tenant, subjects).map_err(|e| e.to_string()),
            Work::Retention => {
                indexes.retention(tenant).map_err(|e| e.to_string())?;
                Ok(Outcome::done())
            }
            Work::OptOut { .. } | Work::RegimeChanged { .. } => Ok(Outcome::done()),
        }
    }

    fn holding(&self, tenant: &str, subject: &Pseudonym) -> Result<Vec<HeldArtifact>, String> {
        let indexes = self.indexes()?;
        let all = indexes.tenant_indexes(tenant).map_err(|e| e.to_string())?;
        Ok(all
            .iter()
            .filter(|l| l.state.read().by_subject.contains_key(subject))
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
    /// index's snapshot before answering.
    fn erase(
        &self,
        tenant: &str,
        subjects: &[(Pseudonym, u64)],
    ) -> Result<Outcome, crate::ServeError> {
        let mut artifacts: HashMap<Pseudonym, Vec<DerivedArtifact>> = HashMap::new();
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
