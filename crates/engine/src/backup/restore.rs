//! Checking and restoring a backup into a new data directory.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use steward_crypto::MasterKey;

use super::BackupError;
use super::archive::{Manifest, Sink, read_archive};
use super::stream::{BackupHeader, read_header};

/// What a restore (or a verification) found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RestoreSummary {
    pub files: usize,
    pub data_bytes: u64,
    pub tenants: Vec<String>,
    /// When the backup was made (nothing after it is in it).
    pub backup_created_at: String,
    pub online: bool,
}

fn summary(header: &BackupHeader, manifest: &Manifest) -> RestoreSummary {
    RestoreSummary {
        files: manifest.files.len(),
        data_bytes: manifest.bytes,
        tenants: manifest.tenants.clone(),
        backup_created_at: header.created_at.clone(),
        online: manifest.online,
    }
}

struct Discard;

impl Sink for Discard {
    fn dir(&mut self, _path: &str) -> Result<(), BackupError> {
        Ok(())
    }
    fn file(&mut self, _path: &str, _size: u64, input: &mut dyn Read) -> Result<(), BackupError> {
        std::io::copy(input, &mut std::io::sink()).map_err(BackupError::from_io)?;
        Ok(())
    }
}

/// Reads the whole backup and checks everything a restore checks, writing nothing.
pub fn verify<R: Read>(input: R, master: &MasterKey) -> Result<RestoreSummary, BackupError> {
    let mut reader = read_header(BufReader::new(input), master)?;
    let manifest = read_archive(&mut reader, &mut Discard)?;
    Ok(summary(&reader.header, &manifest))
}

struct ToDisk {
    root: PathBuf,
}

fn io(what: &str) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |e| BackupError::Io(format!("restoring {what}: {e}"))
}

impl Sink for ToDisk {
    fn dir(&mut self, path: &str) -> Result<(), BackupError> {
        std::fs::create_dir_all(self.root.join(path)).map_err(io(path))
    }

    fn file(&mut self, path: &str, _size: u64, input: &mut dyn Read) -> Result<(), BackupError> {
        let target = self.root.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io(path))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&target).map_err(io(path))?;
        std::io::copy(input, &mut file).map_err(|e| match e.get_ref() {
            Some(inner) if inner.is::<BackupError>() => BackupError::from_io(e),
            _ => io(path)(e),
        })?;
        file.flush().map_err(io(path))?;
        file.sync_all().map_err(io(path))
    }
}

fn sync_dirs(root: &Path) -> Result<(), BackupError> {
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for item in std::fs::read_dir(&dir).map_err(io("directories"))? {
            let item = item.map_err(io("directories"))?;
            if item.file_type().map_err(io("directories"))?.is_dir() {
                stack.push(item.path());
            }
        }
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io("directories"))?;
    }
    Ok(())
}

/// Restores `input` into `target`, which must not exist (or be an empty directory). Everything
/// is checked while it is written into a hidden sibling directory, which becomes `target` only
/// when the whole backup proved intact; on any failure nothing is left behind. The master key
/// file is written too, unless `STEWARD_MASTER_KEY` supplies the key.
///
/// `prepare` runs on the checked directory before it takes its name (the CLI puts the erasure
/// ledger and the replay marker there, so the directory never appears without them).
/// A restore into the same target at once is refused; a partial directory left by a killed
/// restore is removed by the next.
pub fn restore<R: Read>(
    input: R,
    master: &MasterKey,
    target: &Path,
    prepare: &mut dyn FnMut(&Path) -> Result<(), BackupError>,
) -> Result<RestoreSummary, BackupError> {
    let shown = target.display().to_string();
    match std::fs::read_dir(target) {
        Ok(mut items) => {
            if items.next().is_some() {
                return Err(BackupError::TargetExists(shown));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) => return Err(BackupError::TargetExists(shown)),
    }
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| BackupError::Io("the restore target needs a file name".into()))?;
    std::fs::create_dir_all(&parent).map_err(io("the target's parent"))?;
    let lock_path = parent.join(format!(".{name}.restore-lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io("the restore lock"))?;
    if !crate::datadir::try_flock(&lock) {
        return Err(BackupError::TargetExists(format!(
            "{shown} (another restore into it is running)"
        )));
    }
    let partial = parent.join(format!(".{name}.restoring"));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(io("a previous partial restore"))?;
    }
    std::fs::create_dir(&partial).map_err(io("the partial directory"))?;
    let outcome = (|| {
        let mut reader = read_header(BufReader::new(input), master)?;
        let manifest = read_archive(
            &mut reader,
            &mut ToDisk {
                root: partial.clone(),
            },
        )?;
        if !partial.join("STEWARD").is_file() || !partial.join("system.redb").is_file() {
            return Err(BackupError::Damaged("no data directory in it"));
        }
        if std::env::var_os(steward_crypto::MASTER_KEY_ENV).is_none() {
            master
                .write_file(&partial.join("master.key"))
                .map_err(|e| BackupError::Engine(e.into()))?;
        }
        prepare(&partial)?;
        sync_dirs(&partial)?;
        Ok(summary(&reader.header, &manifest))
    })();
    let summary = match outcome {
        Ok(summary) => summary,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    if target.exists() {
        std::fs::remove_dir(target).map_err(io("the empty target"))?;
    }
    std::fs::rename(&partial, target).map_err(io("the target"))?;
    std::fs::File::open(&parent)
        .and_then(|d| d.sync_all())
        .map_err(io("the target's parent"))?;
    drop(lock);
    let _ = std::fs::remove_file(&lock_path);
    Ok(summary)
}
