//! Error types of the WAL: what can go wrong opening, replaying and appending.

use std::io;
use std::path::{Path, PathBuf};

use crate::Lsn;

/// Failure of the caller's replay callback; boxed so the caller can pass any error through
/// `Wal::open` and get it back in [`WalError::Replay`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ReplayError(pub Box<dyn std::error::Error + Send + Sync + 'static>);

impl ReplayError {
    /// Wraps any error (or a `String` / `&str` message).
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        ReplayError(error.into())
    }
}

/// Everything the WAL can fail with.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An operating-system call failed; `op` says which, `path` on what.
    #[error("wal {op} failed on {}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The log on disk is damaged somewhere other than a torn tail; `offset` is the byte offset in
    /// `file` of the bad frame (0 for a bad file header or a file-level lsn mismatch).
    #[error("wal corrupted in {} at byte offset {offset}: {reason}", file.display())]
    Corrupted {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    /// One payload is larger than `WalConfig::record_bytes_max`.
    #[error("wal record of {bytes} bytes exceeds record_bytes_max of {max} bytes")]
    RecordTooLarge { bytes: usize, max: u32 },
    /// One `append_many` call does not fit in a single frame of the on-disk format.
    #[error("wal batch of {bytes} bytes exceeds the format's frame limit of {max} bytes")]
    BatchTooLarge { bytes: usize, max: usize },
    /// `append_many` was called without payloads, so there is no lsn range to return.
    #[error("wal append_many called with no payloads")]
    EmptyBatch,
    /// An earlier write, fsync or file creation failed; the state of the file is unknown, so the
    /// log refuses further writes until it is reopened (which recovers from what is on disk).
    #[error("wal is poisoned by an earlier write or fsync failure; reopen it to recover")]
    Poisoned,
    /// The caller's replay callback failed.
    #[error("wal replay callback failed")]
    Replay(#[source] ReplayError),
    /// The log ends before `after_lsn`: records the caller says it already applied are not in the
    /// log, so the log cannot be the one the caller wrote (or lost its tail).
    #[error("wal ends at lsn {last_lsn} but the caller has applied through lsn {after_lsn}")]
    LogBehindCaller { after_lsn: Lsn, last_lsn: Lsn },
}

impl From<ReplayError> for WalError {
    fn from(error: ReplayError) -> Self {
        WalError::Replay(error)
    }
}

/// Builds a `map_err` adapter that tags an `io::Error` with the operation and path.
pub(crate) fn io_error(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WalError {
    let path = path.to_path_buf();
    move |source| WalError::Io { op, path, source }
}

/// Shorthand for [`WalError::Corrupted`].
pub(crate) fn corrupted(file: &Path, offset: usize, reason: impl Into<String>) -> WalError {
    WalError::Corrupted {
        file: file.to_path_buf(),
        offset: offset as u64,
        reason: reason.into(),
    }
}
