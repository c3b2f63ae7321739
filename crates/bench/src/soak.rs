//! `steward-bench soak`: mixed traffic at a fixed rate against a `steward serve` this command
//! starts on a fresh data directory (issue 14 item 5). Operations, by share of the rate: ingest
//! batches (40%), timelines (20%), recommendations (25%), SQL (5%), consent changes (8%) and
//! erasures (2%). Every `--rss-every-s` the server's RSS is sampled from /proc. At the end every
//! acknowledged event of a subject not erased is read back through the timeline (purpose
//! `analytics`, which no consent change touches). One JSON line: per-operation counts, errors
//! and p50/p99, the RSS samples and their growth over the last half, and the read-back.
//!
//! Open loop per worker: each operation is due at a fixed time, and a late one is sent at once
//! (latency counts from the due time, so a stall shows in p99).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Failed;
use crate::stats::{Latencies, round3};

#[derive(clap::Args, Debug)]
pub struct SoakArgs {
    /// The `steward` binary to run.
    #[arg(long)]
    pub binary: String,
    /// Minutes of mixed traffic.
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
    /// Operations per second, all kinds together.
    #[arg(long, default_value_t = 40.0)]
    pub rate: f64,
    /// Worker threads sharing the rate.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// Subjects whose events are ingested and read (erasures take others).
    #[arg(long, default_value_t = 200)]
    pub subjects: usize,
    #[arg(long, default_value_t = 10)]
    pub rss_every_s: u64,
    /// Ingest re-sends a fixed pool of event ids (duplicates after the first pass): the
    /// stored data stops growing, so RSS growth left over is not data (a leak check).
    #[arg(long)]
    pub steady: bool,
}

