//! Versioned data sets: immutable Parquet files cut by a SQL query for a purpose, encrypted
//! at rest (a chunked AEAD file per Parquet file, so a range request decrypts only what it
//! covers), with a manifest and a bitmap of the subjects they hold.
//!
//! Layout under the tenant directory: `datasets/<name>/v<000001>/` holding `manifest.json`,
//! `part-<n>.parquet.sealed` and `subjects.roaring`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::SchemaRef;
use futures_util::StreamExt;
use parking_lot::Mutex;
use roaring::RoaringTreemap;
use sha2::{Digest, Sha256};
use steward_crypto::sealed_file::{dataset_file_key_context, SealedReader, SealedWriter};
use steward_crypto::{Key256, Pseudonym, WrappedKey};
use steward_engine::{Engine, TenantReader};
use steward_privacy::PrivacyClass;
use steward_query::{QueryLimits, QueryOptions, Session};

use crate::manifest::{sync_parent, ColumnEntry, FileEntry, Manifest, VersionState};
use crate::openlineage::{LineageSink, RunEvent};
use crate::LineageError;

/// Rows per Parquet file; a data set of more rows has several files.
pub const FILE_ROWS_MAX: u64 = 1_000_000;
/// Rows a version may hold.
pub const DATASET_ROWS_MAX: usize = 100_000_000;
pub const NAME_BYTES_MAX: usize = 64;

/// What a caller asks for.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    pub name: String,
    pub sql: String,
    pub purpose: String,
    pub visible: Vec<PrivacyClass>,
    pub built_by: String,
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
        DatasetConfig { on_erasure: OnErasure::Rebuild, opt_out_grace: std::time::Duration::from_secs(24 * 3600) }
    }
}

pub struct Datasets {
    engine: Arc<Engine>,
    config: DatasetConfig,
    sink: LineageSink,
    progress: Mutex<HashMap<(String, String, u32), Progress>>,
    /// Serializes version allocation and state changes per tenant.
    lock: Mutex<()>,
}

fn valid_name(name: &str) -> Result<(), LineageError> {
    let ok = !name.is_empty()
        && name.len() <= NAME_BYTES_MAX
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(LineageError::invalid("invalid_dataset_name", "name", format!("expected [a-z][a-z0-9_-]*, at most {NAME_BYTES_MAX} bytes"))) }
}

