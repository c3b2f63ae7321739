//! Engine settings.

use std::path::PathBuf;

/// How an engine runs. Built by the CLI from flags; tests build it directly.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    /// Encrypt WAL payloads and segments at rest (default). Off only for forensic tests:
    /// sealed personal fields stay sealed either way.
    pub encrypt_at_rest: bool,
    /// A memtable older than this is flushed to a segment.
    pub flush_interval_ms: u64,
    pub memtable_bytes_max: usize,
    /// Run the flush and compaction thread (tests may drive these by hand).
    pub background: bool,
    /// How often each audit log's head is signed (when records were added since).
    pub audit_head_interval_ms: u64,
    /// An erasure's rows are physically purged this long after the request (unless it
    /// asks for `now`); they are unreadable and hidden from the start.
    pub erasure_purge_after_s: u64,
    /// How often rows past their type's retention are looked for and removed from disk: an
    /// expired row is unreadable at once and gone from every file within this interval.
    pub retention_check_interval_ms: u64,
    /// Where the erasure ledger lives (kept outside backups; `steward restore` replays it).
    /// None: `erasure.ledger` in the data directory (backups leave it out). Put it on other
    /// storage to survive the loss of the data directory.
    pub erasure_ledger: Option<PathBuf>,
}

impl EngineConfig {
    /// The erasure ledger's path (configured, else in the data directory).
    pub fn erasure_ledger_path(&self) -> PathBuf {
        self.erasure_ledger.clone().unwrap_or_else(|| {
            self.data_dir
                .join(crate::erasure_ledger::ERASURE_LEDGER_FILE)
        })
    }

    pub fn new(data_dir: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            data_dir: data_dir.into(),
            encrypt_at_rest: true,
            flush_interval_ms: steward_store::limits::FLUSH_INTERVAL_MS,
            memtable_bytes_max: steward_store::limits::MEMTABLE_BYTES_MAX,
            background: true,
            audit_head_interval_ms: crate::AUDIT_HEAD_INTERVAL_MS,
            erasure_purge_after_s: 3600,
            retention_check_interval_ms: 60_000,
            erasure_ledger: None,
        }
    }
}
