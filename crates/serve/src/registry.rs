//! [`Registry`]: a tenant's models, their versions and aliases, the jobs that train them, and
//! the one way to read a user's row ([`Registry::user_row`], which asks the read guard).
//!
//! Layout under the tenant directory: `models/<name>/v<NNNNNN>/` holding `manifest.json`,
//! `model-<NNNNNN>.sealed` and `subjects.roaring` (`files.rs`), and `models/<name>/aliases.json`.
//! Names are checked before any file-system access, so an encoded `../` names no directory.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use steward_crypto::Pseudonym;
use steward_engine::{AuditDecision, AuditRecord, Engine, ReadGuard};
use steward_lineage::Datasets;
use steward_lineage::openlineage::LineageSink;
use steward_ml::{MatrixLimits, ModelFile, Shape, estimate_bytes};

use crate::jobs::Queue;
use crate::limits::{
    ALIAS_HISTORY_MAX, ALIASES_MAX, CACHED_MODELS_MAX, JOBS_MAX_DEFAULT,
    MEMORY_BUDGET_BYTES_DEFAULT, NAME_BYTES_MAX,
};
use crate::manifest::{AliasEntry, Aliases, DatasetLineage, ModelManifest, ModelState, Progress};
use crate::spec::{TrainRequest, params_to_json};
use crate::{ServeError, files};

/// The deployment's settings of the registry.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// A job whose memory estimate is over this is refused (422 `model_memory_over_budget`).
    pub memory_budget_bytes: u64,
    /// After an erasure, the item side is retrained once the oldest erasure waiting is this old
    /// (erasures arriving meanwhile share the retrain). Zero: at once.
    pub retrain_after: Duration,
    /// Jobs running at once.
    pub jobs_max: usize,
    /// Threads of one job (results do not depend on it).
    pub threads: usize,
    pub matrix: MatrixLimits,
    /// Decoded model versions held for serving, in bytes (least recently used out first).
    pub serving_memory_bytes: u64,
}

impl Default for ModelConfig {
    fn default() -> ModelConfig {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        ModelConfig {
            memory_budget_bytes: MEMORY_BUDGET_BYTES_DEFAULT,
            retrain_after: Duration::ZERO,
            jobs_max: JOBS_MAX_DEFAULT,
            threads: cores.clamp(1, steward_ml::limits::THREADS_MAX),
            matrix: MatrixLimits::default(),
            serving_memory_bytes: crate::limits::SERVING_MEMORY_BYTES_DEFAULT,
        }
    }
}

/// A model version named in a serving call: `name` (alias `production`, else the newest ready
/// version), `name@alias` or `name@v3`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelRef {
    Default(String),
    Alias(String, String),
    Version(String, u32),
}

impl ModelRef {
    pub fn parse(text: &str) -> Result<ModelRef, ServeError> {
        let bad = || {
            ServeError::invalid(
                "invalid_model",
                "model",
                "expected name, name@alias or name@v<number>",
            )
        };
        match text.split_once('@') {
            None => valid_name(text, "model")
                .map(|()| ModelRef::Default(text.to_owned()))
                .map_err(|_| bad()),
            Some((name, tail)) => {
                valid_name(name, "model").map_err(|_| bad())?;
                if let Some(n) = tail.strip_prefix('v').and_then(|n| n.parse::<u32>().ok()) {
                    return Ok(ModelRef::Version(name.to_owned(), n));
                }
                valid_name(tail, "alias").map_err(|_| bad())?;
                Ok(ModelRef::Alias(name.to_owned(), tail.to_owned()))
            }
        }
    }
}

/// A user's row of factors in one model version.
#[derive(Clone, Debug, PartialEq)]
pub struct UserRow {
    pub model: String,
    pub version: u32,
    pub factors: Vec<f32>,
}

/// A model as listed.
#[derive(Clone, Debug, Serialize)]
pub struct ModelSummary {
    pub name: String,
    pub versions: u32,
    pub latest_version: u32,
    pub latest_state: ModelState,
    pub aliases: BTreeMap<String, u32>,
}

/// A job that runs or waits: its cancel flag and progress. `started` is set (with the lock
/// held) before the job makes its read guard, and `generation` once it has: the ledger waits
/// for started jobs whose guard predates an erasure.
pub(crate) struct Live {
    pub cancel: Arc<AtomicBool>,
    pub progress: Progress,
    pub started: bool,
    pub generation: Option<u64>,
}

