//! `steward-bench erasure`: what forgetting costs, on a store of generated events.
//!
//! 1. Shred latency: `Engine::request_erasure` (key destroyed, rows hidden, request and audit
//!    record durable) for `--shred` subjects, one at a time: p50/p99/max. This is the time
//!    until a subject's personal fields are unreadable.
//! 2. Purge of one heavy subject (the one with the most events): the background step run by
//!    hand: flush, rewrite every segment that held it, compact the catalog; wall time.
//! 3. A batch of `--batch` subjects: request (shred + hide) and purge, subjects per second.
//!
//! Prints one JSON line. The store is built in-process first (generated events, flushed and
//! compacted), so the timings are about erasure alone.

use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;
use steward_engine::{Engine, EngineConfig, IngestOptions};

use crate::Failed;
use crate::inproc::tenant_with_schemas;
use crate::stats::{Latencies, round3};

#[derive(clap::Args)]
pub struct ErasureArgs {
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Subjects erased one at a time to measure shred latency.
    #[arg(long, default_value_t = 200)]
    shred: usize,
    /// Subjects erased in one batch.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Data directory (default: a temporary one).
    #[arg(long)]
    data: Option<PathBuf>,
}

const TENANT: &str = "bench";
const INGEST_BATCH: usize = 5_000;

pub fn run(args: ErasureArgs) -> Result<(), Failed> {
    let temp = tempfile::Builder::new()
        .prefix("steward-bench-erasure-")
        .tempdir()
        .map_err(Failed::io("temp dir"))?;
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| temp.path().join("data"));
    steward_engine::init(&data).map_err(Failed::engine("init"))?;
    let mut config = EngineConfig::new(&data);
    config.background = false;
    let engine = Engine::open(config).map_err(Failed::engine("open"))?;
    tenant_with_schemas(&engine, TENANT)?;

    // Build the store: every event, counting events per subject.
    let started = Instant::now();
    let mut per_subject: HashMap<String, u64> = HashMap::new();
    let mut batch = Vec::with_capacity(INGEST_BATCH);
    for event in steward_gen::events(&steward_gen::GenConfig::new(args.seed, args.events)) {
        if let Some(s) = event["subject"].as_str() {
            *per_subject.entry(s.to_owned()).or_default() += 1;
        }
        batch.push(event);
        if batch.len() == INGEST_BATCH {
            engine
                .ingest(TENANT, &batch, IngestOptions::default())
                .map_err(Failed::engine("ingest"))?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        engine
            .ingest(TENANT, &batch, IngestOptions::default())
            .map_err(Failed::engine("ingest"))?;
    }
    engine.flush_all().map_err(Failed::engine("flush"))?;
    engine.compact_all().map_err(Failed::engine("compact"))?;
    let build_s = started.elapsed().as_secs_f64();
    let stats = engine
        .tenant_stats(TENANT)
        .map_err(Failed::engine("stats"))?;
    eprintln!(
        "erasure: built {} events of {} subjects in {build_s:.1}s ({} segments)",
        args.events,
        per_subject.len(),
        stats.segments
    );

    let mut subjects: Vec<(String, u64)> = per_subject.into_iter().collect();
    subjects.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let (heavy, heavy_events) = subjects
        .first()
        .cloned()
        .ok_or_else(|| Failed("no subjects".into()))?;
    let rest: Vec<String> = subjects.iter().skip(1).map(|(s, _)| s.clone()).collect();
    if rest.len() < args.shred + args.batch {
        return Err(Failed(format!(
            "{} subjects, need {} (--shred + --batch + 1)",
            subjects.len(),
            args.shred + args.batch + 1
        )));
    }

    // 1. Shred latency, one subject at a time (the purge stays due later).
    let mut shred = Latencies::with_capacity(args.shred);
    for subject in &rest[..args.shred] {
        let t = Instant::now();
        engine
            .request_erasure(TENANT, subject, false, false)
            .map_err(Failed::engine("erase"))?;
        shred.record(t.elapsed());
    }

    // 2. Purge one heavy subject.
    let t = Instant::now();
    let request = engine
        .request_erasure(TENANT, &heavy, true, false)
        .map_err(Failed::engine("erase heavy"))?;
    let heavy_shred_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    engine.advance_erasures();
    let heavy_purge_s = t.elapsed().as_secs_f64();
    let done = engine
        .erasure(TENANT, &request.id)
        .map_err(Failed::engine("erasure"))?;
    if done.state != steward_engine::ErasureState::Done {
        return Err(Failed(format!("heavy erasure ended in {:?}", done.state)));
    }

    // 3. A batch.
    let batch_ids: Vec<String> = rest[args.shred..args.shred + args.batch].to_vec();
    let t = Instant::now();
    let requests = engine
        .request_erasures(TENANT, &batch_ids, true, false)
        .map_err(Failed::engine("erase batch"))?;
    let batch_hidden_s = t.elapsed().as_secs_f64();
    engine.advance_erasures();
    let batch_total_s = t.elapsed().as_secs_f64();
    let rows_removed: u64 = requests
        .iter()
        .map(|r| engine.erasure(TENANT, &r.id).map(|r| r.rows_removed))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failed::engine("erasure"))?
        .iter()
        .sum();

    println!(
        "{}",
        json!({
            "bench": "erasure",
            "events": args.events,
            "subjects": subjects.len(),
            "build_s": round3(build_s),
            "shred_ms": {"n": shred.len(), "p50": round3(shred.percentile(50.0)), "p99": round3(shred.percentile(99.0)), "max": round3(shred.max())},
            "heavy": {"events": heavy_events, "rows_removed": done.rows_removed, "segments_rewritten": done.segments_rewritten, "shred_ms": round3(heavy_shred_ms), "purge_s": round3(heavy_purge_s)},
            "batch": {"subjects": args.batch, "hidden_s": round3(batch_hidden_s), "total_s": round3(batch_total_s), "subjects_per_s": round3(args.batch as f64 / batch_total_s), "rows_removed": rows_removed},
        })
    );
    drop(temp);
    Ok(())
}
