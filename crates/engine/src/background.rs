//! Background work: one thread flushes old or full memtables, another compacts small
//! segments, so a long compaction never delays a flush that appenders may be waiting for.
//! A panic in a round is caught, counted and logged, keeps the engine not ready until a
//! round completes cleanly, and the thread goes on (after a short pause).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::Engine;
use crate::ledger::worker::panic_text;

const FLUSH_TICK_MS: u64 = 50;
const COMPACTION_TICK_MS: u64 = 500;
/// Pause after a panicked round before the next one.
const PANIC_PAUSE_MS: u64 = 1_000;

pub(crate) fn spawn(
    engine: Weak<Engine>,
    stopping: Arc<AtomicBool>,
    flush_interval_ms: u64,
    head_interval_ms: u64,
) -> Vec<std::thread::JoinHandle<()>> {
    let age = Duration::from_millis(flush_interval_ms);
    let heads = Duration::from_millis(head_interval_ms);
    let flusher = worker(
        "steward-flush",
        engine.clone(),
        stopping.clone(),
        FLUSH_TICK_MS,
        move |engine| {
            engine.sign_audit_heads(heads);
            for tenant in engine.tenant_list() {
                let partition = tenant.partition();
                if partition.needs_flush(age)
                    && let Err(error) = partition.flush_in_background(age)
                {
                    tracing::error!(tenant = tenant.id(), %error, "flush failed");
                }
            }
        },
    );
    let compactor = worker(
        "steward-compact",
        engine,
        stopping,
        COMPACTION_TICK_MS,
        |engine| {
            engine.advance_erasures();
            engine.report_erasures();
            engine.enforce_retention(false);
            for tenant in engine.tenant_list() {
                if let Err(error) = tenant.partition().compact_once() {
                    tracing::error!(tenant = tenant.id(), %error, "compaction failed");
                }
            }
        },
    );
    [flusher, compactor].into_iter().flatten().collect()
}

fn worker(
    name: &'static str,
    engine: Weak<Engine>,
    stopping: Arc<AtomicBool>,
    tick_ms: u64,
    work: impl Fn(&Engine) + Send + 'static,
) -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                let Some(engine) = engine.upgrade() else {
                    return;
                };
                let round = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    fault::maybe_panic(name);
                    work(&engine)
                }));
                let pause = match round {
                    Ok(()) => {
                        engine.health().recovered(name);
                        tick_ms
                    }
                    Err(panic) => {
                        engine.health().panicked(name, &panic_text(&panic));
                        PANIC_PAUSE_MS
                    }
                };
                drop(engine);
                std::thread::sleep(Duration::from_millis(pause));
            }
        })
        .map_err(|e| tracing::error!(%e, name, "cannot start a background thread"))
        .ok()
}

/// Fault injection for tests of the panic path (debug builds only): with
/// `STEWARD_FAULT_PANIC=<thread name>:<rounds>`, that thread panics in its first `rounds`
/// rounds.
pub(crate) mod fault {
    #[cfg(debug_assertions)]
    pub fn maybe_panic(name: &str) {
        use std::sync::atomic::{AtomicU64, Ordering};
        static DONE: AtomicU64 = AtomicU64::new(0);
        let Ok(spec) = std::env::var("STEWARD_FAULT_PANIC") else {
            return;
        };
        let Some((target, rounds)) = spec.split_once(':') else {
            return;
        };
        let rounds: u64 = rounds.parse().unwrap_or(0);
        if target == name && DONE.fetch_add(1, Ordering::SeqCst) < rounds {
            panic!("injected fault in {name} (STEWARD_FAULT_PANIC)");
        }
    }

    #[cfg(not(debug_assertions))]
    pub fn maybe_panic(_name: &str) {}
}
