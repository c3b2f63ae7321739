//! Crash consistency of the real binary: four writers send JSON batches while the server is
//! SIGKILLed at a random moment, over and over on the same data directory (flushes and
//! compactions run in between: --flush-interval-ms 200). After every restart:
//!
//! * every acknowledged event is readable, once, with its personal field opened and equal to
//!   what was sent;
//! * an unacknowledged batch is all there or all absent (a batch is one WAL record), and stays
//!   that way in every later cycle (nothing comes back, nothing disappears);
//! * nothing that was never sent appears, and no event appears twice.
//!
//! Seeded: the seed is printed; STEWARD_CRASH_SEED=N replays it (timings still vary), and
//! STEWARD_CRASH_CYCLES=N changes the number of kill/restart cycles (default 20).

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TENANT: &str = "crashy";
const SUBJECTS: usize = 20;
const WRITERS: usize = 4;
const SERVE_ARGS: [&str; 2] = ["--flush-interval-ms", "200"];
/// Bound on one writer's requests in one cycle (the kill comes first in practice).
const REQUESTS_PER_WRITER_MAX: usize = 2_000;

#[derive(Clone, Debug)]
struct SentEvent {
    event_id: String,
    subject: usize,
    time: String,
    email: String,
    track_id: String,
    ms_played: i64,
}

