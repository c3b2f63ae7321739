//! `steward-bench serve-load`: request/answer load against any HTTP JSON endpoint (issue 12,
//! item 7: Steward's recommendations against a Python peer serving implicit's model, the same
//! generator on both sides).
//!
//! The request bodies are one JSON document per line of an NDJSON file, read before the clock
//! starts and sent in file order, cycling: request i carries line `i mod lines`, so two runs
//! against two servers send the same bodies in the same order. C client threads, each with its
//! own keep-alive connection, POST them to `URL + PATH`.
//!
//! - Without `--rate` the clients run closed loop (the next request leaves when the previous
//!   answer arrived): the maximum rate at C connections.
//! - With `--rate R` request i is due at `t0 + i/R` (open loop); a client takes the next due
//!   request when it is free. Latency is reported from the due time (`*_ms`: a request that
//!   waited for a free client, because the server fell behind, counts the wait — no
//!   coordinated omission) and, beside it, from the actual send (`send_*_ms`).
//!
//! Requests sent (or due) in the first `--warmup` seconds are not measured; the measured window
//! is the next `--seconds`. The rate is the measured answers over the time from the window's
//! start to the last measured answer.
//!
//! Every answer must be 200 (and, with `--check-items K`, a JSON object whose `items` array
//! holds K entries; with `--check-true FIELD`, whose FIELD is `true`). Anything else, or a
//! transport error, is an error: the JSON line is still printed, with the count and the first
//! few errors, and the run fails.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Failed;
use crate::stats::{Latencies, round3};

/// Error messages kept per client (the count is exact).
const ERRORS_KEPT: usize = 5;

#[derive(clap::Args, Debug)]
pub struct ServeLoadArgs {
    /// Server base URL, e.g. http://127.0.0.1:7700.
    #[arg(long)]
    pub url: String,
    /// Path POSTed to, e.g. /v1/tenants/bench/recommendations.
    #[arg(long)]
    pub path: String,
    /// Sent as `Authorization: Bearer KEY` when given.
    #[arg(long, env = "STEWARD_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// NDJSON file: one JSON request body per line, sent in order, cycling.
    #[arg(long)]
    pub bodies: PathBuf,
    /// Client connections (threads).
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Unmeasured seconds before the measured window.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Open-loop offered load in requests/s (default: closed loop, as fast as answers come).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Every answer must be a JSON object whose `items` array holds this many entries.
    #[arg(long)]
    pub check_items: Option<usize>,
    /// Every answer must be a JSON object whose field of this name is `true`.
    #[arg(long)]
    pub check_true: Option<String>,
    /// A label copied into the JSON line (e.g. the server's name).
    #[arg(long, default_value = "")]
    pub label: String,
}

/// What one client measured.
#[derive(Default)]
struct ClientResult {
    from_due: Latencies,
    from_send: Latencies,
    errors: u64,
    first_errors: Vec<String>,
    /// The last measured answer, from t0.
    last_answer: Duration,
    /// Requests answered before the window (warm-up).
    warmup_requests: u64,
}

/// What every answer must satisfy besides status 200.
struct Checks {
    items: Option<usize>,
    true_field: Option<String>,
}

impl Checks {
    fn active(&self) -> bool {
        self.items.is_some() || self.true_field.is_some()
    }

    /// Why an answer body fails the checks, if it does.
    fn failure(&self, body: &[u8]) -> Option<String> {
        let value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return Some(format!("answer is not JSON ({e})")),
        };
        if let Some(k) = self.items {
            let n = value["items"].as_array().map(Vec::len);
            if n != Some(k) {
                return Some(format!("expected {k} items, got {n:?}"));
            }
        }
        if let Some(field) = &self.true_field
            && value[field.as_str()] != Value::Bool(true)
        {
            return Some(format!(
                "expected {field}: true, got {}",
                value[field.as_str()]
            ));
        }
        None
    }
}

