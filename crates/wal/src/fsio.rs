//! The file system behind [`Vfs`], so tests can fail I/O after a countdown and rebuild the
//! exact file image a crash leaves (`sim.rs`), plus the durability steps the log's format relies
//! on (file and directory fsync).
//!
//! The log appends ([`VfsFile`]); the store above it also renames segment files into place,
//! reads them ([`ReadSource`]) and rewrites its catalog's pages in place ([`VfsRandomFile`]).
//! The trait lives here, the lowest crate, so both use one file system without a cycle.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{WalError, io_error};
use crate::{Lsn, format};

/// One open file the log appends to.
pub trait VfsFile: Send + std::fmt::Debug {
    /// Appends `bytes` (one call per frame).
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes the data written so far durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;
    /// Makes data and metadata durable (`fsync`).
    fn sync_all(&mut self) -> io::Result<()>;
}

/// One open file read and written at any offset (the store's catalog: redb rewrites pages in
/// place). Shared across threads.
#[allow(clippy::len_without_is_empty)] // a file's length, as redb's `StorageBackend` has it
pub trait VfsRandomFile: Send + Sync + std::fmt::Debug {
    fn len(&self) -> io::Result<u64>;
    /// Fills `out` from `offset`; an error if the file ends first.
    fn read_at(&self, offset: u64, out: &mut [u8]) -> io::Result<()>;
    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()>;
    /// Cuts the file, or extends it with zeros, to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes the data written so far, and the length, durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// Takes an exclusive lock on the whole file without waiting; false when another open
    /// handle holds it.
    fn try_lock(&self) -> io::Result<bool>;
    fn unlock(&self) -> io::Result<()>;
}

/// A file's bytes for a reader (the store's segments): the open file itself in production, so
/// a reader seeks and reads only the pages it needs; a copy in memory in the simulation.
#[derive(Debug)]
pub enum ReadSource {
    File(File),
    Bytes(Vec<u8>),
}

/// The operations the log and the store need from a file system. Names, creations, renames and
/// removals are durable only after [`Vfs::sync_dir`] of their directory (a rename: of both);
/// data only after a file's sync.
pub trait Vfs: Send + Sync + std::fmt::Debug {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Entries of `dir` as `(name, is a regular file)`.
    fn list(&self, dir: &Path) -> io::Result<Vec<(String, bool)>>;
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Creates `path`, failing if it exists.
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn VfsFile>>;
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn VfsFile>>;
    /// Cuts `path` to `len` bytes and fsyncs it.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Renames `from` to `to`, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// The length of the file at `path`.
    fn file_len(&self, path: &Path) -> io::Result<u64>;
    /// Opens `path` for reading.
    fn open_read(&self, path: &Path) -> io::Result<ReadSource>;
    /// Opens `path` for reading and writing at any offset, creating it empty when `create` is
    /// set and it does not exist (the new name is durable after [`Vfs::sync_dir`]).
    fn open_random(&self, path: &Path, create: bool) -> io::Result<Box<dyn VfsRandomFile>>;
}

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsVfs;

impl VfsFile for File {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        Write::write_all(self, bytes)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn sync_all(&mut self) -> io::Result<()> {
        File::sync_all(self)
    }
}

impl Vfs for OsVfs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<(String, bool)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            out.push((name, entry.file_type()?.is_file()));
        }
        Ok(out)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        Ok(Box::new(
            OpenOptions::new().write(true).create_new(true).open(path)?,
        ))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        Ok(Box::new(OpenOptions::new().append(true).open(path)?))
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }
    fn open_read(&self, path: &Path) -> io::Result<ReadSource> {
        Ok(ReadSource::File(File::open(path)?))
    }
    fn open_random(&self, path: &Path, create: bool) -> io::Result<Box<dyn VfsRandomFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)?;
        Ok(Box::new(file))
    }
}

