//! Backup and restore of a whole data directory: `steward backup` / `steward restore`.
//!
//! A backup holds every file of the directory (catalogs, WAL, segments, audit logs, data
//! sets, models, indexes, wrapped keys) except the master key, the lock and the erasure ledger,
//! in one archive sealed under the master key (`stream.rs`), with a manifest of every file's
//! size and SHA-256 at its end (`archive.rs`).
//!
//! **Consistency.** Offline, the backup holds the directory's lock. Online (the running
//! server makes it, `Engine::backup`), every catalog is held still (new catalog commits wait;
//! reads and appends go on) while catalogs, WAL files, audit logs and every other mutable file
//! are copied; segments, which are never changed once written, are opened then and read after
//! the catalogs are released. What the backup holds is what a crash at that instant would have
//! left (commits are atomic, WAL and audit files are copied up to a length and their torn tails
//! are recovered like after a crash), and Steward restarts from any crash.
//!
//! **Restore** (`restore.rs`) checks the header (magic, format, the master key's fingerprint),
//! every chunk's authentication, every path, every file's size and SHA-256 against the
//! manifest, before the directory appears under its name. Then the erasure ledger kept outside
//! backups is replayed (`Engine::replay_erasure_ledger`): erasures carried out after the backup
//! stay carried out.

mod archive;
mod create;
mod restore;
mod stream;

pub use archive::{Manifest, ManifestFile};
pub use create::{BackupSummary, backup_offline};
pub use restore::{RestoreSummary, restore, verify};
pub use stream::BackupHeader;

/// Why a backup or a restore failed. Never echoes file contents.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("not a Steward backup (wrong magic)")]
    NotABackup,
    #[error("a backup format this version does not read")]
    UnknownFormat,
    #[error("the backup was made under another master key (foreign backup)")]
    Foreign,
    #[error("the backup is damaged: {0}")]
    Damaged(&'static str),
    #[error("the backup is damaged: file {path}: {reason}")]
    DamagedFile { path: String, reason: &'static str },
    #[error("restore target {0} already exists")]
    TargetExists(String),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Engine(#[from] crate::EngineError),
}

impl BackupError {
    /// A stable code for the CLI and the HTTP edge.
    pub fn code(&self) -> &'static str {
        match self {
            BackupError::NotABackup => "backup_not_a_backup",
            BackupError::UnknownFormat => "backup_unknown_format",
            BackupError::Foreign => "backup_foreign",
            BackupError::Damaged(_) | BackupError::DamagedFile { .. } => "backup_damaged",
            BackupError::TargetExists(_) => "restore_target_exists",
            BackupError::Io(_) => "backup_io",
            BackupError::Engine(_) => "backup_engine",
        }
    }

    pub(crate) fn write(e: std::io::Error) -> BackupError {
        BackupError::Io(format!("writing the backup: {e}"))
    }

    /// Unwraps a [`BackupError`] carried through `std::io::Read`.
    pub(crate) fn from_io(e: std::io::Error) -> BackupError {
        match e.into_inner().map(|inner| inner.downcast::<BackupError>()) {
            Some(Ok(inner)) => *inner,
            Some(Err(other)) => BackupError::Io(other.to_string()),
            None => BackupError::Io("reading the backup failed".into()),
        }
    }
}

/// Files of a data directory a backup leaves out: the lock (held by whoever has it open), the
/// master key (the backup is sealed under it; it travels separately), an interrupted master
/// rotation's new key, and the erasure ledger (kept outside backups by design).
pub(crate) fn excluded(relative: &str) -> bool {
    matches!(
        relative,
        "LOCK"
            | "master.key"
            | "master.key.new"
            | crate::erasure_ledger::ERASURE_LEDGER_FILE
            | crate::replay::RESTORE_PENDING_FILE
    )
}
