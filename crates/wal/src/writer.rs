//! The file side of the log: the open current file, the closed files, writing and fsyncing one
//! frame, rotation and truncation. Callers serialize access through the `Wal`'s writer mutex.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{WalError, io_error};
use crate::fsio::{SharedVfs, VfsFile};
use crate::{FileMeta, Lsn, WalFileInfo, fsio};

/// Owner of the WAL files.
#[derive(Debug)]
pub(crate) struct Writer {
    vfs: SharedVfs,
    dir: PathBuf,
    file_bytes_max: u64,
    file: Box<dyn VfsFile>,
    current: FileMeta,
    /// Closed files, oldest first; all their frames were fsynced before they were closed.
    closed: VecDeque<FileMeta>,
    /// Test hook: make the next frame write fail like a full disk would.
    #[cfg(test)]
    pub fail_writes: bool,
}

impl Writer {
    /// Continues in the last recovered file, or creates the first file at `last_lsn + 1`.
    pub fn start(
        vfs: SharedVfs,
        dir: &Path,
        file_bytes_max: u64,
        mut files: Vec<FileMeta>,
        last_lsn: Lsn,
    ) -> Result<Self, WalError> {
        let (file, current) = match files.pop() {
            Some(last) => {
                debug_assert_eq!(last.last_lsn, last_lsn);
                let file = fsio::open_for_append(&*vfs, &last.path)?;
                (file, last)
            }
            None => new_file(&*vfs, dir, last_lsn + 1)?,
        };
        Ok(Writer {
            vfs,
            dir: dir.to_path_buf(),
            file_bytes_max,
            file,
            current,
            closed: files.into(),
            #[cfg(test)]
            fail_writes: false,
        })
    }

    /// Writes one encoded frame with a single `write_all` and fdatasyncs it, rotating first if the
    /// frame would push a non-empty file past `file_bytes_max`. Any error leaves the file in an
    /// unknown state; the caller must poison the log.
    pub fn write_frame(
        &mut self,
        frame: &[u8],
        first_lsn: Lsn,
        last_lsn: Lsn,
    ) -> Result<(), WalError> {
        assert_eq!(
            first_lsn,
            self.current.last_lsn + 1,
            "frames reach the writer in lsn order"
        );
        let frame_bytes = frame.len() as u64;
        if self.current.has_records()
            && self.current.bytes.saturating_add(frame_bytes) > self.file_bytes_max
        {
            self.rotate()?;
        }
        #[cfg(test)]
        if self.fail_writes {
            return Err(WalError::Io {
                op: "write",
                path: self.current.path.clone(),
                source: std::io::Error::other("injected failure"),
            });
        }
        self.file
            .write_all(frame)
            .map_err(io_error("write", &self.current.path))?;
        let started = Instant::now();
        self.file
            .sync_data()
            .map_err(io_error("fdatasync", &self.current.path))?;
        metrics::histogram!("steward_wal_fsync_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("steward_wal_frames_total").increment(1);
        metrics::counter!("steward_wal_bytes_total").increment(frame_bytes);
        self.current.bytes += frame_bytes;
        self.current.last_lsn = last_lsn;
        Ok(())
    }

    /// Closes the current file (if it holds records) and starts a new one; returns the last lsn in
    /// the closed files. Errors leave a possibly half-created file behind: poison the log.
    pub fn rotate(&mut self) -> Result<Lsn, WalError> {
        if !self.current.has_records() {
            // A new file would have the same name; the closed files already end right before it.
            return Ok(self.current.first_lsn - 1);
        }
        let (file, meta) = new_file(&*self.vfs, &self.dir, self.current.last_lsn + 1)?;
        let closed = std::mem::replace(&mut self.current, meta);
        self.file = file;
        let last = closed.last_lsn;
        tracing::debug!(file = %closed.path.display(), last_lsn = last, "closed wal file");
        self.closed.push_back(closed);
        Ok(last)
    }

    /// Deletes closed files, oldest first, while all their records are at or below `lsn`.
    pub fn truncate_through(&mut self, lsn: Lsn) -> Result<u64, WalError> {
        let mut removed = 0;
        while let Some(oldest) = self.closed.front() {
            if oldest.last_lsn > lsn {
                break;
            }
            fsio::remove_file_durably(&*self.vfs, &self.dir, &oldest.path)?;
            tracing::debug!(file = %oldest.path.display(), last_lsn = oldest.last_lsn, "removed wal file");
            self.closed.pop_front();
            removed += 1;
        }
        Ok(removed)
    }

    /// All files, oldest first, the current one last.
    pub fn files(&self) -> Vec<WalFileInfo> {
        self.closed
            .iter()
            .map(|meta| meta.info(true))
            .chain(std::iter::once(self.current.info(false)))
            .collect()
    }
}

fn new_file(
    vfs: &dyn fsio::Vfs,
    dir: &Path,
    first_lsn: Lsn,
) -> Result<(Box<dyn VfsFile>, FileMeta), WalError> {
    let (file, path) = fsio::create_wal_file(vfs, dir, first_lsn)?;
    let meta = FileMeta {
        path,
        first_lsn,
        last_lsn: first_lsn - 1,
        bytes: crate::format::FILE_HEADER_BYTES as u64,
    };
    Ok((file, meta))
}
