//! Models as a kind of derived artifact (`model`): what the engine's ledger asks of them.
//!
//! - hide (an erasure, synchronous): every read of a user row asks the read guard, which
//!   refuses the subject from the shred on (`ReadGuard::serves_subject`); decoded models held
//!   in memory drop the subject's row at once.
//! - erase (durable, before `derived`): waits while a job whose read predates the erasure is
//!   running; then, for every version trained from a data set cut before the erasure whose
//!   bitmap holds the subject: (1) the model file is rewritten without the user's row under a
//!   new file key and the old key destroyed; (2) once the oldest erasure waiting is older than
//!   `ModelConfig::retrain_after` (all erasures due by then are one batch), each version still
//!   in use (named by an alias, or the newest ready version of its model) is retrained on its
//!   data set's successor version (which the data set kind builds without the subject), with
//!   the same algorithm, parameters, columns, evaluation and seed; (3) aliases that named an
//!   old version move to its retrained one (audited); (4) every affected version is retired
//!   (files and keys removed). The receipt lists each version with its steps and their times.
//! - opt-out: nothing to rewrite; serving refuses the subject through the guard's consent, and
//!   the next retrain reads the data set's successor, which leaves the subject out.
//!
//! A retrain runs on the ledger's worker thread (at most `LEDGER_WORKERS` at once), besides the
//! job runners.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Weak};
use std::time::Instant;

use steward_crypto::Pseudonym;
use steward_engine::{
    ArtifactKind, DerivedArtifact, DerivedStep, HeldArtifact, Hide, Outcome, Work, subject_bit,
};
use steward_lineage::VersionState;
use steward_ml::{ModelFile, UserKey};

use crate::manifest::{DatasetLineage, ErasureStep, ModelManifest, ModelState};
use crate::registry::{Live, Registry, now_rfc3339};
use crate::{ServeError, files};

pub const KIND: &str = "model";
/// Who the ledger's own changes are recorded as.
pub const LEDGER_PRINCIPAL: &str = "steward:erasure";
/// Links followed from a data set version to its newest successor.
const SUCCESSOR_HOPS_MAX: usize = 1_000;

/// The kind as the engine holds it (a weak handle: the registry reads through the engine).
pub struct ModelKind {
    registry: Weak<Registry>,
}

impl ModelKind {
    pub fn new(registry: &Arc<Registry>) -> Arc<ModelKind> {
        Arc::new(ModelKind {
            registry: Arc::downgrade(registry),
        })
    }

    fn registry(&self) -> Result<Arc<Registry>, String> {
        self.registry
            .upgrade()
            .ok_or_else(|| "the model registry is gone".to_owned())
    }
}

impl ArtifactKind for ModelKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn hide(&self, tenant: &str, hide: &Hide<'_>) -> Result<(), String> {
        match hide {
            Hide::Erased { subjects, .. } => {
                let registry = self.registry()?;
                registry.drop_cached_rows(tenant, subjects);
                registry.personal.drop_subjects(tenant, subjects);
                Ok(())
            }
            // Serving asks the guard's consent view first; the briefly held recent items and
            // folded vectors go too (personal data kept for no purpose the subject allows).
            Hide::OptedOut { subjects, .. } => {
                self.registry()?.personal.drop_subjects(tenant, subjects);
                Ok(())
            }
        }
    }

    fn process(&self, tenant: &str, work: &Work) -> Result<Outcome, String> {
        match work {
            Work::Erase { subjects } => self
                .registry()?
                .handle_erasure(tenant, subjects)
                .map_err(|e| e.to_string()),
            Work::OptOut { .. } | Work::RegimeChanged { .. } | Work::Retention => {
                Ok(Outcome::done())
            }
        }
    }

    fn holding(&self, tenant: &str, subject: &Pseudonym) -> Result<Vec<HeldArtifact>, String> {
        let held = self
            .registry()?
            .holding(tenant, subject)
            .map_err(|e| e.to_string())?;
        Ok(held
            .into_iter()
            .map(|m| HeldArtifact {
                kind: KIND.into(),
                name: m.name,
                version: m.version,
                state: m.state.as_str().to_owned(),
                purpose: m.purpose,
                built_at: m.finished_at.unwrap_or(m.created_at),
            })
            .collect())
    }

    fn maintain(&self, tenant: &str) -> Result<(), String> {
        self.registry()?
            .ensure_recovered(tenant)
            .map_err(|e| e.to_string())
    }
}

/// Where a data set version stands after an erasure, opt-out or retention replaced it (what a
/// model version was trained from, what an index was built from).
pub(crate) enum Successor {
    Ready(Box<steward_lineage::Manifest>),
    Wait(String),
    None,
}