pub(crate) type Key3 = (String, String, u32);

pub struct Registry {
    pub(crate) engine: Arc<Engine>,
    pub(crate) datasets: Arc<Datasets>,
    pub(crate) config: ModelConfig,
    pub(crate) sink: LineageSink,
    /// Serializes version allocation, manifest rewrites and alias moves.
    pub(crate) lock: Mutex<()>,
    pub(crate) live: Mutex<HashMap<Key3, Live>>,
    pub(crate) jobs: Arc<Queue>,
    recovered: Mutex<HashSet<String>>,
    /// Decoded model files for user-row reads (bounded; erasure drops rows from them at once).
    pub(crate) cache: Mutex<Vec<(Key3, Arc<ModelFile>)>>,
    /// When this process first saw each erased subject's task (the retrain bound counts from it).
    pub(crate) first_seen: Mutex<HashMap<(String, Pseudonym), Instant>>,
    /// Aliases as last written, per (tenant, model): serving resolves from memory.
    aliases_cache: Mutex<HashMap<(String, String), Arc<Aliases>>>,
    /// Per hosted version: the item side's precomputation and the item column.
    pub(crate) prepared: Mutex<HashMap<Key3, Arc<crate::serving::Prepared>>>,
    pub(crate) item_columns: Mutex<HashMap<Key3, String>>,
    /// Recent items and folded-in vectors, briefly (personal data).
    pub(crate) personal: crate::serving::PersonalCache,
}

pub(crate) fn valid_name(name: &str, field: &'static str) -> Result<(), ServeError> {
    let ok = !name.is_empty()
        && name.len() <= NAME_BYTES_MAX
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        let code = if field == "alias" {
            "invalid_alias"
        } else {
            "invalid_model_name"
        };
        Err(ServeError::invalid(
            code,
            field,
            format!("expected [a-z][a-z0-9_-]*, at most {NAME_BYTES_MAX} bytes"),
        ))
    }
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The audit record of an alias move (by a request or by the ledger after a retrain): the
/// resource names the model, the alias and the version it now points at; the statement the
/// version it left.
pub fn alias_audit_record(
    tenant: &str,
    name: &str,
    alias: &str,
    version: u32,
    previous: Option<u32>,
    principal: &str,
    request_id: &str,
) -> AuditRecord {
    AuditRecord {
        time_us: chrono::Utc::now().timestamp_micros(),
        principal: principal.to_owned(),
        action: "move_alias".to_owned(),
        purpose: None,
        resource: format!("/v1/tenants/{tenant}/models/{name}/aliases/{alias}/versions/{version}"),
        subject_refs: Vec::new(),
        subject_count: 0,
        decision: AuditDecision::Allow,
        policy_ids: Vec::new(),
        request_id: request_id.to_owned(),
        result_rows: 0,
        statement: Some(match previous {
            Some(p) => format!("moved from version {p} to version {version}"),
            None => format!("set to version {version}"),
        }),
    }
}

