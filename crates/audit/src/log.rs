//! `AuditLog`: one tenant's audit log: durable group-commit appends, batched appends with a
//! bounded delay, signed heads, proofs over the durable records, and a clean close.
//!
//! Locks: `queue` guards index assignment and the frames waiting to be written; `records`
//! guards the file; `tree` the in-memory tree; `heads` the heads file. A thread takes `records`
//! and `tree` only after releasing `queue` (the leader writes with the queue unlocked), and
//! `heads` before `queue` (close) and before `tree`, never the reverse, so no two locks are ever
//! taken in opposite orders.
//! Only the leader (the appender that took the batch) writes records, so frames reach the file
//! in index order.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::commit::{Encoded, Queue};
use crate::config::AuditConfig;
use crate::error::{AuditError, ProofError, io_error};
use crate::files::Appender;
use crate::frame::{self, HEADS_FILE, push_frame};
use crate::hash::Hash;
use crate::head::{
    HeadsPage, HeadsStop, SignedHead, TreeHead, head_frame_bytes, read_head_range, read_heads,
};
use crate::limits::{COMMIT_BYTES_MAX, HEADS_PAGE_MAX};
use crate::marker::{self, ShutdownState};
use crate::proof::{ConsistencyProof, InclusionProof};
use crate::record::{AuditRecord, SubjectRef, check_string};
use crate::recovery::recover;
use crate::scan::{Opened, ScanStop, Scanner};
use crate::tree::MerkleTree;

/// One tenant's audit log. Share it across threads with `Arc`. At shutdown call
/// [`close`](AuditLog::close), which signs every record and marks the log closed cleanly;
/// dropping it without closing flushes the batched records and stops the flusher thread but
/// leaves the log marked open, as a crash would (see `FORMAT.md` §4.4).
pub struct AuditLog {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
}

/// State shared by the handle, appenders and the flusher thread.
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) config: AuditConfig,
    pub(crate) queue: Mutex<Queue>,
    /// Signalled when a commit ends (durability, leadership changes).
    pub(crate) committed: Condvar,
    /// Wakes the flusher: first batched record queued, early-flush threshold, shutdown.
    pub(crate) flush_wanted: Condvar,
    pub(crate) records: Mutex<Appender>,
    pub(crate) tree: RwLock<MerkleTree>,
    heads: Mutex<Heads>,
    /// Set after a failed write or fsync; never cleared (reopen to recover).
    pub(crate) poisoned: AtomicBool,
    /// The markers found at open, before this handle marked the log open.
    previous_shutdown: ShutdownState,
}