impl SentEvent {
    fn json(&self) -> Value {
        play_event(
            &self.event_id,
            &subject_external_id(self.subject),
            &self.time,
            &self.email,
            &self.track_id,
            self.ms_played,
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// 200 with every event accepted.
    Acked,
    /// The connection failed: stored entirely or not at all.
    Unknown,
}

#[derive(Debug)]
struct Batch {
    cycle: usize,
    events: Vec<SentEvent>,
    outcome: Outcome,
    /// For an unknown batch, what the first check after the crash found (all visible or none);
    /// it must read the same ever after.
    settled: Option<bool>,
}

fn subject_external_id(k: usize) -> String {
    format!("crash-subject-{k:02}@example.org")
}

/// One writer until `stop`, a transport error (the server died) or the request bound.
fn writer(
    api: Api,
    key: String,
    cycle: usize,
    thread: usize,
    seed: u64,
    counter: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> (Vec<Batch>, Vec<String>) {
    let mut rng = StdRng::seed_from_u64(
        seed ^ ((cycle as u64) << 32) ^ (thread as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let mut batches = Vec::new();
    let mut anomalies = Vec::new();
    for _ in 0..REQUESTS_PER_WRITER_MAX {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let n = rng.gen_range(1..=50);
        let events: Vec<SentEvent> = (0..n)
            .map(|_| {
                let id = counter.fetch_add(1, Ordering::SeqCst);
                SentEvent {
                    event_id: format!("c{cycle}-w{thread}-{id}"),
                    subject: rng.gen_range(0..SUBJECTS),
                    // Times collide on purpose now and then (same second, different events).
                    time: time_at(rng.gen_range(0..5_000i64) * 1_000_000),
                    email: format!("mail-{id}-{:08x}@mail.example", rng.r#gen::<u32>()),
                    track_id: format!("track-{}", rng.gen_range(0..500)),
                    ms_played: rng.gen_range(0..300_000),
                }
            })
            .collect();
        let body: Vec<Value> = events.iter().map(SentEvent::json).collect();
        let result = api.try_request(
            "POST",
            &format!("/v1/tenants/{TENANT}/events"),
            Some(&key),
            Some((
                "application/json",
                Value::Array(body).to_string().into_bytes(),
            )),
        );
        match result {
            Ok(resp)
                if resp.status == 200
                    && resp.body["accepted"] == n
                    && resp.body["rejected_count"] == 0 =>
            {
                batches.push(Batch {
                    cycle,
                    events,
                    outcome: Outcome::Acked,
                    settled: None,
                });
            }
            Ok(resp) => {
                anomalies.push(format!(
                    "cycle {cycle} writer {thread}: a batch of {n} new events got {} {}",
                    resp.status, resp.text
                ));
                batches.push(Batch {
                    cycle,
                    events,
                    outcome: Outcome::Unknown,
                    settled: None,
                });
            }
            Err(_) => {
                batches.push(Batch {
                    cycle,
                    events,
                    outcome: Outcome::Unknown,
                    settled: None,
                });
                break;
            }
        }
        // A pause keeps the data (and so the checks) small over twenty cycles; with four
        // writers, requests still overlap and share group commits.
        std::thread::sleep(Duration::from_millis(rng.gen_range(5..=35)));
    }
    (batches, anomalies)
}

struct Keys {
    writer: String,
    privacy_officer: String,
    subjects: Vec<String>,
}

/// Reads every subject's timeline and checks it against everything sent so far.
fn verify(api: &Api, keys: &Keys, batches: &mut [Batch], label: &str) -> (usize, usize) {
    let mut visible: HashMap<String, (usize, Value)> = HashMap::new();
    for (k, subject) in keys.subjects.iter().enumerate() {
        let (events, page) = timeline_all(api, &keys.privacy_officer, TENANT, subject, 1000);
        assert_eq!(
            page["masked_classes"],
            serde_json::json!([]),
            "everything opened for legal"
        );
        for event in events {
            let id = event["event_id"].as_str().expect("event_id").to_owned();
            if let Some((other, _)) = visible.insert(id.clone(), (k, event)) {
                panic!("{label}: event {id} appears twice (subjects {other} and {k})");
            }
        }
    }
    let mut sent_ids = HashSet::new();
    let (mut acked, mut unknown_present) = (0, 0);
    for batch in batches.iter_mut() {
        let mut present = 0;
        for e in &batch.events {
            sent_ids.insert(e.event_id.as_str());
            let Some((k, got)) = visible.get(&e.event_id) else {
                continue;
            };
            present += 1;
            assert_eq!(
                *k, e.subject,
                "{label}: {} under the wrong subject",
                e.event_id
            );
            let p = &got["properties"];
            assert_eq!(
                p["email"],
                e.email.as_str(),
                "{label}: personal field of {} (opened): {got}",
                e.event_id
            );
            assert_eq!(
                p["track_id"],
                e.track_id.as_str(),
                "{label}: track_id of {}",
                e.event_id
            );
            assert_eq!(
                p["ms_played"], e.ms_played,
                "{label}: ms_played of {}",
                e.event_id
            );
            assert_eq!(got["type"], "play");
            assert_eq!(
                micros_of(got["time"].as_str().unwrap()),
                micros_of(&e.time),
                "{label}: time of {}",
                e.event_id
            );
        }
        let n = batch.events.len();
        match batch.outcome {
            Outcome::Acked => {
                assert_eq!(
                    present,
                    n,
                    "{label}: an acknowledged batch of cycle {} lost {} of {n} events (first id {})",
                    batch.cycle,
                    n - present,
                    batch.events[0].event_id
                );
                acked += n;
            }
            Outcome::Unknown => {
                assert!(
                    present == 0 || present == n,
                    "{label}: an unacknowledged batch of cycle {} is partly visible: {present} of {n} (first id {})",
                    batch.cycle,
                    batch.events[0].event_id
                );
                let now = present == n;
                match batch.settled {
                    None => batch.settled = Some(now),
                    Some(before) => assert_eq!(
                        before,
                        now,
                        "{label}: an unacknowledged batch of cycle {} (first id {}) was {} and is now {}",
                        batch.cycle,
                        batch.events[0].event_id,
                        if before { "visible" } else { "absent" },
                        if now { "visible" } else { "absent" }
                    ),
                }
                if now {
                    unknown_present += n;
                }
            }
        }
    }
    for id in visible.keys() {
        assert!(
            sent_ids.contains(id.as_str()),
            "{label}: event {id} was never sent"
        );
    }
    assert_eq!(
        visible.len(),
        acked + unknown_present,
        "{label}: visible events are exactly the acknowledged and settled-present ones"
    );
    (acked, unknown_present)
}

/// Retries a few earlier batches, as a client would after a crash: an acknowledged or stored
/// batch answers all duplicates; an absent unacknowledged one is stored whole (and is then
/// acknowledged).
fn retry_some(api: &Api, keys: &Keys, batches: &mut [Batch], rng: &mut StdRng, cycle: usize) {
    if batches.is_empty() {
        return;
    }
    let mut picks: Vec<usize> = (0..3).map(|_| rng.gen_range(0..batches.len())).collect();
    // One unacknowledged batch a few crashes old (its state has been checked across several restarts).
    picks.extend(
        batches
            .iter()
            .enumerate()
            .filter(|(_, b)| b.outcome == Outcome::Unknown && b.cycle + 3 <= cycle)
            .map(|(i, _)| i)
            .take(1),
    );
    picks.sort_unstable();
    picks.dedup();
    for i in picks {
        let batch = &mut batches[i];
        let body: Vec<Value> = batch.events.iter().map(SentEvent::json).collect();
        let n = body.len();
        let report = ingest(api, &keys.writer, TENANT, &body);
        let stored = batch.outcome == Outcome::Acked || batch.settled == Some(true);
        let want = if stored { (0, n) } else { (n, 0) };
        let got = (
            report["accepted"].as_u64().unwrap_or(u64::MAX) as usize,
            report["duplicates"].as_u64().unwrap_or(u64::MAX) as usize,
        );
        assert_eq!(
            got, want,
            "cycle {cycle}: retrying a batch of cycle {} ({:?}, settled {:?}, first id {}): {report}",
            batch.cycle, batch.outcome, batch.settled, batch.events[0].event_id
        );
        batch.outcome = Outcome::Acked;
    }
}

#[test]
fn sigkill_during_concurrent_ingest_loses_no_acknowledged_event() {
    let started = Instant::now();
    let seed: u64 = std::env::var("STEWARD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let cycles: usize = std::env::var("STEWARD_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    eprintln!("crash test: seed {seed} (STEWARD_CRASH_SEED={seed} replays it), {cycles} cycles");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut deployment = Deployment::init();
    let counter = Arc::new(AtomicU64::new(0));
    let mut batches: Vec<Batch> = Vec::new();
    let mut anomalies: Vec<String> = Vec::new();
    let mut keys: Option<Keys> = None;

    for cycle in 0..cycles {
        let t0 = Instant::now();
        let server = deployment.start(&SERVE_ARGS);
        let startup = t0.elapsed();
        let api = server.api();
        let k = keys.get_or_insert_with(|| {
            let t = tenant_with_keys(&api, &deployment.operator_key, TENANT);
            put_schema(&api, &t.admin, TENANT, "play", &play_schema());
            let subjects = (0..SUBJECTS)
                .map(|i| resolve(&api, &t.writer, TENANT, &subject_external_id(i)))
                .collect();
            Keys {
                writer: t.writer.clone(),
                privacy_officer: t.privacy_officer.clone(),
                subjects,
            }
        });
        let t1 = Instant::now();
        let (acked, unknown_present) =
            verify(&api, k, &mut batches, &format!("after crash {cycle}"));
        let verifying = t1.elapsed();
        retry_some(&api, k, &mut batches, &mut rng, cycle);

        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..WRITERS)
            .map(|thread| {
                let (api, key, counter, stop) =
                    (api.clone(), k.writer.clone(), counter.clone(), stop.clone());
                std::thread::spawn(move || writer(api, key, cycle, thread, seed, counter, stop))
            })
            .collect();
        let delay = Duration::from_millis(rng.gen_range(50..=800));
        std::thread::sleep(delay);
        server.kill();
        stop.store(true, Ordering::SeqCst);
        let mut sent_now = 0;
        let mut acked_now = 0;
        for handle in handles {
            let (b, a) = handle.join().expect("writer thread");
            sent_now += b.len();
            acked_now += b.iter().filter(|b| b.outcome == Outcome::Acked).count();
            batches.extend(b);
            anomalies.extend(a);
        }
        eprintln!(
            "cycle {cycle:2}: started in {startup:.1?}, {acked} acknowledged + {unknown_present} unacknowledged-but-stored events \
             verified in {verifying:.1?}; killed after {delay:?}: {acked_now} of {sent_now} requests acknowledged"
        );
    }

    // A last restart after the last crash, then a clean stop and start: all still there.
    let k = keys.as_ref().expect("keys");
    let server = deployment.start(&SERVE_ARGS);
    let (acked, unknown_present) = verify(&server.api(), k, &mut batches, "after the last crash");
    let status = server.terminate();
    assert!(status.success(), "graceful stop: {status}");
    let server = deployment.start(&SERVE_ARGS);
    let (acked2, unknown_present2) =
        verify(&server.api(), k, &mut batches, "after a clean restart");
    assert_eq!((acked, unknown_present), (acked2, unknown_present2));
    let status = server.terminate();
    assert!(status.success(), "graceful stop: {status}");
    let requests = batches.len();
    let acked_requests = batches
        .iter()
        .filter(|b| b.outcome == Outcome::Acked)
        .count();
    assert!(
        acked_requests >= cycles,
        "too little was acknowledged to prove anything: {acked_requests} requests"
    );
    assert!(
        anomalies.is_empty(),
        "unexpected answers:\n{}",
        anomalies.join("\n")
    );
    let errors: Vec<String> = deployment
        .log_files()
        .iter()
        .flat_map(|f| {
            read_log(f)
                .lines()
                .filter(|l| l.contains(" ERROR "))
                .map(|l| format!("{}: {l}", f.display()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        errors.is_empty(),
        "the server logged errors:\n{}",
        errors.join("\n")
    );
    eprintln!(
        "crash test (seed {seed}): {cycles} crashes, {requests} requests ({acked_requests} acknowledged), {acked} acknowledged and {unknown_present} \
         unacknowledged-but-stored events verified, in {:?}",
        started.elapsed()
    );
}
