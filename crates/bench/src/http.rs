//! `steward-bench http`: durable ingest over HTTP, NDJSON bodies of B events.
//!
//! The NDJSON file is read and cut into request bodies before the clock starts. C client
//! threads, each with its own keep-alive connection, POST the bodies; the server answers only
//! after the events are fsynced, so a request's latency is the durable acknowledgement
//! latency. Without `--rate` the clients run closed-loop (the next request leaves when the
//! previous answer arrives: maximum throughput). With `--rate` request i is due at
//! `t0 + i·B/rate` (open loop); latency is then reported two ways: from sending
//! (`ack_*`) and from the due time (`ack_from_due_*`, which also counts time a request waited
//! for a free client and so does not hide overload — "coordinated omission").
//!
//! Every event must be accepted: a duplicate (ids already stored) or a rejection fails the run.

use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::Failed;
use crate::stats::{Latencies, round3};

#[derive(clap::Args, Debug)]
pub struct HttpArgs {
    /// Server base URL, e.g. http://127.0.0.1:7700.
    #[arg(long)]
    pub url: String,
    /// Writer key of the tenant.
    #[arg(long, env = "STEWARD_KEY", hide_env_values = true)]
    pub key: String,
    #[arg(long, default_value = "bench")]
    pub tenant: String,
    /// NDJSON file of events in the ingest wire shape (`steward gen` output).
    #[arg(long)]
    pub file: PathBuf,
    /// Client connections (threads).
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Events per request.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Open-loop offered load in events/s (default: closed loop, as fast as answers come).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Send only the first N events of the file.
    #[arg(long)]
    pub limit: Option<usize>,
}

struct ClientResult {
    from_send: Latencies,
    from_due: Latencies,
    accepted: u64,
    failure: Option<String>,
}

/// Cuts the file into request bodies of `batch` non-empty lines; returns them and the event count.
pub fn bodies(text: &[u8], batch: usize, limit: Option<usize>) -> (Vec<(Vec<u8>, usize)>, usize) {
    let mut out = Vec::new();
    let mut body = Vec::new();
    let mut in_body = 0;
    let mut total = 0;
    for line in text.split(|&b| b == b'\n') {
        if line.trim_ascii().is_empty() {
            continue;
        }
        if limit.is_some_and(|l| total >= l) {
            break;
        }
        body.extend_from_slice(line);
        body.push(b'\n');
        in_body += 1;
        total += 1;
        if in_body == batch {
            out.push((std::mem::take(&mut body), in_body));
            in_body = 0;
        }
    }
    if in_body > 0 {
        out.push((body, in_body));
    }
    (out, total)
}

pub fn run(args: HttpArgs) -> Result<(), Failed> {
    if args.connections == 0 || args.batch == 0 {
        return Err(Failed("--connections and --batch must be positive".into()));
    }
    if args.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        return Err(Failed("--rate must be positive".into()));
    }
    let text = std::fs::read(&args.file).map_err(Failed::io(args.file.display()))?;
    let (bodies, events) = bodies(&text, args.batch, args.limit);
    drop(text);
    if events == 0 {
        return Err(Failed(format!("{}: no events", args.file.display())));
    }
    let load = Load {
        url: args.url.clone(),
        tenant: args.tenant.clone(),
        key: args.key.clone(),
        connections: args.connections,
        rate: args.rate,
        batch: args.batch,
    };
    let measured = load.run(&bodies, events)?;
    let mut line = serde_json::json!({
        "mode": "http",
        "events": events,
        "connections": args.connections,
        "batch": args.batch,
        "rate_target": args.rate,
        "seconds": round3(measured.seconds),
        "events_per_s": (measured.accepted as f64 / measured.seconds).round(),
        "ack_p50_ms": round3(measured.from_send.percentile(50.0)),
        "ack_p99_ms": round3(measured.from_send.percentile(99.0)),
        "ack_max_ms": round3(measured.from_send.max()),
        "requests": measured.from_send.len(),
        "file": args.file.display().to_string(),
    });
    if args.rate.is_some() {
        line["ack_from_due_p50_ms"] = round3(measured.from_due.percentile(50.0)).into();
        line["ack_from_due_p99_ms"] = round3(measured.from_due.percentile(99.0)).into();
        line["ack_from_due_max_ms"] = round3(measured.from_due.max()).into();
    }
    println!("{line}");
    Ok(())
}

