//! The `Wal` handle: open/recover, group-commit append (leader/follower), rotation, truncation.
//!
//! Locks: `queue` guards lsn assignment and the pending frame; `writer` guards the files. A thread
//! may take `writer` while holding nothing or after releasing `queue`, never `queue` while holding
//! `writer`, so the two cannot deadlock. Only the leader (the appender that took the batch) writes.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::commit::{Batch, Queue};
use crate::error::{ReplayError, WalError, io_error};
use crate::format::{FRAME_BYTES_MAX, FRAME_HEADER_BYTES};
use crate::fsio::{OsVfs, SharedVfs};
use crate::writer::Writer;
use crate::{Lsn, Recovery, WalConfig, WalFileInfo, frame, recovery};
use std::sync::Arc;

/// A write-ahead log in one directory; share it across threads with `Arc`.
pub struct Wal {
    dir: PathBuf,
    config: WalConfig,
    /// `config.frame_bytes_max` clamped to what the format can encode.
    frame_bytes_max: usize,
    queue: Mutex<Queue>,
    /// Signalled when a batch is taken (queue space) and when a commit ends (durability, leadership).
    queue_changed: Condvar,
    writer: Mutex<Writer>,
    /// Set after a failed write, fsync or file creation; never cleared (reopen to recover).
    poisoned: AtomicBool,
}

impl std::fmt::Debug for Wal {
    /// Summarizes without dumping queued payloads, and without blocking on a busy lock.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("config", &self.config)
            .field("durable_lsn", &self.queue.try_lock().map(|q| q.durable_lsn))
            .field("poisoned", &self.is_poisoned())
            .finish_non_exhaustive()
    }
}

impl Wal {
    /// Opens (creating the directory if needed) the log in `dir`, replays every record with
    /// lsn > `after_lsn` in order through `replay`, truncates a torn tail (logged with
    /// `tracing::warn!`) and fails with [`WalError::Corrupted`] on corruption anywhere else.
    ///
    /// If this fails, `replay` may already have seen a prefix of the log.
    pub fn open(
        dir: &Path,
        config: WalConfig,
        after_lsn: Lsn,
        replay: impl FnMut(Lsn, &[u8]) -> Result<(), ReplayError>,
    ) -> Result<(Wal, Recovery), WalError> {
        Wal::open_in(Arc::new(OsVfs), dir, config, after_lsn, replay)
    }

    /// [`Wal::open`] on the file system `vfs` (tests: `sim::SimFs`, which fails I/O on
    /// command and rebuilds what a crash leaves).
    pub fn open_in(
        vfs: SharedVfs,
        dir: &Path,
        config: WalConfig,
        after_lsn: Lsn,
        mut replay: impl FnMut(Lsn, &[u8]) -> Result<(), ReplayError>,
    ) -> Result<(Wal, Recovery), WalError> {
        vfs.create_dir_all(dir)
            .map_err(io_error("create directory", dir))?;
        let recovered = recovery::recover(&*vfs, dir, after_lsn, &mut replay)?;
        let last_lsn = recovered.report.last_lsn;
        let writer = Writer::start(vfs, dir, config.file_bytes_max, recovered.files, last_lsn)?;
        let frame_bytes_max = usize::try_from(config.frame_bytes_max)
            .unwrap_or(usize::MAX)
            .min(FRAME_BYTES_MAX);
        tracing::info!(
            dir = %dir.display(),
            last_lsn,
            records_replayed = recovered.report.records_replayed,
            torn_tail = recovered.report.torn_tail.is_some(),
            "opened write-ahead log"
        );
        let wal = Wal {
            dir: dir.to_path_buf(),
            config,
            frame_bytes_max,
            queue: Mutex::new(Queue::new(last_lsn)),
            queue_changed: Condvar::new(),
            writer: Mutex::new(writer),
            poisoned: AtomicBool::new(false),
        };
        Ok((wal, recovered.report))
    }

    /// Appends one payload; returns its lsn once it is durable. Concurrent callers share one
    /// write+fsync.
    pub fn append(&self, payload: &[u8]) -> Result<Lsn, WalError> {
        self.append_many(&[payload]).map(|(first, _)| first)
    }

    /// Appends several payloads with consecutive lsns, all in the same frame; returns the first and
    /// last lsn once they are durable.
    ///
    /// On error the records were not acknowledged: they may or may not be replayed after reopening.
    pub fn append_many(&self, payloads: &[&[u8]]) -> Result<(Lsn, Lsn), WalError> {
        let records_bytes = self.check_batch(payloads)?;
        let mut queue = self.queue.lock();
        // Wait for room, unless the queue is empty: a single call is never split or refused.
        while !queue.is_empty() && queue.frame_bytes() + records_bytes > self.frame_bytes_max {
            self.check_poisoned()?;
            self.queue_changed.wait(&mut queue);
        }
        self.check_poisoned()?;
        let (first, last) = queue.push(payloads);
        loop {
            if queue.durable_lsn >= last {
                return Ok((first, last));
            }
            self.check_poisoned()?;
            if !queue.leader_active {
                self.lead(&mut queue)?;
                continue;
            }
            self.queue_changed.wait(&mut queue);
        }
    }

