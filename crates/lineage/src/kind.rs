//! Data sets as a kind of derived artifact (`dataset`): what the engine's ledger asks of them.
//!
//! - hide (an erasure, synchronous): every version holding the subject, cut before the
//!   erasure, has its file keys destroyed at once (unreadable by anyone from that moment) and
//!   is marked withdrawn; an opt-out needs nothing here (exports check consent themselves).
//! - erase: each such version gets a successor (the same query at the same snapshot, read
//!   through a guard made now, so without the subject) and loses its files; the receipt lists
//!   each. Waits while a build that started before the erasure is still running.
//! - opt-out / regime change: versions of that purpose holding a refused subject get one
//!   successor each (however many subjects refused); old files go after the grace period.
//! - retention: versions holding rows past retention get a successor; old files go at once.
//! - upkeep: resumes builds a crash interrupted; removes files whose grace period ended.
//!
//! Builds run on the heavy-work pool; the ledger's worker blocks on them.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use steward_crypto::Pseudonym;
use steward_engine::{
    ArtifactFacts, ArtifactKind, ArtifactRefusal, DerivedArtifact, HeldArtifact, Hide, Outcome,
    ReadAccess, Work, subject_bit,
};
use steward_privacy::PrivacyClass;

use crate::LineageError;
use crate::datasets::{Datasets, OnErasure, key_prefix};
use crate::manifest::{Manifest, VersionState};

pub const KIND: &str = "dataset";

/// The kind as the engine holds it: a weak handle, so the engine and the data sets (which
/// read events through the engine) do not keep each other alive.
pub struct DatasetKind {
    datasets: Weak<Datasets>,
}

impl DatasetKind {
    pub fn new(datasets: &Arc<Datasets>) -> Arc<DatasetKind> {
        Arc::new(DatasetKind {
            datasets: Arc::downgrade(datasets),
        })
    }

    fn datasets(&self) -> Result<Arc<Datasets>, String> {
        self.datasets
            .upgrade()
            .ok_or_else(|| "the data sets service is gone".to_owned())
    }
}

