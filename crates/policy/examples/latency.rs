//! Decision latency with the default policies: 100k decisions, p50/p99/p99.9 in µs.
//!
//! `cargo run --release -p steward-policy --example latency`. A mix of requests that the
//! server makes on its hot paths (ingest, timeline reads, a denied cross-tenant read), each
//! evaluated by Cedar (`decide_uncached`), then the same through the engine's decision cache
//! (`decide`), and `visible_classes` (cached, and uncached: five decisions).
//! Run it at high priority on a shared machine (`nice -n -15`), or other processes' time
//! slices show up as the tail.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use steward_policy::{Action, AuthzRequest, PolicyEngine, PrincipalRef, ResourceRef, Role};

fn key(role: Role, purposes: &[&str]) -> PrincipalRef {
    PrincipalRef::ApiKey {
        id: "k3xq7v2mhfzta".into(),
        tenant: "acme".into(),
        role,
        purposes: purposes.iter().map(|p| (*p).to_owned()).collect(),
    }
}

fn percentiles(label: &str, mut nanos: Vec<u64>) {
    nanos.sort_unstable();
    let at = |q: f64| nanos[((nanos.len() as f64 - 1.0) * q) as usize] as f64 / 1000.0;
    println!(
        "{label:<28} n={:>6}  p50 {:>6.2} µs  p99 {:>6.2} µs  p99.9 {:>6.2} µs  max {:>7.2} µs",
        nanos.len(),
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    );
}

/// This thread's CPU time in ns (Linux), to tell the decision's own cost from time spent
/// waiting for a core on a busy machine.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = PolicyEngine::new(None)?;
    let ip = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
    let requests = [
        AuthzRequest::new(
            key(Role::Writer, &[]),
            Action::Ingest,
            ResourceRef::tenant("acme"),
        ),
        AuthzRequest::new(
            key(Role::Reader, &[]),
            Action::ReadTimeline,
            ResourceRef::subject("acme", "p-0123456789abcdef"),
        )
        .with_purpose("support"),
        AuthzRequest::new(
            key(Role::Reader, &["analytics"]),
            Action::Query,
            ResourceRef::tenant("acme"),
        )
        .with_purpose("analytics"),
        AuthzRequest::new(
            key(Role::Admin, &[]),
            Action::ReadTimeline,
            ResourceRef::subject("other", "p-1"),
        )
        .with_purpose("support"),
        AuthzRequest::new(
            key(Role::PrivacyOfficer, &[]),
            Action::Erase,
            ResourceRef::tenant("acme"),
        ),
    ]
    .map(|r| r.with_source_ip(ip).with_time(1_795_000_000));

    const N: usize = 100_000;
    for r in requests.iter().cycle().take(10_000) {
        black_box(engine.decide_uncached(r));
    }
    let mut all = Vec::with_capacity(N);
    let (wall, cpu) = (Instant::now(), cpu_ns());
    for r in requests.iter().cycle().take(N) {
        let start = Instant::now();
        black_box(engine.decide_uncached(black_box(r)));
        all.push(start.elapsed().as_nanos() as u64);
    }
    let wall = wall.elapsed().as_nanos() as f64 / N as f64 / 1000.0;
    if let (Some(start), Some(end)) = (cpu, cpu_ns()) {
        println!(
            "decide_uncached (mix of 5): mean {wall:.2} µs wall, {:.2} µs on CPU",
            (end - start) as f64 / N as f64 / 1000.0
        );
    }
    percentiles("decide_uncached (mix of 5)", all);
    for r in &requests {
        let mut one = Vec::with_capacity(N / 5);
        for _ in 0..N / 5 {
            let start = Instant::now();
            black_box(engine.decide_uncached(black_box(r)));
            one.push(start.elapsed().as_nanos() as u64);
        }
        percentiles(
            &format!(
                "  {} ({})",
                r.action,
                if engine.decide(r).allowed {
                    "allow"
                } else {
                    "deny"
                }
            ),
            one,
        );
    }
    let mut cached = Vec::with_capacity(N);
    for r in requests.iter().cycle().take(N) {
        let start = Instant::now();
        black_box(engine.decide(black_box(r)));
        cached.push(start.elapsed().as_nanos() as u64);
    }
    percentiles("decide, cached (mix of 5)", cached);
    let mut classes = Vec::with_capacity(N / 5);
    for _ in 0..N / 5 {
        let start = Instant::now();
        black_box(engine.visible_classes(black_box(&requests[1])));
        classes.push(start.elapsed().as_nanos() as u64);
    }
    percentiles("visible_classes (cached)", classes);
    let mut uncached = Vec::with_capacity(N / 5);
    for _ in 0..N / 5 {
        let start = Instant::now();
        black_box(engine.explain_classes(black_box(&requests[1])));
        uncached.push(start.elapsed().as_nanos() as u64);
    }
    percentiles("classes uncached (5 decisions)", uncached);
    Ok(())
}