impl Registry {
    /// The registry over an engine and its data sets; starts `config.jobs_max` job runners.
    pub fn new(
        engine: Arc<Engine>,
        datasets: Arc<Datasets>,
        config: ModelConfig,
        sink: LineageSink,
    ) -> Arc<Registry> {
        let registry = Arc::new(Registry {
            engine,
            datasets,
            sink,
            lock: Mutex::new(()),
            live: Mutex::new(HashMap::new()),
            jobs: Arc::new(Queue::default()),
            recovered: Mutex::new(HashSet::new()),
            cache: Mutex::new(Vec::new()),
            first_seen: Mutex::new(HashMap::new()),
            aliases_cache: Mutex::new(HashMap::new()),
            prepared: Mutex::new(HashMap::new()),
            item_columns: Mutex::new(HashMap::new()),
            personal: Default::default(),
            config,
        });
        crate::jobs::spawn_runners(&registry);
        registry
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn root(&self, tenant: &str) -> Result<PathBuf, ServeError> {
        Ok(self.engine.tenant_dir(tenant)?.join("models"))
    }

    pub(crate) fn model_dir(&self, tenant: &str, name: &str) -> Result<PathBuf, ServeError> {
        valid_name(name, "name")?;
        Ok(self.root(tenant)?.join(name))
    }

    pub(crate) fn version_dir(
        &self,
        tenant: &str,
        name: &str,
        version: u32,
    ) -> Result<PathBuf, ServeError> {
        Ok(self.model_dir(tenant, name)?.join(format!("v{version:06}")))
    }

    fn aliases_path(&self, tenant: &str, name: &str) -> Result<PathBuf, ServeError> {
        Ok(self.model_dir(tenant, name)?.join("aliases.json"))
    }

    /// Versions of a model that have a manifest, ascending.
    pub(crate) fn versions_of(&self, tenant: &str, name: &str) -> Result<Vec<u32>, ServeError> {
        Ok(steward_lineage::manifest::numbered_versions(
            &self.model_dir(tenant, name)?,
        ))
    }

    fn names(&self, tenant: &str) -> Result<Vec<String>, ServeError> {
        let root = self.root(tenant)?;
        let Ok(entries) = std::fs::read_dir(&root) else {
            return Ok(Vec::new());
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| valid_name(n, "name").is_ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// A version's manifest as stored (no progress).
    pub fn manifest(
        &self,
        tenant: &str,
        name: &str,
        version: u32,
    ) -> Result<ModelManifest, ServeError> {
        valid_name(name, "name").map_err(|_| ServeError::NotFound { what: "model" })?;
        let path = self
            .version_dir(tenant, name, version)?
            .join("manifest.json");
        if !path.exists() {
            return Err(ServeError::NotFound {
                what: "model version",
            });
        }
        ModelManifest::read(&path)
    }

    pub(crate) fn write_manifest(
        &self,
        tenant: &str,
        manifest: &ModelManifest,
    ) -> Result<(), ServeError> {
        manifest.write(
            &self
                .version_dir(tenant, &manifest.name, manifest.version)?
                .join("manifest.json"),
        )
    }

    /// Applies `change` to the stored manifest (read afresh under the lock) and writes it.
    pub(crate) fn update_manifest(
        &self,
        tenant: &str,
        name: &str,
        version: u32,
        change: impl FnOnce(&mut ModelManifest),
    ) -> Result<ModelManifest, ServeError> {
        let _serial = self.lock.lock();
        let mut manifest = self.manifest(tenant, name, version)?;
        change(&mut manifest);
        self.write_manifest(tenant, &manifest)?;
        Ok(manifest)
    }

    /// Every version of every model of the tenant.
    pub(crate) fn all_versions(&self, tenant: &str) -> Result<Vec<ModelManifest>, ServeError> {
        let mut out = Vec::new();
        for name in self.names(tenant)? {
            for v in self.versions_of(tenant, &name)? {
                out.push(self.manifest(tenant, &name, v)?);
            }
        }
        Ok(out)
    }

    /// Reserves the next version number of `name` by creating its directory.
    pub(crate) fn allocate(&self, tenant: &str, name: &str) -> Result<u32, ServeError> {
        let next = self.versions_of(tenant, name)?.last().copied().unwrap_or(0) + 1;
        let dir = self.version_dir(tenant, name, next)?;
        // A directory a crash left before its first manifest is reused.
        std::fs::create_dir_all(&dir).map_err(ServeError::io(&dir))?;
        Ok(next)
    }

    /// Versions a restart found queued, training or evaluating, that no job of this process
    /// runs: the process stopped during them (a crash, a kill, or the job itself), so they are
    /// failed (`training_interrupted`), their partial files and keys removed, never resumed.
    /// Once per tenant per process (every registry call on the tenant makes sure of it).
    pub fn ensure_recovered(&self, tenant: &str) -> Result<(), ServeError> {
        // Held throughout: a second caller waits rather than racing a job being submitted.
        let mut recovered = self.recovered.lock();
        if recovered.contains(tenant) {
            return Ok(());
        }
        for manifest in self.all_versions(tenant)? {
            let key = (tenant.to_owned(), manifest.name.clone(), manifest.version);
            if !manifest.state.is_running() || self.live.lock().contains_key(&key) {
                continue;
            }
            metrics::counter!("steward_model_trainings_interrupted_total", "tenant" => tenant.to_owned()).increment(1);
            tracing::error!(
                tenant,
                model = %manifest.name,
                version = manifest.version,
                state = manifest.state.as_str(),
                "a training job was interrupted: the process stopped during it (crash, kill or power loss; possibly the job itself). \
                 Marked failed (training_interrupted) and not resumed; train it again once the cause is known"
            );
            let dir = self.version_dir(tenant, &manifest.name, manifest.version)?;
            files::remove_version_files(
                &self.engine,
                tenant,
                &dir,
                &manifest.name,
                manifest.version,
            )?;
            self.update_manifest(tenant, &manifest.name, manifest.version, |m| {
                if m.state.is_running() {
                    m.state = ModelState::Failed;
                    m.error = Some("training_interrupted".into());
                    m.message = Some("the server stopped while this version was queued or training; it was not resumed".into());
                    m.file = None;
                    m.finished_at = Some(now_rfc3339());
                }
            })?;
        }
        recovered.insert(tenant.to_owned());
        Ok(())
    }

    /// Accepts a training job: the data set version must be exportable for the request's
    /// purpose now (the read guard's artifact rule: 403 `dataset_purpose_forbidden`, 409
    /// `dataset_version_stale`), its columns must exist, and the job's memory estimate must fit
    /// the budget. Answers the queued version's manifest; the job runs in the background.
    pub fn submit(
        &self,
        guard: &ReadGuard,
        request: TrainRequest,
    ) -> Result<ModelManifest, ServeError> {
        let tenant = guard.tenant().to_owned();
        valid_name(&request.name, "name")?;
        if let Some(evaluation) = &request.evaluation {
            evaluation.validate()?;
            if evaluation.split != crate::SplitKind::Random && request.columns.time.is_none() {
                return Err(ServeError::invalid(
                    "evaluation_needs_time",
                    "columns.time",
                    "time and leave_last splits need a time column",
                ));
            }
        }
        self.ensure_recovered(&tenant)?;
        let dataset = self
            .datasets
            .exportable(guard, &request.dataset, request.dataset_version)?;
        let schema: Vec<(String, String)> = dataset
            .schema
            .iter()
            .map(|c| (c.name.clone(), c.data_type.clone()))
            .collect();
        crate::input::check_schema(&schema, &request.columns)?;
        // Up front, from what the data set records: rows bound the interactions, its subjects
        // the users; the items by the rows, or by the item catalog when the tenant keeps one (ids
        // outside it are caught by the exact check when the job has read the data).
        let catalog = self.engine.item_count(&tenant)?;
        let items = if catalog > 0 {
            dataset.rows.min(catalog)
        } else {
            dataset.rows
        };
        let shape = Shape {
            users: u32::try_from(dataset.subjects.max(1)).unwrap_or(u32::MAX),
            items: u32::try_from(items.max(1)).unwrap_or(u32::MAX),
            nnz: dataset.rows,
            timed: request.columns.time.is_some(),
        };
        let estimate = estimate_bytes(shape, &request.params, self.config.threads).peak_bytes();
        if estimate > self.config.memory_budget_bytes {
            metrics::counter!("steward_model_jobs_refused_total", "reason" => "memory")
                .increment(1);
            return Err(ServeError::OverBudget {
                estimate_bytes: estimate,
                budget_bytes: self.config.memory_budget_bytes,
            });
        }
        if self.jobs.len() >= crate::limits::QUEUED_JOBS_MAX {
            return Err(ServeError::QueueFull {
                queued: self.jobs.len(),
            });
        }
        let manifest = {
            let _serial = self.lock.lock();
            let version = self.allocate(&tenant, &request.name)?;
            let manifest = ModelManifest {
                name: request.name.clone(),
                version,
                state: ModelState::Queued,
                algorithm: request.params.algorithm().name().to_owned(),
                params: params_to_json(&request.params),
                seed: request.seed,
                columns: request.columns.clone(),
                evaluation: request.evaluation.clone(),
                dataset: DatasetLineage {
                    name: dataset.name.clone(),
                    version: dataset.version,
                    content_sha256: dataset.content_sha256.clone(),
                    purpose: dataset.purpose.clone(),
                    consent_snapshot_at: dataset.consent_snapshot_at.clone(),
                    generation: dataset.generation,
                    rows: dataset.rows,
                },
                purpose: request.purpose.clone(),
                visible_classes: request
                    .visible
                    .iter()
                    .map(|c| c.as_str().to_owned())
                    .collect(),
                trained_by: request.trained_by.clone(),
                created_at: now_rfc3339(),
                started_at: None,
                finished_at: None,
                duration_ms: 0,
                timings: Default::default(),
                memory_estimate_bytes: estimate,
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
                replaces: None,
                reason: None,
                retrained_as: None,
                files_removed: false,
                erasure_steps: Vec::new(),
            };
            self.write_manifest(&tenant, &manifest)?;
            manifest
        };
        let key = (tenant.clone(), manifest.name.clone(), manifest.version);
        self.live.lock().insert(
            key.clone(),
            Live {
                cancel: Arc::new(AtomicBool::new(false)),
                progress: Progress::default(),
                started: false,
                generation: None,
            },
        );
        if let Err(queued) = self.jobs.push(key.clone()) {
            self.live.lock().remove(&key);
            self.update_manifest(&tenant, &manifest.name, manifest.version, |m| {
                m.state = ModelState::Failed;
                m.error = Some("model_queue_full".into());
            })?;
            return Err(ServeError::QueueFull { queued });
        }
        metrics::counter!("steward_model_jobs_total", "algorithm" => manifest.algorithm.clone())
            .increment(1);
        Ok(manifest)
    }

    /// Every model of the tenant with its latest version and aliases.
    pub fn list(&self, tenant: &str) -> Result<Vec<ModelSummary>, ServeError> {
        self.ensure_recovered(tenant)?;
        let mut out = Vec::new();
        for name in self.names(tenant)? {
            let versions = self.versions_of(tenant, &name)?;
            let Some(&latest) = versions.last() else {
                continue;
            };
            let state = self.manifest(tenant, &name, latest)?.state;
            let aliases = self
                .aliases(tenant, &name)?
                .aliases
                .into_iter()
                .map(|(a, e)| (a, e.version))
                .collect();
            out.push(ModelSummary {
                name,
                versions: versions.len() as u32,
                latest_version: latest,
                latest_state: state,
                aliases,
            });
        }
        Ok(out)
    }

    /// Every version of a model (with progress while running).
    pub fn versions(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Vec<(ModelManifest, Option<Progress>)>, ServeError> {
        valid_name(name, "name").map_err(|_| ServeError::NotFound { what: "model" })?;
        self.ensure_recovered(tenant)?;
        let versions = self.versions_of(tenant, name)?;
        if versions.is_empty() {
            return Err(ServeError::NotFound { what: "model" });
        }
        versions
            .into_iter()
            .map(|v| self.version(tenant, name, v))
            .collect()
    }

    /// One version, with its progress while it runs.
    pub fn version(
        &self,
        tenant: &str,
        name: &str,
        version: u32,
    ) -> Result<(ModelManifest, Option<Progress>), ServeError> {
        self.ensure_recovered(tenant)?;
        let manifest = self.manifest(tenant, name, version)?;
        let progress = if manifest.state.is_running() {
            self.live
                .lock()
                .get(&(tenant.to_owned(), name.to_owned(), version))
                .map(|l| l.progress.clone())
        } else {
            None
        };
        Ok((manifest, progress))
    }

    /// `latest` (the newest ready version) or a number.
    pub fn resolve_version(&self, tenant: &str, name: &str, text: &str) -> Result<u32, ServeError> {
        valid_name(name, "name").map_err(|_| ServeError::NotFound { what: "model" })?;
        if text == "latest" {
            return self
                .newest_ready(tenant, name)?
                .ok_or(ServeError::NotFound {
                    what: "model version",
                });
        }
        text.parse::<u32>().map_err(|_| {
            ServeError::invalid(
                "invalid_version",
                "version",
                "expected a version number or latest",
            )
        })
    }

    pub(crate) fn newest_ready(&self, tenant: &str, name: &str) -> Result<Option<u32>, ServeError> {
        for &v in self.versions_of(tenant, name)?.iter().rev() {
            if self.manifest(tenant, name, v)?.serves() {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    pub fn aliases(&self, tenant: &str, name: &str) -> Result<Aliases, ServeError> {
        Aliases::read(&self.aliases_path(tenant, name)?)
    }

    /// Asks a queued or running job to stop (a queued one is cancelled at once; a running one
    /// at its next iteration). A version that is not running is answered as it is.
    pub fn cancel(
        &self,
        tenant: &str,
        name: &str,
        version: u32,
    ) -> Result<ModelManifest, ServeError> {
        self.ensure_recovered(tenant)?;
        let manifest = self.manifest(tenant, name, version)?;
        if !manifest.state.is_running() {
            return Ok(manifest);
        }
        let key = (tenant.to_owned(), name.to_owned(), version);
        let started = {
            let live = self.live.lock();
            match live.get(&key) {
                Some(job) => {
                    job.cancel.store(true, Ordering::SeqCst);
                    job.started
                }
                None => false,
            }
        };
        if started {
            return self.manifest(tenant, name, version);
        }
        // Still queued: cancelled now; the runner skips it.
        self.update_manifest(tenant, name, version, |m| {
            if m.state == ModelState::Queued {
                m.state = ModelState::Cancelled;
                m.error = Some("cancelled".into());
                m.finished_at = Some(now_rfc3339());
            }
        })
    }

    /// Points `alias` at a ready `version`; returns where it pointed before. Versions stay as
    /// they are; a rollback is a move back.
    pub fn set_alias(
        &self,
        tenant: &str,
        name: &str,
        alias: &str,
        version: u32,
        by: &str,
    ) -> Result<Option<u32>, ServeError> {
        valid_name(alias, "alias")?;
        self.ensure_recovered(tenant)?;
        let manifest = self.manifest(tenant, name, version)?;
        if !manifest.serves() {
            return Err(ServeError::Conflict {
                code: "model_version_not_ready",
                message: format!(
                    "version {version} of {name} is {}; an alias may name a ready version only",
                    manifest.state.as_str()
                ),
            });
        }
        let _serial = self.lock.lock();
        let path = self.aliases_path(tenant, name)?;
        let mut aliases = Aliases::read(&path)?;
        if !aliases.aliases.contains_key(alias) && aliases.aliases.len() >= ALIASES_MAX {
            return Err(ServeError::invalid(
                "too_many_aliases",
                "alias",
                format!("a model has at most {ALIASES_MAX} aliases"),
            ));
        }
        let previous = aliases.aliases.get(alias).map(|e| e.version);
        let entry = AliasEntry {
            version,
            moved_at: now_rfc3339(),
            moved_by: by.to_owned(),
            previous,
        };
        aliases.aliases.insert(alias.to_owned(), entry.clone());
        aliases.history.push((alias.to_owned(), entry));
        if aliases.history.len() > ALIAS_HISTORY_MAX {
            let excess = aliases.history.len() - ALIAS_HISTORY_MAX;
            aliases.history.drain(..excess);
        }
        aliases.write(&path)?;
        self.aliases_cache
            .lock()
            .insert((tenant.to_owned(), name.to_owned()), Arc::new(aliases));
        metrics::counter!("steward_serving_alias_moves_total").increment(1);
        metrics::gauge!("steward_model_alias_version", "tenant" => tenant.to_owned(), "model" => name.to_owned(), "alias" => alias.to_owned())
            .set(f64::from(version));
        Ok(previous)
    }

    /// Moves every alias of `name` pointing at `from` to `to` (or removes them when `to` is
    /// none), recording each move in the tenant's audit log. Returns the aliases moved.
    pub(crate) fn move_aliases(
        &self,
        tenant: &str,
        name: &str,
        from: u32,
        to: Option<u32>,
        by: &str,
    ) -> Result<Vec<String>, ServeError> {
        let moved = {
            let _serial = self.lock.lock();
            let path = self.aliases_path(tenant, name)?;
            let mut aliases = Aliases::read(&path)?;
            let moved = aliases.pointing_at(from);
            for alias in &moved {
                match to {
                    Some(version) => {
                        let entry = AliasEntry {
                            version,
                            moved_at: now_rfc3339(),
                            moved_by: by.to_owned(),
                            previous: Some(from),
                        };
                        aliases.aliases.insert(alias.clone(), entry.clone());
                        aliases.history.push((alias.clone(), entry));
                    }
                    None => {
                        aliases.aliases.remove(alias);
                    }
                }
            }
            if !moved.is_empty() {
                let excess = aliases.history.len().saturating_sub(ALIAS_HISTORY_MAX);
                aliases.history.drain(..excess);
                aliases.write(&path)?;
                self.aliases_cache
                    .lock()
                    .insert((tenant.to_owned(), name.to_owned()), Arc::new(aliases));
            }
            moved
        };
        for alias in &moved {
            let record = match to {
                Some(version) => {
                    alias_audit_record(tenant, name, alias, version, Some(from), by, "")
                }
                None => AuditRecord {
                    action: "remove_alias".into(),
                    resource: format!("/v1/tenants/{tenant}/models/{name}/aliases/{alias}"),
                    statement: Some(format!("removed from version {from}")),
                    ..alias_audit_record(tenant, name, alias, from, Some(from), by, "")
                },
            };
            self.engine.audit(tenant, &record, true)?;
        }
        Ok(moved)
    }

    /// Aliases from memory (read from disk once per model and process; every move in this
    /// process writes both).
    fn aliases_shared(&self, tenant: &str, name: &str) -> Result<Arc<Aliases>, ServeError> {
        let key = (tenant.to_owned(), name.to_owned());
        if let Some(a) = self.aliases_cache.lock().get(&key) {
            return Ok(a.clone());
        }
        let _serial = self.lock.lock();
        let aliases = Arc::new(Aliases::read(&self.aliases_path(tenant, name)?)?);
        self.aliases_cache.lock().insert(key, aliases.clone());
        Ok(aliases)
    }

    /// Whether a serving call naming `model` resolves and scores from memory alone: an alias
    /// (or the default `production`) already read, pointing at a version already hosted. The
    /// server runs such calls on its async workers (tens of microseconds of CPU); anything that
    /// may read or decrypt a file goes to the blocking pool.
    pub fn serves_from_memory(&self, tenant: &str, model: &ModelRef) -> bool {
        let (name, alias) = match model {
            ModelRef::Version(..) => return false,
            ModelRef::Alias(name, alias) => (name, alias.as_str()),
            ModelRef::Default(name) => (name, "production"),
        };
        let key = (tenant.to_owned(), name.to_owned());
        let Some(aliases) = self.aliases_cache.lock().get(&key).cloned() else {
            return false;
        };
        let Some(entry) = aliases.aliases.get(alias) else {
            return false;
        };
        let hosted = (tenant.to_owned(), name.clone(), entry.version);
        self.cache.lock().iter().any(|(k, _)| *k == hosted)
    }

    /// The version a serving call names, resolved from memory when its version is hosted (a
    /// hosted version serves: retiring one evicts it). An alias move swaps what the next call
    /// resolves to; calls in flight finish on the version they resolved.
    pub(crate) fn resolve_serving(
        &self,
        tenant: &str,
        model: &ModelRef,
    ) -> Result<(String, u32), ServeError> {
        let (name, alias) = match model {
            ModelRef::Version(..) => return self.resolve(tenant, model),
            ModelRef::Alias(name, alias) => (name, alias.as_str()),
            ModelRef::Default(name) => (name, "production"),
        };
        match self.aliases_shared(tenant, name)?.aliases.get(alias) {
            Some(entry) => {
                let key = (tenant.to_owned(), name.clone(), entry.version);
                if self.cache.lock().iter().any(|(k, _)| *k == key) {
                    return Ok((key.1, key.2));
                }
                self.resolve(tenant, &ModelRef::Version(name.clone(), entry.version))
            }
            None => self.resolve(tenant, model),
        }
    }

    /// The version a serving call names.
    pub fn resolve(&self, tenant: &str, model: &ModelRef) -> Result<(String, u32), ServeError> {
        let (name, version) = match model {
            ModelRef::Version(name, v) => (name.clone(), Some(*v)),
            ModelRef::Alias(name, alias) => (
                name.clone(),
                self.aliases(tenant, name)?
                    .aliases
                    .get(alias)
                    .map(|e| e.version),
            ),
            ModelRef::Default(name) => {
                let production = self
                    .aliases(tenant, name)?
                    .aliases
                    .get("production")
                    .map(|e| e.version);
                (
                    name.clone(),
                    match production {
                        Some(v) => Some(v),
                        None => self.newest_ready(tenant, name)?,
                    },
                )
            }
        };
        let version = version.ok_or(ServeError::NotFound {
            what: "model version",
        })?;
        if !self.manifest(tenant, &name, version)?.serves() {
            return Err(ServeError::NotFound {
                what: "model version",
            });
        }
        Ok((name, version))
    }

    /// A ready version's decoded model file (cached; bounded).
    pub fn model_file(
        &self,
        tenant: &str,
        name: &str,
        version: u32,
    ) -> Result<Arc<ModelFile>, ServeError> {
        let key = (tenant.to_owned(), name.to_owned(), version);
        {
            let mut cache = self.cache.lock();
            if let Some(at) = cache.iter().position(|(k, _)| *k == key) {
                // Most recently used last.
                let entry = cache.remove(at);
                let file = entry.1.clone();
                cache.push(entry);
                return Ok(file);
            }
        }
        let manifest = self.manifest(tenant, name, version)?;
        let file_name =
            manifest
                .file
                .clone()
                .filter(|_| manifest.serves())
                .ok_or(ServeError::NotFound {
                    what: "model version",
                })?;
        let dir = self.version_dir(tenant, name, version)?;
        let bytes = files::read_model_file(&self.engine, tenant, &dir, &file_name)?;
        let file = Arc::new(
            ModelFile::from_bytes(&bytes).map_err(|e| ServeError::Corrupted {
                path: dir.join(format!("{file_name}.sealed")),
                reason: e.to_string(),
            })?,
        );
        // Model age = time() - this, for alerts on stale models.
        if let Some(done) = manifest
            .finished_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            metrics::gauge!("steward_model_finished_timestamp_seconds", "tenant" => tenant.to_owned(), "model" => name.to_owned(), "version" => version.to_string())
                .set(done.timestamp() as f64);
        }
        let bytes = |f: &ModelFile| f.model().heap_bytes() as u64 + f.users().len() as u64 * 40;
        let mut dropped = Vec::new();
        {
            let mut cache = self.cache.lock();
            cache.retain(|(k, _)| *k != key);
            // Least recently used first out, by count and by bytes (the new one always stays).
            let mut total: u64 = cache.iter().map(|(_, f)| bytes(f)).sum::<u64>() + bytes(&file);
            while !cache.is_empty()
                && (cache.len() >= CACHED_MODELS_MAX || total > self.config.serving_memory_bytes)
            {
                let (k, f) = cache.remove(0);
                total -= bytes(&f);
                dropped.push(k);
            }
            cache.push((key, file.clone()));
            metrics::gauge!("steward_serving_models_hosted").set(cache.len() as f64);
            metrics::gauge!("steward_serving_hosted_bytes").set(total as f64);
        }
        for k in dropped {
            self.prepared.lock().remove(&k);
            self.personal.drop_version(&k);
        }
        Ok(file)
    }

    pub(crate) fn evict(&self, tenant: &str, name: &str, version: u32) {
        let key = (tenant.to_owned(), name.to_owned(), version);
        self.cache.lock().retain(|(k, _)| *k != key);
        self.prepared.lock().remove(&key);
        self.item_columns.lock().remove(&key);
        self.personal.drop_version(&key);
    }

    /// A subject's row of factors in the model version `model` names, for the read `guard`'s
    /// purpose: `None` when the guard does not serve the subject (consent refuses the purpose,
    /// or an erasure is shredded or in progress: from the moment the erasure call returns), or
    /// the model holds no row for it (item-kNN and popularity hold none). The serving path's
    /// only way to a user vector.
    pub fn user_row(
        &self,
        guard: &ReadGuard,
        model: &ModelRef,
        subject: &Pseudonym,
    ) -> Result<Option<UserRow>, ServeError> {
        if !guard.serves_subject(subject) {
            return Ok(None);
        }
        let (name, version) = self.resolve(guard.tenant(), model)?;
        let file = self.model_file(guard.tenant(), &name, version)?;
        let Some(row) = file.user_row(subject.as_bytes()) else {
            return Ok(None);
        };
        let f = file.model().factors();
        let factors = file
            .model()
            .user_factors()
            .and_then(|all| all.get(row as usize * f..(row as usize + 1) * f))
            .map(<[f32]>::to_vec);
        Ok(factors.map(|factors| UserRow {
            model: name,
            version,
            factors,
        }))
    }

    /// Versions whose files are present and hold the subject (lineage, access requests).
    pub fn holding(
        &self,
        tenant: &str,
        subject: &Pseudonym,
    ) -> Result<Vec<ModelManifest>, ServeError> {
        let bit = steward_engine::subject_bit(subject);
        let mut out = Vec::new();
        for manifest in self.all_versions(tenant)? {
            if manifest.files_removed {
                continue;
            }
            let dir = self.version_dir(tenant, &manifest.name, manifest.version)?;
            if files::read_bitmap(&dir)?.is_some_and(|b| b.contains(bit)) {
                out.push(manifest);
            }
        }
        Ok(out)
    }

    /// The datasets service the registry reads from.
    pub fn datasets(&self) -> &Arc<Datasets> {
        &self.datasets
    }
}
