//! `steward-bench contention`: what heavy reads cost everyone else. HTTP ingest at a fixed
//! open-loop rate (latency from each request's due time, so queueing behind a stalled server
//! counts) and `/healthz` probes, while `--heavy` client threads run heavy SQL queries back to
//! back against the same server. Run with `--heavy 0` for the baseline.
//!
//! One JSON line: ingest and health latency percentiles, and how many heavy queries finished.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::Failed;
use crate::http::{Load, bodies};
use crate::stats::{Latencies, round3};

#[derive(clap::Args, Debug)]
pub struct ContentionArgs {
    #[arg(long)]
    pub url: String,
    #[arg(long, default_value = "bench")]
    pub tenant: String,
    /// Writer key (ingest).
    #[arg(long)]
    pub writer_key: String,
    /// Reader key (the heavy queries).
    #[arg(long)]
    pub reader_key: String,
    /// NDJSON events to ingest (fresh ids: not yet stored).
    #[arg(long)]
    pub file: PathBuf,
    /// Events ingested during the measurement.
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// Open-loop ingest rate, events/s.
    #[arg(long, default_value_t = 10_000.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    /// Threads running heavy SQL queries back to back.
    #[arg(long, default_value_t = 2)]
    pub heavy: usize,
    /// The heavy queries, used in turn (purpose analytics).
    #[arg(long = "sql", default_values_t = [
        "SELECT subject, count(*) AS n, count(DISTINCT type) AS types, max(length(properties)) AS widest FROM events GROUP BY subject ORDER BY n DESC LIMIT 10".to_string(),
        "SELECT type, date_trunc('hour', time) AS h, count(*) AS n, sum(length(properties)) AS bytes FROM events GROUP BY type, h ORDER BY n DESC LIMIT 10".to_string(),
    ])]
    pub sql: Vec<String>,
}

pub fn run(args: ContentionArgs) -> Result<(), Failed> {
    let text = std::fs::read(&args.file).map_err(Failed::io(args.file.display()))?;
    let (bodies, events) = bodies(&text, args.batch, Some(args.events));
    let stop = AtomicBool::new(false);
    let queries = AtomicU64::new(0);
    let query_failures = AtomicU64::new(0);
    let base = args.url.trim_end_matches('/').to_owned();
    let load = Load {
        url: args.url.clone(),
        tenant: args.tenant.clone(),
        key: args.writer_key.clone(),
        connections: args.connections,
        rate: Some(args.rate),
        batch: args.batch,
    };
    let (measured, health) = std::thread::scope(|scope| {
        for i in 0..args.heavy {
            let (stop, queries, query_failures, base, args) =
                (&stop, &queries, &query_failures, &base, &args);
            scope.spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(600))).build().into();
                let url = format!("{base}/v1/tenants/{}/sql", args.tenant);
                let mut k = i;
                while !stop.load(Ordering::SeqCst) {
                    let sql = &args.sql[k % args.sql.len()];
                    k += 1;
                    let body = serde_json::json!({"sql": sql, "purpose": "analytics", "timeout_ms": 600_000});
                    let ok = agent
                        .post(&url)
                        .header("Authorization", format!("Bearer {}", args.reader_key))
                        .header("Content-Type", "application/json")
                        .send(body.to_string().as_bytes())
                        .map(|mut r| {
                            let status = r.status().as_u16();
                            let _ = r.body_mut().read_to_vec();
                            status == 200
                        })
                        .unwrap_or(false);
                    if ok {
                        queries.fetch_add(1, Ordering::SeqCst);
                    } else {
                        query_failures.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            });
        }
        let prober = {
            let (stop, base) = (&stop, &base);
            scope.spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(60)))
                    .build()
                    .into();
                let mut latencies = Latencies::with_capacity(4096);
                while !stop.load(Ordering::SeqCst) {
                    let sent = Instant::now();
                    let _ = agent
                        .get(&format!("{base}/healthz"))
                        .call()
                        .map(|mut r| r.body_mut().read_to_vec());
                    latencies.record(sent.elapsed());
                    std::thread::sleep(Duration::from_millis(50));
                }
                latencies
            })
        };
        // Let the heavy queries get going before the clock starts.
        if args.heavy > 0 {
            std::thread::sleep(Duration::from_secs(3));
        }
        let measured = load.run(&bodies, events);
        stop.store(true, Ordering::SeqCst);
        let health = prober
            .join()
            .unwrap_or_else(|_| Latencies::with_capacity(0));
        (measured, health)
    });
    let measured = measured?;
    let line = serde_json::json!({
        "bench": "contention",
        "heavy": args.heavy,
        "events": measured.accepted,
        "rate": args.rate,
        "seconds": round3(measured.seconds),
        "ingest_from_due_p50_ms": round3(measured.from_due.percentile(50.0)),
        "ingest_from_due_p99_ms": round3(measured.from_due.percentile(99.0)),
        "ingest_from_due_max_ms": round3(measured.from_due.max()),
        "healthz_p50_ms": round3(health.percentile(50.0)),
        "healthz_p99_ms": round3(health.percentile(99.0)),
        "healthz_max_ms": round3(health.max()),
        "heavy_queries_done": queries.load(Ordering::SeqCst),
        "heavy_query_failures": query_failures.load(Ordering::SeqCst),
    });
    println!("{line}");
    Ok(())
}
