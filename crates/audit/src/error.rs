//! Error types: appending and opening ([`AuditError`]), record validation ([`RecordError`]),
//! proof ranges ([`ProofError`]), offline verification and monitoring ([`VerifyError`]) and
//! saved heads ([`HeadJsonError`]).
//!
//! No error carries a record's string values: they are meant to be harmless, but an error is
//! logged, and a refused value is by definition one that did not pass the charset check.

use std::io;
use std::path::{Path, PathBuf};

/// A record that cannot be encoded (or leaf bytes that do not decode); names the field only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid audit record field {field}: {reason}")]
pub struct RecordError {
    pub field: &'static str,
    pub reason: &'static str,
}

impl RecordError {
    pub(crate) fn new(field: &'static str, reason: &'static str) -> RecordError {
        RecordError { field, reason }
    }
}

/// A saved head (the JSON of [`head_json`](crate::head_json)) that cannot be read; names the
/// field only, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("saved head field {field}: {reason}")]
pub struct HeadJsonError {
    pub field: &'static str,
    pub reason: &'static str,
}

/// A proof or root asked for outside the tree.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of {tree_size} leaves")]
    IndexOutOfRange { index: u64, tree_size: u64 },
    #[error("tree size {size} exceeds the log's {tree_size} durable records")]
    SizeOutOfRange { size: u64, tree_size: u64 },
    #[error("consistency proof from size {from} to the smaller size {to}")]
    FromAfterTo { from: u64, to: u64 },
}

/// Everything opening, appending to, signing or exporting an audit log can fail with.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// An operating-system call failed; `op` says which, `path` on what.
    #[error("audit log {op} failed on {}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file is damaged (a torn tail counts as damage unless the log is marked open, see
    /// `FORMAT.md` §4.4), or disagrees with a signed head. `index` is the record index concerned
    /// when there is one.
    #[error("audit log corrupted in {} at byte offset {offset} (record {index:?}): {reason}", file.display())]
    Corrupted {
        file: PathBuf,
        offset: u64,
        index: Option<u64>,
        reason: String,
    },
    /// The record cannot be audited as given (charset, bounds); nothing was appended.
    #[error(transparent)]
    InvalidRecord(#[from] RecordError),
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// `append_durable` was called with no records, so there is no index to return.
    #[error("audit append called with no records")]
    EmptyBatch,
    /// One `append_durable` call larger than `COMMIT_BYTES_MAX` once framed; split it.
    #[error("audit batch of {bytes} bytes exceeds COMMIT_BYTES_MAX of {max} bytes")]
    BatchTooLarge { bytes: usize, max: usize },
    /// The batched queue is at its bound (the disk is not keeping up); the caller must refuse
    /// the request it wanted to audit.
    #[error("audit queue full ({waiting} batched records waiting); failing closed")]
    QueueFull { waiting: usize },
    /// An earlier write or fsync failed; the file's state is unknown, so every append is refused
    /// until the log is reopened (which recovers from what is on disk).
    #[error("audit log is poisoned by an earlier write or fsync failure; reopen it to recover")]
    Poisoned,
    /// [`AuditLog::close`](crate::AuditLog::close) was called: the log takes no more records or
    /// heads (reopen it to write again).
    #[error("audit log is closed; reopen it to append")]
    Closed,
    /// The log was opened for another tenant than its signed heads name.
    #[error("audit log heads belong to another tenant than the one it was opened for")]
    TenantMismatch,
    /// The tenant id is not a valid audit string.
    #[error("invalid tenant id for the audit log: {0}")]
    InvalidTenant(RecordError),
}

/// Builds a `map_err` adapter that tags an `io::Error` with the operation and path.
pub(crate) fn io_error(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> AuditError {
    let path = path.to_path_buf();
    move |source| AuditError::Io { op, path, source }
}

/// What is wrong with the record at the index a [`VerifyError::BadRecord`] names.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// The frame's CRC-32C does not match (a flipped byte), or its length field is impossible.
    Checksum,
    /// The frame is intact but its leaf bytes are not a canonical record.
    Undecodable,
    /// The frame claims a later index: records are missing here (dropped) or moved (reordered).
    Missing { claimed: u64 },
    /// The frame claims an earlier index: a record was moved here (reordered) or duplicated.
    Moved { claimed: u64 },
    /// The record here is extra: the frame after it is the genuine record of this index.
    Inserted,
    /// The frame claims the right index but does not chain to the record before it.
    Chain,
    /// The final frame ends past the end of the file (or in zeros), and no open marker says the
    /// writer crashed: in a log closed cleanly (or unmarked) that is damage, not a torn write.
    Incomplete,
}

