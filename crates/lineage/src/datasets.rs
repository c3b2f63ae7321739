//! Versioned data sets: immutable Parquet files cut by a SQL query for a purpose, encrypted
//! at rest (a chunked AEAD file per Parquet file, so a range request decrypts only what it
//! covers), with a manifest and a bitmap of the subjects they hold.
//!
//! Layout under the tenant directory: `datasets/<name>/v<000001>/` holding `manifest.json`,
//! `part-<n>.parquet.sealed` and `subjects.roaring`. The key of each file is random, wrapped
//! under the tenant key and kept in the tenant catalog, not in the file (its header only
//! names it): an erasure destroys the keys of every version that held the subject, and from
//! that moment those files are unreadable by anyone, copies and backups of them included.
//!
//! This file holds the catalogue of versions and builds; [`crate::export`] reads versions
//! through the read guard; [`crate::kind`] is what the ledger asks of data sets.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::datatypes::SchemaRef;
use futures_util::StreamExt;
use parking_lot::Mutex;
use roaring::RoaringTreemap;
use sha2::{Digest, Sha256};
use steward_crypto::sealed_file::{SealedWriter, dataset_file_key_context};
use steward_crypto::{Key256, Pseudonym};
use steward_engine::{Engine, ReadAccess, ReadGuard, subject_bit};
use steward_privacy::PrivacyClass;
use steward_query::{QueryLimits, QueryOptions, Session, WorkPool};

use crate::LineageError;
use crate::manifest::{ColumnEntry, FileEntry, Manifest, VersionState, sync_parent};
use crate::openlineage::{LineageSink, RunEvent};

/// Rows per Parquet file; a data set of more rows has several files.
pub const FILE_ROWS_MAX: u64 = 1_000_000;
/// Rows a version may hold.
pub const DATASET_ROWS_MAX: usize = 100_000_000;
pub const NAME_BYTES_MAX: usize = 64;
/// A sealed file's header names its key (in the tenant catalog) after this prefix.
pub const KEY_REFERENCE_PREFIX: &[u8] = b"ref:";

/// What a caller asks for.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    pub name: String,
    pub sql: String,
    pub purpose: String,
    pub visible: Vec<PrivacyClass>,
    pub built_by: String,
}

impl BuildRequest {
    /// The read a build makes (its guard's access).
    pub fn access(&self) -> ReadAccess {
        ReadAccess::declared(self.purpose.clone(), self.visible.clone())
    }
}

/// Progress of builds running now, for `GET` while one runs.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Progress {
    pub rows: u64,
    pub files: u64,
    pub started_at: String,
}

/// A data set's versions in one tenant, as listed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DatasetSummary {
    pub name: String,
    pub latest_version: u32,
    pub versions: u32,
    pub latest_state: VersionState,
}

/// What erasure or opt-out did to data sets.
pub use steward_engine::DerivedArtifact;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnErasure {
    /// Build a successor without the subject, then remove the old files (the default).
    Rebuild,
    /// Only remove the old files.
    MarkOnly,
}

#[derive(Clone, Debug)]
pub struct DatasetConfig {
    pub on_erasure: OnErasure,
    /// How long an opted-out subject's old versions keep their files.
    pub opt_out_grace: std::time::Duration,
}

impl Default for DatasetConfig {
    fn default() -> DatasetConfig {
        DatasetConfig {
            on_erasure: OnErasure::Rebuild,
            opt_out_grace: std::time::Duration::from_secs(24 * 3600),
        }
    }
}

/// A build running now: what the ledger must wait for before it acknowledges a task.
#[derive(Clone, Debug)]
pub(crate) struct InFlight {
    pub purpose: String,
    /// The erasure generation its guard saw.
    pub generation: u64,
}

pub struct Datasets {
    pub(crate) engine: Arc<Engine>,
    pub(crate) config: DatasetConfig,
    pub(crate) pool: Arc<WorkPool>,
    sink: LineageSink,
    progress: Mutex<HashMap<(String, String, u32), Progress>>,
    /// Serializes version allocation and state changes.
    pub(crate) lock: Mutex<()>,
    pub(crate) in_flight: Mutex<HashMap<(String, String, u32), InFlight>>,
    /// Tenants whose interrupted builds were resumed in this process.
    pub(crate) resumed: Mutex<HashSet<String>>,
}

