//! The background thread: flushes old or full memtables and compacts small segments.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::Engine;

const TICK_MS: u64 = 100;

pub(crate) fn spawn(engine: Weak<Engine>, stopping: Arc<AtomicBool>, flush_interval_ms: u64) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("steward-background".into())
        .spawn(move || {
            let age = Duration::from_millis(flush_interval_ms);
            while !stopping.load(Ordering::SeqCst) {
                let Some(engine) = engine.upgrade() else { return };
                for tenant in engine.tenant_list() {
                    let partition = tenant.partition();
                    if partition.needs_flush(age)
                        && let Err(error) = partition.flush()
                    {
                        tracing::error!(tenant = tenant.id(), %error, "flush failed");
                    }
                    if let Err(error) = partition.compact_once() {
                        tracing::error!(tenant = tenant.id(), %error, "compaction failed");
                    }
                }
                drop(engine);
                std::thread::sleep(Duration::from_millis(TICK_MS));
            }
        })
        .unwrap_or_else(|e| panic!("cannot start the background thread: {e}"))
}