impl std::fmt::Display for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tamper::Checksum => write!(f, "checksum mismatch (altered bytes)"),
            Tamper::Undecodable => write!(f, "record does not decode"),
            Tamper::Missing { claimed } => write!(
                f,
                "record claims index {claimed}: records dropped or reordered"
            ),
            Tamper::Moved { claimed } => write!(
                f,
                "record claims index {claimed}: records reordered or duplicated"
            ),
            Tamper::Inserted => write!(f, "record inserted"),
            Tamper::Chain => write!(f, "record does not chain to its predecessor"),
            Tamper::Incomplete => write!(
                f,
                "final frame cut short, and no open marker says the writer crashed"
            ),
        }
    }
}

/// Why `verify_dir` rejected a log. [`first_bad_index`](VerifyError::first_bad_index) gives the
/// index the CLI names.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("audit verify could not {op} {}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file does not start with its magic bytes.
    #[error("{} is not an audit log file", path.display())]
    NotAuditFile { path: PathBuf },
    /// The record at `index` (byte `offset` in records.log) was altered, dropped, moved or inserted.
    #[error("record {index} (byte offset {offset}): {tamper}")]
    BadRecord {
        index: u64,
        offset: u64,
        tamper: Tamper,
    },
    /// Signed head number `head` (0-based, in heads.log order) is damaged or not validly signed.
    #[error("signed head #{head}: {reason}")]
    BadHead { head: usize, reason: &'static str },
    /// Every frame checks out but the recomputed root at `size` differs from signed head number
    /// `head`: the records were rewritten consistently (CRCs and indexes recomputed). The first
    /// record not covered by an earlier verified head is `first_unproven`.
    #[error(
        "signed head #{head} for size {size} does not match the records; first unproven record is {first_unproven}"
    )]
    RootMismatch {
        head: usize,
        size: u64,
        first_unproven: u64,
    },
    /// Signed head number `head` covers `size` records but the log holds only `records`: the log
    /// was truncated, and record `records` is the first missing one.
    #[error(
        "signed head #{head} covers {size} records but the log ends after {records}; record {records} is missing"
    )]
    Truncated {
        head: usize,
        size: u64,
        records: u64,
    },
    /// The log was closed cleanly (`closed.marker`), which signs every record, yet records
    /// `signed_size..records` are covered by no signed head: heads were removed or records added.
    #[error(
        "records {signed_size}..{records} are covered by no signed head, but the log was closed cleanly (a clean close signs every record): heads were removed or records added"
    )]
    UnsignedTail { signed_size: u64, records: u64 },
    /// The head saved by a monitor is not a valid head of this log (bad signature, another
    /// tenant).
    #[error("saved head: {reason}")]
    SavedHead { reason: &'static str },
    /// The saved head covers more records than the log now holds: records were removed.
    #[error(
        "the saved head covers {saved_size} records but the log now holds {records}; record {records} is missing"
    )]
    RolledBack { saved_size: u64, records: u64 },
    /// The consistency proof from the saved head to the current log does not verify: records
    /// the saved head covered were rewritten. Records up to `first_unproven` are proven by a
    /// signed head still in the log.
    #[error(
        "the log is not a consistent extension of the saved head of size {saved_size} (consistency proof to size {size} fails): records it covered were rewritten; first unproven record is {first_unproven}"
    )]
    Inconsistent {
        saved_size: u64,
        size: u64,
        first_unproven: u64,
    },
}

impl VerifyError {
    /// The first record index known to be bad, when the failure is about records.
    pub fn first_bad_index(&self) -> Option<u64> {
        match self {
            VerifyError::BadRecord { index, .. } => Some(*index),
            VerifyError::RootMismatch { first_unproven, .. } => Some(*first_unproven),
            VerifyError::Truncated { records, .. } => Some(*records),
            VerifyError::UnsignedTail { signed_size, .. } => Some(*signed_size),
            VerifyError::RolledBack { records, .. } => Some(*records),
            VerifyError::Inconsistent { first_unproven, .. } => Some(*first_unproven),
            VerifyError::Io { .. }
            | VerifyError::NotAuditFile { .. }
            | VerifyError::BadHead { .. }
            | VerifyError::SavedHead { .. } => None,
        }
    }
}

impl VerifyError {
    /// The signed head (0-based, in `heads.log` order) the failure is about, when there is one.
    pub fn bad_head(&self) -> Option<usize> {
        match self {
            VerifyError::BadHead { head, .. }
            | VerifyError::RootMismatch { head, .. }
            | VerifyError::Truncated { head, .. } => Some(*head),
            _ => None,
        }
    }
}

pub(crate) fn verify_io(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> VerifyError {
    let path = path.to_path_buf();
    move |source| VerifyError::Io { op, path, source }
}