/// The heads file and the latest head signed into it.
struct Heads {
    file: Appender,
    latest: Option<SignedHead>,
    /// Heads in the file.
    count: usize,
    /// Set once `close` has marked the log closed cleanly.
    closed: bool,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.shared.dir)
            .field("tenant", &self.shared.config.tenant)
            .field("size", &self.shared.tree.try_read().map(|t| t.size()))
            .field("poisoned", &self.is_poisoned())
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens (creating if needed) the log in `dir`, one directory per tenant, and marks it open
    /// (`open.marker`, durable) until [`close`](AuditLog::close). Recovery checks every frame's
    /// CRC, index and link and every signed head's root, and fails with
    /// [`AuditError::Corrupted`] (naming the file and byte offset) on anything wrong. A torn tail
    /// (a damaged final frame of either file) is cut, and logged, only if the log was left marked
    /// open (its writer crashed); in a log closed cleanly or unmarked it is damage, refused like
    /// the rest, and so is a record a clean close left unsigned. A refused log is left
    /// untouched, markers included.
    pub fn open(dir: &Path, config: AuditConfig) -> Result<AuditLog, AuditError> {
        check_string("tenant", &config.tenant, false).map_err(AuditError::InvalidTenant)?;
        let recovered = recover(dir, &config.tenant)?;
        let size = recovered.tree.size();
        let last_hash = size
            .checked_sub(1)
            .and_then(|i| recovered.tree.leaf(i))
            .unwrap_or([0; 32]);
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            queue: Mutex::new(Queue::new(size, last_hash)),
            committed: Condvar::new(),
            flush_wanted: Condvar::new(),
            records: Mutex::new(Appender::open(&recovered.records_path)?),
            tree: RwLock::new(recovered.tree),
            heads: Mutex::new(Heads {
                file: Appender::open(&recovered.heads_path)?,
                latest: recovered.latest_head,
                count: recovered.heads,
                closed: false,
            }),
            poisoned: AtomicBool::new(false),
            previous_shutdown: recovered.previous_shutdown,
            config,
        });
        let for_flusher = Arc::clone(&shared);
        let flusher = std::thread::Builder::new()
            .name("audit-flush".into())
            .spawn(move || for_flusher.run_flusher())
            .map_err(io_error("spawn flusher thread", dir))?;
        Ok(AuditLog {
            shared,
            flusher: Some(flusher),
        })
    }

    /// Appends `records` with consecutive indexes and returns the first index once all of them
    /// are written and fdatasynced. Concurrent callers (and waiting batched records) share one
    /// write and one fdatasync. Call it before responding to any mutating request.
    ///
    /// Fails without appending anything if a record is invalid; on an I/O error the log is
    /// poisoned and the records may or may not be found after reopening.
    pub fn append_durable(&self, records: &[AuditRecord]) -> Result<u64, AuditError> {
        if records.is_empty() {
            return Err(AuditError::EmptyBatch);
        }
        let encoded = Encoded::new(records)?;
        let bytes = encoded.frame_bytes();
        if bytes > COMMIT_BYTES_MAX {
            return Err(AuditError::BatchTooLarge {
                bytes,
                max: COMMIT_BYTES_MAX,
            });
        }
        let mut queue = self.shared.queue.lock();
        // Wait for room, so that no single write exceeds COMMIT_BYTES_MAX.
        while !queue.frames.is_empty() && queue.frames.len() + bytes > COMMIT_BYTES_MAX {
            self.shared.check_writable(&queue)?;
            if queue.leader_active {
                self.shared.committed.wait(&mut queue);
            } else {
                self.shared.lead(&mut queue)?;
            }
        }
        self.shared.check_writable(&queue)?;
        let first = queue.push(&encoded);
        let target = queue.next_index;
        self.shared.wait_durable(&mut queue, target)?;
        Ok(first)
    }

    /// Queues one record for the background flusher and returns its index at once, for reads:
    /// the record is durable within `read_flush_ms` plus at most two write+fdatasync rounds (one
    /// in progress, then the flusher's own). Fails (and the caller
    /// must refuse the read, failing closed) when the log is poisoned or `batched_records_max`
    /// records are already waiting.
    pub fn append_batched(&self, record: &AuditRecord) -> Result<u64, AuditError> {
        let encoded = Encoded::new(std::slice::from_ref(record))?;
        let mut queue = self.shared.queue.lock();
        self.shared.check_writable(&queue)?;
        if queue.batched_waiting >= self.shared.config.batched_records_max
            || queue.frames.len() + encoded.frame_bytes() > COMMIT_BYTES_MAX
        {
            metrics::counter!("steward_audit_queue_full_total").increment(1);
            return Err(AuditError::QueueFull {
                waiting: queue.batched_waiting,
            });
        }
        let index = queue.push(&encoded);
        queue.batched_waiting += 1;
        if queue.oldest_batched.is_none() {
            queue.oldest_batched = Some(Instant::now());
            self.shared.flush_wanted.notify_one();
        } else if queue.batched_waiting >= self.shared.config.batched_flush_early_records {
            self.shared.flush_wanted.notify_one();
        }
        Ok(index)
    }

    /// Makes every record queued so far durable.
    pub fn flush(&self) -> Result<(), AuditError> {
        let mut queue = self.shared.queue.lock();
        self.shared.check_poisoned()?;
        let target = queue.next_index;
        self.shared.wait_durable(&mut queue, target)
    }

    /// Durable records (the size of the tree that heads and proofs are about).
    pub fn size(&self) -> u64 {
        self.shared.tree.read().size()
    }

    /// The current (unsigned) head: durable size and root.
    pub fn head(&self) -> TreeHead {
        let tree = self.shared.tree.read();
        TreeHead {
            size: tree.size(),
            root: tree.root(),
        }
    }

    /// The most recent signed head, if any was signed.
    pub fn latest_signed_head(&self) -> Option<SignedHead> {
        self.shared.heads.lock().latest.clone()
    }

    /// Every signed head, oldest first, read from `heads.log` (the whole file; for a listing
    /// served to monitors use [`signed_heads_page`](AuditLog::signed_heads_page)).
    pub fn signed_heads(&self) -> Result<Vec<SignedHead>, AuditError> {
        let path = self.shared.dir.join(HEADS_FILE);
        let _writing = self.shared.heads.lock();
        // The writer's own file: recovery cut any torn tail, and nothing is being written.
        match read_heads(&path, true) {
            Ok(file) => Ok(file.heads),
            Err(HeadsStop::Io(source)) => Err(AuditError::Io {
                op: "read",
                path,
                source,
            }),
            Err(_) => Err(AuditError::Corrupted {
                file: path,
                offset: 0,
                index: None,
                reason: "heads file damaged".into(),
            }),
        }
    }

    /// Signed heads `start..start + limit` (0-based, oldest first, at most
    /// [`HEADS_PAGE_MAX`](crate::limits::HEADS_PAGE_MAX) of them) and how many there are, for
    /// monitors that list a log's heads (serve each with [`head_json`](crate::head_json)). Reads
    /// only the requested frames: every head of a log has the same size. A `start` at or past
    /// the end gives an empty page.
    pub fn signed_heads_page(&self, start: usize, limit: usize) -> Result<HeadsPage, AuditError> {
        let path = self.shared.dir.join(HEADS_FILE);
        let heads = self.shared.heads.lock();
        let total = heads.count;
        let start = start.min(total);
        let count = limit.min(HEADS_PAGE_MAX).min(total - start);
        if count == 0 {
            return Ok(HeadsPage {
                start,
                total,
                heads: Vec::new(),
            });
        }
        let frame_bytes = head_frame_bytes(&self.shared.config.tenant);
        let mut file = std::fs::File::open(&path).map_err(io_error("open", &path))?;
        match read_head_range(&mut file, frame_bytes, start, count)
            .map_err(io_error("read", &path))?
        {
            Some(page) => Ok(HeadsPage {
                start,
                total,
                heads: page,
            }),
            None => Err(AuditError::Corrupted {
                file: path,
                offset: (frame::FILE_HEADER_BYTES + start * frame_bytes) as u64,
                index: None,
                reason: format!("signed heads #{start}..#{} damaged", start + count),
            }),
        }
    }

    /// Signs the current head with the deployment key and stores it durably in `heads.log`.
    /// Fails with [`AuditError::Closed`] after [`close`](AuditLog::close).
    pub fn sign_head(&self, key: &SigningKey) -> Result<SignedHead, AuditError> {
        let mut heads = self.shared.heads.lock();
        if heads.closed {
            return Err(AuditError::Closed);
        }
        self.sign_locked(&mut heads, key)
    }

    /// Signs a head if records were added since the latest signed head and that head is at least
    /// `interval` old (or there is none); call it on a timer. Returns the new head. After
    /// [`close`](AuditLog::close) nothing is ever due (every record is signed).
    /// How long records have waited for a signed head: the time since the latest head when
    /// records were appended after it (or since the first record, before any head), else zero.
    /// An operator alerts when this grows past a few signing intervals.
    pub fn unsigned_for(&self) -> Duration {
        let heads = self.shared.heads.lock();
        let size = self.size();
        match &heads.latest {
            Some(latest) if size > latest.size => Duration::from_micros(
                u64::try_from(now_us().saturating_sub(latest.time_us)).unwrap_or(0),
            ),
            _ => Duration::ZERO,
        }
    }

    pub fn maybe_sign(
        &self,
        key: &SigningKey,
        interval: Duration,
    ) -> Result<Option<SignedHead>, AuditError> {
        let mut heads = self.shared.heads.lock();
        if heads.closed {
            return Ok(None);
        }
        let size = self.size();
        let due = match &heads.latest {
            None => size > 0,
            Some(latest) => {
                let age_us = now_us().saturating_sub(latest.time_us);
                size > latest.size
                    && age_us >= i64::try_from(interval.as_micros()).unwrap_or(i64::MAX)
            }
        };
        if !due {
            return Ok(None);
        }
        self.sign_locked(&mut heads, key).map(Some)
    }

    fn sign_locked(&self, heads: &mut Heads, key: &SigningKey) -> Result<SignedHead, AuditError> {
        self.shared.check_poisoned()?;
        let head = self.head();
        // Never let a head's time go backwards, even if the clock does.
        let time_us = now_us().max(heads.latest.as_ref().map_or(i64::MIN, |h| h.time_us));
        let signed = SignedHead::sign(key, &self.shared.config.tenant, head, time_us);
        let mut bytes = Vec::with_capacity(160);
        push_frame(&mut bytes, &signed.encode());
        heads
            .file
            .write_durable(&bytes)
            .inspect_err(|_| self.shared.poison())?;
        metrics::counter!("steward_audit_heads_total").increment(1);
        heads.latest = Some(signed.clone());
        heads.count += 1;
        Ok(signed)
    }

    /// Closes the log cleanly; call it once at shutdown, after the last request. Refuses every
    /// later append (with [`AuditError::Closed`]), makes every queued record durable, signs a head
    /// covering every record with the deployment key (unless the latest head already does, or
    /// the log is empty), then renames `open.marker` to `closed.marker` and fsyncs the
    /// directory. From then on verification and the next open treat any damaged frame,
    /// including the last head, as damage, and require every record to be signed.
    ///
    /// Returns the latest signed head, which covers every record (`None` for a log that never
    /// held a record nor a head). Calling it again returns the same head and writes nothing.
    /// On failure (a poisoned log, an I/O error) the log stays marked open, as after a crash,
    /// and the error is returned; the handle stays closed to appends either way. Reads (heads,
    /// proofs) keep working after a close.
    pub fn close(&self, key: &SigningKey) -> Result<Option<SignedHead>, AuditError> {
        let mut heads = self.shared.heads.lock();
        if heads.closed {
            return Ok(heads.latest.clone());
        }
        {
            let mut queue = self.shared.queue.lock();
            queue.closed = true;
            self.shared.check_poisoned()?;
            let target = queue.next_index;
            self.shared.wait_durable(&mut queue, target)?;
        }
        let size = self.size();
        if heads
            .latest
            .as_ref()
            .map_or(size > 0, |latest| latest.size < size)
        {
            self.sign_locked(&mut heads, key)?;
        }
        marker::mark_closed(&self.shared.dir).inspect_err(|_| self.shared.poison())?;
        heads.closed = true;
        tracing::info!(dir = %self.shared.dir.display(), records = size, "closed audit log cleanly");
        Ok(heads.latest.clone())
    }

    /// Whether [`close`](AuditLog::close) has completed.
    pub fn is_closed(&self) -> bool {
        self.shared.heads.lock().closed
    }

    /// How the log had been left when this handle opened it: [`ShutdownState::Open`] means the
    /// previous writer crashed (or was dropped without [`close`](AuditLog::close)).
    pub fn previous_shutdown(&self) -> ShutdownState {
        self.shared.previous_shutdown
    }

    /// The leaf hash of durable record `index`.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        let tree = self.shared.tree.read();
        if index < tree.size() {
            tree.leaf(index)
        } else {
            None
        }
    }

    /// The root the log had at `size` durable records.
    pub fn root_at(&self, size: u64) -> Result<Hash, AuditError> {
        Ok(self.shared.tree.read().root_at(size)?)
    }

    /// The inclusion proof (audit path) of record `index` in the tree of `tree_size` records.
    pub fn inclusion_proof(&self, index: u64, tree_size: u64) -> Result<Vec<Hash>, AuditError> {
        Ok(self.shared.tree.read().inclusion_proof(index, tree_size)?)
    }

    /// The consistency proof between the trees of `from` and `to` records.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, AuditError> {
        Ok(self.shared.tree.read().consistency_proof(from, to)?)
    }

    /// An inclusion proof of record `index` in the tree of `tree_size` records, with its root.
    pub fn prove_inclusion(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, AuditError> {
        let tree = self.shared.tree.read();
        let path = tree.inclusion_proof(index, tree_size)?;
        let leaf_hash = tree
            .leaf(index)
            .ok_or(ProofError::IndexOutOfRange { index, tree_size })?;
        Ok(InclusionProof {
            index,
            tree_size,
            leaf_hash,
            path,
            root: tree.root_at(tree_size)?,
        })
    }

    /// A consistency proof between the trees of `from` and `to` records, with both roots.
    pub fn prove_consistency(&self, from: u64, to: u64) -> Result<ConsistencyProof, AuditError> {
        let tree = self.shared.tree.read();
        let path = tree.consistency_proof(from, to)?;
        Ok(ConsistencyProof {
            from,
            to,
            root_from: tree.root_at(from)?,
            root_to: tree.root_at(to)?,
            path,
        })
    }

    /// Every durable record naming `reference`, with its index: the audit part of a subject's
    /// compliance report. Scans the whole file (O(records)).
    pub fn records_referencing(
        &self,
        reference: &SubjectRef,
    ) -> Result<Vec<(u64, AuditRecord)>, AuditError> {
        let durable = self.size();
        let mut found = Vec::new();
        for_each_record(&self.shared.dir, |index, record| {
            if index < durable && record.subject_refs.contains(reference) {
                found.push((index, record));
            }
            index + 1 < durable
        })?;
        Ok(found)
    }

    /// Whether a write failure has poisoned the log.
    pub fn is_poisoned(&self) -> bool {
        self.shared.poisoned.load(Ordering::Acquire)
    }

    /// The directory of the log.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The configuration the log was opened with.
    pub fn config(&self) -> &AuditConfig {
        &self.shared.config
    }

    #[cfg(test)]
    fn fail_writes(&self, fail: bool) {
        self.shared.records.lock().fail_writes = fail;
    }
}

