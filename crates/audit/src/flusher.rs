//! The flusher thread of the batched (read) path: it makes batched records durable once the
//! oldest has waited `read_flush_ms`, or early when many wait, and whatever is queued at shutdown.
//! After a failed write the log is poisoned, so every later append fails and reads fail closed.

use std::time::{Duration, Instant};

use crate::log::Shared;

impl Shared {
    /// The flusher thread: writes batched records once the oldest has waited `read_flush_ms` or
    /// enough are waiting, and whatever is queued at shutdown.
    pub(crate) fn run_flusher(&self) {
        let delay = Duration::from_millis(self.config.read_flush_ms);
        let mut queue = self.queue.lock();
        loop {
            if queue.shutdown {
                let target = queue.next_index;
                if !self.is_poisoned()
                    && let Err(error) = self.wait_durable(&mut queue, target)
                {
                    tracing::error!(%error, "audit flush at shutdown failed");
                }
                return;
            }
            let Some(oldest) = queue.oldest_batched else {
                self.flush_wanted.wait(&mut queue);
                continue;
            };
            let deadline = oldest + delay;
            if Instant::now() < deadline
                && queue.batched_waiting < self.config.batched_flush_early_records
            {
                self.flush_wanted.wait_until(&mut queue, deadline);
                continue;
            }
            let target = queue.next_index;
            if let Err(error) = self.wait_durable(&mut queue, target) {
                // The log is poisoned: every later append fails, so reads fail closed.
                tracing::error!(%error, "audit flush failed; audit log poisoned");
                queue.oldest_batched = None;
                queue.batched_waiting = 0;
            }
        }
    }
}
