//! `steward-bench inproc`: durable ingest through the engine API, no HTTP.
//!
//! W writer threads call `Engine::ingest` with batches of B events; each call returns only
//! after the batch's WAL frame is fsynced, so its latency is the durable acknowledgement
//! latency. The engine runs as the server runs it (default `EngineConfig`: encryption at
//! rest, background flush and compaction thread).
//!
//! Events come from `steward_gen` with the given seed, the same events `steward gen` writes
//! as NDJSON. Up to [`PREGEN_EVENTS_MAX`] they are all built as JSON values before the clock
//! starts. Beyond that (the RSS run) a pool of at most `--pool` events is built once and
//! replayed; each replay cycle rewrites `event_id` (suffix `-c{cycle}`, so nothing is
//! deduplicated) and `subject` (prefix `c{cycle}-`, so the number of subjects grows with the
//! event count as it would with real data). Cloning the pooled values happens on the writer
//! threads, inside the throughput clock but outside the per-call latency.

use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use steward_engine::{Engine, EngineConfig, IngestOptions};

use crate::Failed;
use crate::stats::{Latencies, peak_rss_mb, round3, rss_mb};

/// Largest run whose events are all prepared up front.
pub const PREGEN_EVENTS_MAX: u64 = 2_000_000;
/// Largest replay pool.
pub const POOL_EVENTS_MAX: usize = 1_000_000;
/// RSS samples kept in the output line.
const RSS_SAMPLES_MAX: usize = 24;

#[derive(clap::Args, Debug)]
pub struct InprocArgs {
    /// Events to ingest.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Writer threads.
    #[arg(long, default_value_t = 4)]
    pub writers: usize,
    /// Events per ingest call (at most 10000).
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Data directory to create (default: a fresh temporary directory, removed afterwards).
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Replay pool size for runs above 2M events (at most 1M).
    #[arg(long, default_value_t = POOL_EVENTS_MAX)]
    pub pool: usize,
    /// Tenant id to create.
    #[arg(long, default_value = "bench")]
    pub tenant: String,
    /// Open-loop offered load in events/s: batch i is due at `t0 + i·batch/rate` (default:
    /// closed loop, as fast as the engine acknowledges). With a rate, latency is also reported
    /// from each batch's due time (`ack_from_due_*`).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Also write a CSV timeline here: every call (`call,start_ms,latency_ms`) and, every
    /// 100 ms, the store's state (`state,ms,frozen_memtables,memtable_events,segments,rss_mb`):
    /// for finding what stalls acknowledgements.
    #[arg(long)]
    pub trace: Option<PathBuf>,
}

/// Where a writer gets its batches.
enum Source {
    /// Every event, prepared up front: batches are slices, nothing is copied.
    All(Vec<Value>),
    /// A pool replayed with rewritten ids and subjects.
    Pool(Vec<Value>),
}

impl Source {
    fn prepare(seed: u64, events: u64, pool: usize) -> Source {
        if events <= PREGEN_EVENTS_MAX {
            Source::All(steward_gen::events(&steward_gen::GenConfig::new(seed, events)).collect())
        } else {
            let size = pool.clamp(1, POOL_EVENTS_MAX) as u64;
            Source::Pool(steward_gen::events(&steward_gen::GenConfig::new(seed, size)).collect())
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Source::All(_) => "pregenerated",
            Source::Pool(_) => "pool-replay",
        }
    }
}

/// Event `index` of a pooled run: the pooled value with cycle-unique id and subject.
fn pooled(pool: &[Value], index: u64) -> Value {
    let cycle = index / pool.len() as u64;
    let mut event = pool[(index % pool.len() as u64) as usize].clone();
    if let Some(object) = event.as_object_mut() {
        if let Some(Value::String(id)) = object.get_mut("event_id") {
            id.push_str(&format!("-c{cycle}"));
        }
        if let Some(Value::String(subject)) = object.get_mut("subject") {
            *subject = format!("c{cycle}-{subject}");
        }
    }
    event
}

/// Creates `tenant` and stores the five music schemas.
pub(crate) fn tenant_with_schemas(engine: &Engine, tenant: &str) -> Result<(), Failed> {
    engine
        .create_tenant(tenant)
        .map_err(Failed::engine("create tenant"))?;
    for (event_type, document) in steward_gen::music_schemas() {
        engine
            .put_schema(tenant, &event_type, &document)
            .map_err(Failed::engine("put schema"))?;
    }
    Ok(())
}

struct WriterResult {
    latencies: Latencies,
    from_due: Latencies,
    /// (start ms since the clock started, latency ms) per call, with `--trace`.
    calls: Vec<(f64, f64)>,
    accepted: u64,
    failure: Option<String>,
}

