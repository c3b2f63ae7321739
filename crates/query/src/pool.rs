//! The heavy-work pool: SQL queries, data set builds and exports run here, on a runtime of
//! their own with lowered CPU priority, never on the HTTP runtime's workers. Two heavy queries
//! on two cores then slow each other, not ingest or `/healthz`.
//!
//! Bounded: at most `jobs_max` jobs run at once; one more waits up to `queue_wait` for a slot,
//! then fails with [`PoolError::Busy`]. A panic inside a job is caught, counted
//! (`steward_worker_panics_total{worker="pool"}`), and fails only that job.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Nice value of the pool's threads (Linux): heavy work yields the CPU to ingest and reads.
const POOL_NICE: i32 = 10;

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("{jobs} heavy jobs are running; retry later")]
    Busy { jobs: usize },
    #[error("the job panicked")]
    Panicked,
    #[error("the pool is shutting down")]
    Closed,
}

/// Settings of the pool.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub threads: usize,
    pub jobs_max: usize,
    pub queue_wait: Duration,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            threads: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .clamp(1, 16),
            jobs_max: 4,
            queue_wait: Duration::from_secs(10),
        }
    }
}

pub struct WorkPool {
    runtime: Option<tokio::runtime::Runtime>,
    permits: Arc<Semaphore>,
    config: PoolConfig,
}

/// A running job's slot; the job holds it until it ends.
pub struct Slot(#[allow(dead_code, reason = "held for its drop")] OwnedSemaphorePermit);

impl WorkPool {
    pub fn new(config: PoolConfig) -> std::io::Result<Arc<WorkPool>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads.max(1))
            .max_blocking_threads(config.jobs_max.max(1) * 2)
            .thread_name("steward-heavy")
            // SQL is parsed and planned on these threads: their stack is sized for the
            // deepest statement `complexity.rs` lets through.
            .thread_stack_size(crate::limits::POOL_THREAD_STACK_BYTES)
            .on_thread_start(lower_priority)
            .enable_all()
            .build()?;
        Ok(Arc::new(WorkPool {
            runtime: Some(runtime),
            permits: Arc::new(Semaphore::new(config.jobs_max.max(1))),
            config,
        }))
    }

    fn handle(&self) -> Result<&tokio::runtime::Handle, PoolError> {
        self.runtime
            .as_ref()
            .map(|r| r.handle())
            .ok_or(PoolError::Closed)
    }

    /// A slot for one job, waiting at most the configured time.
    pub async fn slot(&self) -> Result<Slot, PoolError> {
        match tokio::time::timeout(self.config.queue_wait, self.permits.clone().acquire_owned())
            .await
        {
            Ok(Ok(permit)) => Ok(Slot(permit)),
            Ok(Err(_)) => Err(PoolError::Closed),
            Err(_) => Err(PoolError::Busy {
                jobs: self.config.jobs_max,
            }),
        }
    }

    /// Runs a job on the pool (after taking a slot) and waits for it from any runtime.
    pub async fn run<F, T>(&self, job: F) -> Result<T, PoolError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let slot = self.slot().await?;
        self.spawn(slot, job).await
    }

    /// Runs a job in a slot already taken (a job that outlives its request keeps the slot).
    pub async fn spawn<F, T>(&self, slot: Slot, job: F) -> Result<T, PoolError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let handle = self.handle()?.spawn(async move {
            let out = job.await;
            drop(slot);
            out
        });
        joined(handle.await)
    }

    /// Runs blocking work (decoding files of an export) on the pool's blocking threads.
    pub async fn blocking<F, T>(&self, work: F) -> Result<T, PoolError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        joined(self.handle()?.spawn_blocking(work).await)
    }

    /// Starts blocking work without waiting for it (a streaming export's producer).
    pub fn spawn_blocking_detached<F>(&self, work: F) -> Result<(), PoolError>
    where
        F: FnOnce() + Send + 'static,
    {
        self.handle()?.spawn_blocking(move || {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).is_err() {
                metrics::counter!("steward_worker_panics_total", "worker" => "pool").increment(1);
                tracing::error!("an export producer panicked");
            }
        });
        Ok(())
    }

    /// Runs a job from a thread outside any runtime (the ledger's workers), taking a slot.
    pub fn block_on<F, T>(&self, job: F) -> Result<T, PoolError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let handle = self.handle()?.clone();
        handle.block_on(async move {
            // Background work waits for a slot as long as it takes (it has no caller to
            // answer), so it never fails for being busy.
            let permit = self
                .permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| PoolError::Closed)?;
            self.spawn(Slot(permit), job).await
        })
    }
}

fn joined<T>(result: Result<T, tokio::task::JoinError>) -> Result<T, PoolError> {
    match result {
        Ok(value) => Ok(value),
        Err(e) if e.is_panic() => {
            metrics::counter!("steward_worker_panics_total", "worker" => "pool").increment(1);
            tracing::error!("a heavy job panicked");
            Err(PoolError::Panicked)
        }
        Err(_) => Err(PoolError::Closed),
    }
}

impl Drop for WorkPool {
    fn drop(&mut self) {
        // Dropping a runtime from inside another would panic; this never blocks.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: setpriority(2) on the calling thread's own id (PRIO_PROCESS with a thread id
    // sets that thread's nice value on Linux); no memory is passed.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, POOL_NICE);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_job_fails_alone_and_the_pool_keeps_working() {
        let pool = WorkPool::new(PoolConfig {
            threads: 1,
            jobs_max: 1,
            queue_wait: Duration::from_secs(5),
        })
        .expect("pool");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let panicked = pool
                .run(async {
                    if std::hint::black_box(true) {
                        panic!("a bug in a query")
                    }
                    1
                })
                .await;
            assert!(matches!(panicked, Err(PoolError::Panicked)), "{panicked:?}");
            assert_eq!(
                pool.run(async { 7 }).await.expect("the slot was released"),
                7
            );
        });
    }
}
