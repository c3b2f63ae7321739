//! Shutdown markers: whether a log's writer closed it cleanly, is still running, or crashed.
//! This tells a torn final frame (a crash cut the last write) apart from damage.
//!
//! Two empty files in the log's directory (specified in `FORMAT.md` §4.4):
//! - `open.marker` exists from the moment a writer opens the log until it is closed cleanly. A
//!   crash (or a handle dropped without [`AuditLog::close`](crate::AuditLog::close)) leaves it
//!   behind, so a torn final frame is tolerated (and reported).
//! - `closed.marker` replaces it (one atomic rename) once [`AuditLog::close`](crate::AuditLog::close)
//!   has made every record durable and signed a head covering all of them. Then no frame may be
//!   torn and the last signed head must cover every record.
//! - Neither: a log last written before these markers existed (or whose markers were removed).
//!   A torn frame counts as damage; records after the last signed head are allowed.
//!
//! Each marker write is durable: the file is fsynced, then the directory.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

use crate::error::{AuditError, io_error};
use crate::files::sync_dir;

/// Present while a writer has the log open; left behind by a crash.
pub const OPEN_MARKER_FILE: &str = "open.marker";
/// Present after a clean close; renamed back to `open.marker` when the log is opened again.
pub const CLOSED_MARKER_FILE: &str = "closed.marker";

/// How a log was last left, read from its markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownState {
    /// `open.marker` exists (whether or not `closed.marker` does too): a writer has the log open,
    /// or crashed. A torn final frame of either file is a crash, tolerated and reported.
    Open,
    /// Only `closed.marker` exists: closed by [`AuditLog::close`](crate::AuditLog::close).
    /// Every frame must be intact and the last signed head must cover every record.
    Closed,
    /// No marker: last written before markers existed, or the markers were removed. Every frame
    /// must be intact; records after the last signed head are allowed (with a warning).
    Unmarked,
}

impl ShutdownState {
    /// `"open"`, `"closed"` or `"unmarked"` (the form in reports and in `heads.json`).
    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownState::Open => "open",
            ShutdownState::Closed => "closed",
            ShutdownState::Unmarked => "unmarked",
        }
    }

    /// Whether a damaged final frame may be a torn write (only while the log is marked open).
    pub fn tolerates_torn_tail(self) -> bool {
        self == ShutdownState::Open
    }

    /// Whether the last signed head must cover every record (a clean close signs them all).
    pub fn requires_every_record_signed(self) -> bool {
        self == ShutdownState::Closed
    }
}

impl std::fmt::Display for ShutdownState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads the markers of the log in `dir` (a missing directory is [`ShutdownState::Unmarked`]).
pub fn shutdown_state(dir: &Path) -> io::Result<ShutdownState> {
    if dir.join(OPEN_MARKER_FILE).try_exists()? {
        Ok(ShutdownState::Open)
    } else if dir.join(CLOSED_MARKER_FILE).try_exists()? {
        Ok(ShutdownState::Closed)
    } else {
        Ok(ShutdownState::Unmarked)
    }
}

/// Marks the log open, durably, before the writer changes any byte of it: renames
/// `closed.marker` to `open.marker`, or creates `open.marker`. Nothing to do if already open.
pub(crate) fn mark_open(dir: &Path, state: ShutdownState) -> Result<(), AuditError> {
    let open = dir.join(OPEN_MARKER_FILE);
    match state {
        ShutdownState::Open => return Ok(()),
        ShutdownState::Closed => {
            let closed = dir.join(CLOSED_MARKER_FILE);
            std::fs::rename(&closed, &open).map_err(io_error("rename shutdown marker", &closed))?;
        }
        ShutdownState::Unmarked => {
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&open)
                .map_err(io_error("create", &open))?;
            file.sync_all().map_err(io_error("fsync", &open))?;
        }
    }
    sync_dir(dir)
}

/// Marks the log closed cleanly, durably: renames `open.marker` to `closed.marker` (atomic, so
/// a crash leaves exactly one of them) and fsyncs the directory. Call only once every record is
/// durable and covered by a durable signed head.
pub(crate) fn mark_closed(dir: &Path) -> Result<(), AuditError> {
    let open = dir.join(OPEN_MARKER_FILE);
    std::fs::rename(&open, dir.join(CLOSED_MARKER_FILE))
        .map_err(io_error("rename shutdown marker", &open))?;
    sync_dir(dir)
}