/// One NDJSON ingest load against a server: where, as whom, how many connections, at what rate.
pub struct Load {
    /// Base URL, e.g. `http://127.0.0.1:7700`.
    pub url: String,
    pub tenant: String,
    /// The bearer token sent with every request.
    pub key: String,
    pub connections: usize,
    /// Open-loop events/s; `None`: closed loop.
    pub rate: Option<f64>,
    /// Events per request (for the open-loop schedule).
    pub batch: usize,
}

/// What a load measured; every event was accepted.
pub struct Measured {
    pub seconds: f64,
    pub accepted: u64,
    pub from_send: Latencies,
    pub from_due: Latencies,
}

impl Load {
    /// POSTs every body (as cut by [`bodies`]) over `connections` keep-alive connections and
    /// fails unless all `events` are accepted.
    pub fn run(&self, bodies: &[(Vec<u8>, usize)], events: usize) -> Result<Measured, Failed> {
        let url = format!(
            "{}/v1/tenants/{}/events",
            self.url.trim_end_matches('/'),
            self.tenant
        );
        let auth = format!("Bearer {}", self.key);
        let next = AtomicUsize::new(0);
        let interval_s = self.rate.map(|r| self.batch as f64 / r);

        let started = Instant::now();
        let results: Vec<ClientResult> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..self.connections)
                .map(|_| {
                    let (next, url, auth) = (&next, &url, &auth);
                    scope.spawn(move || client(bodies, next, url, auth, started, interval_s))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| panic!("client thread panicked"))
                })
                .collect()
        });
        let seconds = started.elapsed().as_secs_f64();

        let mut from_send = Latencies::with_capacity(bodies.len());
        let mut from_due = Latencies::with_capacity(bodies.len());
        let mut accepted = 0u64;
        for result in results {
            if let Some(failure) = result.failure {
                return Err(Failed(format!("http: {failure}")));
            }
            accepted += result.accepted;
            from_send.merge(result.from_send);
            from_due.merge(result.from_due);
        }
        if accepted != events as u64 {
            return Err(Failed(format!(
                "http: accepted {accepted} events, sent {events}"
            )));
        }
        Ok(Measured {
            seconds,
            accepted,
            from_send,
            from_due,
        })
    }
}

fn client(
    bodies: &[(Vec<u8>, usize)],
    next: &AtomicUsize,
    url: &str,
    auth: &str,
    t0: Instant,
    interval_s: Option<f64>,
) -> ClientResult {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build();
    let agent: ureq::Agent = config.into();
    let mut result = ClientResult {
        from_send: Latencies::with_capacity(bodies.len()),
        from_due: Latencies::with_capacity(bodies.len()),
        accepted: 0,
        failure: None,
    };
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some((body, lines)) = bodies.get(i) else {
            break;
        };
        let due = interval_s.map(|s| t0 + Duration::from_secs_f64(s * i as f64));
        if let Some(due) = due {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let sent = Instant::now();
        let response = agent
            .post(url)
            .header("Authorization", auth)
            .header("Content-Type", "application/x-ndjson")
            .send(&body[..]);
        let answered = Instant::now();
        result.from_send.record(answered - sent);
        result.from_due.record(answered - due.unwrap_or(sent));
        let (status, answer) = match response {
            Ok(mut response) => {
                let status = response.status().as_u16();
                (
                    status,
                    response
                        .body_mut()
                        .read_json::<Value>()
                        .unwrap_or(Value::Null),
                )
            }
            Err(error) => {
                result.failure = Some(format!("request {i}: {error}"));
                break;
            }
        };
        let accepted = answer["accepted"].as_u64().unwrap_or(0);
        result.accepted += accepted;
        if status != 200 || accepted != *lines as u64 {
            result.failure = Some(format!(
                "request {i}: status {status}, accepted {accepted} of {lines} (duplicates {}, rejected {}); answer: {}",
                answer["duplicates"],
                answer["rejected_count"],
                answer.to_string().chars().take(500).collect::<String>()
            ));
            break;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_cut_on_lines() {
        let text = b"a\nb\n\nc\nd\ne";
        let (bodies, n) = bodies(text, 2, None);
        assert_eq!(n, 5);
        assert_eq!(
            bodies.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
            [2, 2, 1]
        );
        assert_eq!(bodies[0].0, b"a\nb\n");
        assert_eq!(bodies[2].0, b"e\n");
        let (bodies, n) = super::bodies(text, 2, Some(3));
        assert_eq!((bodies.len(), n), (2, 3));
    }
}
