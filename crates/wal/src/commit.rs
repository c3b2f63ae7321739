//! Group-commit queue: the records waiting for the next frame, lsn assignment, and what is durable.
//!
//! Lsns are assigned when a writer enqueues, under the queue lock; since a leader always takes the
//! whole queue and only one leader writes at a time, frames reach the file in lsn order and every
//! frame's lsns are contiguous. A writer is done once `durable_lsn` reaches its last lsn.

use crate::Lsn;
use crate::frame;

/// Buffers larger than this are not kept for reuse, so one huge batch does not pin its memory.
const SPARE_BUFFER_BYTES_MAX: usize = 4 << 20;

/// State shared by appenders, protected by the `Wal`'s queue mutex.
#[derive(Debug)]
pub(crate) struct Queue {
    /// The next frame being built: reserved header followed by the queued records.
    frame: Vec<u8>,
    /// Records in `frame`.
    records: u32,
    /// Lsn of the first queued record (meaningful when `records > 0`).
    first_lsn: Lsn,
    /// Next lsn to hand out.
    next_lsn: Lsn,
    /// Every lsn up to here is on disk and fsynced.
    pub durable_lsn: Lsn,
    /// A leader has taken a batch and is writing it.
    pub leader_active: bool,
    /// A previous frame buffer, kept to avoid reallocating on every commit.
    spare: Vec<u8>,
}

/// A frame taken by the leader, complete with header.
#[derive(Debug)]
pub(crate) struct Batch {
    pub frame: Vec<u8>,
    pub first_lsn: Lsn,
    pub last_lsn: Lsn,
}

impl Queue {
    /// A queue whose next record gets `last_lsn + 1`.
    pub fn new(last_lsn: Lsn) -> Self {
        let mut frame = Vec::new();
        frame::start_frame(&mut frame);
        Queue {
            frame,
            records: 0,
            first_lsn: 0,
            next_lsn: last_lsn + 1,
            durable_lsn: last_lsn,
            leader_active: false,
            spare: Vec::new(),
        }
    }

    /// Whether no record is waiting.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Size the pending frame has now, header included.
    pub fn frame_bytes(&self) -> usize {
        self.frame.len()
    }

    /// Queues `payloads` and returns the lsns they will have. The caller has checked sizes.
    pub fn push(&mut self, payloads: &[&[u8]]) -> (Lsn, Lsn) {
        debug_assert!(!payloads.is_empty());
        let first = self.next_lsn;
        if self.records == 0 {
            self.first_lsn = first;
        }
        for payload in payloads {
            frame::push_record(&mut self.frame, payload);
        }
        let count = u32::try_from(payloads.len());
        debug_assert!(count.is_ok(), "size checks bound the record count");
        self.records += count.unwrap_or(u32::MAX);
        self.next_lsn += payloads.len() as u64;
        (first, self.next_lsn - 1)
    }

    /// Takes every queued record as one finished frame, leaving the queue empty.
    pub fn take(&mut self) -> Batch {
        assert!(self.records > 0, "the leader's own records are queued");
        let mut next = std::mem::take(&mut self.spare);
        frame::start_frame(&mut next);
        let mut taken = std::mem::replace(&mut self.frame, next);
        frame::finish_frame(&mut taken, self.first_lsn, self.records);
        let batch = Batch {
            frame: taken,
            first_lsn: self.first_lsn,
            last_lsn: self.first_lsn + u64::from(self.records) - 1,
        };
        debug_assert_eq!(batch.last_lsn, self.next_lsn - 1);
        self.records = 0;
        batch
    }

    /// Returns a written frame's buffer for reuse.
    pub fn recycle(&mut self, buffer: Vec<u8>) {
        if buffer.capacity() <= SPARE_BUFFER_BYTES_MAX && buffer.capacity() > self.spare.capacity()
        {
            self.spare = buffer;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_yields_contiguous_decodable_frames() {
        let mut queue = Queue::new(10);
        assert_eq!(queue.push(&[b"a", b"bc"]), (11, 12));
        assert_eq!(queue.push(&[b"d"]), (13, 13));
        let batch = queue.take();
        assert!(queue.is_empty());
        assert_eq!((batch.first_lsn, batch.last_lsn), (11, 13));
        let decoded = frame::decode_frame(&batch.frame).unwrap();
        let records: Vec<_> = decoded.records().collect();
        assert_eq!(records, vec![(11, &b"a"[..]), (12, b"bc"), (13, b"d")]);
        queue.recycle(batch.frame);
        assert_eq!(queue.push(&[b"e"]), (14, 14));
        let batch = queue.take();
        assert_eq!(frame::decode_frame(&batch.frame).unwrap().first_lsn, 14);
    }
}
