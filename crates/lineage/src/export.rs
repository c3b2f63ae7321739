//! Reading data set versions out (files by range, the Arrow stream, diffs), always through
//! the read guard of the request at the moment of the read: a download names a purpose and
//! is refused unless that purpose may see every class the version holds in the clear, and
//! unless no subject it holds has been erased since it was cut, refused that purpose by
//! consent, or seen its rows pass retention. A refused version names its successor when one
//! is ready.
//!
//! Streaming: a version is read file by file, row group by row group, through a chunk
//! reader over the sealed file (only the chunks a range touches are decrypted), so an Arrow
//! export holds one row group in memory, not the version.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::file::reader::{ChunkReader, Length};
use sha2::{Digest, Sha256};
use steward_crypto::sealed_file::{SealedReader, dataset_file_key_context, read_wrapped_key};
use steward_engine::{ArtifactFacts, ArtifactRefusal, FileKey, ReadGuard};
use steward_privacy::PrivacyClass;

use crate::LineageError;
use crate::datasets::{Datasets, KEY_REFERENCE_PREFIX};
use crate::manifest::{FileEntry, Manifest, VersionState};

/// Rows a diff compares (it keeps one hash per distinct row of both versions).
pub const DIFF_ROWS_MAX: u64 = 10_000_000;
/// Rows per batch of an export stream.
pub const EXPORT_BATCH_ROWS: usize = 8192;
/// Plaintext read per step of a sealed file's sequential reader.
const READ_STEP_BYTES: u64 = 256 * 1024;

impl Datasets {
    /// The manifest of a version this guard's read may export now, or why not.
    pub fn exportable(
        &self,
        guard: &ReadGuard,
        name: &str,
        version: u32,
    ) -> Result<Manifest, LineageError> {
        let tenant = guard.tenant();
        let manifest = self.manifest(tenant, name, version)?;
        let served = manifest.state == VersionState::Ready
            || (manifest.state == VersionState::Superseded && !manifest.files_removed);
        if !served || manifest.files_removed {
            return Err(LineageError::Gone {
                message: format!(
                    "version {version} of {name} is {}; its files are not served",
                    state_name(manifest.state)
                ),
            });
        }
        if manifest.withdrawn.is_some() {
            return Err(self.stale(tenant, &manifest, "it held a subject who was erased"));
        }
        let bitmap = self.bitmap(tenant, name, version)?.unwrap_or_default();
        let classes: Vec<PrivacyClass> = manifest
            .classes
            .as_ref()
            .unwrap_or(&manifest.visible_classes)
            .iter()
            .filter_map(|c| PrivacyClass::ALL.into_iter().find(|k| k.as_str() == c))
            .filter(|c| *c != PrivacyClass::Public)
            .collect();
        let oldest: HashMap<String, i64> = manifest
            .oldest_by_type
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let facts = ArtifactFacts {
            subjects: &bitmap,
            classes: &classes,
            generation: manifest.generation,
            oldest_by_type: &oldest,
        };
        match guard.admits_artifact(&facts) {
            Ok(()) => Ok(manifest),
            Err(ArtifactRefusal::Classes(hidden)) => Err(LineageError::Forbidden {
                message: format!(
                    "version {version} of {name} holds {} fields in the clear, which purpose {} may not see; cut a version for this purpose",
                    hidden
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    guard.purpose_name()
                ),
            }),
            Err(ArtifactRefusal::Erased) => Err(self.stale(
                tenant,
                &manifest,
                "it holds a subject who was erased since it was cut",
            )),
            Err(ArtifactRefusal::Consent) => Err(self.stale(
                tenant,
                &manifest,
                &format!(
                    "it holds a subject whose consent refuses purpose {}",
                    guard.purpose_name()
                ),
            )),
            Err(ArtifactRefusal::Expired) => {
                Err(self.stale(tenant, &manifest, "it holds rows past their retention"))
            }
        }
    }

    fn stale(&self, tenant: &str, manifest: &Manifest, why: &str) -> LineageError {
        // Point to the newest ready version of the same data set, when there is one.
        let successor = self
            .versions_of(tenant, &manifest.name)
            .ok()
            .and_then(|vs| {
                vs.into_iter().rev().find(|&v| {
                    v > manifest.version
                        && self
                            .manifest(tenant, &manifest.name, v)
                            .is_ok_and(|m| m.state == VersionState::Ready && m.withdrawn.is_none())
                })
            });
        LineageError::Stale {
            message: format!(
                "version {} of {} is not served: {why}",
                manifest.version, manifest.name
            ),
            successor,
        }
    }