pub fn run(args: InprocArgs) -> Result<(), Failed> {
    if args.writers == 0 || args.batch == 0 || args.events == 0 {
        return Err(Failed(
            "--events, --writers and --batch must be positive".into(),
        ));
    }
    if args.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        return Err(Failed("--rate must be positive".into()));
    }
    if args.batch > steward_engine::limits::INGEST_BATCH_EVENTS_MAX {
        return Err(Failed(format!(
            "--batch at most {}",
            steward_engine::limits::INGEST_BATCH_EVENTS_MAX
        )));
    }
    let temp = match &args.data {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("steward-bench-")
                .tempdir()
                .map_err(Failed::io("temp dir"))?,
        ),
    };
    let data: PathBuf = args
        .data
        .clone()
        .or_else(|| temp.as_ref().map(|t| t.path().join("data")))
        .ok_or_else(|| Failed("no data directory".into()))?;

    let prepare_started = Instant::now();
    let source = Source::prepare(args.seed, args.events, args.pool);
    let prepare_s = prepare_started.elapsed().as_secs_f64();
    let rss_before_mb = rss_mb();
    eprintln!(
        "inproc: prepared {} source events ({}) in {prepare_s:.1}s, RSS {rss_before_mb:.0} MiB",
        match &source {
            Source::All(v) | Source::Pool(v) => v.len(),
        },
        source.kind()
    );

    steward_engine::init(&data).map_err(Failed::engine("init"))?;
    let engine = Engine::open(EngineConfig::new(&data)).map_err(Failed::engine("open"))?;
    tenant_with_schemas(&engine, &args.tenant)?;

    let batches = args.events.div_ceil(args.batch as u64) as usize;
    let next = AtomicUsize::new(0);
    let done_events = Arc::new(AtomicU64::new(0));
    let stop_sampler = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<(u64, f64)>::new()));
    let states = Arc::new(Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let sampler = Sampler {
        engine: engine.clone(),
        tenant: args.tenant.clone(),
        done: done_events.clone(),
        stop: stop_sampler.clone(),
        samples: samples.clone(),
        states: args.trace.is_some().then(|| states.clone()),
        started,
    }
    .spawn();

    let results: Vec<WriterResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.writers)
            .map(|_| {
                let engine = &engine;
                let source = &source;
                let next = &next;
                let done_events = &done_events;
                let args = &args;
                scope.spawn(move || {
                    writer(engine, source, next, done_events, args, batches, started)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| panic!("writer thread panicked"))
            })
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    stop_sampler.store(true, Ordering::SeqCst);
    let _ = sampler.join();

    let mut latencies = Latencies::with_capacity(batches);
    let mut from_due = Latencies::with_capacity(batches);
    let mut accepted = 0;
    let mut calls = Vec::new();
    for result in results {
        if let Some(failure) = result.failure {
            return Err(Failed(format!("inproc: {failure}")));
        }
        accepted += result.accepted;
        latencies.merge(result.latencies);
        from_due.merge(result.from_due);
        calls.extend(result.calls);
    }
    if let Some(path) = &args.trace {
        calls.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut text = String::from("kind,ms,a,b,c,d\n");
        for (start, latency) in &calls {
            text.push_str(&format!("call,{start:.3},{latency:.3},,,\n"));
        }
        for line in states.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            text.push_str(line);
        }
        std::fs::write(path, text).map_err(Failed::io(path.display()))?;
    }
    if accepted != args.events {
        return Err(Failed(format!(
            "inproc: accepted {accepted} events, sent {}",
            args.events
        )));
    }
    let peak_during_ingest_mb = peak_rss_mb();
    let flush_started = Instant::now();
    engine.shutdown().map_err(Failed::engine("shutdown"))?;
    let final_flush_s = flush_started.elapsed().as_secs_f64();
    let stats = engine
        .tenant_stats(&args.tenant)
        .ok()
        .map(|s| format!("{s:?}"));
    let rss_end_mb = rss_mb();
    drop(engine);

    let samples = downsample(&samples.lock().unwrap_or_else(|e| e.into_inner()));
    let mut line = serde_json::json!({
        "mode": "inproc",
        "events": args.events,
        "writers": args.writers,
        "batch": args.batch,
        "rate_target": args.rate,
        "seed": args.seed,
        "source": source.kind(),
        "seconds": round3(seconds),
        "events_per_s": (accepted as f64 / seconds).round(),
        "ack_p50_ms": round3(latencies.percentile(50.0)),
        "ack_p99_ms": round3(latencies.percentile(99.0)),
        "ack_max_ms": round3(latencies.max()),
        "calls": latencies.len(),
        "final_flush_s": round3(final_flush_s),
        "prepare_s": round3(prepare_s),
        "rss_before_ingest_mb": rss_before_mb,
        "peak_rss_mb": peak_during_ingest_mb,
        "peak_rss_incl_final_flush_mb": peak_rss_mb(),
        "rss_end_mb": rss_end_mb,
        "rss_trace_events_mb": samples,
        "store_stats": stats,
    });
    if args.rate.is_some() {
        line["ack_from_due_p50_ms"] = round3(from_due.percentile(50.0)).into();
        line["ack_from_due_p99_ms"] = round3(from_due.percentile(99.0)).into();
        line["ack_from_due_max_ms"] = round3(from_due.max()).into();
    }
    println!("{line}");
    Ok(())
}

