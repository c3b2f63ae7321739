//! A data set version's manifest: what it holds and how it was made. Written atomically
//! (temporary file, fsync, rename) at every state change; the manifest is the version's
//! state of record, so a crash leaves either the old or the new one.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::LineageError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionState {
    /// Being written. After a restart a version still `building` whose attempt was recorded
    /// (`attempts` ≥ 1) is marked failed (`build_interrupted`), never resumed: its query may be
    /// what stopped the process.
    Building,
    Ready,
    /// Held a subject who was erased: files removed, successor named.
    Erased,
    /// Held a subject who opted out of its purpose: successor built, files removed after the
    /// grace period (`remove_after`).
    Superseded,
    /// The build failed; no files.
    Failed,
    /// Held rows past their retention: successor built, files removed.
    Expired,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub rows: u64,
    /// Plaintext Parquet bytes (what a download serves).
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub version: u32,
    pub state: VersionState,
    pub rows: u64,
    pub bytes: u64,
    /// SHA-256 of the files' lowercase hex SHA-256 strings, concatenated in order.
    pub content_sha256: String,
    pub schema: Vec<ColumnEntry>,
    pub files: Vec<FileEntry>,
    /// The query as the audit log records it (literals and unknown words as `?`).
    pub query: String,
    /// The query as written, sealed under a key derived from the tenant key (it may name a
    /// person; rebuilds need it verbatim).
    pub query_sealed: String,
    pub purpose: String,
    /// Field classes the purpose saw when the version was cut (a rebuild sees the same).
    pub visible_classes: Vec<String>,
    /// Every row acknowledged at or before this sequence number was eligible.
    pub as_of_seq: u64,
    /// When consent was read for this version (RFC 3339).
    pub consent_snapshot_at: String,
    pub source_segments: Vec<u64>,
    pub subjects: u64,
    pub built_by: String,
    pub built_at: String,
    pub build_ms: u64,
    /// The version this one replaces, and why (`erasure`, `opt_out`).
    pub replaces: Option<u32>,
    pub reason: Option<String>,
    pub successor: Option<u32>,
    /// When a superseded version's files go (RFC 3339).
    pub remove_after: Option<String>,
    pub files_removed: bool,
    pub error: Option<String>,
    /// The erasure generation of the guard that cut it: erasures of later generations reach it.
    #[serde(default)]
    pub generation: u64,
    /// Field classes the scan read in the clear for it (a download's purpose must see all).
    /// Older manifests lack it; their `visible_classes` stand in.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// The oldest row of each event type it holds (µs): retention reaches it.
    #[serde(default)]
    pub oldest_by_type: std::collections::BTreeMap<String, i64>,
    /// Why its files are no longer served although its state says ready (`erasure`: a held
    /// subject was erased and the files' keys destroyed; its successor follows).
    #[serde(default)]
    pub withdrawn: Option<String>,
    /// Build attempts started, each written durably before the attempt runs any SQL, so a
    /// restart knows a build in progress was interrupted. Older manifests lack it (0).
    #[serde(default)]
    pub attempts: u32,
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Manifest, LineageError> {
        let bytes = std::fs::read(path).map_err(LineageError::io(path))?;
        serde_json::from_slice(&bytes).map_err(|e| LineageError::Corrupted {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    pub fn write(&self, path: &Path) -> Result<(), LineageError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| LineageError::Corrupted {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        write_atomically(path, &bytes)
    }
}

/// Writes a file whole or not at all.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LineageError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(LineageError::io(&tmp))?;
    file.write_all(bytes).map_err(LineageError::io(&tmp))?;
    file.sync_all().map_err(LineageError::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(LineageError::io(path))?;
    sync_parent(path)
}

pub fn sync_parent(path: &Path) -> Result<(), LineageError> {
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(LineageError::io(dir))?;
    }
    Ok(())
}

/// The versions under `dir` that have a manifest (`v{N}/manifest.json`), ascending; none when
/// `dir` does not exist. Data sets and models share this layout.
pub fn numbered_versions(dir: &std::path::Path) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        if let Some(v) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix('v'))
            .and_then(|n| n.parse::<u32>().ok())
            && entry.path().join("manifest.json").exists()
        {
            out.push(v);
        }
    }
    out.sort_unstable();
    out
}