impl ArtifactKind for DatasetKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn hide(&self, tenant: &str, hide: &Hide<'_>) -> Result<(), String> {
        match hide {
            Hide::Erased {
                subjects,
                generation,
            } => self
                .datasets()?
                .hide_erased(tenant, subjects, *generation)
                .map_err(|e| e.to_string()),
            Hide::OptedOut { .. } => Ok(()),
        }
    }

    fn process(&self, tenant: &str, work: &Work) -> Result<Outcome, String> {
        let datasets = self.datasets()?;
        let pool = datasets.pool.clone();
        let tenant = tenant.to_owned();
        let work = work.clone();
        pool.block_on(async move {
            match &work {
                Work::Erase { subjects } => datasets.handle_erasure(&tenant, subjects).await,
                Work::OptOut { purpose, subjects } => {
                    datasets
                        .handle_refusal(&tenant, purpose, Some(subjects))
                        .await
                }
                Work::RegimeChanged { purpose } => {
                    datasets.handle_refusal(&tenant, purpose, None).await
                }
                Work::Retention => datasets.handle_retention(&tenant).await,
            }
        })
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
    }

    fn holding(&self, tenant: &str, subject: &Pseudonym) -> Result<Vec<HeldArtifact>, String> {
        let held = self
            .datasets()?
            .holding(tenant, subject)
            .map_err(|e| e.to_string())?;
        Ok(held
            .into_iter()
            .map(|m| HeldArtifact {
                kind: KIND.into(),
                name: m.name,
                version: m.version,
                state: serde_json::to_value(m.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                purpose: m.purpose,
                built_at: m.built_at,
            })
            .collect())
    }

    fn maintain(&self, tenant: &str) -> Result<(), String> {
        let datasets = self.datasets()?;
        let first = datasets.resumed.lock().insert(tenant.to_owned());
        if first {
            let (d, t) = (datasets.clone(), tenant.to_owned());
            match datasets.pool.block_on(async move { d.resume(&t).await }) {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => {
                    tracing::info!(tenant, builds = n, "resumed interrupted data set builds")
                }
                Ok(Err(error)) => return Err(error.to_string()),
                Err(error) => return Err(error.to_string()),
            }
        }
        datasets
            .sweep(tenant)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

impl Datasets {
    /// Versions cut before the erasure that hold any of the subjects, with the subjects.
    fn affected_by_erasure(
        &self,
        tenant: &str,
        subjects: &[(Pseudonym, u64)],
    ) -> Result<Vec<(Manifest, Vec<Pseudonym>)>, LineageError> {
        let mut out = Vec::new();
        for manifest in self.all_versions(tenant)? {
            let Some(bitmap) = self.bitmap(tenant, &manifest.name, manifest.version)? else {
                continue;
            };
            let holders: Vec<Pseudonym> = subjects
                .iter()
                .filter(|(s, g)| *g > manifest.generation && bitmap.contains(subject_bit(s)))
                .map(|(s, _)| *s)
                .collect();
            if !holders.is_empty() {
                out.push((manifest, holders));
            }
        }
        Ok(out)
    }

    /// An erasure's synchronous part: keys destroyed, versions withdrawn.
    pub(crate) fn hide_erased(
        &self,
        tenant: &str,
        subjects: &[Pseudonym],
        generation: u64,
    ) -> Result<(), LineageError> {
        let with_generation: Vec<(Pseudonym, u64)> =
            subjects.iter().map(|s| (*s, generation)).collect();
        for (manifest, _) in self.affected_by_erasure(tenant, &with_generation)? {
            if !manifest.files_removed {
                self.withdraw(tenant, manifest, "erasure")?;
            }
        }
        Ok(())
    }

    /// Erasure: every version holding any of the subjects gets a successor without them (by
    /// policy) and loses its files, before this returns.
    pub(crate) async fn handle_erasure(
        &self,
        tenant: &str,
        subjects: &[(Pseudonym, u64)],
    ) -> Result<Outcome, LineageError> {
        let newest = subjects.iter().map(|(_, g)| *g).max().unwrap_or(0);
        let racing = self
            .in_flight
            .lock()
            .iter()
            .filter(|((t, _, _), f)| t == tenant && f.generation < newest)
            .count();
        if racing > 0 {
            return Ok(Outcome::Wait {
                reason: format!(
                    "{racing} data set builds that started before the erasure are still running"
                ),
            });
        }
        let mut artifacts: HashMap<Pseudonym, Vec<DerivedArtifact>> = HashMap::new();
        for (mut manifest, holders) in self.affected_by_erasure(tenant, subjects)? {
            if !manifest.files_removed {
                // Unreadable first, in case the hide did not run (a crash, an older version).
                self.withdraw(tenant, manifest.clone(), "erasure")?;
                manifest
                    .withdrawn
                    .get_or_insert_with(|| "erasure".to_owned());
            }
            let rebuild = self.config.on_erasure == OnErasure::Rebuild
                && matches!(manifest.state, VersionState::Ready);
            let successor = if rebuild {
                Some(self.successor(tenant, &manifest, "erasure").await?)
            } else {
                None
            };
            let files_removed = if manifest.files_removed {
                0
            } else {
                self.remove_files(tenant, &mut manifest)?
            };
            manifest.state = VersionState::Erased;
            manifest.successor = successor.or(manifest.successor);
            self.write_manifest(tenant, &manifest)?;
            let artifact = DerivedArtifact {
                kind: crate::kind::KIND.into(),
                name: manifest.name.clone(),
                version: manifest.version,
                action: if successor.is_some() {
                    "rebuilt".into()
                } else {
                    "marked".into()
                },
                successor,
                files_removed,
                at: Some(crate::datasets::now_rfc3339()),
                steps: Vec::new(),
            };
            for s in holders {
                artifacts.entry(s).or_default().push(artifact.clone());
            }
        }
        Ok(Outcome::Done { artifacts })
    }

    /// Opt-out (`subjects`) or a regime change (`None`: every subject is re-checked): ready
    /// versions of that purpose that hold a subject the purpose's consent now refuses get one
    /// successor each; the old files stay for the grace period ([`Datasets::sweep`]).
    pub(crate) async fn handle_refusal(
        &self,
        tenant: &str,
        purpose: &str,
        subjects: Option<&[Pseudonym]>,
    ) -> Result<Outcome, LineageError> {
        let racing = self
            .in_flight
            .lock()
            .iter()
            .filter(|((t, _, _), f)| t == tenant && f.purpose == purpose)
            .count();
        if racing > 0 {
            return Ok(Outcome::Wait {
                reason: format!("{racing} builds of purpose {purpose} are still running"),
            });
        }
        let guard = self.engine.read_guard(
            tenant,
            ReadAccess::declared(purpose.to_owned(), PrivacyClass::ALL.to_vec()),
        )?;
        let mut artifacts: HashMap<Pseudonym, Vec<DerivedArtifact>> = HashMap::new();
        for mut manifest in self.all_versions(tenant)? {
            if manifest.purpose != purpose
                || manifest.state != VersionState::Ready
                || manifest.withdrawn.is_some()
            {
                continue;
            }
            let Some(bitmap) = self.bitmap(tenant, &manifest.name, manifest.version)? else {
                continue;
            };
            let holders: Vec<Pseudonym> = match subjects {
                Some(list) => list
                    .iter()
                    .filter(|s| bitmap.contains(subject_bit(s)) && !guard.admits_subject(s))
                    .copied()
                    .collect(),
                None => Vec::new(),
            };
            let refused = match subjects {
                Some(_) => !holders.is_empty(),
                None => {
                    let oldest = HashMap::new();
                    let facts = ArtifactFacts {
                        subjects: &bitmap,
                        classes: &[],
                        generation: u64::MAX,
                        oldest_by_type: &oldest,
                    };
                    guard.admits_artifact(&facts) == Err(ArtifactRefusal::Consent)
                }
            };
            if !refused {
                continue;
            }
            let successor = self.successor(tenant, &manifest, "opt_out").await?;
            manifest.state = VersionState::Superseded;
            manifest.successor = Some(successor);
            let grace = chrono::Duration::from_std(self.config.opt_out_grace)
                .unwrap_or(chrono::Duration::zero());
            manifest.remove_after = Some(
                (chrono::Utc::now() + grace).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            );
            self.write_manifest(tenant, &manifest)?;
            let artifact = DerivedArtifact {
                kind: KIND.into(),
                name: manifest.name.clone(),
                version: manifest.version,
                action: "rebuilt".into(),
                successor: Some(successor),
                files_removed: 0,
                at: Some(crate::datasets::now_rfc3339()),
                steps: Vec::new(),
            };
            for s in holders {
                artifacts.entry(s).or_default().push(artifact.clone());
            }
        }
        self.sweep(tenant)?;
        Ok(Outcome::Done { artifacts })
    }

    /// Retention: versions holding rows past their type's retention get a successor (if
    /// ready) and lose their files now.
    pub(crate) async fn handle_retention(&self, tenant: &str) -> Result<Outcome, LineageError> {
        let guard = self
            .engine
            .read_guard(tenant, ReadAccess::declared("retention", Vec::new()))?;
        for mut manifest in self.all_versions(tenant)? {
            if manifest.files_removed
                || !matches!(
                    manifest.state,
                    VersionState::Ready | VersionState::Superseded
                )
            {
                continue;
            }
            if !manifest
                .oldest_by_type
                .iter()
                .any(|(t, &oldest)| guard.expired(t, oldest))
            {
                continue;
            }
            let successor = if manifest.state == VersionState::Ready && manifest.withdrawn.is_none()
            {
                Some(self.successor(tenant, &manifest, "retention").await?)
            } else {
                None
            };
            self.remove_files(tenant, &mut manifest)?;
            if manifest.state == VersionState::Ready {
                manifest.state = VersionState::Expired;
                manifest.successor = successor;
            }
            self.write_manifest(tenant, &manifest)?;
            tracing::info!(tenant, dataset = %manifest.name, version = manifest.version, ?successor, "a data set version held expired rows: replaced");
        }
        Ok(Outcome::done())
    }

    /// Removes the files of superseded versions whose grace period has passed.
    pub fn sweep(&self, tenant: &str) -> Result<u64, LineageError> {
        let now = chrono::Utc::now();
        let mut removed = 0;
        for mut manifest in self.all_versions(tenant)? {
            let due = manifest
                .remove_after
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t <= now);
            if manifest.state == VersionState::Superseded && !manifest.files_removed && due {
                removed += self.remove_files(tenant, &mut manifest)?;
            }
        }
        Ok(removed)
    }

    /// The catalog prefix of a version's file keys (for tools and tests).
    pub fn file_key_prefix(name: &str, version: u32) -> String {
        key_prefix(name, version)
    }
}
