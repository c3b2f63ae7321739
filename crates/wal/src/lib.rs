//! steward-wal: a write-ahead log of opaque payloads, durable (fsynced) before acknowledgement,
//! checksummed, strictly ordered by lsn, with group commit across concurrent writers.
//!
//! The log knows nothing of tenants, keys or events: callers encrypt payloads before appending.
//! See `format.md` for the on-disk format and the recovery rules.

mod commit;
mod error;
mod fsio;
mod recovery;
mod wal;
mod writer;

pub mod format;
pub mod frame;
pub mod sim;

use std::path::PathBuf;

pub use error::{ReplayError, WalError};
pub use fsio::{OsVfs, ReadSource, SharedVfs, Vfs, VfsFile, VfsRandomFile};
pub use recovery::read_file;
pub use wal::Wal;

/// Log sequence number: starts at 1, +1 per record, never reused. 0 means "nothing".
pub type Lsn = u64;

/// Size limits of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalConfig {
    /// Rotate to a new file before a frame would take a non-empty file past this size, which keeps
    /// recovery (it reads one file at a time into memory) and truncation granular.
    pub file_bytes_max: u64,
    /// Group commit stops adding writers to a frame at this size, bounding the queued memory and
    /// the latency of one write+fsync. A single `append_many` call is never split, so a frame holding
    /// only one call may be larger.
    pub frame_bytes_max: u64,
    /// Largest payload accepted, so a bad caller cannot make the log buffer unbounded data.
    pub record_bytes_max: u32,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            file_bytes_max: 64 << 20,
            frame_bytes_max: 16 << 20,
            record_bytes_max: 16 << 20,
        }
    }
}

/// What `Wal::open` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Records passed to the replay callback (those above `after_lsn`).
    pub records_replayed: u64,
    /// Valid frames read, including those holding only records at or below `after_lsn`.
    pub frames_read: u64,
    /// Last lsn in the log after recovery; the next append gets `last_lsn + 1`.
    pub last_lsn: Lsn,
    /// The torn tail that was cut off, if the last shutdown was a crash mid-write.
    pub torn_tail: Option<TornTail>,
}

/// A partially written frame (or file header) removed from the end of the log during recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub file: PathBuf,
    /// Byte offset of the torn frame: the file's new length (0 when a half-created file was removed).
    pub offset: u64,
    pub bytes_truncated: u64,
    /// The lsns the torn frame's header declares (never acknowledged: its write did not
    /// complete), when the header was written and starts where the log continues.
    pub lsns: Option<(Lsn, Lsn)>,
}

/// One WAL file, as listed by `Wal::files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalFileInfo {
    pub path: PathBuf,
    pub first_lsn: Lsn,
    /// `first_lsn - 1` when the file holds no records yet.
    pub last_lsn: Lsn,
    /// Valid bytes in the file, header included.
    pub bytes: u64,
    /// False only for the current file, which appends may still extend.
    pub closed: bool,
}

impl WalFileInfo {
    /// Number of records in the file.
    pub fn records(&self) -> u64 {
        self.last_lsn + 1 - self.first_lsn
    }
}

/// A WAL file as recovery found it and the writer tracks it.
#[derive(Debug, Clone)]
pub(crate) struct FileMeta {
    pub path: PathBuf,
    pub first_lsn: Lsn,
    /// `first_lsn - 1` while the file holds no records.
    pub last_lsn: Lsn,
    /// Valid length of the file: where the next frame goes.
    pub bytes: u64,
}

impl FileMeta {
    pub fn has_records(&self) -> bool {
        self.last_lsn >= self.first_lsn
    }

    pub fn info(&self, closed: bool) -> WalFileInfo {
        WalFileInfo {
            path: self.path.clone(),
            first_lsn: self.first_lsn,
            last_lsn: self.last_lsn,
            bytes: self.bytes,
            closed,
        }
    }
}