impl Registry {
    /// Drops the subjects' rows from every decoded model held in memory for the tenant.
    pub(crate) fn drop_cached_rows(&self, tenant: &str, subjects: &[Pseudonym]) {
        let keys: Vec<UserKey> = subjects.iter().map(|s| *s.as_bytes()).collect();
        let mut cache = self.cache.lock();
        for ((t, _, _), file) in cache.iter_mut() {
            if t == tenant && keys.iter().any(|k| file.user_row(k).is_some()) {
                let mut copy = ModelFile::clone(file);
                copy.remove_users(&keys);
                *file = Arc::new(copy);
            }
        }
    }

    /// Versions (with files) trained from a data set cut before the erasure that hold any of
    /// the subjects, with those subjects.
    fn affected_by_erasure(
        &self,
        tenant: &str,
        subjects: &[(Pseudonym, u64)],
    ) -> Result<Vec<(ModelManifest, Vec<Pseudonym>)>, ServeError> {
        let mut out = Vec::new();
        for manifest in self.all_versions(tenant)? {
            if manifest.files_removed || manifest.state != ModelState::Ready {
                continue;
            }
            let dir = self.version_dir(tenant, &manifest.name, manifest.version)?;
            let Some(bitmap) = files::read_bitmap(&dir)? else {
                continue;
            };
            let holders: Vec<Pseudonym> = subjects
                .iter()
                .filter(|(s, g)| {
                    *g > manifest.dataset.generation && bitmap.contains(subject_bit(s))
                })
                .map(|(s, _)| *s)
                .collect();
            if !holders.is_empty() {
                out.push((manifest, holders));
            }
        }
        Ok(out)
    }

    /// The erase task: see the module doc. Idempotent (a crash may bring the same work again).
    pub(crate) fn handle_erasure(
        &self,
        tenant: &str,
        subjects: &[(Pseudonym, u64)],
    ) -> Result<Outcome, ServeError> {
        self.ensure_recovered(tenant)?;
        let newest = subjects.iter().map(|(_, g)| *g).max().unwrap_or(0);
        let racing = self
            .live
            .lock()
            .iter()
            .filter(|((t, _, _), job)| {
                t == tenant && job.started && job.generation.is_none_or(|g| g < newest)
            })
            .count();
        if racing > 0 {
            return Ok(Outcome::Wait {
                reason: format!(
                    "{racing} training jobs that read before the erasure are still running"
                ),
            });
        }
        let now = Instant::now();
        let oldest = {
            let mut seen = self.first_seen.lock();
            subjects
                .iter()
                .map(|(s, _)| *seen.entry((tenant.to_owned(), *s)).or_insert(now))
                .min()
                .unwrap_or(now)
        };
        let affected = self.affected_by_erasure(tenant, subjects)?;
        // (1) The user rows leave every file now, whatever the retrain bound.
        let mut affected_now = Vec::with_capacity(affected.len());
        for (manifest, holders) in affected {
            let manifest = self.remove_user_rows(tenant, manifest, &holders)?;
            affected_now.push((manifest, holders));
        }
        if !affected_now.is_empty() && oldest.elapsed() < self.config.retrain_after {
            return Ok(Outcome::Wait { reason: "the retrain waits for the configured bound (--model-retrain-after-s), batching erasures".into() });
        }
        // (2) Which versions are in use, and where their data sets' successors stand: every
        // wait is found before anything is retrained or retired.
        let mut in_use: HashMap<(String, u32), bool> = HashMap::new();
        for (manifest, _) in &affected_now {
            let aliased = !self
                .aliases(tenant, &manifest.name)?
                .pointing_at(manifest.version)
                .is_empty();
            let newest = self.newest_ready(tenant, &manifest.name)? == Some(manifest.version);
            in_use.insert((manifest.name.clone(), manifest.version), aliased || newest);
        }
        let mut successors: HashMap<(String, u32), Option<steward_lineage::Manifest>> =
            HashMap::new();
        for (manifest, _) in &affected_now {
            if !in_use[&(manifest.name.clone(), manifest.version)] {
                continue;
            }
            let found = match manifest
                .retrained_as
                .map(|n| self.manifest(tenant, &manifest.name, n))
            {
                Some(Ok(done)) if done.serves() => None,
                _ => match self.successor_dataset(tenant, &manifest.dataset)? {
                    Successor::Ready(d) => Some(*d),
                    Successor::Wait(reason) => return Ok(Outcome::Wait { reason }),
                    Successor::None => None,
                },
            };
            successors.insert((manifest.name.clone(), manifest.version), found);
        }
        // (3) Retrain what is in use, (4) move its aliases, then retire every affected version.
        let mut artifacts: HashMap<Pseudonym, Vec<DerivedArtifact>> = HashMap::new();
        let mut retrained: HashMap<(String, u32), u32> = HashMap::new();
        for (manifest, _) in &affected_now {
            let key = (manifest.name.clone(), manifest.version);
            if !in_use[&key] {
                continue;
            }
            if let Some(n) = manifest.retrained_as.filter(|&n| {
                self.manifest(tenant, &manifest.name, n)
                    .is_ok_and(|m| m.serves())
            }) {
                retrained.insert(key, n);
            } else if let Some(Some(dataset)) = successors.get(&key) {
                let n = self.retrain(tenant, manifest, dataset)?;
                retrained.insert(key, n);
            }
        }
        for (manifest, holders) in affected_now {
            let key = (manifest.name.clone(), manifest.version);
            let successor = retrained.get(&key).copied();
            self.move_aliases(
                tenant,
                &manifest.name,
                manifest.version,
                successor,
                LEDGER_PRINCIPAL,
            )?;
            let retired = self.retire(tenant, &manifest, successor)?;
            let action = if successor.is_some() {
                "retrained"
            } else {
                "removed"
            };
            let steps: Vec<DerivedStep> = retired
                .erasure_steps
                .iter()
                .map(|s| DerivedStep {
                    action: s.action.clone(),
                    at: s.at.clone(),
                    successor: s.successor,
                })
                .collect();
            let artifact = DerivedArtifact {
                kind: KIND.into(),
                name: manifest.name.clone(),
                version: manifest.version,
                action: action.into(),
                successor,
                files_removed: retired_files(&retired),
                at: retired.erasure_steps.last().map(|s| s.at.clone()),
                steps,
            };
            for s in holders {
                artifacts.entry(s).or_default().push(artifact.clone());
            }
        }
        let mut seen = self.first_seen.lock();
        for (s, _) in subjects {
            seen.remove(&(tenant.to_owned(), *s));
        }
        Ok(Outcome::Done { artifacts })
    }

