//! File-system helpers with the durability steps the format relies on (file and directory fsync).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{WalError, io_error};
use crate::{Lsn, format};

/// Fsyncs a directory so that file creations, renames and deletions in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    let handle = File::open(dir).map_err(io_error("open directory", dir))?;
    handle.sync_all().map_err(io_error("fsync directory", dir))
}

/// WAL files in `dir` as `(first lsn from the name, path)`, sorted by lsn. Other names are ignored
/// so that temporary files of other tools never break recovery.
pub(crate) fn list_wal_files(dir: &Path) -> Result<Vec<(Lsn, PathBuf)>, WalError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error("list directory", dir))? {
        let entry = entry.map_err(io_error("list directory", dir))?;
        let name = entry.file_name();
        let Some(first_lsn) = name.to_str().and_then(format::parse_file_name) else {
            continue;
        };
        let path = entry.path();
        let kind = entry.file_type().map_err(io_error("stat", &path))?;
        if !kind.is_file() {
            return Err(crate::error::corrupted(
                &path,
                0,
                "wal entry is not a regular file",
            ));
        }
        files.push((first_lsn, path));
    }
    files.sort_unstable_by_key(|(lsn, _)| *lsn);
    Ok(files)
}

/// Creates the file that starts at `first_lsn`, writes its header and makes both the file and its
/// directory entry durable before returning, so that no frame is ever acknowledged in a file that
/// could vanish in a crash.
pub(crate) fn create_wal_file(dir: &Path, first_lsn: Lsn) -> Result<(File, PathBuf), WalError> {
    let path = dir.join(format::file_name(first_lsn));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io_error("create", &path))?;
    file.write_all(&format::encode_file_header(first_lsn))
        .map_err(io_error("write header", &path))?;
    file.sync_all().map_err(io_error("fsync", &path))?;
    sync_dir(dir)?;
    Ok((file, path))
}

/// Opens an existing file for appending frames after its (validated) end.
pub(crate) fn open_for_append(path: &Path) -> Result<File, WalError> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io_error("open for append", path))
}

/// Cuts `path` to `len` bytes and fsyncs it, so that later frames never follow torn bytes.
pub(crate) fn truncate_file(path: &Path, len: u64) -> Result<(), WalError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_error("open for truncation", path))?;
    file.set_len(len).map_err(io_error("truncate", path))?;
    file.sync_all().map_err(io_error("fsync", path))
}

/// Deletes `path` and fsyncs its directory; one fsync per file keeps deletions ordered, so a crash
/// can only resurrect a suffix of the deleted files and never leave a gap in the log.
pub(crate) fn remove_file_durably(dir: &Path, path: &Path) -> Result<(), WalError> {
    fs::remove_file(path).map_err(io_error("remove", path))?;
    sync_dir(dir)
}