/// Non-empty lines of the file, each checked to be JSON.
fn read_bodies(path: &PathBuf) -> Result<Vec<Vec<u8>>, Failed> {
    let text = std::fs::read(path).map_err(Failed::io(path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        serde_json::from_slice::<Value>(line)
            .map_err(|e| Failed(format!("{}:{}: not JSON: {e}", path.display(), n + 1)))?;
        out.push(line.to_vec());
    }
    if out.is_empty() {
        return Err(Failed(format!("{}: no request bodies", path.display())));
    }
    Ok(out)
}

pub fn run(args: ServeLoadArgs) -> Result<(), Failed> {
    if args.connections == 0 {
        return Err(Failed("--connections must be positive".into()));
    }
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        return Err(Failed("--seconds must be positive".into()));
    }
    if !(args.warmup >= 0.0 && args.warmup.is_finite()) {
        return Err(Failed("--warmup must be zero or positive".into()));
    }
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(Failed("--rate must be positive".into()));
    }
    let bodies = read_bodies(&args.bodies)?;
    let url = format!(
        "{}/{}",
        args.url.trim_end_matches('/'),
        args.path.trim_start_matches('/')
    );
    let auth = args.key.as_ref().map(|k| format!("Bearer {k}"));
    let checks = Checks {
        items: args.check_items,
        true_field: args.check_true.clone(),
    };
    let warmup = Duration::from_secs_f64(args.warmup);
    let window = Duration::from_secs_f64(args.seconds);
    let next = AtomicUsize::new(0);

    let t0 = Instant::now();
    let results: Vec<ClientResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.connections)
            .map(|_| {
                let client = Client {
                    bodies: &bodies,
                    next: &next,
                    url: &url,
                    auth: auth.as_deref(),
                    checks: &checks,
                    t0,
                    warmup,
                    end: warmup + window,
                    rate: args.rate,
                };
                scope.spawn(move || client.run())
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

    let mut from_due = Latencies::default();
    let mut from_send = Latencies::default();
    let (mut errors, mut first_errors) = (0u64, Vec::new());
    let mut last_answer = warmup;
    let mut warmup_requests = 0;
    for r in results {
        from_due.merge(r.from_due);
        from_send.merge(r.from_send);
        errors += r.errors;
        first_errors.extend(r.first_errors);
        last_answer = last_answer.max(r.last_answer);
        warmup_requests += r.warmup_requests;
    }
    let measured_s = (last_answer - warmup).as_secs_f64();
    let requests = from_due.len();
    let mut line = serde_json::json!({
        "bench": "serve_load",
        "label": args.label,
        "mode": if args.rate.is_some() { "open" } else { "closed" },
        "url": url,
        "connections": args.connections,
        "rate_target": args.rate,
        "warmup_s": args.warmup,
        "seconds": round3(measured_s),
        "requests": requests,
        "warmup_requests": warmup_requests,
        "rate": if measured_s > 0.0 { (requests as f64 / measured_s * 10.0).round() / 10.0 } else { 0.0 },
        "p50_ms": round3(from_due.percentile(50.0)),
        "p90_ms": round3(from_due.percentile(90.0)),
        "p99_ms": round3(from_due.percentile(99.0)),
        "p999_ms": round3(from_due.percentile(99.9)),
        "max_ms": round3(from_due.max()),
        "errors": errors,
        "bodies": bodies.len(),
        "load1": load1(),
    });
    if args.rate.is_some() {
        line["latency_from"] = "due".into();
        line["send_p50_ms"] = round3(from_send.percentile(50.0)).into();
        line["send_p99_ms"] = round3(from_send.percentile(99.0)).into();
        line["send_max_ms"] = round3(from_send.max()).into();
    } else {
        line["latency_from"] = "send".into();
    }
    if !first_errors.is_empty() {
        first_errors.truncate(ERRORS_KEPT);
        line["first_errors"] = first_errors.into();
    }
    println!("{line}");
    if errors > 0 {
        return Err(Failed(format!(
            "serve-load: {errors} of {} requests failed (see first_errors above)",
            requests + warmup_requests as usize
        )));
    }
    if requests == 0 {
        return Err(Failed("serve-load: no request was measured".into()));
    }
    Ok(())
}

/// The 1-minute load average, or null where unavailable.
fn load1() -> Value {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(Value::Null, Value::from)
}

/// One client thread: its own keep-alive connection.
struct Client<'a> {
    bodies: &'a [Vec<u8>],
    next: &'a AtomicUsize,
    url: &'a str,
    auth: Option<&'a str>,
    checks: &'a Checks,
    t0: Instant,
    warmup: Duration,
    /// No request leaves (closed loop) or is due (open loop) from `t0 + end` on.
    end: Duration,
    rate: Option<f64>,
}

