//! File-system steps the format relies on: creating a file with its magic durably, cutting a
//! torn tail, and the append-only writers of `records.log` and `heads.log`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{AuditError, io_error};

/// Fsyncs a directory so that a file creation in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    let handle = File::open(dir).map_err(io_error("open directory", dir))?;
    handle.sync_all().map_err(io_error("fsync directory", dir))
}

/// (Re)creates `path` holding only `magic`, durably (file and directory entry), so a record is
/// never acknowledged in a file that a crash could make vanish.
pub(crate) fn create_with_magic(dir: &Path, path: &Path, magic: &[u8]) -> Result<(), AuditError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io_error("create", path))?;
    file.write_all(magic)
        .map_err(io_error("write header", path))?;
    file.sync_all().map_err(io_error("fsync", path))?;
    sync_dir(dir)
}

/// Cuts `path` to `len` bytes and fsyncs it, so later frames never follow torn bytes.
pub(crate) fn truncate(path: &Path, len: u64) -> Result<(), AuditError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_error("open for truncation", path))?;
    file.set_len(len).map_err(io_error("truncate", path))?;
    file.sync_all().map_err(io_error("fsync", path))
}

/// An append-only file written with one `write_all` and one `fdatasync` per call.
#[derive(Debug)]
pub(crate) struct Appender {
    path: PathBuf,
    file: File,
    /// Test hook: make the next write fail like a full disk would.
    #[cfg(test)]
    pub fail_writes: bool,
}

impl Appender {
    pub fn open(path: &Path) -> Result<Appender, AuditError> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io_error("open for append", path))?;
        Ok(Appender {
            path: path.to_path_buf(),
            file,
            #[cfg(test)]
            fail_writes: false,
        })
    }

    /// Writes `bytes` at the end and makes them durable. Any error leaves the file in an unknown
    /// state; the caller must poison the log.
    pub fn write_durable(&mut self, bytes: &[u8]) -> Result<(), AuditError> {
        #[cfg(test)]
        if self.fail_writes {
            return Err(io_error("write", &self.path)(std::io::Error::other(
                "injected failure",
            )));
        }
        let started = Instant::now();
        self.file
            .write_all(bytes)
            .map_err(io_error("write", &self.path))?;
        self.file
            .sync_data()
            .map_err(io_error("fdatasync", &self.path))?;
        metrics::histogram!("steward_audit_fsync_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("steward_audit_bytes_total").increment(bytes.len() as u64);
        Ok(())
    }
}