    /// Closes the current file and starts a new one; returns the last lsn contained in the closed
    /// files. Every record appended after this call lands in the new file. If the current file holds
    /// no records nothing changes (a new file would have the same first lsn).
    pub fn rotate(&self) -> Result<Lsn, WalError> {
        let mut writer = self.writer.lock();
        self.check_poisoned()?;
        let closed_through = writer.rotate().inspect_err(|_| self.poison())?;
        // A leader may have written and fsynced a frame into the file just closed without having
        // published it yet; publish it here so `last_lsn()` never lags what closed files hold.
        // Lock order is writer, then queue: a leader never holds the queue while taking the writer.
        let mut queue = self.queue.lock();
        if queue.durable_lsn < closed_through {
            queue.durable_lsn = closed_through;
            self.queue_changed.notify_all();
        }
        Ok(closed_through)
    }

    /// Deletes every closed file whose records all have lsn <= `lsn`, oldest first; never the
    /// current file. Returns how many files were removed.
    pub fn truncate_through(&self, lsn: Lsn) -> Result<u64, WalError> {
        self.writer.lock().truncate_through(lsn)
    }

    /// The WAL files, oldest first, the current (open) one last.
    pub fn files(&self) -> Vec<WalFileInfo> {
        self.writer.lock().files()
    }

    /// Last durable lsn (0 for an empty log).
    pub fn last_lsn(&self) -> Lsn {
        self.queue.lock().durable_lsn
    }

    /// Whether a write failure has poisoned the log.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// The directory holding the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration the log was opened with.
    pub fn config(&self) -> &WalConfig {
        &self.config
    }

    /// Validates sizes before anything is queued; returns the encoded size of the records.
    fn check_batch(&self, payloads: &[&[u8]]) -> Result<usize, WalError> {
        if payloads.is_empty() {
            return Err(WalError::EmptyBatch);
        }
        let max = self.config.record_bytes_max;
        if let Some(big) = payloads.iter().find(|p| p.len() > max as usize) {
            return Err(WalError::RecordTooLarge {
                bytes: big.len(),
                max,
            });
        }
        let records_bytes = frame::encoded_records_bytes(payloads);
        if records_bytes > FRAME_BYTES_MAX - FRAME_HEADER_BYTES {
            return Err(WalError::BatchTooLarge {
                bytes: records_bytes,
                max: FRAME_BYTES_MAX - FRAME_HEADER_BYTES,
            });
        }
        Ok(records_bytes)
    }

    /// Takes the whole queue as one frame and writes it with the queue unlocked, then publishes the
    /// outcome and wakes everyone. A failure poisons the log; a panic does too, and is re-raised
    /// after the waiters have been released so they cannot hang.
    fn lead(&self, queue: &mut MutexGuard<'_, Queue>) -> Result<(), WalError> {
        let batch = queue.take();
        queue.leader_active = true;
        self.queue_changed.notify_all();
        let outcome = MutexGuard::unlocked(queue, || {
            panic::catch_unwind(AssertUnwindSafe(|| self.write_batch(&batch)))
        });
        queue.leader_active = false;
        match &outcome {
            Ok(Ok(())) => queue.durable_lsn = queue.durable_lsn.max(batch.last_lsn),
            Ok(Err(_)) | Err(_) => self.poison(),
        }
        queue.recycle(batch.frame);
        self.queue_changed.notify_all();
        match outcome {
            Ok(result) => result,
            Err(payload) => panic::resume_unwind(payload),
        }
    }

    fn write_batch(&self, batch: &Batch) -> Result<(), WalError> {
        let mut writer = self.writer.lock();
        self.check_poisoned()?;
        // Poison while still holding the writer, so `rotate` never closes a half-written file.
        writer
            .write_frame(&batch.frame, batch.first_lsn, batch.last_lsn)
            .inspect_err(|_| self.poison())
    }

    fn poison(&self) {
        if !self.poisoned.swap(true, Ordering::AcqRel) {
            tracing::error!(dir = %self.dir.display(), "write-ahead log poisoned; reopen to recover");
        }
    }

    fn check_poisoned(&self) -> Result<(), WalError> {
        if self.is_poisoned() {
            Err(WalError::Poisoned)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn open(dir: &Path) -> (Wal, Vec<Lsn>) {
        let mut lsns = Vec::new();
        let (wal, _) = Wal::open(dir, WalConfig::default(), 0, |lsn, _| {
            lsns.push(lsn);
            Ok(())
        })
        .unwrap();
        (wal, lsns)
    }

    #[test]
    fn a_failed_write_poisons_the_log_until_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = open(dir.path());
        assert_eq!(wal.append(b"kept").unwrap(), 1);
        wal.writer.lock().fail_writes = true;
        assert!(matches!(wal.append(b"lost"), Err(WalError::Io { .. })));
        assert!(wal.is_poisoned());
        wal.writer.lock().fail_writes = false;
        assert!(matches!(wal.append(b"refused"), Err(WalError::Poisoned)));
        assert!(matches!(wal.rotate(), Err(WalError::Poisoned)));
        drop(wal);
        let (wal, lsns) = open(dir.path());
        assert_eq!(lsns, vec![1]);
        assert_eq!(wal.append(b"again").unwrap(), 2);
    }

    #[test]
    fn waiting_appenders_are_released_when_the_leader_fails() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = open(dir.path());
        let wal = Arc::new(wal);
        // Hold the writer so appenders pile up behind one leader, then make its write fail.
        let mut writer = wal.writer.lock();
        writer.fail_writes = true;
        let handles: Vec<_> = (0..6)
            .map(|i: u8| {
                let wal = Arc::clone(&wal);
                std::thread::spawn(move || wal.append(&[i; 10]))
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(writer);
        for handle in handles {
            let result = handle.join().unwrap();
            assert!(
                matches!(result, Err(WalError::Io { .. } | WalError::Poisoned)),
                "{result:?}"
            );
        }
        assert_eq!(wal.last_lsn(), 0);
    }
}