    /// One file of an exportable version, opened for reading.
    pub fn open_file(
        &self,
        guard: &ReadGuard,
        name: &str,
        version: u32,
        file: &str,
    ) -> Result<(Manifest, FileEntry, SealedReader), LineageError> {
        let manifest = self.exportable(guard, name, version)?;
        let entry = manifest
            .files
            .iter()
            .find(|f| f.name == file)
            .cloned()
            .ok_or(LineageError::NotFound {
                what: "data set file",
            })?;
        let reader = self.sealed_reader(guard.tenant(), &manifest, &entry.name)?;
        Ok((manifest, entry, reader))
    }

    /// Opens a version's sealed file with its key from the tenant catalog.
    pub(crate) fn sealed_reader(
        &self,
        tenant: &str,
        manifest: &Manifest,
        file: &str,
    ) -> Result<SealedReader, LineageError> {
        let path = self
            .version_dir(tenant, &manifest.name, manifest.version)?
            .join(format!("{file}.sealed"));
        let context = dataset_file_key_context(tenant);
        let header = read_wrapped_key(&path)?;
        let reference =
            header
                .strip_prefix(KEY_REFERENCE_PREFIX)
                .ok_or_else(|| LineageError::Corrupted {
                    path: path.clone(),
                    reason: "the header names no key".into(),
                })?;
        let key_name = std::str::from_utf8(reference).map_err(|_| LineageError::Corrupted {
            path: path.clone(),
            reason: "key name".into(),
        })?;
        let wrapped = match self.engine.file_key(tenant, key_name)? {
            FileKey::Live(wrapped) => wrapped,
            FileKey::Destroyed => {
                return Err(LineageError::Gone {
                    message: format!(
                        "version {} of {} was withdrawn by an erasure",
                        manifest.version, manifest.name
                    ),
                });
            }
            FileKey::Unknown => {
                return Err(LineageError::Corrupted {
                    path,
                    reason: "no key for this file in the tenant catalog".into(),
                });
            }
        };
        let key = self.engine.unwrap_tenant_key(tenant, &wrapped, &context)?;
        let handle = std::fs::File::open(&path).map_err(LineageError::io(&path))?;
        Ok(SealedReader::open(handle, &key, &context)?)
    }

    /// An exportable version's rows, batch by batch, one row group in memory at a time.
    pub fn batches(
        &self,
        guard: &ReadGuard,
        name: &str,
        version: u32,
    ) -> Result<VersionBatches, LineageError> {
        let manifest = self.exportable(guard, name, version)?;
        self.batches_of(guard.tenant(), manifest)
    }

    pub(crate) fn batches_of(
        &self,
        tenant: &str,
        manifest: Manifest,
    ) -> Result<VersionBatches, LineageError> {
        let mut readers = Vec::with_capacity(manifest.files.len());
        for file in &manifest.files {
            readers.push(Arc::new(self.sealed_reader(tenant, &manifest, &file.name)?));
        }
        let mut batches = VersionBatches {
            readers: readers.into_iter(),
            current: None,
            schema: None,
        };
        batches.advance()?;
        if batches.schema.is_none() {
            return Err(LineageError::Gone {
                message: "the version has no files".into(),
            });
        }
        Ok(batches)
    }