pub(crate) fn valid_name(name: &str) -> Result<(), LineageError> {
    let ok = !name.is_empty()
        && name.len() <= NAME_BYTES_MAX
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(LineageError::invalid(
            "invalid_dataset_name",
            "name",
            format!("expected [a-z][a-z0-9_-]*, at most {NAME_BYTES_MAX} bytes"),
        ))
    }
}

/// The catalog name of a version's files' keys: `datasets/<name>/v<NNNNNN>/`.
pub(crate) fn key_prefix(name: &str, version: u32) -> String {
    format!("datasets/{name}/v{version:06}/")
}

/// Hashes the plaintext on its way into the sealed file.
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct OpenFile {
    name: String,
    path: PathBuf,
    writer: parquet::arrow::ArrowWriter<Hashing<SealedWriter<std::fs::File>>>,
    rows: u64,
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Datasets {
    pub fn new(
        engine: Arc<Engine>,
        config: DatasetConfig,
        sink: LineageSink,
        pool: Arc<WorkPool>,
    ) -> Arc<Datasets> {
        Arc::new(Datasets {
            engine,
            config,
            pool,
            sink,
            progress: Mutex::new(HashMap::new()),
            lock: Mutex::new(()),
            in_flight: Mutex::new(HashMap::new()),
            resumed: Mutex::new(HashSet::new()),
        })
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn pool(&self) -> &Arc<WorkPool> {
        &self.pool
    }

    fn root(&self, tenant: &str) -> Result<PathBuf, LineageError> {
        Ok(self.engine.tenant_dir(tenant)?.join("datasets"))
    }

    pub(crate) fn version_dir(
        &self,
        tenant: &str,
        name: &str,
        version: u32,
    ) -> Result<PathBuf, LineageError> {
        valid_name(name)?;
        Ok(self.root(tenant)?.join(name).join(format!("v{version:06}")))
    }

    /// Versions of a data set that have a manifest. The name is checked before any
    /// directory is read (an encoded `../` names no other directory).
    pub(crate) fn versions_of(&self, tenant: &str, name: &str) -> Result<Vec<u32>, LineageError> {
        valid_name(name)?;
        Ok(crate::manifest::numbered_versions(
            &self.root(tenant)?.join(name),
        ))
    }

    pub fn manifest(
        &self,
        tenant: &str,
        name: &str,
        version: u32,
    ) -> Result<Manifest, LineageError> {
        valid_name(name).map_err(|_| LineageError::NotFound { what: "data set" })?;
        let path = self
            .version_dir(tenant, name, version)?
            .join("manifest.json");
        if !path.exists() {
            return Err(LineageError::NotFound {
                what: "data set version",
            });
        }
        Manifest::read(&path)
    }

    pub(crate) fn write_manifest(
        &self,
        tenant: &str,
        manifest: &Manifest,
    ) -> Result<(), LineageError> {
        manifest.write(
            &self
                .version_dir(tenant, &manifest.name, manifest.version)?
                .join("manifest.json"),
        )
    }

    /// `latest` or a number; latest is the newest version that is ready.
    pub fn resolve_version(
        &self,
        tenant: &str,
        name: &str,
        text: &str,
    ) -> Result<u32, LineageError> {
        valid_name(name).map_err(|_| LineageError::NotFound { what: "data set" })?;
        if text == "latest" {
            let versions = self.versions_of(tenant, name)?;
            for &v in versions.iter().rev() {
                if self.manifest(tenant, name, v)?.state == VersionState::Ready {
                    return Ok(v);
                }
            }
            return Err(LineageError::NotFound {
                what: "data set version",
            });
        }
        text.parse::<u32>().map_err(|_| {
            LineageError::invalid(
                "invalid_version",
                "version",
                "expected a version number or latest",
            )
        })
    }

    pub fn progress(&self, tenant: &str, name: &str, version: u32) -> Option<Progress> {
        self.progress
            .lock()
            .get(&(tenant.to_owned(), name.to_owned(), version))
            .cloned()
    }

    pub fn list(&self, tenant: &str) -> Result<Vec<DatasetSummary>, LineageError> {
        let root = self.root(tenant)?;
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&root) else {
            return Ok(out);
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| valid_name(n).is_ok())
            .collect();
        names.sort();
        for name in names {
            let versions = self.versions_of(tenant, &name)?;
            if let Some(&latest) = versions.last() {
                let state = self.manifest(tenant, &name, latest)?.state;
                out.push(DatasetSummary {
                    name,
                    latest_version: latest,
                    versions: versions.len() as u32,
                    latest_state: state,
                });
            }
        }
        Ok(out)
    }

    pub fn list_versions(&self, tenant: &str, name: &str) -> Result<Vec<Manifest>, LineageError> {
        valid_name(name).map_err(|_| LineageError::NotFound { what: "data set" })?;
        let versions = self.versions_of(tenant, name)?;
        if versions.is_empty() {
            return Err(LineageError::NotFound { what: "data set" });
        }
        versions
            .into_iter()
            .map(|v| self.manifest(tenant, name, v))
            .collect()
    }

    /// Every version of every data set of the tenant, with its manifest.
    pub(crate) fn all_versions(&self, tenant: &str) -> Result<Vec<Manifest>, LineageError> {
        let mut out = Vec::new();
        for summary in self.list(tenant)? {
            for v in self.versions_of(tenant, &summary.name)? {
                out.push(self.manifest(tenant, &summary.name, v)?);
            }
        }
        Ok(out)
    }

    /// Reserves the next version number by creating its directory.
    fn allocate(&self, tenant: &str, name: &str) -> Result<(u32, PathBuf), LineageError> {
        let _serial = self.lock.lock();
        let next = self.versions_of(tenant, name)?.last().copied().unwrap_or(0) + 1;
        let dir = self.version_dir(tenant, name, next)?;
        // A directory left by a crash before its first manifest is reused.
        std::fs::create_dir_all(&dir).map_err(LineageError::io(&dir))?;
        Ok((next, dir))
    }

    pub(crate) fn query_key(&self, tenant: &str) -> Result<Key256, LineageError> {
        Ok(self.engine.tenant_derived_key(tenant, b"dataset-query")?)
    }

    /// The subjects bitmap of a version (`None` once its files are removed).
    pub fn bitmap(
        &self,
        tenant: &str,
        name: &str,
        version: u32,
    ) -> Result<Option<RoaringTreemap>, LineageError> {
        let path = self
            .version_dir(tenant, name, version)?
            .join("subjects.roaring");
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(RoaringTreemap::deserialize_from(&bytes[..]).map_err(
                |e| LineageError::Corrupted {
                    path,
                    reason: e.to_string(),
                },
            )?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LineageError::Io { path, source: e }),
        }
    }

    /// Every version (of every data set) whose files still exist and hold the subject.
    pub fn holding(
        &self,
        tenant: &str,
        subject: &Pseudonym,
    ) -> Result<Vec<Manifest>, LineageError> {
        let bit = subject_bit(subject);
        let mut out = Vec::new();
        for manifest in self.all_versions(tenant)? {
            if let Some(bitmap) = self.bitmap(tenant, &manifest.name, manifest.version)?
                && bitmap.contains(bit)
            {
                out.push(manifest);
            }
        }
        Ok(out)
    }

    /// Cuts a new version with `guard`'s read. `as_of` pins the snapshot (rebuilds);
    /// `replaces` names the version this one succeeds and why.
    pub async fn build(
        &self,
        guard: Arc<ReadGuard>,
        request: &BuildRequest,
        as_of: Option<u64>,
        replaces: Option<(u32, &str)>,
    ) -> Result<Manifest, LineageError> {
        valid_name(&request.name)?;
        // A statement too deep to plan is refused before a version exists: no manifest is
        // left `building` for a restart to resume.
        steward_query::check_complexity(&request.sql)?;
        let tenant = guard.tenant().to_owned();
        let (version, dir) = self.allocate(&tenant, &request.name)?;
        let sealed_query = {
            let key = self.query_key(&tenant)?;
            let aad = steward_crypto::context(&[
                b"dataset-query",
                tenant.as_bytes(),
                request.name.as_bytes(),
            ]);
            data_encoding::BASE64.encode(&steward_crypto::seal(&key, &aad, request.sql.as_bytes()))
        };
        let mut manifest = Manifest {
            name: request.name.clone(),
            version,
            state: VersionState::Building,
            rows: 0,
            bytes: 0,
            content_sha256: String::new(),
            schema: Vec::new(),
            files: Vec::new(),
            query: String::new(),
            query_sealed: sealed_query,
            purpose: request.purpose.clone(),
            visible_classes: request
                .visible
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            as_of_seq: 0,
            consent_snapshot_at: now_rfc3339(),
            source_segments: Vec::new(),
            subjects: 0,
            built_by: request.built_by.clone(),
            built_at: now_rfc3339(),
            build_ms: 0,
            replaces: replaces.map(|(v, _)| v),
            reason: replaces.map(|(_, r)| r.to_owned()),
            successor: None,
            remove_after: None,
            files_removed: false,
            error: None,
            generation: guard.generation(),
            classes: None,
            oldest_by_type: Default::default(),
            withdrawn: None,
            attempts: 0,
        };
        self.run_build(guard, request, as_of, &dir, &mut manifest)
            .await
    }

    pub(crate) async fn run_build(
        &self,
        guard: Arc<ReadGuard>,
        request: &BuildRequest,
        as_of: Option<u64>,
        dir: &Path,
        manifest: &mut Manifest,
    ) -> Result<Manifest, LineageError> {
        let tenant = guard.tenant().to_owned();
        let key3 = (tenant.clone(), manifest.name.clone(), manifest.version);
        manifest.generation = guard.generation();
        // The attempt is on disk before any SQL runs: if this process dies during the build
        // (its query may be what kills it), the next start finds it and does not run it again.
        manifest.attempts += 1;
        manifest.state = VersionState::Building;
        manifest.write(&dir.join("manifest.json"))?;
        self.in_flight.lock().insert(
            key3.clone(),
            InFlight {
                purpose: manifest.purpose.clone(),
                generation: guard.generation(),
            },
        );
        self.progress.lock().insert(
            key3.clone(),
            Progress {
                started_at: now_rfc3339(),
                ..Progress::default()
            },
        );
        let started = Instant::now();
        let result = self
            .build_files(guard, request, as_of, dir, manifest, &key3, started)
            .await;
        self.progress.lock().remove(&key3);
        if result.is_err() {
            // A ready version's duration is set where its manifest is written.
            manifest.build_ms = started.elapsed().as_millis() as u64;
        }
        let outcome = match result {
            Ok(()) => Ok(manifest.clone()),
            Err(error) => {
                self.fail(&tenant, dir, manifest, &error);
                Err(error)
            }
        };
        self.in_flight.lock().remove(&key3);
        if let Ok(done) = &outcome {
            self.recheck(&tenant, done)?;
        }
        outcome
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the build's own state, passed once from run_build"
    )]
    async fn build_files(
        &self,
        guard: Arc<ReadGuard>,
        request: &BuildRequest,
        as_of: Option<u64>,
        dir: &Path,
        manifest: &mut Manifest,
        key3: &(String, String, u32),
        started: Instant,
    ) -> Result<(), LineageError> {
        let tenant = key3.0.clone();
        let limits = QueryLimits {
            max_rows: DATASET_ROWS_MAX,
            max_bytes: usize::MAX,
            timeout: std::time::Duration::from_secs(3600),
            memory_bytes: 1 << 30,
        };
        let session = Session::open(
            guard,
            &limits,
            &QueryOptions {
                as_of_seq: as_of,
                track_subjects: true,
            },
        )
        .await?;
        manifest.query = session.normalize(&request.sql);
        let job = format!("datasets.{}", manifest.name);
        let output = format!("datasets.{}/v{}", manifest.name, manifest.version);
        let run = RunEvent::new(&tenant, &job, &output);
        manifest.write(&dir.join("manifest.json"))?;
        self.sink.emit(&run.start());
        let schema = match self
            .write_files(&tenant, session, request, dir, manifest, key3)
            .await
        {
            Ok(schema) => schema,
            Err(error) => {
                self.sink.emit(&run.fail(&failure_code(&error)));
                return Err(error);
            }
        };
        manifest.state = VersionState::Ready;
        // In the manifest as written (was: only in the copy the build returned, so a version
        // read back later showed 0).
        manifest.build_ms = started.elapsed().as_millis() as u64;
        manifest.write(&dir.join("manifest.json"))?;
        self.sink.emit(&run.complete(&schema));
        metrics::counter!("steward_dataset_rows_total").increment(manifest.rows);
        tracing::info!(tenant, dataset = %manifest.name, version = manifest.version, rows = manifest.rows, ms = manifest.build_ms, "data set built");
        Ok(())
    }

    fn fail(&self, tenant: &str, dir: &Path, manifest: &mut Manifest, error: &LineageError) {
        self.fail_with(tenant, dir, manifest, failure_code(error));
    }

    /// Removes a version's files and keys and records it `failed` with `code`.
    fn fail_with(&self, tenant: &str, dir: &Path, manifest: &mut Manifest, code: String) {
        for file in &manifest.files {
            let _ = std::fs::remove_file(dir.join(format!("{}.sealed", file.name)));
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.ends_with(".sealed"))
                {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let _ = self
            .engine
            .forget_file_keys(tenant, &[key_prefix(&manifest.name, manifest.version)]);
        manifest.files.clear();
        manifest.state = VersionState::Failed;
        manifest.error = Some(code);
        let _ = manifest.write(&dir.join("manifest.json"));
    }

    /// A build that finished while an erasure was accepted may hold the erased subject (its
    /// snapshot predates the tombstone): its keys are destroyed at once, and the erasure's
    /// ledger task (which waits for builds in flight) redoes it.
    fn recheck(&self, tenant: &str, manifest: &Manifest) -> Result<(), LineageError> {
        let guard = self.engine.read_guard(
            tenant,
            ReadAccess::declared(manifest.purpose.clone(), PrivacyClass::ALL.to_vec()),
        )?;
        let Some(bitmap) = self.bitmap(tenant, &manifest.name, manifest.version)? else {
            return Ok(());
        };
        let oldest: HashMap<String, i64> = manifest
            .oldest_by_type
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let facts = steward_engine::ArtifactFacts {
            subjects: &bitmap,
            classes: &[],
            generation: manifest.generation,
            oldest_by_type: &oldest,
        };
        if guard.admits_artifact(&facts) == Err(steward_engine::ArtifactRefusal::Erased) {
            self.withdraw(tenant, manifest.clone(), "erasure")?;
            tracing::info!(tenant, dataset = %manifest.name, version = manifest.version, "a build that raced an erasure was withdrawn; its successor follows");
        }
        Ok(())
    }

    /// Destroys a version's file keys (its files are unreadable from here on) and marks it
    /// withdrawn, reading its manifest afresh (a task may have moved it on meanwhile).
    pub(crate) fn withdraw(
        &self,
        tenant: &str,
        manifest: Manifest,
        why: &str,
    ) -> Result<(), LineageError> {
        self.engine
            .destroy_file_keys(tenant, &[key_prefix(&manifest.name, manifest.version)])?;
        let _serial = self.lock.lock();
        let mut current = self.manifest(tenant, &manifest.name, manifest.version)?;
        if current.withdrawn.is_none()
            && !current.files_removed
            && matches!(
                current.state,
                VersionState::Ready | VersionState::Superseded
            )
        {
            current.withdrawn = Some(why.to_owned());
            self.write_manifest(tenant, &current)?;
        }
        Ok(())
    }

    async fn write_files(
        &self,
        tenant: &str,
        session: Session,
        request: &BuildRequest,
        dir: &Path,
        manifest: &mut Manifest,
        key3: &(String, String, u32),
    ) -> Result<SchemaRef, LineageError> {
        let mut running = session.start(&request.sql).await?;
        manifest.as_of_seq = running.scan.snapshot.max_seq;
        manifest.schema = running
            .schema
            .fields()
            .iter()
            .map(|f| ColumnEntry {
                name: f.name().clone(),
                data_type: f.data_type().to_string(),
            })
            .collect();
        let mut open: Option<OpenFile> = None;
        let mut hashes = Vec::new();
        while let Some(batch) = running.stream.next().await {
            let batch = batch.map_err(|e| running.map_error(e))?;
            if std::time::Instant::now() > running.scan.deadline {
                return Err(steward_query::QueryError::Timeout {
                    limit_ms: 3_600_000,
                }
                .into());
            }
            if manifest.rows + batch.num_rows() as u64 > DATASET_ROWS_MAX as u64 {
                return Err(steward_query::QueryError::TooManyRows {
                    limit: DATASET_ROWS_MAX,
                }
                .into());
            }
            let mut offset = 0usize;
            while offset < batch.num_rows() {
                if open.is_none() {
                    open = Some(self.create_file(
                        tenant,
                        dir,
                        &manifest.name,
                        manifest.version,
                        hashes.len(),
                        &running.schema,
                    )?);
                }
                let Some(file) = open.as_mut() else { break };
                let room = (FILE_ROWS_MAX - file.rows) as usize;
                let take = room.min(batch.num_rows() - offset);
                file.writer
                    .write(&batch.slice(offset, take))
                    .map_err(|e| LineageError::Parquet(e.to_string()))?;
                file.rows += take as u64;
                offset += take;
                manifest.rows += take as u64;
                if file.rows >= FILE_ROWS_MAX
                    && let Some(full) = open.take()
                {
                    hashes.push(close_file(full)?);
                }
            }
            if let Some(p) = self.progress.lock().get_mut(key3) {
                p.rows = manifest.rows;
                p.files = hashes.len() as u64;
            }
        }
        if let Some(last) = open.take() {
            hashes.push(close_file(last)?);
        }
        if hashes.is_empty() {
            // An empty result is still a file: readers get the schema.
            let file = self.create_file(
                tenant,
                dir,
                &manifest.name,
                manifest.version,
                0,
                &running.schema,
            )?;
            hashes.push(close_file(file)?);
        }
        manifest.files = hashes;
        manifest.bytes = manifest.files.iter().map(|f| f.bytes).sum();
        manifest.content_sha256 = content_sha256(&manifest.files);
        // Lineage from the scan: every subject whose rows were admitted into the plan's
        // inputs, whatever the output calls its columns (a superset; never a miss).
        let admitted = running.admitted().ok_or_else(|| LineageError::Corrupted {
            path: dir.to_owned(),
            reason: "the build's scans were not tracked".into(),
        })?;
        let mut bitmap = RoaringTreemap::new();
        for s in admitted.subjects() {
            bitmap.insert(subject_bit(&s));
        }
        manifest.subjects = bitmap.len();
        manifest.oldest_by_type = admitted.oldest_by_type().into_iter().collect();
        // Public fields are never restricted; the rest is what a download's purpose must see.
        manifest.classes = Some(
            admitted
                .classes()
                .iter()
                .filter(|c| **c != PrivacyClass::Public)
                .map(|c| c.as_str().to_owned())
                .collect(),
        );
        let mut bytes = Vec::new();
        bitmap
            .serialize_into(&mut bytes)
            .map_err(LineageError::io(dir))?;
        crate::manifest::write_atomically(&dir.join("subjects.roaring"), &bytes)?;
        manifest.source_segments = running
            .scan
            .segments_read
            .lock()
            .iter()
            .copied()
            .collect::<BTreeSet<u64>>()
            .into_iter()
            .collect();
        sync_parent(&dir.join("manifest.json"))?;
        Ok(running.schema.clone())
    }

    /// A new sealed file: its random key is wrapped under the tenant key and stored in the
    /// tenant catalog (durably, before the file is written); the header names it.
    fn create_file(
        &self,
        tenant: &str,
        dir: &Path,
        name: &str,
        version: u32,
        index: usize,
        schema: &SchemaRef,
    ) -> Result<OpenFile, LineageError> {
        let file_name = format!("part-{index:05}.parquet");
        let path = dir.join(format!("{file_name}.sealed"));
        let context = dataset_file_key_context(tenant);
        let key = Key256::random();
        let wrapped = self.engine.wrap_tenant_key(tenant, &key, &context)?;
        let key_name = format!("{}{file_name}", key_prefix(name, version));
        self.engine
            .put_file_keys(tenant, &[(key_name.clone(), wrapped)])?;
        let reference = [KEY_REFERENCE_PREFIX, key_name.as_bytes()].concat();
        let file = std::fs::File::create(&path).map_err(LineageError::io(&path))?;
        let sealed = SealedWriter::new(file, &key, &context, &reference)?;
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::LZ4_RAW)
            .set_max_row_group_row_count(Some(128 * 1024))
            .set_created_by("steward data set".to_owned())
            .build();
        let writer = parquet::arrow::ArrowWriter::try_new(
            Hashing {
                inner: sealed,
                hash: Sha256::new(),
                bytes: 0,
            },
            schema.clone(),
            Some(props),
        )
        .map_err(|e| LineageError::Parquet(e.to_string()))?;
        Ok(OpenFile {
            name: file_name,
            path,
            writer,
            rows: 0,
        })
    }

    /// Removes a version's files, bitmap and key entries; the manifest stays, naming what
    /// happened.
    pub(crate) fn remove_files(
        &self,
        tenant: &str,
        manifest: &mut Manifest,
    ) -> Result<u64, LineageError> {
        let dir = self.version_dir(tenant, &manifest.name, manifest.version)?;
        let mut removed = 0;
        for file in &manifest.files {
            let path = dir.join(format!("{}.sealed", file.name));
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LineageError::Io { path, source: e }),
            }
        }
        let bitmap = dir.join("subjects.roaring");
        if bitmap.exists() {
            std::fs::remove_file(&bitmap).map_err(LineageError::io(&bitmap))?;
            removed += 1;
        }
        sync_parent(&bitmap)?;
        self.engine
            .forget_file_keys(tenant, &[key_prefix(&manifest.name, manifest.version)])?;
        manifest.files_removed = true;
        manifest.write(&dir.join("manifest.json"))?;
        Ok(removed)
    }

    /// The request that rebuilds a version: its query as written (sealed in the manifest),
    /// its purpose and the classes it saw.
    pub(crate) fn rebuild_request(
        &self,
        tenant: &str,
        manifest: &Manifest,
    ) -> Result<BuildRequest, LineageError> {
        let key = self.query_key(tenant)?;
        let aad = steward_crypto::context(&[
            b"dataset-query",
            tenant.as_bytes(),
            manifest.name.as_bytes(),
        ]);
        let sealed = data_encoding::BASE64
            .decode(manifest.query_sealed.as_bytes())
            .map_err(|e| LineageError::Corrupted {
                path: PathBuf::from("manifest.json"),
                reason: e.to_string(),
            })?;
        let sql = String::from_utf8(steward_crypto::open(&key, &aad, &sealed)?).map_err(|e| {
            LineageError::Corrupted {
                path: PathBuf::from("manifest.json"),
                reason: e.to_string(),
            }
        })?;
        let visible = manifest
            .visible_classes
            .iter()
            .filter_map(|c| PrivacyClass::ALL.into_iter().find(|k| k.as_str() == c))
            .collect();
        Ok(BuildRequest {
            name: manifest.name.clone(),
            sql,
            purpose: manifest.purpose.clone(),
            visible,
            built_by: "steward:lineage".into(),
        })
    }

    /// Builds a version's successor: the same query at the same snapshot, through a guard
    /// made now (so it leaves out whatever the read rules now refuse).
    pub(crate) async fn successor(
        &self,
        tenant: &str,
        manifest: &Manifest,
        reason: &str,
    ) -> Result<u32, LineageError> {
        let request = self.rebuild_request(tenant, manifest)?;
        let guard = Arc::new(self.engine.read_guard(tenant, request.access())?);
        Ok(self
            .build(
                guard,
                &request,
                Some(manifest.as_of_seq),
                Some((manifest.version, reason)),
            )
            .await?
            .version)
    }

    /// Versions a restart found `building`. One whose attempt was recorded was interrupted
    /// by the process stopping during it (a crash, a kill, a power loss, or its own query
    /// aborting the process): it is marked failed (`build_interrupted`) and never resumed, so
    /// a query that crashes the server cannot crash it again at every start. Only a manifest
    /// written before attempts were counted is resumed, once (the attempt is recorded first).
    /// One version's failure never stops the others. Returns how many were resumed.
    pub async fn resume(&self, tenant: &str) -> Result<u32, LineageError> {
        let mut resumed = 0;
        for mut manifest in self.all_versions(tenant)? {
            // A build running in this process is not interrupted (its entry is made before its
            // first manifest is written).
            let running = self.in_flight.lock().contains_key(&(
                tenant.to_owned(),
                manifest.name.clone(),
                manifest.version,
            ));
            if manifest.state != VersionState::Building || running {
                continue;
            }
            let dir = self.version_dir(tenant, &manifest.name, manifest.version)?;
            if manifest.attempts >= BUILD_ATTEMPTS_MAX {
                metrics::counter!("steward_dataset_builds_interrupted_total", "tenant" => tenant.to_owned()).increment(1);
                tracing::error!(
                    tenant,
                    dataset = %manifest.name,
                    version = manifest.version,
                    attempts = manifest.attempts,
                    "a data set build was interrupted: the process stopped during it (crash, kill or power loss; possibly its own query). \
                     Marked failed (build_interrupted) and not resumed; cut it again once the cause is known"
                );
                self.fail_with(tenant, &dir, &mut manifest, BUILD_INTERRUPTED.to_owned());
                continue;
            }
            let request = match self.rebuild_request(tenant, &manifest) {
                Ok(request) => request,
                Err(error) => {
                    tracing::warn!(tenant, dataset = %manifest.name, version = manifest.version, %error, "an interrupted build cannot be resumed");
                    self.fail(tenant, &dir, &mut manifest, &error);
                    continue;
                }
            };
            for entry in std::fs::read_dir(&dir)
                .map_err(LineageError::io(&dir))?
                .flatten()
            {
                if entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.ends_with(".sealed"))
                {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
            self.engine
                .forget_file_keys(tenant, &[key_prefix(&manifest.name, manifest.version)])?;
            manifest.files.clear();
            manifest.rows = 0;
            let as_of = (manifest.as_of_seq > 0).then_some(manifest.as_of_seq);
            let guard = Arc::new(self.engine.read_guard(tenant, request.access())?);
            // A failure is recorded in the manifest (failed): it is not resumed again.
            if let Err(error) = self
                .run_build(guard, &request, as_of, &dir, &mut manifest)
                .await
            {
                tracing::warn!(tenant, dataset = %manifest.name, version = manifest.version, %error, "an interrupted build failed when resumed");
            }
            resumed += 1;
        }
        Ok(resumed)
    }
}

/// Build attempts a version gets: an attempt the process did not survive is not repeated.
pub const BUILD_ATTEMPTS_MAX: u32 = 1;
/// The error code of a version whose build the process did not survive.
pub const BUILD_INTERRUPTED: &str = "build_interrupted";

fn failure_code(error: &LineageError) -> String {
    match error {
        LineageError::Query(q) => q.code().to_owned(),
        other => other.code().to_owned(),
    }
}

fn close_file(file: OpenFile) -> Result<FileEntry, LineageError> {
    let hashing = file
        .writer
        .into_inner()
        .map_err(|e| LineageError::Parquet(e.to_string()))?;
    let Hashing { inner, hash, bytes } = hashing;
    let (handle, _) = inner.finish()?;
    handle.sync_all().map_err(LineageError::io(&file.path))?;
    Ok(FileEntry {
        name: file.name,
        rows: file.rows,
        bytes,
        sha256: hex(&hash.finalize()),
    })
}

/// The manifest's content hash: SHA-256 over the files' hex digests in order.
pub fn content_sha256(files: &[FileEntry]) -> String {
    let mut h = Sha256::new();
    for f in files {
        h.update(f.sha256.as_bytes());
    }
    hex(&h.finalize())
}
