//! Health of the engine's background workers: a worker that panicked is counted
//! (`steward_worker_panics_total{worker}`), logged, restarted, and keeps the engine not ready
//! (`/readyz` fails) until it next completes a round cleanly, so a panic that repeats on
//! every round is never hidden behind a green readiness probe.

use std::collections::BTreeMap;

use parking_lot::Mutex;

#[derive(Default)]
pub(crate) struct Health {
    /// Workers whose last round panicked → the panic's message.
    failing: Mutex<BTreeMap<String, String>>,
}

impl Health {
    pub fn panicked(&self, worker: &str, message: &str) {
        metrics::counter!("steward_worker_panics_total", "worker" => worker.to_owned())
            .increment(1);
        tracing::error!(
            worker,
            panic = message,
            "background worker panicked; it restarts, and the server is not ready until it runs cleanly"
        );
        self.failing
            .lock()
            .insert(worker.to_owned(), message.to_owned());
    }

    pub fn recovered(&self, worker: &str) {
        let mut failing = self.failing.lock();
        if !failing.is_empty() && failing.remove(worker).is_some() {
            tracing::info!(worker, "background worker runs cleanly again");
        }
    }

    /// Workers whose last round panicked, by name.
    pub fn failing(&self) -> Vec<String> {
        self.failing.lock().keys().cloned().collect()
    }
}
