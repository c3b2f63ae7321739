//! `steward-bench http-guard`: what authorization and audit cost on durable HTTP ingest.
//!
//! Serves the HTTP API in this process on a loopback port (`steward_server::LoopbackServer`),
//! each run on a fresh data directory (default `EngineConfig`, tenant with the music schemas,
//! a writer key), either as `steward serve` does (`steward_server::app`: authentication,
//! rate-limit check, Cedar decision, a durable audit record per request written alongside the
//! handler) or without any of it (`steward_server::app_unguarded`: a fixed admin
//! authorization, no audit). The same closed-loop NDJSON load as `steward-bench http` (C
//! keep-alive connections, B events per request, every event must be accepted) runs against
//! each, in ABBA order over the pairs (on, off, off, on, on, off, …) so a drift in the
//! machine's speed does not favour one side, after an unmeasured warm-up run of each (the
//! first runs in a process are markedly slower).
//!
//! One JSON line per run (`guard`: `on`/`off`, events/s, acknowledgement percentiles, the
//! process's CPU seconds per million events, the audit records the run added, the 1-minute
//! load average), then a summary line with the medians and `on ÷ off`. The client threads
//! share the process (and the machine's cores) with the server, as in `steward-bench http`.

use serde_json::Value;
use std::time::Instant;

use steward_engine::steward_policy::Role;
use steward_engine::{Engine, EngineConfig, NewKey};

use crate::Failed;
use crate::http::{Load, bodies};
use crate::inproc::tenant_with_schemas;
use crate::stats::round3;

#[derive(clap::Args, Debug)]
pub struct HttpGuardArgs {
    /// Events per run.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Pairs of runs (one with authorization and audit, one without).
    #[arg(long, default_value_t = 3)]
    pub pairs: usize,
    /// Events of the unmeasured warm-up runs (one on, one off) before the measured ones: the
    /// first runs in a process are slower (fresh memory from the OS, cold caches).
    #[arg(long, default_value_t = 200_000)]
    pub warmup_events: u64,
    /// Client connections (threads).
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Events per request.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value = "bench")]
    pub tenant: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guard {
    /// `steward_server::app`: authorization and audit, as served.
    On,
    /// `steward_server::app_unguarded`: neither.
    Off,
}

impl Guard {
    fn as_str(self) -> &'static str {
        match self {
            Guard::On => "on",
            Guard::Off => "off",
        }
    }

    /// Run `run`'s side in ABBA order: on, off, off, on, on, off, …
    fn of_run(run: usize) -> Guard {
        if run.is_multiple_of(2) == (run / 2).is_multiple_of(2) {
            Guard::On
        } else {
            Guard::Off
        }
    }
}

pub fn run(args: HttpGuardArgs) -> Result<(), Failed> {
    if args.connections == 0 || args.batch == 0 || args.events == 0 || args.pairs == 0 {
        return Err(Failed(
            "--events, --pairs, --connections and --batch must be positive".into(),
        ));
    }
    let prepare_started = Instant::now();
    let mut text = Vec::new();
    steward_gen::write_ndjson(
        &steward_gen::GenConfig::new(args.seed, args.events),
        &mut text,
    )
    .map_err(Failed::io("generate events"))?;
    let (bodies, events) = bodies(&text, args.batch, None);
    drop(text);
    eprintln!(
        "http-guard: {events} events in {} requests prepared in {:.1}s",
        bodies.len(),
        prepare_started.elapsed().as_secs_f64()
    );

    let warmup_requests = (args.warmup_events as usize)
        .div_ceil(args.batch)
        .min(bodies.len());
    let warmup = &bodies[..warmup_requests];
    let warmup_events: usize = warmup.iter().map(|(_, lines)| lines).sum();
    if warmup_events > 0 {
        for guard in [Guard::On, Guard::Off] {
            let line = one_run(&args, warmup, warmup_events, guard, 0)?;
            eprintln!("http-guard: warm-up (not counted): {line}");
        }
    }
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for run in 0..2 * args.pairs {
        let guard = Guard::of_run(run);
        let line = one_run(&args, &bodies, events, guard, run)?;
        let rate = line["events_per_s"].as_f64().unwrap_or(0.0);
        eprintln!(
            "http-guard: run {run} guard {} {rate:.0} events/s",
            guard.as_str()
        );
        println!("{line}");
        match guard {
            Guard::On => on.push(rate),
            Guard::Off => off.push(rate),
        }
    }
    let (on, off) = (median(&mut on), median(&mut off));
    let summary = serde_json::json!({
        "mode": "http-guard-summary",
        "events": events,
        "pairs": args.pairs,
        "connections": args.connections,
        "batch": args.batch,
        "on_events_per_s_median": on.round(),
        "off_events_per_s_median": off.round(),
        "on_over_off": round3(on / off),
        "warmup_events": warmup_events,
    });
    println!("{summary}");
    Ok(())
}