impl Client<'_> {
    fn run(self) -> ClientResult {
        // One connection per agent (a client sends one request at a time, so its pool keeps
        // the one keep-alive connection). Timeouts per socket read and write, not per call:
        // with a call-wide timeout ureq 3 resolves the host on a new thread for every request
        // (a thread spawn per request, on the cores the server shares).
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_per_read(Some(Duration::from_secs(30)))
            .timeout_per_write(Some(Duration::from_secs(30)))
            .max_idle_connections(1)
            .max_idle_connections_per_host(1)
            .build()
            .into();
        let mut result = ClientResult::default();
        let mut answer = Vec::with_capacity(4096);
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let due = match self.rate {
                Some(rate) => {
                    let due = Duration::from_secs_f64(i as f64 / rate);
                    if due >= self.end {
                        break;
                    }
                    let now = self.t0.elapsed();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    due
                }
                None => {
                    let now = self.t0.elapsed();
                    if now >= self.end {
                        break;
                    }
                    now
                }
            };
            let body = &self.bodies[i % self.bodies.len()];
            let sent = self.t0.elapsed();
            let mut request = agent
                .post(self.url)
                .header("Content-Type", "application/json");
            if let Some(auth) = self.auth {
                request = request.header("Authorization", auth);
            }
            let failure = match request.send(&body[..]) {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    answer.clear();
                    let read = std::io::Read::read_to_end(
                        &mut response.body_mut().as_reader(),
                        &mut answer,
                    );
                    match read {
                        Err(e) => Some(format!("request {i}: reading the answer: {e}")),
                        Ok(_) if status != 200 => Some(format!(
                            "request {i}: status {status}: {}",
                            String::from_utf8_lossy(&answer[..answer.len().min(300)])
                        )),
                        Ok(_) if self.checks.active() => self
                            .checks
                            .failure(&answer)
                            .map(|why| format!("request {i}: {why}")),
                        Ok(_) => None,
                    }
                }
                Err(e) => Some(format!("request {i}: {e}")),
            };
            let answered = self.t0.elapsed();
            if let Some(why) = failure {
                result.errors += 1;
                if result.first_errors.len() < ERRORS_KEPT {
                    result.first_errors.push(why);
                }
            }
            if due < self.warmup {
                result.warmup_requests += 1;
                continue;
            }
            result.from_due.record(answered - due);
            result.from_send.record(answered - sent);
            result.last_answer = result.last_answer.max(answered);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_items_and_field() {
        let checks = Checks {
            items: Some(2),
            true_field: Some("personalized".into()),
        };
        assert_eq!(
            checks.failure(br#"{"items":[1,2],"personalized":true}"#),
            None
        );
        assert!(
            checks
                .failure(br#"{"items":[1],"personalized":true}"#)
                .unwrap()
                .contains("expected 2 items")
        );
        assert!(
            checks
                .failure(br#"{"items":[1,2],"personalized":false}"#)
                .unwrap()
                .contains("personalized")
        );
        assert!(checks.failure(b"oops").unwrap().contains("not JSON"));
    }

    #[test]
    fn bodies_are_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.ndjson");
        std::fs::write(&path, "{\"a\":1}\n\n {\"a\":2} \n").unwrap();
        let b = read_bodies(&path).unwrap();
        assert_eq!(b, [b"{\"a\":1}".to_vec(), b"{\"a\":2}".to_vec()]);
        std::fs::write(&path, "{\"a\":1}\nnope\n").unwrap();
        assert!(read_bodies(&path).unwrap_err().0.contains(":2: not JSON"));
    }
}
