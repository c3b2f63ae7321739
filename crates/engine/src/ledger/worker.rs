//! The ledger's bounded worker pool: a few threads that run due tasks (coalesced per tenant,
//! kind and sort), the retention triggers and each kind's periodic upkeep. Never the
//! compaction thread, never under the erasure lock (a result is recorded under it, briefly).
//! A panic in a kind is caught, counted, marks the engine not ready until the kind next
//! succeeds, and the task is retried.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use steward_crypto::Pseudonym;

use super::task::{LEDGER_TASKS, TaskDoc, TaskOp};
use super::{ArtifactKind, Hide, Outcome, Work};
use crate::tenant::Tenant;
use crate::{DerivedArtifact, Engine, EngineError};

/// Worker threads of the ledger.
pub const LEDGER_WORKERS: usize = 2;
/// A worker's idle wait between rounds (new tasks wake it at once).
const ROUND_MS: u64 = 200;
/// Each kind's upkeep of each tenant, at most this often.
const MAINTAIN_EVERY: Duration = Duration::from_secs(5);
/// Retry after a kind asked to wait.
const WAIT_RETRY_MS: i64 = 500;
/// Retry after a failure: doubling from 1 s up to this.
const FAILURE_RETRY_MAX_MS: i64 = 300_000;

/// Wakes the workers when tasks are filed.
#[derive(Default)]
pub(crate) struct Signal {
    woken: Mutex<bool>,
    cond: Condvar,
}

impl Signal {
    pub fn notify(&self) {
        *self.woken.lock() = true;
        self.cond.notify_all();
    }

    fn wait(&self, timeout: Duration) {
        let mut woken = self.woken.lock();
        if !*woken {
            self.cond.wait_for(&mut woken, timeout);
        }
        *woken = false;
    }
}

pub(crate) fn spawn(
    engine: Weak<Engine>,
    stopping: Arc<AtomicBool>,
    signal: Arc<Signal>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..LEDGER_WORKERS)
        .filter_map(|i| {
            let (engine, stopping, signal) = (engine.clone(), stopping.clone(), signal.clone());
            std::thread::Builder::new()
                .name(format!("steward-ledger-{i}"))
                .spawn(move || {
                    while !stopping.load(Ordering::SeqCst) {
                        let Some(strong) = engine.upgrade() else {
                            return;
                        };
                        let busy = strong.ledger_round();
                        drop(strong);
                        if !busy {
                            signal.wait(Duration::from_millis(ROUND_MS));
                        }
                    }
                })
                .map_err(|e| tracing::error!(%e, "cannot start a ledger worker"))
                .ok()
        })
        .collect()
}

/// A due task: its key (kind, id) and document.
type Due = ((String, u64), TaskDoc);

/// Releases a claimed (tenant, kind) when dropped, even on panic.
struct Claim<'a> {
    tenant: &'a Tenant,
    kind: &'static str,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.tenant.ledger_state().release(self.kind);
    }
}

impl Engine {
    /// One pass over every tenant and registered kind; true if any work ran.
    pub(crate) fn ledger_round(&self) -> bool {
        let mut busy = false;
        for tenant in self.tenant_list() {
            for kind in self.registered_kinds() {
                if self.stopping() {
                    return busy;
                }
                let state = tenant.ledger_state();
                if !state.claim(kind.name()) {
                    continue;
                }
                let _claim = Claim {
                    tenant: &tenant,
                    kind: kind.name(),
                };
                busy |= self.run_kind(&tenant, kind.as_ref());
            }
        }
        busy
    }