/// A subject's entry in the bitmap: the pseudonym's first 8 bytes. A collision can only make
/// lineage name a version that does not hold the subject (a needless rebuild), never miss one.
pub fn subject_bit(subject: &Pseudonym) -> u64 {
    let b = subject.as_bytes();
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
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

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Datasets {
    pub fn new(engine: Arc<Engine>, config: DatasetConfig, sink: LineageSink) -> Arc<Datasets> {
        Arc::new(Datasets { engine, config, sink, progress: Mutex::new(HashMap::new()), lock: Mutex::new(()) })
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    fn root(&self, tenant: &str) -> Result<PathBuf, LineageError> {
        Ok(self.engine.tenant_dir(tenant)?.join("datasets"))
    }

    fn version_dir(&self, tenant: &str, name: &str, version: u32) -> Result<PathBuf, LineageError> {
        Ok(self.root(tenant)?.join(name).join(format!("v{version:06}")))
    }

    fn versions_of(&self, tenant: &str, name: &str) -> Result<Vec<u32>, LineageError> {
        let dir = self.root(tenant)?.join(name);
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(out) };
        for entry in entries.flatten() {
            if let Some(v) = entry.file_name().to_str().and_then(|n| n.strip_prefix('v')).and_then(|n| n.parse::<u32>().ok())
                && entry.path().join("manifest.json").exists()
            {
                out.push(v);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    pub fn manifest(&self, tenant: &str, name: &str, version: u32) -> Result<Manifest, LineageError> {
        valid_name(name).map_err(|_| LineageError::NotFound { what: "data set" })?;
        let path = self.version_dir(tenant, name, version)?.join("manifest.json");
        if !path.exists() {
            return Err(LineageError::NotFound { what: "data set version" });
        }
        Manifest::read(&path)
    }

    /// `latest` or a number; latest is the newest version that is ready.
    pub fn resolve_version(&self, tenant: &str, name: &str, text: &str) -> Result<u32, LineageError> {
        if text == "latest" {
            let versions = self.versions_of(tenant, name)?;
            for &v in versions.iter().rev() {
                if self.manifest(tenant, name, v)?.state == VersionState::Ready {
                    return Ok(v);
                }
            }
            return Err(LineageError::NotFound { what: "data set version" });
        }
        text.parse::<u32>().map_err(|_| LineageError::invalid("invalid_version", "version", "expected a version number or latest"))
    }

    pub fn progress(&self, tenant: &str, name: &str, version: u32) -> Option<Progress> {
        self.progress.lock().get(&(tenant.to_owned(), name.to_owned(), version)).cloned()
    }

    pub fn list(&self, tenant: &str) -> Result<Vec<DatasetSummary>, LineageError> {
        let root = self.root(tenant)?;
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&root) else { return Ok(out) };
        let mut names: Vec<String> = entries.flatten().filter_map(|e| e.file_name().to_str().map(str::to_owned)).filter(|n| valid_name(n).is_ok()).collect();
        names.sort();
        for name in names {
            let versions = self.versions_of(tenant, &name)?;
            if let Some(&latest) = versions.last() {
                let state = self.manifest(tenant, &name, latest)?.state;
                out.push(DatasetSummary { name, latest_version: latest, versions: versions.len() as u32, latest_state: state });
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
        versions.into_iter().map(|v| self.manifest(tenant, name, v)).collect()
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

    fn query_key(&self, tenant: &str) -> Result<Key256, LineageError> {
        Ok(self.engine.tenant_derived_key(tenant, b"dataset-query")?)
    }

    /// Cuts a new version. `as_of` pins the snapshot (rebuilds); `replaces` names the version
    /// this one succeeds and why.
    pub async fn build(&self, reader: Arc<TenantReader>, request: &BuildRequest, as_of: Option<u64>, replaces: Option<(u32, &str)>) -> Result<Manifest, LineageError> {
        valid_name(&request.name)?;
        let tenant = reader.tenant().to_owned();
        let (version, dir) = self.allocate(&tenant, &request.name)?;
        let sealed_query = {
            let key = self.query_key(&tenant)?;
            let aad = steward_crypto::context(&[b"dataset-query", tenant.as_bytes(), request.name.as_bytes()]);
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
            visible_classes: request.visible.iter().map(|c| c.as_str().to_owned()).collect(),
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
        };
        self.run_build(reader, request, as_of, &dir, &mut manifest).await
    }

    async fn run_build(&self, reader: Arc<TenantReader>, request: &BuildRequest, as_of: Option<u64>, dir: &Path, manifest: &mut Manifest) -> Result<Manifest, LineageError> {
        let tenant = reader.tenant().to_owned();
        let key3 = (tenant.clone(), manifest.name.clone(), manifest.version);
        self.progress.lock().insert(key3.clone(), Progress { started_at: now_rfc3339(), ..Progress::default() });
        let started = Instant::now();
        let limits = QueryLimits { max_rows: DATASET_ROWS_MAX, max_bytes: usize::MAX, timeout: std::time::Duration::from_secs(3600), memory_bytes: 1 << 30 };
        let session = Session::open(reader.clone(), &limits, &QueryOptions { as_of_seq: as_of, track_subjects: true }).await?;
        manifest.query = session.normalize(&request.sql);
        let job = format!("datasets.{}", manifest.name);
        let output = format!("datasets.{}/v{}", manifest.name, manifest.version);
        let run = RunEvent::new(&tenant, &job, &output);
        manifest.write(&dir.join("manifest.json"))?;
        self.sink.emit(&run.start());
        let result = self.write_files(&tenant, session, request, dir, manifest, &key3).await;
        self.progress.lock().remove(&key3);
        manifest.build_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(schema) => {
                manifest.state = VersionState::Ready;
                manifest.write(&dir.join("manifest.json"))?;
                self.sink.emit(&run.complete(&schema));
                metrics::counter!("steward_dataset_rows_total").increment(manifest.rows);
                tracing::info!(tenant, dataset = %manifest.name, version = manifest.version, rows = manifest.rows, ms = manifest.build_ms, "data set built");
                Ok(manifest.clone())
            }
            Err(error) => {
                for file in &manifest.files {
                    let _ = std::fs::remove_file(dir.join(format!("{}.sealed", file.name)));
                }
                manifest.files.clear();
                manifest.state = VersionState::Failed;
                manifest.error = Some(match &error {
                    LineageError::Query(q) => q.code().to_owned(),
                    other => other.to_string(),
                });
                let _ = manifest.write(&dir.join("manifest.json"));
                self.sink.emit(&run.fail(manifest.error.as_deref().unwrap_or("failed")));
                Err(error)
            }
        }
    }

    async fn write_files(&self, tenant: &str, session: Session, request: &BuildRequest, dir: &Path, manifest: &mut Manifest, key3: &(String, String, u32)) -> Result<SchemaRef, LineageError> {
        let mut running = session.start(&request.sql).await?;
        manifest.as_of_seq = running.scan.snapshot.max_seq;
        manifest.schema = running.schema.fields().iter().map(|f| ColumnEntry { name: f.name().clone(), data_type: f.data_type().to_string() }).collect();
        let subject_column = running.schema.index_of("subject").ok().filter(|&i| matches!(running.schema.field(i).data_type(), datafusion::arrow::datatypes::DataType::Utf8));
        let mut output_subjects: HashSet<String> = HashSet::new();
        let mut open: Option<OpenFile> = None;
        let mut hashes = Vec::new();
        while let Some(batch) = running.stream.next().await {
            let batch = batch.map_err(|e| running.map_error(e))?;
            if std::time::Instant::now() > running.scan.deadline {
                return Err(steward_query::QueryError::Timeout { limit_ms: 3_600_000 }.into());
            }
            if manifest.rows + batch.num_rows() as u64 > DATASET_ROWS_MAX as u64 {
                return Err(steward_query::QueryError::TooManyRows { limit: DATASET_ROWS_MAX }.into());
            }
            if let Some(i) = subject_column
                && let Some(subjects) = batch.column(i).as_any().downcast_ref::<StringArray>()
            {
                for s in subjects.iter().flatten() {
                    if !output_subjects.contains(s) {
                        output_subjects.insert(s.to_owned());
                    }
                }
            }
            let mut offset = 0usize;
            while offset < batch.num_rows() {
                if open.is_none() {
                    open = Some(self.open_file(tenant, dir, manifest.files.len() + hashes.len(), &running.schema)?);
                }
                let Some(file) = open.as_mut() else { break };
                let room = (FILE_ROWS_MAX - file.rows) as usize;
                let take = room.min(batch.num_rows() - offset);
                file.writer.write(&batch.slice(offset, take)).map_err(|e| LineageError::Parquet(e.to_string()))?;
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
            let file = self.open_file(tenant, dir, 0, &running.schema)?;
            hashes.push(close_file(file)?);
        }
        manifest.files = hashes;
        manifest.bytes = manifest.files.iter().map(|f| f.bytes).sum();
        manifest.content_sha256 = content_sha256(&manifest.files);
        let subjects: Vec<Pseudonym> = if subject_column.is_some() {
            output_subjects.iter().filter_map(|s| Pseudonym::parse_hex(s).ok()).collect()
        } else {
            running.subjects().into_iter().collect()
        };
        let mut bitmap = RoaringTreemap::new();
        for s in &subjects {
            bitmap.insert(subject_bit(s));
        }
        manifest.subjects = bitmap.len();
        let mut bytes = Vec::new();
        bitmap.serialize_into(&mut bytes).map_err(LineageError::io(dir))?;
        crate::manifest::write_atomically(&dir.join("subjects.roaring"), &bytes)?;
        manifest.source_segments = running.scan.segments_read.lock().iter().copied().collect::<BTreeSet<u64>>().into_iter().collect();
        sync_parent(&dir.join("manifest.json"))?;
        Ok(running.schema.clone())
    }

    fn open_file(&self, tenant: &str, dir: &Path, index: usize, schema: &SchemaRef) -> Result<OpenFile, LineageError> {
        let name = format!("part-{index:05}.parquet");
        let path = dir.join(format!("{name}.sealed"));
        let context = dataset_file_key_context(tenant);
        let key = Key256::random();
        let wrapped = self.engine.wrap_tenant_key(tenant, &key, &context)?;
        let file = std::fs::File::create(&path).map_err(LineageError::io(&path))?;
        let sealed = SealedWriter::new(file, &key, &context, wrapped.as_bytes())?;
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::LZ4_RAW)
            .set_max_row_group_row_count(Some(128 * 1024))
            .set_created_by("steward data set".to_owned())
            .build();
        let writer = parquet::arrow::ArrowWriter::try_new(Hashing { inner: sealed, hash: Sha256::new(), bytes: 0 }, schema.clone(), Some(props)).map_err(|e| LineageError::Parquet(e.to_string()))?;
        Ok(OpenFile { name, path, writer, rows: 0 })
    }

    /// The sealed file of a ready version, opened for reading.
    pub fn open_reader(&self, tenant: &str, name: &str, version: u32, file: &str) -> Result<(Manifest, FileEntry, SealedReader), LineageError> {
        let manifest = self.manifest(tenant, name, version)?;
        if manifest.state != VersionState::Ready && !(manifest.state == VersionState::Superseded && !manifest.files_removed) {
            return Err(LineageError::Gone { message: format!("version {version} of {name} is {:?}; its files are not served", manifest.state).to_lowercase() });
        }
        let entry = manifest.files.iter().find(|f| f.name == file).cloned().ok_or(LineageError::NotFound { what: "data set file" })?;
        let path = self.version_dir(tenant, name, version)?.join(format!("{}.sealed", entry.name));
        let context = dataset_file_key_context(tenant);
        let wrapped = steward_crypto::sealed_file::read_wrapped_key(&path)?;
        let key = self.engine.unwrap_tenant_key(tenant, &WrappedKey::from_bytes(wrapped)?, &context)?;
        let handle = std::fs::File::open(&path).map_err(LineageError::io(&path))?;
        let reader = SealedReader::open(handle, &key, &context)?;
        Ok((manifest, entry, reader))
    }

    /// Every row of a version as Arrow batches (the Arrow IPC export).
    pub fn read_batches(&self, tenant: &str, name: &str, version: u32) -> Result<(SchemaRef, Vec<RecordBatch>), LineageError> {
        let manifest = self.manifest(tenant, name, version)?;
        let mut schema = None;
        let mut out = Vec::new();
        for file in &manifest.files {
            let (_, _, reader) = self.open_reader(tenant, name, version, &file.name)?;
            let bytes = bytes::Bytes::from(reader.read_all()?);
            let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| LineageError::Parquet(e.to_string()))?;
            schema.get_or_insert_with(|| builder.schema().clone());
            for batch in builder.build().map_err(|e| LineageError::Parquet(e.to_string()))? {
                out.push(batch.map_err(|e| LineageError::Parquet(e.to_string()))?);
            }
        }
        let schema = schema.ok_or(LineageError::Gone { message: "the version has no files".into() })?;
        Ok((schema, out))
    }

    fn bitmap(&self, tenant: &str, name: &str, version: u32) -> Result<Option<RoaringTreemap>, LineageError> {
        let path = self.version_dir(tenant, name, version)?.join("subjects.roaring");
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(RoaringTreemap::deserialize_from(&bytes[..]).map_err(|e| LineageError::Corrupted { path, reason: e.to_string() })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LineageError::Io { path, source: e }),
        }
    }

    /// Every version (of every data set) whose files still exist and hold the subject.
    pub fn holding(&self, tenant: &str, subject: &Pseudonym) -> Result<Vec<Manifest>, LineageError> {
        let bit = subject_bit(subject);
        let mut out = Vec::new();
        for summary in self.list(tenant)? {
            for v in self.versions_of(tenant, &summary.name)? {
                if let Some(bitmap) = self.bitmap(tenant, &summary.name, v)?
                    && bitmap.contains(bit)
                {
                    out.push(self.manifest(tenant, &summary.name, v)?);
                }
            }
        }
        Ok(out)
    }

    /// Removes a version's files and bitmap; the manifest stays, naming what happened.
    fn remove_files(&self, tenant: &str, manifest: &mut Manifest) -> Result<u64, LineageError> {
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
        manifest.files_removed = true;
        manifest.write(&dir.join("manifest.json"))?;
        Ok(removed)
    }

    fn rebuild_request(&self, tenant: &str, manifest: &Manifest) -> Result<BuildRequest, LineageError> {
        let key = self.query_key(tenant)?;
        let aad = steward_crypto::context(&[b"dataset-query", tenant.as_bytes(), manifest.name.as_bytes()]);
        let sealed = data_encoding::BASE64.decode(manifest.query_sealed.as_bytes()).map_err(|e| LineageError::Corrupted { path: PathBuf::from("manifest.json"), reason: e.to_string() })?;
        let sql = String::from_utf8(steward_crypto::open(&key, &aad, &sealed)?).map_err(|e| LineageError::Corrupted { path: PathBuf::from("manifest.json"), reason: e.to_string() })?;
        let visible = manifest.visible_classes.iter().filter_map(|c| PrivacyClass::ALL.into_iter().find(|k| k.as_str() == c)).collect();
        Ok(BuildRequest { name: manifest.name.clone(), sql, purpose: manifest.purpose.clone(), visible, built_by: "steward:lineage".into() })
    }

    /// Erasure: every version holding any of the subjects gets a successor without them (by
    /// policy) and loses its files, before this returns.
    pub async fn handle_erasure(&self, tenant: &str, subjects: &[Pseudonym]) -> Result<HashMap<Pseudonym, Vec<DerivedArtifact>>, LineageError> {
        let mut out: HashMap<Pseudonym, Vec<DerivedArtifact>> = HashMap::new();
        let mut affected: Vec<(Manifest, Vec<Pseudonym>)> = Vec::new();
        for subject in subjects {
            for manifest in self.holding(tenant, subject)? {
                match affected.iter_mut().find(|(m, _)| m.name == manifest.name && m.version == manifest.version) {
                    Some((_, list)) => list.push(*subject),
                    None => affected.push((manifest, vec![*subject])),
                }
            }
        }
        for (mut manifest, holders) in affected {
            let successor = if self.config.on_erasure == OnErasure::Rebuild && matches!(manifest.state, VersionState::Ready) {
                let request = self.rebuild_request(tenant, &manifest)?;
                let reader = Arc::new(self.engine.reader(tenant, &request.purpose, request.visible.clone())?);
                Some(self.build(reader, &request, Some(manifest.as_of_seq), Some((manifest.version, "erasure"))).await?.version)
            } else {
                None
            };
            let files_removed = self.remove_files(tenant, &mut manifest)?;
            manifest.state = VersionState::Erased;
            manifest.successor = successor.or(manifest.successor);
            manifest.write(&self.version_dir(tenant, &manifest.name, manifest.version)?.join("manifest.json"))?;
            let artifact = DerivedArtifact {
                kind: "dataset".into(),
                name: manifest.name.clone(),
                version: manifest.version,
                action: if successor.is_some() { "rebuilt".into() } else { "marked".into() },
                successor,
                files_removed,
            };
            for s in holders {
                out.entry(s).or_default().push(artifact.clone());
            }
        }
        Ok(out)
    }

    /// Opt-out: versions of that purpose holding the subject get a successor without it; the
    /// old files stay for the grace period ([`Datasets::sweep`] removes them).
    pub async fn handle_opt_out(&self, tenant: &str, subject: &Pseudonym, purpose: &str) -> Result<Vec<DerivedArtifact>, LineageError> {
        let mut out = Vec::new();
        for mut manifest in self.holding(tenant, subject)? {
            if manifest.purpose != purpose || manifest.state != VersionState::Ready {
                continue;
            }
            let request = self.rebuild_request(tenant, &manifest)?;
            let reader = Arc::new(self.engine.reader(tenant, &request.purpose, request.visible.clone())?);
            let successor = self.build(reader, &request, Some(manifest.as_of_seq), Some((manifest.version, "opt_out"))).await?.version;
            manifest.state = VersionState::Superseded;
            manifest.successor = Some(successor);
            let grace = chrono::Duration::from_std(self.config.opt_out_grace).unwrap_or(chrono::Duration::zero());
            manifest.remove_after = Some((chrono::Utc::now() + grace).to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            manifest.write(&self.version_dir(tenant, &manifest.name, manifest.version)?.join("manifest.json"))?;
            out.push(DerivedArtifact { kind: "dataset".into(), name: manifest.name.clone(), version: manifest.version, action: "rebuilt".into(), successor: Some(successor), files_removed: 0 });
        }
        self.sweep(tenant)?;
        Ok(out)
    }

    /// Removes the files of superseded versions whose grace period has passed.
    pub fn sweep(&self, tenant: &str) -> Result<u64, LineageError> {
        let now = chrono::Utc::now();
        let mut removed = 0;
        for summary in self.list(tenant)? {
            for v in self.versions_of(tenant, &summary.name)? {
                let mut manifest = self.manifest(tenant, &summary.name, v)?;
                let due = manifest.remove_after.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).is_some_and(|t| t <= now);
                if manifest.state == VersionState::Superseded && !manifest.files_removed && due {
                    removed += self.remove_files(tenant, &mut manifest)?;
                }
            }
        }
        Ok(removed)
    }

    /// Builds interrupted by a crash, resumed from their recorded snapshot.
    pub async fn resume(&self, tenant: &str) -> Result<u32, LineageError> {
        let mut resumed = 0;
        for summary in self.list(tenant)? {
            for v in self.versions_of(tenant, &summary.name)? {
                let mut manifest = self.manifest(tenant, &summary.name, v)?;
                if manifest.state != VersionState::Building {
                    continue;
                }
                let request = self.rebuild_request(tenant, &manifest)?;
                let dir = self.version_dir(tenant, &manifest.name, v)?;
                for entry in std::fs::read_dir(&dir).map_err(LineageError::io(&dir))?.flatten() {
                    if entry.file_name().to_str().is_some_and(|n| n.ends_with(".sealed")) {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
                manifest.files.clear();
                manifest.rows = 0;
                let as_of = (manifest.as_of_seq > 0).then_some(manifest.as_of_seq);
                let reader = Arc::new(self.engine.reader(tenant, &request.purpose, request.visible.clone())?);
                self.run_build(reader, &request, as_of, &dir, &mut manifest).await?;
                resumed += 1;
            }
        }
        Ok(resumed)
    }

    /// Rows and subjects added and removed from one version to another.
    pub fn diff(&self, tenant: &str, name: &str, from: u32, to: u32) -> Result<serde_json::Value, LineageError> {
        let rows_of = |v: u32| -> Result<HashMap<[u8; 32], u64>, LineageError> {
            let (_, batches) = self.read_batches(tenant, name, v)?;
            let mut counts = HashMap::new();
            for batch in &batches {
                let options = datafusion::arrow::util::display::FormatOptions::default();
                let formatters: Vec<_> = batch
                    .columns()
                    .iter()
                    .map(|c| datafusion::arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &options))
                    .collect::<Result<_, _>>()
                    .map_err(|e| LineageError::Parquet(e.to_string()))?;
                for row in 0..batch.num_rows() {
                    let mut h = Sha256::new();
                    for f in &formatters {
                        let cell = f.value(row).to_string();
                        h.update((cell.len() as u64).to_le_bytes());
                        h.update(cell.as_bytes());
                    }
                    *counts.entry(h.finalize().into()).or_insert(0u64) += 1;
                }
            }
            Ok(counts)
        };
        let (a, b) = (rows_of(from)?, rows_of(to)?);
        let mut added = 0u64;
        let mut removed = 0u64;
        for (k, &n) in &b {
            added += n.saturating_sub(a.get(k).copied().unwrap_or(0));
        }
        for (k, &n) in &a {
            removed += n.saturating_sub(b.get(k).copied().unwrap_or(0));
        }
        let (sa, sb) = (self.bitmap(tenant, name, from)?.unwrap_or_default(), self.bitmap(tenant, name, to)?.unwrap_or_default());
        Ok(serde_json::json!({
            "name": name, "from": from, "to": to,
            "rows_added": added, "rows_removed": removed,
            "subjects_added": (&sb - &sa).len(), "subjects_removed": (&sa - &sb).len(),
        }))
    }
}

fn close_file(file: OpenFile) -> Result<FileEntry, LineageError> {
    let hashing = file.writer.into_inner().map_err(|e| LineageError::Parquet(e.to_string()))?;
    let Hashing { inner, hash, bytes } = hashing;
    let (handle, _) = inner.finish()?;
    handle.sync_all().map_err(LineageError::io(&file.path))?;
    Ok(FileEntry { name: file.name, rows: file.rows, bytes, sha256: hex(&hash.finalize()) })
}

/// The manifest's content hash: SHA-256 over the files' hex digests in order.
pub fn content_sha256(files: &[FileEntry]) -> String {
    let mut h = Sha256::new();
    for f in files {
        h.update(f.sha256.as_bytes());
    }
    hex(&h.finalize())
}
