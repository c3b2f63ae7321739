//! Background work: one thread flushes old or full memtables, another compacts small
//! segments, so a long compaction never delays a flush that appenders may be waiting for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::Engine;

const FLUSH_TICK_MS: u64 = 50;
const COMPACTION_TICK_MS: u64 = 500;

pub(crate) fn spawn(engine: Weak<Engine>, stopping: Arc<AtomicBool>, flush_interval_ms: u64, head_interval_ms: u64) -> Vec<std::thread::JoinHandle<()>> {
    let age = Duration::from_millis(flush_interval_ms);
    let heads = Duration::from_millis(head_interval_ms);
    let flusher = worker("steward-flush", engine.clone(), stopping.clone(), FLUSH_TICK_MS, move |engine| {
        engine.sign_audit_heads(heads);
        for tenant in engine.tenant_list() {
            let partition = tenant.partition();
            if partition.needs_flush(age)
                && let Err(error) = partition.flush_in_background(age)
            {
                tracing::error!(tenant = tenant.id(), %error, "flush failed");
            }
        }
    });
    let compactor = worker("steward-compact", engine, stopping, COMPACTION_TICK_MS, |engine| {
        engine.advance_erasures();
        engine.enforce_retention(false);
        for tenant in engine.tenant_list() {
            if let Err(error) = tenant.partition().compact_once() {
                tracing::error!(tenant = tenant.id(), %error, "compaction failed");
            }
        }
    });
    vec![flusher, compactor]
}

fn worker(
    name: &str,
    engine: Weak<Engine>,
    stopping: Arc<AtomicBool>,
    tick_ms: u64,
    work: impl Fn(&Engine) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                let Some(engine) = engine.upgrade() else { return };
                work(&engine);
                drop(engine);
                std::thread::sleep(Duration::from_millis(tick_ms));
            }
        })
        .unwrap_or_else(|e| panic!("cannot start a background thread: {e}"))
}