impl VfsRandomFile for File {
    fn len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn read_at(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        positioned::read_exact_at(self, offset, out)
    }
    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        positioned::write_all_at(self, offset, bytes)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn try_lock(&self) -> io::Result<bool> {
        match File::try_lock(self) {
            Ok(()) => Ok(true),
            Err(fs::TryLockError::WouldBlock) => Ok(false),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
    fn unlock(&self) -> io::Result<()> {
        File::unlock(self)
    }
}

/// Reads and writes at an offset without moving a shared cursor (concurrent readers).
#[cfg(unix)]
mod positioned {
    use std::fs::File;
    use std::io;
    use std::os::unix::fs::FileExt;

    pub fn read_exact_at(file: &File, offset: u64, out: &mut [u8]) -> io::Result<()> {
        FileExt::read_exact_at(file, out, offset)
    }
    pub fn write_all_at(file: &File, offset: u64, bytes: &[u8]) -> io::Result<()> {
        FileExt::write_all_at(file, bytes, offset)
    }
}

#[cfg(windows)]
mod positioned {
    use std::fs::File;
    use std::io;
    use std::os::windows::fs::FileExt;

    pub fn read_exact_at(file: &File, mut offset: u64, mut out: &mut [u8]) -> io::Result<()> {
        while !out.is_empty() {
            match file.seek_read(out, offset)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => {
                    out = &mut out[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
    pub fn write_all_at(file: &File, mut offset: u64, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match file.seek_write(bytes, offset)? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => {
                    bytes = &bytes[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
}

/// The file system a log uses, shared by its recovery and its writer.
pub type SharedVfs = Arc<dyn Vfs>;

/// Fsyncs a directory so that file creations, renames and deletions in it survive a crash.
pub(crate) fn sync_dir(vfs: &dyn Vfs, dir: &Path) -> Result<(), WalError> {
    vfs.sync_dir(dir).map_err(io_error("fsync directory", dir))
}

/// WAL files in `dir` as `(first lsn from the name, path)`, sorted by lsn. Other names are ignored
/// so that temporary files of other tools never break recovery.
pub(crate) fn list_wal_files(vfs: &dyn Vfs, dir: &Path) -> Result<Vec<(Lsn, PathBuf)>, WalError> {
    let mut files = Vec::new();
    for (name, is_file) in vfs.list(dir).map_err(io_error("list directory", dir))? {
        let Some(first_lsn) = format::parse_file_name(&name) else {
            continue;
        };
        let path = dir.join(&name);
        if !is_file {
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
pub(crate) fn create_wal_file(
    vfs: &dyn Vfs,
    dir: &Path,
    first_lsn: Lsn,
) -> Result<(Box<dyn VfsFile>, PathBuf), WalError> {
    let path = dir.join(format::file_name(first_lsn));
    let mut file = vfs.create_new(&path).map_err(io_error("create", &path))?;
    file.write_all(&format::encode_file_header(first_lsn))
        .map_err(io_error("write header", &path))?;
    file.sync_all().map_err(io_error("fsync", &path))?;
    sync_dir(vfs, dir)?;
    Ok((file, path))
}

/// Opens an existing file for appending frames after its (validated) end.
pub(crate) fn open_for_append(vfs: &dyn Vfs, path: &Path) -> Result<Box<dyn VfsFile>, WalError> {
    vfs.open_append(path)
        .map_err(io_error("open for append", path))
}

/// Cuts `path` to `len` bytes and fsyncs it, so that later frames never follow torn bytes.
pub(crate) fn truncate_file(vfs: &dyn Vfs, path: &Path, len: u64) -> Result<(), WalError> {
    vfs.truncate(path, len).map_err(io_error("truncate", path))
}

/// Deletes `path` and fsyncs its directory; one fsync per file keeps deletions ordered, so a crash
/// can only resurrect a suffix of the deleted files and never leave a gap in the log.
pub(crate) fn remove_file_durably(vfs: &dyn Vfs, dir: &Path, path: &Path) -> Result<(), WalError> {
    vfs.remove(path).map_err(io_error("remove", path))?;
    sync_dir(vfs, dir)
}
