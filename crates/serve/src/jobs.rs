//! The job queue: at most `QUEUED_JOBS_MAX` jobs waiting, `ModelConfig::jobs_max` runner
//! threads taking them in order. A runner holds only a weak handle on the registry between
//! jobs, so dropping the registry ends them.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::limits::{JOB_POLL_MS, QUEUED_JOBS_MAX};
use crate::registry::{Key3, Registry};

#[derive(Default)]
pub(crate) struct Queue {
    waiting: Mutex<VecDeque<Key3>>,
    cond: Condvar,
}

impl Queue {
    /// Appends a job; `Err(waiting)` when the queue is full.
    pub fn push(&self, key: Key3) -> Result<(), usize> {
        let mut waiting = self.waiting.lock();
        if waiting.len() >= QUEUED_JOBS_MAX {
            return Err(waiting.len());
        }
        waiting.push_back(key);
        self.cond.notify_one();
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.waiting.lock().len()
    }

    fn pop(&self, timeout: Duration) -> Option<Key3> {
        let mut waiting = self.waiting.lock();
        if waiting.is_empty() {
            self.cond.wait_for(&mut waiting, timeout);
        }
        waiting.pop_front()
    }
}

pub(crate) fn spawn_runners(registry: &Arc<Registry>) {
    for i in 0..registry.config().jobs_max.max(1) {
        let (weak, queue): (Weak<Registry>, Arc<Queue>) =
            (Arc::downgrade(registry), registry.jobs.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("steward-train-{i}"))
            .spawn(move || {
                loop {
                    let key = queue.pop(Duration::from_millis(JOB_POLL_MS));
                    let Some(registry) = weak.upgrade() else {
                        return;
                    };
                    if let Some(key) = key {
                        registry.run_queued(key);
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start a training runner");
        }
    }
}