impl Drop for AuditLog {
    /// Flushes batched records (through the flusher) and joins the flusher thread.
    fn drop(&mut self) {
        self.shared.queue.lock().shutdown = true;
        self.shared.flush_wanted.notify_all();
        if let Some(flusher) = self.flusher.take()
            && flusher.join().is_err()
        {
            tracing::error!(dir = %self.shared.dir.display(), "audit flusher thread panicked");
        }
    }
}

/// Calls `visit(index, record)` for every record of the log in `dir`, in order, until it returns
/// false or the records end (a torn tail ends them). Fails on a damaged record.
pub fn for_each_record(
    dir: &Path,
    mut visit: impl FnMut(u64, AuditRecord) -> bool,
) -> Result<(), AuditError> {
    let path = dir.join(frame::RECORDS_FILE);
    let corrupted = |offset, index, reason: String| AuditError::Corrupted {
        file: path.clone(),
        offset,
        index,
        reason,
    };
    let mut scanner = match Scanner::open(&path, false).map_err(io_error("open", &path))? {
        Opened::Scanner(scanner) => scanner,
        Opened::NoHeader { .. } => return Ok(()),
        Opened::NotAuditFile => return Err(corrupted(0, None, "not an audit records file".into())),
    };
    loop {
        match scanner.next_frame() {
            Ok(Some(frame)) => {
                let record = AuditRecord::decode(frame.leaf)
                    .map_err(|e| corrupted(0, Some(frame.index), e.to_string()))?;
                if !visit(frame.index, record) {
                    return Ok(());
                }
            }
            Ok(None) | Err(ScanStop::Torn { .. }) => return Ok(()),
            Err(ScanStop::Bad {
                index,
                offset,
                tamper,
            }) => return Err(corrupted(offset, Some(index), tamper.to_string())),
            Err(ScanStop::Io(source)) => {
                return Err(AuditError::Io {
                    op: "read",
                    path,
                    source,
                });
            }
        }
    }
}