    /// Rewrites a version's model file without the subjects' user rows (a new file under a new
    /// key; the old key destroyed, the old file removed), and sweeps model files the manifest
    /// does not name (what a crash mid-rewrite leaves). Item-kNN and popularity hold no rows.
    fn remove_user_rows(
        &self,
        tenant: &str,
        manifest: ModelManifest,
        holders: &[Pseudonym],
    ) -> Result<ModelManifest, ServeError> {
        let dir = self.version_dir(tenant, &manifest.name, manifest.version)?;
        let Some(current) = manifest.file.clone() else {
            return Ok(manifest);
        };
        let mut manifest = manifest;
        let has_rows = steward_ml::Algorithm::from_name(&manifest.algorithm)
            .is_some_and(|a| a.has_user_rows());
        if has_rows {
            let bytes = files::read_model_file(&self.engine, tenant, &dir, &current)?;
            let mut file = ModelFile::from_bytes(&bytes).map_err(|e| ServeError::Corrupted {
                path: dir.join(format!("{current}.sealed")),
                reason: e.to_string(),
            })?;
            drop(bytes);
            let keys: Vec<UserKey> = holders.iter().map(|s| *s.as_bytes()).collect();
            let removed = file.remove_users(&keys);
            if removed > 0 {
                let next = files::file_name(files::file_index(&current) + 1);
                let bytes = file.to_bytes();
                let sha256 = files::write_model_file(
                    &self.engine,
                    tenant,
                    &dir,
                    &manifest.name,
                    manifest.version,
                    &next,
                    &bytes,
                )?;
                let step = ErasureStep {
                    action: "user_vector_removed".into(),
                    at: now_rfc3339(),
                    successor: None,
                    users: removed as u64,
                    files: 1,
                };
                manifest = self.update_manifest(tenant, &manifest.name, manifest.version, |m| {
                    m.file = Some(next.clone());
                    m.bytes = bytes.len() as u64;
                    m.sha256 = sha256;
                    m.user_rows = m.user_rows.saturating_sub(removed as u64);
                    m.erasure_steps.push(step);
                })?;
                self.evict(tenant, &manifest.name, manifest.version);
                tracing::info!(tenant, model = %manifest.name, version = manifest.version, users = removed, "user rows removed from a model file");
            }
        }
        // The old file (and any a crash left) goes: its key destroyed first.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(stem) = name.strip_suffix(".sealed")
                    && Some(stem) != manifest.file.as_deref()
                {
                    files::remove_model_file(
                        &self.engine,
                        tenant,
                        &dir,
                        &manifest.name,
                        manifest.version,
                        stem,
                    )?;
                }
            }
        }
        Ok(manifest)
    }

    /// Follows a data set version's successors to the newest one ready and not withdrawn.
    fn successor_dataset(
        &self,
        tenant: &str,
        from: &DatasetLineage,
    ) -> Result<Successor, ServeError> {
        newest_successor(&self.datasets, tenant, &from.name, from.version)
    }

    /// Trains a new version of `old`'s model from `dataset` (its data set's successor) with
    /// everything else the same; returns its number once ready.
    fn retrain(
        &self,
        tenant: &str,
        old: &ModelManifest,
        dataset: &steward_lineage::Manifest,
    ) -> Result<u32, ServeError> {
        let version = {
            let _serial = self.lock.lock();
            let version = self.allocate(tenant, &old.name)?;
            let manifest = ModelManifest {
                version,
                state: ModelState::Queued,
                dataset: DatasetLineage {
                    name: dataset.name.clone(),
                    version: dataset.version,
                    content_sha256: dataset.content_sha256.clone(),
                    purpose: dataset.purpose.clone(),
                    consent_snapshot_at: dataset.consent_snapshot_at.clone(),
                    generation: dataset.generation,
                    rows: dataset.rows,
                },
                trained_by: LEDGER_PRINCIPAL.into(),
                created_at: now_rfc3339(),
                started_at: None,
                finished_at: None,
                duration_ms: 0,
                timings: Default::default(),
                metrics: None,
                user_rows: 0,
                users: 0,
                items: 0,
                interactions: 0,
                bytes: 0,
                sha256: String::new(),
                file: None,
                error: None,
                message: None,
                attempts: 0,
                replaces: Some(old.version),
                reason: Some("erasure".into()),
                retrained_as: None,
                files_removed: false,
                erasure_steps: Vec::new(),
                ..old.clone()
            };
            self.write_manifest(tenant, &manifest)?;
            version
        };
        self.update_manifest(tenant, &old.name, old.version, |m| {
            m.retrained_as = Some(version)
        })?;
        let key = (tenant.to_owned(), old.name.clone(), version);
        let cancel = Arc::new(AtomicBool::new(false));
        self.live.lock().insert(
            key.clone(),
            Live {
                cancel: cancel.clone(),
                progress: Default::default(),
                started: true,
                generation: None,
            },
        );
        self.execute(&key, &cancel)?;
        let step = ErasureStep {
            action: "retrained".into(),
            at: now_rfc3339(),
            successor: Some(version),
            users: 0,
            files: 0,
        };
        self.update_manifest(tenant, &old.name, old.version, |m| {
            m.erasure_steps.push(step)
        })?;
        tracing::info!(tenant, model = %old.name, from = old.version, to = version, dataset = %dataset.name, dataset_version = dataset.version, "model retrained after an erasure");
        Ok(version)
    }

    /// Removes an affected version's files and keys and records it erased.
    fn retire(
        &self,
        tenant: &str,
        manifest: &ModelManifest,
        successor: Option<u32>,
    ) -> Result<ModelManifest, ServeError> {
        let dir = self.version_dir(tenant, &manifest.name, manifest.version)?;
        let removed = files::remove_version_files(
            &self.engine,
            tenant,
            &dir,
            &manifest.name,
            manifest.version,
        )?;
        self.evict(tenant, &manifest.name, manifest.version);
        let at = now_rfc3339();
        self.update_manifest(tenant, &manifest.name, manifest.version, |m| {
            m.erasure_steps.push(ErasureStep {
                action: "removed".into(),
                at,
                successor: None,
                users: 0,
                files: removed,
            });
            m.state = ModelState::Erased;
            m.files_removed = true;
            m.file = None;
            m.retrained_as = successor.or(m.retrained_as);
        })
    }
}

/// Follows a data set version's successors to the newest one ready and not withdrawn: `Wait`
/// while the version itself is still ready (its successor not begun) or a successor builds.
pub(crate) fn newest_successor(
    datasets: &steward_lineage::Datasets,
    tenant: &str,
    name: &str,
    from: u32,
) -> Result<Successor, ServeError> {
    let mut version = from;
    for _ in 0..SUCCESSOR_HOPS_MAX {
        let d = datasets.manifest(tenant, name, version)?;
        match d.state {
            VersionState::Ready if d.withdrawn.is_none() && version != from => {
                return Ok(Successor::Ready(Box::new(d)));
            }
            VersionState::Ready | VersionState::Building => {
                return Ok(Successor::Wait(format!(
                    "the successor of data set {name} version {from} is not ready yet"
                )));
            }
            VersionState::Erased | VersionState::Superseded | VersionState::Expired => {
                match d.successor {
                    Some(next) => version = next,
                    None => return Ok(Successor::None),
                }
            }
            VersionState::Failed => return Ok(Successor::None),
        }
    }
    Ok(Successor::None)
}

/// Files the erasure steps removed.
fn retired_files(manifest: &ModelManifest) -> u64 {
    manifest.erasure_steps.iter().map(|s| s.files).sum()
}
