//! Making a backup: offline (the directory's lock held) or online (`Engine::backup`, the
//! catalogs held still while the mutable files are copied).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::archive::ArchiveWriter;
use super::stream::SealWriter;
use super::{BackupError, excluded};
use crate::Engine;
use crate::datadir::DataDir;

/// What a backup wrote.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BackupSummary {
    /// Bytes of the backup file.
    pub bytes: u64,
    pub files: usize,
    /// Bytes of the files it holds (before sealing).
    pub data_bytes: u64,
    pub tenants: Vec<String>,
    pub online: bool,
    pub created_at: String,
    /// How long catalog commits waited while the catalogs were held (online only).
    pub held_ms: u64,
}

/// One entry of the directory, in the order written.
struct Entry {
    relative: String,
    dir: bool,
}

/// Every directory and regular file under `root` (sorted, depth first), less what backups
/// leave out. Symbolic links and other special files are refused: Steward makes none.
fn walk(root: &Path, skip: &[PathBuf]) -> Result<Vec<Entry>, BackupError> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_owned(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let mut names = Vec::new();
        for item in std::fs::read_dir(&dir)
            .map_err(|e| BackupError::Io(format!("listing {}: {e}", dir.display())))?
        {
            let item =
                item.map_err(|e| BackupError::Io(format!("listing {}: {e}", dir.display())))?;
            names.push(item);
        }
        names.sort_by_key(|item| item.file_name());
        let mut subdirs = Vec::new();
        for item in names {
            let Some(name) = item.file_name().to_str().map(str::to_owned) else {
                return Err(BackupError::Io(format!(
                    "a file name under {} is not UTF-8",
                    dir.display()
                )));
            };
            let relative = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if excluded(&relative) || skip.iter().any(|s| s == &item.path()) {
                continue;
            }
            let kind = item
                .file_type()
                .map_err(|e| BackupError::Io(format!("{relative}: {e}")))?;
            if kind.is_dir() {
                out.push(Entry {
                    relative: relative.clone(),
                    dir: true,
                });
                subdirs.push((item.path(), relative));
            } else if kind.is_file() {
                out.push(Entry {
                    relative,
                    dir: false,
                });
            } else {
                return Err(BackupError::Io(format!(
                    "{relative} is neither a file nor a directory"
                )));
            }
        }
        // Depth first in name order: push in reverse.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(out)
}

/// Segments are written once and never changed (compaction and erasure write new ones and
/// delete the old): opened while the catalogs are held, they can be read after.
fn immutable(relative: &str) -> bool {
    let parts: Vec<&str> = relative.split('/').collect();
    parts.len() == 4 && parts[0] == "tenants" && parts[2] == "segments"
}

fn open_file(root: &Path, relative: &str) -> Result<Option<(File, u64)>, BackupError> {
    match File::open(root.join(relative)) {
        Ok(file) => {
            let size = file
                .metadata()
                .map_err(|e| BackupError::Io(format!("{relative}: {e}")))?
                .len();
            Ok(Some((file, size)))
        }
        // Removed since the listing (a temporary file, a purged WAL file): not part of the
        // state the held catalogs describe.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BackupError::Io(format!("{relative}: {e}"))),
    }
}

fn tenants_of(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.dir)
        .filter_map(|e| e.relative.strip_prefix("tenants/"))
        .filter(|rest| !rest.contains('/'))
        .map(str::to_owned)
        .collect()
}

/// Backs up a directory no process has open (its lock is taken for the duration).
pub fn backup_offline<W: Write>(
    data_dir: &Path,
    out: W,
) -> Result<(W, BackupSummary), BackupError> {
    let dir = DataDir::lock(data_dir)?;
    let master = dir.load_master_key()?;
    let writer = SealWriter::new(out, &master)?;
    let mut archive = ArchiveWriter::new(writer);
    let entries = walk(dir.path(), &[])?;
    for entry in &entries {
        if entry.dir {
            archive.dir(&entry.relative)?;
        } else if let Some((mut file, size)) = open_file(dir.path(), &entry.relative)? {
            archive.file(&entry.relative, &mut file, size)?;
        }
    }
    finish(archive, tenants_of(&entries), false, 0)
}

fn finish<W: Write>(
    mut archive: ArchiveWriter<W>,
    tenants: Vec<String>,
    online: bool,
    held_ms: u64,
) -> Result<(W, BackupSummary), BackupError> {
    let created_at = chrono::Utc::now().to_rfc3339();
    archive.manifest.created_at = created_at.clone();
    archive.manifest.online = online;
    archive.manifest.tenants = tenants.clone();
    let (out, bytes, manifest) = archive.finish()?;
    Ok((
        out,
        BackupSummary {
            bytes,
            files: manifest.files.len(),
            data_bytes: manifest.bytes,
            tenants,
            online,
            created_at,
            held_ms,
        },
    ))
}

impl Engine {
    /// Backs up the open data directory while it serves: see the module documentation of
    /// `backup` for what is held and why the copy is consistent. `out` receives the sealed
    /// stream as it is made (a slow reader keeps catalog commits waiting longer).
    pub fn backup<W: Write>(&self, out: W) -> Result<(W, BackupSummary), BackupError> {
        let root = self.data_dir().to_owned();
        let writer = SealWriter::new(out, &self.master)?;
        let mut archive = ArchiveWriter::new(writer);
        let skip = vec![self.config.erasure_ledger_path()];
        let mut tenants = self.tenant_list();
        tenants.sort_by(|a, b| a.id().cmp(b.id()));
        let held = std::time::Instant::now();
        let (entries, later) = {
            // One order everywhere (system, then tenants by id), so two backups cannot hold
            // each other up.
            let mut holds = vec![
                self.system
                    .catalog()
                    .freeze()
                    .map_err(|e| BackupError::Engine(e.into()))?,
            ];
            for tenant in &tenants {
                holds.push(
                    tenant
                        .partition()
                        .catalog()
                        .freeze()
                        .map_err(|e| BackupError::Engine(e.into()))?,
                );
            }
            let entries = walk(&root, &skip)?;
            let mut later = Vec::new();
            for entry in &entries {
                if entry.dir {
                    archive.dir(&entry.relative)?;
                } else if let Some((mut file, size)) = open_file(&root, &entry.relative)? {
                    if immutable(&entry.relative) {
                        later.push((entry.relative.clone(), file, size));
                    } else {
                        archive.file(&entry.relative, &mut file, size)?;
                    }
                }
            }
            drop(holds);
            (entries, later)
        };
        let held_ms = held.elapsed().as_millis() as u64;
        metrics::histogram!("steward_backup_hold_seconds").record(held_ms as f64 / 1000.0);
        for (relative, mut file, size) in later {
            archive.file(&relative, &mut file, size)?;
        }
        let tenants = tenants_of(&entries);
        let done = finish(archive, tenants, true, held_ms)?;
        metrics::counter!("steward_backups_total").increment(1);
        Ok(done)
    }
}