fn one_run(
    args: &HttpGuardArgs,
    bodies: &[(Vec<u8>, usize)],
    events: usize,
    guard: Guard,
    run: usize,
) -> Result<Value, Failed> {
    let temp = tempfile::Builder::new()
        .prefix("steward-bench-guard-")
        .tempdir()
        .map_err(Failed::io("temp dir"))?;
    let data = temp.path().join("data");
    steward_engine::init(&data).map_err(Failed::engine("init"))?;
    let engine = Engine::open(EngineConfig::new(&data)).map_err(Failed::engine("open"))?;
    tenant_with_schemas(&engine, &args.tenant)?;
    let (_, key) = engine
        .create_key(&args.tenant, NewKey::new("bench-writer", Role::Writer))
        .map_err(Failed::engine("create key"))?;
    let audit_size = |engine: &Engine| {
        engine
            .audit_head(&args.tenant)
            .map(|(head, _)| head.size)
            .map_err(Failed::engine("audit head"))
    };
    let audit_before = audit_size(&engine)?;

    let state = steward_server::AppState::new(engine.clone());
    let router = match guard {
        Guard::On => steward_server::app(state),
        Guard::Off => steward_server::app_unguarded(state),
    };
    let server =
        steward_server::LoopbackServer::start(router).map_err(Failed::io("loopback server"))?;
    let load = Load {
        url: format!("http://{}", server.addr()),
        tenant: args.tenant.clone(),
        key,
        connections: args.connections,
        rate: None,
        batch: args.batch,
    };
    let cpu_before = process_cpu_s();
    let measured = load.run(bodies, events);
    let cpu_s = process_cpu_s() - cpu_before;
    let load1 = load_average_1m();
    server.stop().map_err(Failed::io("loopback server"))?;
    let audit_records = audit_size(&engine)? - audit_before;
    engine.shutdown().map_err(Failed::engine("shutdown"))?;
    drop(engine);
    let measured = measured?;

    let requests = measured.from_send.len() as u64;
    let expected_audit = match guard {
        Guard::On => requests,
        Guard::Off => 0,
    };
    if audit_records != expected_audit {
        return Err(Failed(format!(
            "http-guard: guard {} wrote {audit_records} audit records for {requests} requests",
            guard.as_str()
        )));
    }
    Ok(serde_json::json!({
        "mode": "http-guard",
        "guard": guard.as_str(),
        "run": run,
        "events": events,
        "connections": args.connections,
        "batch": args.batch,
        "seconds": round3(measured.seconds),
        "events_per_s": (measured.accepted as f64 / measured.seconds).round(),
        "ack_p50_ms": round3(measured.from_send.percentile(50.0)),
        "ack_p99_ms": round3(measured.from_send.percentile(99.0)),
        "ack_max_ms": round3(measured.from_send.max()),
        "requests": requests,
        "audit_records": audit_records,
        "cpu_s_per_m_events": round3(cpu_s / events as f64 * 1e6),
        "load1": load1,
    }))
}

/// The median (the mean of the middle two for an even count); 0 for none.
fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// User + system CPU seconds of this process, server and client threads together (Linux
/// `/proc/self/stat`, in USER_HZ = 100 ticks per second); 0 where unavailable.
fn process_cpu_s() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

fn load_average_1m() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_alternate_abba() {
        let order: Vec<_> = (0..6).map(|r| Guard::of_run(r).as_str()).collect();
        assert_eq!(order, ["on", "off", "off", "on", "on", "off"]);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn this_process_uses_cpu() {
        let spin = Instant::now();
        while spin.elapsed().as_millis() < 30 {}
        assert!(process_cpu_s() > 0.0);
    }
}
