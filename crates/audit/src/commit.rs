//! Group commit: the queue of framed records waiting for the next write, index assignment,
//! and the leader that writes and fdatasyncs everything queued while the others wait.
//!
//! Indexes are assigned when a record is queued, under the queue lock; since a leader always
//! takes the whole queue and only one leader writes at a time, frames reach the file in index
//! order. A writer is done once `durable` passes its last index.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::Instant;

use parking_lot::MutexGuard;

use crate::error::AuditError;
use crate::frame::{self, FRAME_PREFIX_BYTES, RECORD_BODY_HEADER_BYTES, push_record_frame};
use crate::hash::{Hash, leaf_hash};
use crate::log::Shared;
use crate::record::AuditRecord;

/// Buffers larger than this are not kept for reuse, so one huge batch does not pin its memory.
const SPARE_BUFFER_BYTES_MAX: usize = 4 << 20;

/// Records waiting for the next write, and what is durable.
pub(crate) struct Queue {
    /// Encoded frames of the waiting records, in index order.
    pub(crate) frames: Vec<u8>,
    /// Their leaf hashes.
    pub(crate) hashes: Vec<Hash>,
    /// Index the next queued record gets.
    pub(crate) next_index: u64,
    /// Leaf hash of record `next_index - 1`, which the next frame links to.
    pub(crate) last_hash: Hash,
    /// Records `0..durable` are on disk, fsynced and in the tree.
    pub(crate) durable: u64,
    pub(crate) leader_active: bool,
    /// Batched records among the waiting ones, and when the oldest of them was queued.
    pub(crate) batched_waiting: usize,
    pub(crate) oldest_batched: Option<Instant>,
    pub(crate) shutdown: bool,
    /// Set by `AuditLog::close`: no record may be queued any more.
    pub(crate) closed: bool,
    pub(crate) spare: Vec<u8>,
}

/// Records encoded and hashed before the queue lock is taken.
pub(crate) struct Encoded {
    leaves: Vec<u8>,
    ends: Vec<usize>,
    hashes: Vec<Hash>,
}

impl Encoded {
    /// Bytes these records take once framed.
    pub(crate) fn frame_bytes(&self) -> usize {
        self.leaves.len() + self.ends.len() * (FRAME_PREFIX_BYTES + RECORD_BODY_HEADER_BYTES)
    }

    pub(crate) fn new(records: &[AuditRecord]) -> Result<Encoded, AuditError> {
        let mut leaves = Vec::with_capacity(records.len() * 128);
        let mut ends = Vec::with_capacity(records.len());
        let mut hashes = Vec::with_capacity(records.len());
        for record in records {
            let start = leaves.len();
            record.encode_into(&mut leaves)?;
            ends.push(leaves.len());
            hashes.push(leaf_hash(&leaves[start..]));
        }
        Ok(Encoded {
            leaves,
            ends,
            hashes,
        })
    }
}

impl Queue {
    /// The queue of a log whose `size` records are durable, the last with leaf hash `last_hash`.
    pub(crate) fn new(size: u64, last_hash: Hash) -> Queue {
        Queue {
            frames: Vec::new(),
            hashes: Vec::new(),
            next_index: size,
            last_hash,
            durable: size,
            leader_active: false,
            batched_waiting: 0,
            oldest_batched: None,
            shutdown: false,
            closed: false,
            spare: Vec::new(),
        }
    }

    /// Frames the records with their indexes and links; returns the first index.
    pub(crate) fn push(&mut self, encoded: &Encoded) -> u64 {
        let first = self.next_index;
        let mut start = 0;
        for (end, hash) in encoded.ends.iter().zip(&encoded.hashes) {
            let link = frame::link(self.next_index, &self.last_hash);
            push_record_frame(
                &mut self.frames,
                self.next_index,
                &link,
                &encoded.leaves[start..*end],
            );
            self.hashes.push(*hash);
            self.last_hash = *hash;
            self.next_index += 1;
            start = *end;
        }
        first
    }
}

impl Shared {
    /// Returns once records `0..target` are durable, leading commits while no one else does.
    pub(crate) fn wait_durable(
        &self,
        queue: &mut MutexGuard<'_, Queue>,
        target: u64,
    ) -> Result<(), AuditError> {
        loop {
            if queue.durable >= target {
                return Ok(());
            }
            self.check_poisoned()?;
            if !queue.leader_active {
                self.lead(queue)?;
                continue;
            }
            self.committed.wait(queue);
        }
    }

    /// Takes every waiting record and writes it with the queue unlocked, then publishes the
    /// outcome and wakes everyone. A failure poisons the log; so does a panic, re-raised after
    /// the waiters have been released so they cannot hang.
    pub(crate) fn lead(&self, queue: &mut MutexGuard<'_, Queue>) -> Result<(), AuditError> {
        let spare = std::mem::take(&mut queue.spare);
        let frames = std::mem::replace(&mut queue.frames, spare);
        let hashes = std::mem::take(&mut queue.hashes);
        let first = queue.next_index - hashes.len() as u64;
        let last = queue.next_index;
        queue.batched_waiting = 0;
        queue.oldest_batched = None;
        queue.leader_active = true;
        let outcome = MutexGuard::unlocked(queue, || {
            panic::catch_unwind(AssertUnwindSafe(|| self.write(&frames, &hashes)))
        });
        queue.leader_active = false;
        match &outcome {
            Ok(Ok(())) => {
                queue.durable = last;
                metrics::counter!("steward_audit_records_total").increment(last - first);
            }
            Ok(Err(_)) | Err(_) => self.poison(),
        }
        if frames.capacity() <= SPARE_BUFFER_BYTES_MAX && queue.spare.capacity() < frames.capacity()
        {
            let mut frames = frames;
            frames.clear();
            queue.spare = frames;
        }
        self.committed.notify_all();
        match outcome {
            Ok(result) => result,
            Err(payload) => panic::resume_unwind(payload),
        }
    }

    fn write(&self, frames: &[u8], hashes: &[Hash]) -> Result<(), AuditError> {
        {
            let mut records = self.records.lock();
            self.check_poisoned()?;
            records.write_durable(frames)?;
        }
        let mut tree = self.tree.write();
        for hash in hashes {
            tree.push(*hash);
        }
        Ok(())
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    pub(crate) fn poison(&self) {
        if !self.poisoned.swap(true, Ordering::AcqRel) {
            metrics::counter!("steward_audit_poisoned_total").increment(1);
            tracing::error!(dir = %self.dir.display(), "audit log poisoned; every append now fails until reopened");
        }
    }

    pub(crate) fn check_poisoned(&self) -> Result<(), AuditError> {
        if self.is_poisoned() {
            Err(AuditError::Poisoned)
        } else {
            Ok(())
        }
    }

    /// Whether a record may be queued: the log is neither poisoned nor closed.
    pub(crate) fn check_writable(&self, queue: &Queue) -> Result<(), AuditError> {
        self.check_poisoned()?;
        if queue.closed {
            Err(AuditError::Closed)
        } else {
            Ok(())
        }
    }
}