/// Microseconds since the Unix epoch (0 for a clock before it).
pub(crate) fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Decision;

    fn record(i: u64) -> AuditRecord {
        AuditRecord {
            time_us: i as i64,
            principal: "operator".into(),
            action: "events.read".into(),
            purpose: None,
            resource: "tenant/acme/events".into(),
            subject_refs: Vec::new(),
            subject_count: 0,
            decision: Decision::Allow,
            policy_ids: Vec::new(),
            request_id: format!("r{i}"),
            result_rows: i,
            statement: None,
        }
    }

    #[test]
    fn a_failed_write_poisons_the_log_until_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), AuditConfig::new("acme")).unwrap();
        assert_eq!(log.append_durable(&[record(0)]).unwrap(), 0);
        log.fail_writes(true);
        assert!(matches!(
            log.append_durable(&[record(1)]),
            Err(AuditError::Io { .. })
        ));
        assert!(log.is_poisoned());
        log.fail_writes(false);
        assert!(matches!(
            log.append_durable(&[record(2)]),
            Err(AuditError::Poisoned)
        ));
        assert!(matches!(
            log.append_batched(&record(3)),
            Err(AuditError::Poisoned)
        ));
        assert!(matches!(log.flush(), Err(AuditError::Poisoned)));
        let key = SigningKey::from_bytes(&[1; 32]);
        assert!(matches!(log.sign_head(&key), Err(AuditError::Poisoned)));
        drop(log);
        let log = AuditLog::open(dir.path(), AuditConfig::new("acme")).unwrap();
        assert_eq!(log.size(), 1);
        assert_eq!(log.append_durable(&[record(4)]).unwrap(), 1);
    }

    #[test]
    fn a_failed_batched_flush_fails_later_reads_closed() {
        let dir = tempfile::tempdir().unwrap();
        let log =
            AuditLog::open(dir.path(), AuditConfig::new("acme").with_read_flush_ms(1)).unwrap();
        log.fail_writes(true);
        assert_eq!(log.append_batched(&record(0)).unwrap(), 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !log.is_poisoned() {
            assert!(Instant::now() < deadline, "flusher never wrote");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(matches!(
            log.append_batched(&record(1)),
            Err(AuditError::Poisoned)
        ));
    }

    #[test]
    fn waiting_appenders_are_released_when_the_leader_fails() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(AuditLog::open(dir.path(), AuditConfig::new("acme")).unwrap());
        let mut records = log.shared.records.lock();
        records.fail_writes = true;
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || log.append_durable(&[record(i)]))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        drop(records);
        for handle in handles {
            let result = handle.join().unwrap();
            assert!(
                matches!(result, Err(AuditError::Io { .. } | AuditError::Poisoned)),
                "{result:?}"
            );
        }
        assert_eq!(log.size(), 0);
    }
}