fn writer(
    engine: &Engine,
    source: &Source,
    next: &AtomicUsize,
    done_events: &AtomicU64,
    args: &InprocArgs,
    batches: usize,
    started: Instant,
) -> WriterResult {
    let capacity = batches / args.writers + 1;
    let mut result = WriterResult {
        latencies: Latencies::with_capacity(capacity),
        from_due: Latencies::with_capacity(capacity),
        calls: Vec::new(),
        accepted: 0,
        failure: None,
    };
    let mut scratch: Vec<Value> = Vec::with_capacity(args.batch);
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= batches {
            break;
        }
        let first = i as u64 * args.batch as u64;
        let last = (first + args.batch as u64).min(args.events);
        let events: &[Value] = match source {
            Source::All(all) => &all[first as usize..last as usize],
            Source::Pool(pool) => {
                scratch.clear();
                scratch.extend((first..last).map(|index| pooled(pool, index)));
                &scratch
            }
        };
        let due = args
            .rate
            .map(|rate| started + Duration::from_secs_f64(first as f64 / rate));
        if let Some(due) = due {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let t0 = Instant::now();
        let report = engine.ingest(&args.tenant, events, IngestOptions::default());
        let latency = t0.elapsed();
        result.latencies.record(latency);
        result
            .from_due
            .record(latency + t0.saturating_duration_since(due.unwrap_or(t0)));
        if args.trace.is_some() {
            result.calls.push((
                (t0 - started).as_secs_f64() * 1e3,
                latency.as_secs_f64() * 1e3,
            ));
        }
        match report {
            Ok(report) => {
                let accepted = report.accepted();
                result.accepted += accepted as u64;
                done_events.fetch_add(accepted as u64, Ordering::Relaxed);
                if accepted != events.len() {
                    let first_error = report
                        .rejected()
                        .next()
                        .map(|(i, e)| format!("event {i}: {} {:?} {}", e.code, e.field, e.message));
                    result.failure = Some(format!(
                        "batch {i}: accepted {accepted} of {} ({} duplicates; first rejection: {})",
                        events.len(),
                        report.duplicates(),
                        first_error.unwrap_or_else(|| "none".into())
                    ));
                    break;
                }
            }
            Err(error) => {
                result.failure = Some(format!("batch {i}: ingest failed: {error}"));
                break;
            }
        }
    }
    result
}

/// Samples RSS every 500 ms and, with `--trace`, the store's state every 100 ms.
struct Sampler {
    engine: Arc<Engine>,
    tenant: String,
    done: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<(u64, f64)>>>,
    states: Option<Arc<Mutex<Vec<String>>>>,
    started: Instant,
}

impl Sampler {
    const TICK_MS: u64 = 100;
    const RSS_EVERY_TICKS: u64 = 5;

    fn spawn(self) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let mut tick = 0u64;
            while !self.stop.load(Ordering::SeqCst) {
                if tick.is_multiple_of(Self::RSS_EVERY_TICKS) {
                    self.sample_rss();
                }
                if let Some(states) = &self.states
                    && let Ok(s) = self.engine.tenant_stats(&self.tenant)
                {
                    let ms = self.started.elapsed().as_secs_f64() * 1e3;
                    let line = format!(
                        "state,{ms:.3},{},{},{},{}\n",
                        s.frozen_memtables,
                        s.memtable_events,
                        s.segments,
                        rss_mb()
                    );
                    states.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
                tick += 1;
                std::thread::sleep(Duration::from_millis(Self::TICK_MS));
            }
            self.sample_rss();
        })
    }

    fn sample_rss(&self) {
        let point = (self.done.load(Ordering::Relaxed), rss_mb());
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(point);
    }
}

/// At most [`RSS_SAMPLES_MAX`] evenly spaced samples, the last one always kept.
fn downsample(samples: &[(u64, f64)]) -> Vec<(u64, f64)> {
    if samples.len() <= RSS_SAMPLES_MAX {
        return samples.to_vec();
    }
    let step = samples.len().div_ceil(RSS_SAMPLES_MAX);
    let mut out: Vec<_> = samples.iter().step_by(step).copied().collect();
    if let Some(last) = samples.last()
        && out.last() != Some(last)
    {
        out.push(*last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_events_are_unique_per_cycle() {
        let pool: Vec<Value> = steward_gen::events(&steward_gen::GenConfig::new(1, 10)).collect();
        let a = pooled(&pool, 3);
        let b = pooled(&pool, 13);
        assert_ne!(a["event_id"], b["event_id"]);
        assert_ne!(a["subject"], b["subject"]);
        assert_eq!(a["properties"], b["properties"]);
    }

    #[test]
    fn downsample_keeps_the_last() {
        let samples: Vec<(u64, f64)> = (0..100).map(|i| (i, i as f64)).collect();
        let out = downsample(&samples);
        assert!(out.len() <= RSS_SAMPLES_MAX + 1);
        assert_eq!(out.last(), Some(&(99, 99.0)));
    }
}