    fn run_kind(&self, tenant: &Arc<Tenant>, kind: &dyn ArtifactKind) -> bool {
        let state = tenant.ledger_state();
        let now_us = chrono::Utc::now().timestamp_micros();
        let due = state.due(kind.name(), now_us);
        let mut busy = false;
        // Coalesce: every due erase task is one work; opt-outs and regime changes per purpose.
        let mut erase: Vec<Due> = Vec::new();
        let mut by_purpose: HashMap<(bool, String), Vec<Due>> = HashMap::new();
        for (key, doc) in due {
            match &doc.op {
                TaskOp::Erase { .. } => erase.push((key, doc)),
                TaskOp::OptOut { purpose, .. } => by_purpose
                    .entry((false, purpose.clone()))
                    .or_default()
                    .push((key, doc)),
                TaskOp::Regime { purpose } => by_purpose
                    .entry((true, purpose.clone()))
                    .or_default()
                    .push((key, doc)),
            }
        }
        if !erase.is_empty() {
            busy = true;
            let subjects: Vec<(Pseudonym, u64)> = erase
                .iter()
                .flat_map(|(_, d)| d.op.erased().into_iter().map(|(s, _, g)| (s, g)))
                .collect();
            let outcome = self.call_kind(tenant, kind, &Work::Erase { subjects });
            self.settle(tenant, kind.name(), &erase, outcome);
        }
        for ((regime, purpose), tasks) in by_purpose {
            busy = true;
            let work = if regime {
                Work::RegimeChanged { purpose }
            } else {
                let mut subjects: Vec<Pseudonym> = Vec::new();
                for (_, doc) in &tasks {
                    if let TaskOp::OptOut { subjects: list, .. } = &doc.op {
                        subjects.extend(list.iter().filter_map(|h| Pseudonym::parse_hex(h).ok()));
                    }
                }
                subjects.sort_unstable();
                subjects.dedup();
                Work::OptOut { purpose, subjects }
            };
            let outcome = self.call_kind(tenant, kind, &work);
            self.settle(tenant, kind.name(), &tasks, outcome);
        }
        if state.take_retention_due(kind.name()) {
            busy = true;
            if let Err(error) = self.call_kind(tenant, kind, &Work::Retention) {
                tracing::error!(tenant = tenant.id(), kind = kind.name(), %error, "retention of derived artifacts failed; retried at the next pass");
                state.set_retention_due(&[kind.name().to_owned()]);
            }
        }
        if state.maintenance_due(kind.name(), MAINTAIN_EVERY) {
            let name = kind.name();
            match std::panic::catch_unwind(AssertUnwindSafe(|| kind.maintain(tenant.id()))) {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::warn!(tenant = tenant.id(), kind = name, %error, "upkeep of derived artifacts failed")
                }
                Err(panic) => self
                    .health()
                    .panicked(&format!("ledger:{name}"), &panic_text(&panic)),
            }
        }
        busy
    }

    /// Calls a kind, turning a panic into an error (counted; the engine is not ready until the
    /// kind next succeeds).
    fn call_kind(
        &self,
        tenant: &Tenant,
        kind: &dyn ArtifactKind,
        work: &Work,
    ) -> Result<Outcome, String> {
        let started = Instant::now();
        let worker = format!("ledger:{}", kind.name());
        let result =
            match std::panic::catch_unwind(AssertUnwindSafe(|| kind.process(tenant.id(), work))) {
                Ok(result) => {
                    self.health().recovered(&worker);
                    result
                }
                Err(panic) => {
                    let text = panic_text(&panic);
                    self.health().panicked(&worker, &text);
                    Err(format!("the kind panicked: {text}"))
                }
            };
        metrics::histogram!("steward_ledger_work_seconds", "kind" => kind.name(), "work" => work_name(work)).record(started.elapsed().as_secs_f64());
        result
    }

    /// Records a kind's outcome for the tasks it covered.
    fn settle(
        &self,
        tenant: &Arc<Tenant>,
        kind: &'static str,
        tasks: &[((String, u64), TaskDoc)],
        outcome: Result<Outcome, String>,
    ) {
        let keys: Vec<(String, u64)> = tasks.iter().map(|(k, _)| k.clone()).collect();
        let state = tenant.ledger_state();
        let now_us = chrono::Utc::now().timestamp_micros();
        match outcome {
            Ok(Outcome::Done { artifacts }) => {
                if let Err(error) = self.acknowledge(tenant, tasks, &artifacts) {
                    tracing::error!(tenant = tenant.id(), kind, %error, "could not record derived work; retried");
                    state.postpone(&keys, now_us + 1_000_000, true);
                }
            }
            Ok(Outcome::Wait { reason }) => {
                tracing::debug!(tenant = tenant.id(), kind, reason, "derived work waits");
                state.postpone(&keys, now_us + WAIT_RETRY_MS * 1000, false);
            }
            Err(error) => {
                metrics::counter!("steward_ledger_task_failures_total", "kind" => kind)
                    .increment(1);
                let failures = keys.iter().map(|k| state.failures(k)).max().unwrap_or(0);
                let backoff_ms = (1000i64 << failures.min(20)).min(FAILURE_RETRY_MAX_MS);
                tracing::error!(tenant = tenant.id(), kind, %error, retry_in_ms = backoff_ms, "derived work failed; retried");
                state.postpone(&keys, now_us + backoff_ms * 1000, true);
            }
        }
    }

    /// Deletes acknowledged tasks and, for erasures, lists what was done in each request, in
    /// one commit under the erasure lock; then forgets the pseudonyms the tasks named.
    fn acknowledge(
        &self,
        tenant: &Arc<Tenant>,
        tasks: &[((String, u64), TaskDoc)],
        artifacts: &HashMap<Pseudonym, Vec<DerivedArtifact>>,
    ) -> Result<(), EngineError> {
        let mut by_erasure: HashMap<String, Vec<DerivedArtifact>> = HashMap::new();
        let mut named_subjects = false;
        for (_, doc) in tasks {
            for (subject, erasure, _) in doc.op.erased() {
                named_subjects = true;
                by_erasure
                    .entry(erasure)
                    .or_default()
                    .extend(artifacts.get(&subject).cloned().unwrap_or_default());
            }
            named_subjects |= matches!(doc.op, TaskOp::OptOut { .. });
        }
        let keys: Vec<(String, u64)> = tasks.iter().map(|(k, _)| k.clone()).collect();
        {
            let _serialized = tenant.erasure_lock().lock();
            let mut requests = Vec::new();
            for (id, done) in &by_erasure {
                if let Some(mut request) = crate::erasure::load(tenant, id)? {
                    request.record_derived(done);
                    requests.push(request);
                }
            }
            tenant.partition().catalog().write(|txn| {
                for request in &requests {
                    crate::erasure::put(txn, request)?;
                }
                for (kind, id) in &keys {
                    txn.delete(LEDGER_TASKS, &super::task::key(kind, *id))?;
                }
                Ok(())
            })?;
            tenant.ledger_state().acknowledged(&keys);
        }
        if named_subjects {
            // The deleted tasks named pseudonyms: no freed page may keep them.
            tenant.partition().catalog().compact()?;
        }
        if !by_erasure.is_empty() {
            // The erasures may move to derived now.
            tenant.erasures_due_us().store(i64::MIN, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Calls every registered kind's synchronous hide (errors and panics are logged; the
    /// durable tasks follow either way).
    pub(crate) fn ledger_hide(&self, tenant: &str, hide: &Hide<'_>) {
        for kind in self.registered_kinds() {
            match std::panic::catch_unwind(AssertUnwindSafe(|| kind.hide(tenant, hide))) {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::error!(tenant, kind = kind.name(), %error, "hiding in derived artifacts failed; the durable task follows")
                }
                Err(panic) => self
                    .health()
                    .panicked(&format!("ledger:{}", kind.name()), &panic_text(&panic)),
            }
        }
    }
}

fn work_name(work: &Work) -> &'static str {
    match work {
        Work::Erase { .. } => "erase",
        Work::OptOut { .. } => "opt_out",
        Work::RegimeChanged { .. } => "regime",
        Work::Retention => "retention",
    }
}

pub(crate) fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}