    /// Rows and subjects added and removed from one version to another (both exportable now).
    pub fn diff(
        &self,
        guard: &ReadGuard,
        name: &str,
        from: u32,
        to: u32,
    ) -> Result<serde_json::Value, LineageError> {
        let rows_of = |v: u32| -> Result<HashMap<[u8; 32], u64>, LineageError> {
            let manifest = self.exportable(guard, name, v)?;
            if manifest.rows > DIFF_ROWS_MAX {
                return Err(LineageError::invalid(
                    "diff_too_large",
                    "from",
                    format!("a diff compares versions of at most {DIFF_ROWS_MAX} rows"),
                ));
            }
            let mut counts = HashMap::new();
            for batch in self.batches_of(guard.tenant(), manifest)? {
                let batch = batch?;
                let options = datafusion::arrow::util::display::FormatOptions::default();
                let formatters: Vec<_> = batch
                    .columns()
                    .iter()
                    .map(|c| {
                        datafusion::arrow::util::display::ArrayFormatter::try_new(
                            c.as_ref(),
                            &options,
                        )
                    })
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
        let tenant = guard.tenant();
        let (sa, sb) = (
            self.bitmap(tenant, name, from)?.unwrap_or_default(),
            self.bitmap(tenant, name, to)?.unwrap_or_default(),
        );
        Ok(serde_json::json!({
            "name": name, "from": from, "to": to,
            "rows_added": added, "rows_removed": removed,
            "subjects_added": (&sb - &sa).len(), "subjects_removed": (&sa - &sb).len(),
        }))
    }
}

fn state_name(state: VersionState) -> &'static str {
    match state {
        VersionState::Building => "building",
        VersionState::Ready => "ready",
        VersionState::Erased => "erased",
        VersionState::Superseded => "superseded",
        VersionState::Failed => "failed",
        VersionState::Expired => "expired",
    }
}

/// The batches of a version's files in order.
pub struct VersionBatches {
    readers: std::vec::IntoIter<Arc<SealedReader>>,
    current: Option<ParquetRecordBatchReader>,
    schema: Option<SchemaRef>,
}

impl VersionBatches {
    pub fn schema(&self) -> Option<SchemaRef> {
        self.schema.clone()
    }

    /// Opens the next file; false when none is left.
    fn advance(&mut self) -> Result<bool, LineageError> {
        let Some(reader) = self.readers.next() else {
            self.current = None;
            return Ok(false);
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(SealedChunks(reader))
            .map_err(|e| LineageError::Parquet(e.to_string()))?;
        self.schema.get_or_insert_with(|| builder.schema().clone());
        self.current = Some(
            builder
                .with_batch_size(EXPORT_BATCH_ROWS)
                .build()
                .map_err(|e| LineageError::Parquet(e.to_string()))?,
        );
        Ok(true)
    }
}

impl VersionBatches {
    /// Writes the rest of the batches as one Arrow IPC stream; returns the rows written.
    pub fn write_ipc(self, sink: &mut impl std::io::Write) -> Result<u64, LineageError> {
        let schema = self.schema.clone().ok_or_else(|| LineageError::Gone {
            message: "the version has no files".into(),
        })?;
        let failed = |e: datafusion::arrow::error::ArrowError| LineageError::Parquet(e.to_string());
        let mut writer =
            datafusion::arrow::ipc::writer::StreamWriter::try_new(sink, &schema).map_err(failed)?;
        let mut rows = 0u64;
        for batch in self {
            let batch = batch?;
            rows += batch.num_rows() as u64;
            writer.write(&batch).map_err(failed)?;
        }
        writer.finish().map_err(failed)?;
        Ok(rows)
    }
}

impl Iterator for VersionBatches {
    type Item = Result<RecordBatch, LineageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.current.as_mut()?.next() {
                Some(batch) => {
                    return Some(batch.map_err(|e| LineageError::Parquet(e.to_string())));
                }
                None => match self.advance() {
                    Ok(true) => continue,
                    Ok(false) => return None,
                    Err(e) => return Some(Err(e)),
                },
            }
        }
    }
}

/// A sealed file as Parquet's reader sees it: ranges decrypt only the chunks they touch.
struct SealedChunks(Arc<SealedReader>);

impl Length for SealedChunks {
    fn len(&self) -> u64 {
        self.0.plaintext_len()
    }
}

impl ChunkReader for SealedChunks {
    type T = SequentialRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<SequentialRead> {
        Ok(SequentialRead {
            reader: self.0.clone(),
            at: start,
            buffer: Bytes::new(),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.0
            .read_range(start, length as u64)
            .map(Bytes::from)
            .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
    }
}

/// Reads a sealed file onward from a position, a bounded step at a time.
struct SequentialRead {
    reader: Arc<SealedReader>,
    at: u64,
    buffer: Bytes,
}

impl Read for SequentialRead {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buffer.is_empty() {
            let left = self.reader.plaintext_len().saturating_sub(self.at);
            if left == 0 {
                return Ok(0);
            }
            let step = left.min(READ_STEP_BYTES);
            self.buffer = Bytes::from(
                self.reader
                    .read_range(self.at, step)
                    .map_err(std::io::Error::other)?,
            );
            self.at += step;
        }
        let n = out.len().min(self.buffer.len());
        out[..n].copy_from_slice(&self.buffer[..n]);
        self.buffer = self.buffer.slice(n..);
        Ok(n)
    }
}