const KINDS: [&str; 6] = [
    "ingest",
    "timeline",
    "recommend",
    "sql",
    "consent",
    "erasure",
];
/// Shares of the rate in percent, in the order of `KINDS`.
const MIX: [u32; 6] = [40, 20, 25, 5, 8, 2];
const TENANT: &str = "soak";

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(binary: &str) -> Result<(Server, String), Failed> {
    let dir = tempfile::tempdir().map_err(|e| Failed(format!("temp dir: {e}")))?;
    let data = dir.path().join("data");
    let out = Command::new(binary)
        .args(["init", "--json", "--data"])
        .arg(&data)
        .output()
        .map_err(|e| Failed(format!("steward init: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let operator = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v["operator_key"].as_str().map(str::to_owned))
        .ok_or_else(|| Failed(format!("steward init printed no key: {text}")))?;
    let mut child = Command::new(binary)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--erasure-purge-after-s",
            "0",
            "--data",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Failed(format!("steward serve: {e}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Failed("no stdout".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(a) = line.trim().strip_prefix("steward listening on http://") {
                    break a.to_owned();
                }
            }
            _ => return Err(Failed("steward serve exited before listening".into())),
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok((
        Server {
            child,
            base: format!("http://{addr}"),
            _dir: dir,
        },
        operator,
    ))
}

/// One HTTP call: (status, body as JSON or Null).
fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    key: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), Failed> {
    let auth = format!("Bearer {key}");
    let response = match (method, body) {
        ("GET", _) => agent.get(url).header("Authorization", &auth).call(),
        ("PUT", Some(b)) => agent
            .put(url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(b.to_string().as_bytes()),
        (_, b) => agent
            .post(url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(b.map(|v| v.to_string()).unwrap_or_default().as_bytes()),
    };
    let mut response = response.map_err(|e| Failed(format!("{method} {url}: {e}")))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_json::<Value>()
        .unwrap_or(Value::Null);
    Ok((status, body))
}

fn must(result: (u16, Value), want: u16, what: &str) -> Result<Value, Failed> {
    if result.0 != want {
        return Err(Failed(format!("{what}: {} {}", result.0, result.1)));
    }
    Ok(result.1)
}

struct Keys {
    admin: String,
    writer: String,
    reader: String,
    officer: String,
}

/// What the workers share.
struct Shared {
    base: String,
    keys: Keys,
    /// external id → pseudonym (hex), for timelines and consents.
    pseudonyms: Vec<(String, String)>,
    /// Acknowledged event ids per kept subject (index into `pseudonyms`).
    acked: Mutex<Vec<Vec<String>>>,
    next_erasable: Mutex<usize>,
    erasables: usize,
    steady: bool,
    stop: AtomicBool,
}

fn event(id: &str, subject: &str, n: u64) -> Value {
    json!({"event_id": id, "type": "play", "subject": subject,
           "time": format!("2026-11-{:02}T{:02}:{:02}:00Z", 1 + n % 28, n % 24, n % 60),
           "properties": {"track_id": format!("trk_{}", n % 300), "ms_played": 1000 + n % 5000}})
}

fn setup(
    agent: &ureq::Agent,
    base: &str,
    operator: &str,
    args: &SoakArgs,
) -> Result<Shared, Failed> {
    let t = format!("{base}/v1/tenants");
    let created = must(
        call(agent, "POST", &t, operator, Some(&json!({"id": TENANT})))?,
        201,
        "tenant",
    )?;
    let admin = created["admin_key"]["secret"]
        .as_str()
        .ok_or_else(|| Failed(format!("no admin key: {created}")))?
        .to_owned();
    let key = |role: &str| -> Result<String, Failed> {
        let b = must(
            call(
                agent,
                "POST",
                &format!("{t}/{TENANT}/keys"),
                &admin,
                Some(&json!({"name": role, "role": role})),
            )?,
            201,
            "key",
        )?;
        Ok(b["secret"].as_str().unwrap_or_default().to_owned())
    };
    let keys = Keys {
        writer: key("writer")?,
        reader: key("reader")?,
        officer: key("privacy_officer")?,
        admin,
    };
    let tb = format!("{t}/{TENANT}");
    let schema = json!({"fields": {"track_id": {"type": "string", "class": "public", "required": true}, "ms_played": {"type": "int", "class": "public", "min": 0}}});
    let (s, b) = call(
        agent,
        "PUT",
        &format!("{tb}/schemas/play"),
        &keys.admin,
        Some(&schema),
    )?;
    if !(200..300).contains(&s) {
        return Err(Failed(format!("schema: {s} {b}")));
    }
    let items: Vec<Value> = (0..300)
        .map(|i| json!({"item_id": format!("trk_{i}"), "properties": {"n": i}}))
        .collect();
    must(
        call(
            agent,
            "POST",
            &format!("{tb}/items"),
            &keys.writer,
            Some(&json!(items)),
        )?,
        200,
        "items",
    )?;
    let erasables = 200usize;
    let mut pseudonyms = Vec::new();
    let mut acked = Vec::new();
    let mut n = 0u64;
    for (prefix, count) in [("user", args.subjects), ("erasable", erasables)] {
        for s in 0..count {
            let subject = format!("{prefix}-{s}@example.org");
            let events: Vec<Value> = (0..20)
                .map(|i| {
                    n += 1;
                    event(
                        &format!("{prefix}-{s}-seed-{i}"),
                        &subject,
                        n * 7 + s as u64,
                    )
                })
                .collect();
            must(
                call(
                    agent,
                    "POST",
                    &format!("{tb}/events"),
                    &keys.writer,
                    Some(&json!(events)),
                )?,
                200,
                "seed events",
            )?;
            if prefix == "user" {
                let r = must(
                    call(
                        agent,
                        "POST",
                        &format!("{tb}/subjects/resolve"),
                        &keys.reader,
                        Some(&json!({"external_id": subject})),
                    )?,
                    200,
                    "resolve",
                )?;
                pseudonyms.push((
                    subject.clone(),
                    r["subject"].as_str().unwrap_or_default().to_owned(),
                ));
                acked.push(
                    events
                        .iter()
                        .map(|e| e["event_id"].as_str().unwrap_or_default().to_owned())
                        .collect(),
                );
            }
        }
    }
    must(
        call(
            agent,
            "POST",
            &format!("{tb}/datasets"),
            &keys.reader,
            Some(&json!({"name": "plays", "sql": "SELECT subject, track_id, time FROM play"})),
        )?,
        201,
        "data set",
    )?;
    let m = must(
        call(
            agent,
            "POST",
            &format!("{tb}/models"),
            &keys.reader,
            Some(
                &json!({"name": "recs", "algorithm": "als", "dataset": {"name": "plays", "version": "latest"}, "columns": {"user": "subject", "item": "track_id", "time": "time"}, "params": {"factors": 16, "iterations": 10, "regularization": 0.1, "alpha": 20}}),
            ),
        )?,
        202,
        "train",
    )?;
    let version = m["version"].as_u64().unwrap_or(1);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let v = must(
            call(
                agent,
                "GET",
                &format!("{tb}/models/recs/versions/{version}"),
                &keys.reader,
                None,
            )?,
            200,
            "model",
        )?;
        match v["state"].as_str() {
            Some("ready") => break,
            Some("failed" | "cancelled") => return Err(Failed(format!("training: {v}"))),
            _ if Instant::now() > deadline => return Err(Failed("training took too long".into())),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    Ok(Shared {
        base: tb,
        keys,
        pseudonyms,
        acked: Mutex::new(acked),
        next_erasable: Mutex::new(0),
        erasables,
        steady: args.steady,
        stop: AtomicBool::new(false),
    })
}

/// One operation of `kind`; `Ok(true)` when the server answered as expected.
fn operate(agent: &ureq::Agent, s: &Shared, kind: usize, n: u64) -> Result<bool, Failed> {
    let pick = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % s.pseudonyms.len();
    let (external, pseudonym) = &s.pseudonyms[pick];
    let b = &s.base;
    Ok(match KINDS[kind] {
        "ingest" => {
            // Steady: 4 batches per subject, re-sent (same ids, same contents) ever after.
            let batch = if s.steady { n % 4 } else { n };
            let ids: Vec<String> = (0..10).map(|i| format!("{external}-soak-{batch}-{i}")).collect();
            let events: Vec<Value> = ids.iter().enumerate().map(|(i, id)| event(id, external, batch * 10 + i as u64)).collect();
            let (st, body) = call(agent, "POST", &format!("{b}/events"), &s.keys.writer, Some(&json!(events)))?;
            let taken = body["accepted"].as_u64().unwrap_or(0) + body["duplicates"].as_u64().unwrap_or(0);
            let ok = st == 200 && (body["accepted"] == 10 || (s.steady && taken == 10));
            if ok && let Ok(mut acked) = s.acked.lock() {
                // Steady mode re-sends the same ids: each is kept once.
                if !(s.steady && acked[pick].contains(&ids[0])) {
                    acked[pick].extend(ids);
                }
            }
            ok
        }
        "timeline" => {
            call(agent, "GET", &format!("{b}/subjects/{pseudonym}/events?purpose=analytics&limit=100"), &s.keys.reader, None)?.0 == 200
        }
        "recommend" => {
            let (st, body) = call(agent, "POST", &format!("{b}/recommendations?purpose=personalization"), &s.keys.reader, Some(&json!({"model": "recs", "external_id": external, "k": 10})))?;
            st == 200 && body["items"].is_array()
        }
        "sql" => {
            call(agent, "POST", &format!("{b}/sql"), &s.keys.reader, Some(&json!({"sql": "SELECT track_id, count(*) AS n FROM play GROUP BY track_id ORDER BY n DESC LIMIT 10", "purpose": "analytics"})))?.0 == 200
        }
        "consent" => {
            call(agent, "PUT", &format!("{b}/subjects/{pseudonym}/consents/personalization"), &s.keys.officer, Some(&json!({"granted": n.is_multiple_of(2)})))?.0 == 200
        }
        _ => {
            let which = {
                let mut next = s.next_erasable.lock().map_err(|_| Failed("lock".into()))?;
                *next += 1;
                (*next - 1) % s.erasables
            };
            let (st, _) = call(agent, "POST", &format!("{b}/erasures"), &s.keys.officer, Some(&json!({"external_id": format!("erasable-{which}@example.org"), "now": true})))?;
            st == 202
        }
    })
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

pub fn run(args: SoakArgs) -> Result<(), Failed> {
    let (server, operator) = start(&args.binary)?;
    let pid = server.child.id();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let shared = Arc::new(setup(&agent, &server.base, &operator, &args)?);
    // The schedule: operation i of worker w is of the kind the mix says for i (a fixed
    // interleaving, so every minute has the same mix).
    let wheel: Vec<usize> = MIX
        .iter()
        .enumerate()
        .flat_map(|(k, &share)| std::iter::repeat_n(k, share as usize))
        .collect();
    let per_worker = Duration::from_secs_f64(args.workers as f64 / args.rate.max(0.1));
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..args.workers {
        let shared = shared.clone();
        let wheel = wheel.clone();
        let agent = agent.clone();
        handles.push(std::thread::spawn(move || {
            let mut lat: Vec<Latencies> = KINDS.iter().map(|_| Latencies::default()).collect();
            let mut errors = [0u64; 6];
            let mut i = 0u64;
            let offset = per_worker.mul_f64(w as f64 / 4.0);
            loop {
                let due = started + offset + per_worker.mul_f64(i as f64);
                if due > started + total || shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let kind = wheel[((i as usize).wrapping_mul(37) + w * 11) % wheel.len()];
                let n = i * 64 + w as u64;
                let ok = operate(&agent, &shared, kind, n).unwrap_or(false);
                lat[kind].record(due.elapsed());
                if !ok {
                    errors[kind] += 1;
                }
                i += 1;
            }
            (lat, errors)
        }));
    }
    let mut rss = vec![(0.0, rss_mb(pid))];
    while started.elapsed() < total {
        std::thread::sleep(
            Duration::from_secs(args.rss_every_s).min(total.saturating_sub(started.elapsed())),
        );
        rss.push((started.elapsed().as_secs_f64(), rss_mb(pid)));
    }
    let mut lat: Vec<Latencies> = KINDS.iter().map(|_| Latencies::default()).collect();
    let mut errors = [0u64; 6];
    for h in handles {
        let (l, e) = h.join().map_err(|_| Failed("a worker panicked".into()))?;
        for (k, x) in l.into_iter().enumerate() {
            lat[k].merge(x);
        }
        for k in 0..6 {
            errors[k] += e[k];
        }
    }
    // Read back every acknowledged event of every kept subject.
    let acked = shared
        .acked
        .lock()
        .map_err(|_| Failed("lock".into()))?
        .clone();
    let (mut expected, mut missing) = (0usize, 0usize);
    for (i, (_, pseudonym)) in shared.pseudonyms.iter().enumerate() {
        let mut seen: HashMap<String, ()> = HashMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!(
                "{}/subjects/{pseudonym}/events?purpose=analytics&limit=1000",
                shared.base
            );
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page = must(
                call(&agent, "GET", &url, &shared.keys.reader, None)?,
                200,
                "read back",
            )?;
            for e in page["events"].as_array().into_iter().flatten() {
                if let Some(id) = e["event_id"].as_str() {
                    seen.insert(id.to_owned(), ());
                }
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let distinct: std::collections::HashSet<&String> = acked[i].iter().collect();
        expected += distinct.len();
        missing += distinct
            .iter()
            .filter(|id| !seen.contains_key(**id))
            .count();
    }
    let half: Vec<&(f64, f64)> = rss
        .iter()
        .filter(|(t, _)| *t >= total.as_secs_f64() / 2.0)
        .collect();
    let growth = match (half.first(), half.last()) {
        (Some((_, a)), Some((_, b))) if *a > 0.0 => (b - a) / a * 100.0,
        _ => 0.0,
    };
    // Least-squares slope over the last half, MB per minute.
    let slope = {
        let n = half.len() as f64;
        let (sx, sy) = half
            .iter()
            .fold((0.0, 0.0), |(x, y), (t, r)| (x + t, y + r));
        let (mx, my) = (sx / n.max(1.0), sy / n.max(1.0));
        let (num, den) = half.iter().fold((0.0, 0.0), |(a, b), (t, r)| {
            (a + (t - mx) * (r - my), b + (t - mx) * (t - mx))
        });
        if den > 0.0 { num / den * 60.0 } else { 0.0 }
    };
    let ops: Value = KINDS
        .iter()
        .enumerate()
        .map(|(k, name)| {
            (
                name.to_string(),
                json!({"calls": lat[k].len(), "errors": errors[k], "p50_ms": round3(lat[k].percentile(50.0)), "p99_ms": round3(lat[k].percentile(99.0)), "max_ms": round3(lat[k].max())}),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    let line = json!({
        "bench": "soak",
        "minutes": args.minutes,
        "rate": args.rate,
        "workers": args.workers,
        "steady": args.steady,
        "operations": ops,
        "errors": errors.iter().sum::<u64>(),
        "acknowledged_events_checked": expected,
        "acknowledged_events_missing": missing,
        "rss_mb": rss.iter().map(|(t, r)| json!([round3(*t), round3(*r)])).collect::<Vec<_>>(),
        "rss_growth_last_half_percent": round3(growth),
        "rss_slope_last_half_mb_per_min": round3(slope),
    });
    println!("{line}");
    drop(server);
    if missing > 0 {
        return Err(Failed(format!(
            "{missing} acknowledged events were not read back"
        )));
    }
    Ok(())
}
