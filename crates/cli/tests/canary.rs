//! Personal data never reaches the disk or the logs in the clear. Events whose personal fields
//! (email, name) hold unique canary strings go in through JSON and NDJSON bodies, in several
//! requests spaced past the flush interval so that several segments are written and compaction
//! runs; the timeline is read with the privacy officer key (the canaries pass through the read
//! path and its logs); the server stops gracefully. Then every file under the data directory and
//! every captured server log is scanned byte-wise for every canary and for every subject's
//! external id: zero hits. A crash phase then leaves events in the WAL only and scans again.
//!
//! Twice: with default settings, and with `--no-encrypt-at-rest`, where sealed fields must stay
//! sealed, and where, as a positive control, a public field value *is* found by the same scan
//! (so the scan can see plaintext where it is).

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const TENANT: &str = "canary";

struct Planted {
    /// Strings that must never be found: personal field values and external ids.
    secret: Vec<String>,
    /// Public values (track ids), found on disk only without encryption at rest.
    public: Vec<String>,
    events: Vec<Value>,
}

fn planted_event(tag: &str, i: usize, planted: &mut Planted) -> Value {
    let r = random_hex(8);
    let email = format!("canary-leak-{r}@example.org");
    let name = format!("Canaryname Leak{r}");
    let external = format!("canary-subject-{r}@example.org");
    let track = format!("ctl-track-{r}");
    planted
        .secret
        .extend([email.clone(), name.clone(), external.clone()]);
    planted.public.push(track.clone());
    let event = json!({
        "event_id": format!("{tag}-{i}-{}", random_hex(4)),
        "type": "play",
        "subject": external,
        "time": time_at(i as i64 * 1_000_000),
        "properties": {"email": email, "name": name, "track_id": track, "ms_played": i},
    });
    planted.events.push(event.clone());
    event
}

/// A byte-wise hit: (file, needle, offset).
fn scan(files: &[PathBuf], needles: &[String]) -> Vec<(PathBuf, String, usize)> {
    let mut hits = Vec::new();
    for file in files {
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        for needle in needles {
            for offset in find_all(&bytes, needle.as_bytes()) {
                hits.push((file.clone(), needle.clone(), offset));
            }
        }
    }
    hits
}

fn assert_no_hits(files: &[PathBuf], needles: &[String], what: &str) {
    assert!(!files.is_empty());
    let hits = scan(files, needles);
    let shown: Vec<String> = hits
        .iter()
        .take(20)
        .map(|(f, n, o)| format!("  {} at byte {o}: {n:?}", f.display()))
        .collect();
    assert!(
        hits.is_empty(),
        "{what}: {} plaintext hit(s) of personal data:\n{}",
        hits.len(),
        shown.join("\n")
    );
}

/// The logs as text without colour sequences (which could split a value in two).
fn assert_no_log_hits(deployment: &Deployment, needles: &[String], what: &str) {
    for file in deployment.log_files() {
        let text = read_log(&file);
        for needle in needles {
            assert!(
                !text.contains(needle.as_str()),
                "{what}: {} holds {needle:?}",
                file.display()
            );
        }
    }
}

/// Reads the opened timeline of each planted event's subject and checks the canaries come back;
/// returns the subjects' pseudonyms.
fn read_back(api: &Api, keys: &TenantKeys, events: &[Value]) -> Vec<String> {
    let mut pseudonyms = Vec::new();
    for event in events {
        let subject = resolve(
            api,
            &keys.privacy_officer,
            TENANT,
            event["subject"].as_str().unwrap(),
        );
        pseudonyms.push(subject.clone());
        let (opened, _) = timeline_all(api, &keys.privacy_officer, TENANT, &subject, 100);
        let got = opened
            .iter()
            .find(|e| e["event_id"] == event["event_id"])
            .unwrap_or_else(|| panic!("{} not readable", event["event_id"]));
        assert_eq!(
            got["properties"]["email"], event["properties"]["email"],
            "opened through the read path"
        );
        assert_eq!(got["properties"]["name"], event["properties"]["name"]);
        let (masked, _) = timeline_masked(api, &keys.reader, TENANT, &subject, 100);
        assert!(
            masked
                .iter()
                .all(|e| e["properties"]["email"].is_null() && e["properties"]["name"].is_null()),
            "masked for the reader"
        );
    }
    pseudonyms
}

/// Value of a Prometheus counter with `tenant` label, summed over its series.
fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(&format!("tenant=\"{TENANT}\"")))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

fn no_personal_data_on_disk_or_in_logs(no_encrypt: bool) {
    let started = Instant::now();
    let mode: &[&str] = if no_encrypt {
        &["--no-encrypt-at-rest"]
    } else {
        &[]
    };
    let mut deployment = Deployment::init();
    // Debug logs of steward's own crates too: a leak at debug level is still a leak.
    deployment.rust_log = Some(
        "info,steward_server=debug,steward_engine=debug,steward_store=debug,steward_wal=debug"
            .into(),
    );
    let mut args = vec!["--flush-interval-ms", "200"];
    args.extend_from_slice(mode);
    let server = deployment.start(&args);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    let mut planted = Planted {
        secret: Vec::new(),
        public: Vec::new(),
        events: Vec::new(),
    };

    // Eight requests, alternately JSON and NDJSON, each followed by a pause past the flush
    // interval. A flush writes one segment per subject range (16) and compaction merges within
    // a range, so each request spans enough subjects for some range to gather a merge.
    for request in 0..8 {
        let events: Vec<Value> = (0..12)
            .map(|i| planted_event(&format!("r{request}"), request * 12 + i, &mut planted))
            .collect();
        let report = if request % 2 == 0 {
            ingest(&api, &keys.writer, TENANT, &events)
        } else {
            ingest_ndjson(&api, &keys.writer, TENANT, &events)
        };
        assert_eq!(report["accepted"], 12, "{report}");
        std::thread::sleep(Duration::from_millis(350));
    }
    // Bad events carrying canaries: rejection messages and logs must not echo them.
    let mut bad = planted_event("bad", 99, &mut planted);
    bad["properties"]["ms_played"] = json!("not a number");
    planted.events.pop();
    let resp = api
        .post(&keys.path("/events"), Some(&keys.writer), &json!([bad]))
        .expect(200, "bad event");
    assert_eq!(resp.body["rejected_count"], 1);
    for s in &planted.secret {
        assert!(!resp.text.contains(s.as_str()), "a rejection echoes {s}");
    }

    // Wait (bounded) until several flushes and a compaction have happened.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let metrics = api.get("/metrics", None).expect(200, "metrics").text;
        let (flushes, compactions) = (
            counter(&metrics, "steward_flushes_total"),
            counter(&metrics, "steward_compactions_total"),
        );
        if flushes >= 5.0 && compactions >= 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no compaction after 60 s: {flushes} flushes, {compactions} compactions"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pseudonyms = read_back(&api, &keys, &planted.events);
    let segments = files_under(
        &deployment
            .data
            .join("tenants")
            .join(TENANT)
            .join("segments"),
    );
    assert!(!segments.is_empty(), "segments were written");
    let status = server.terminate();
    assert!(status.success(), "graceful stop: {status}");

    let data_files = files_under(&deployment.data);
    assert!(
        data_files
            .iter()
            .any(|f| f.to_string_lossy().contains("segments")),
        "a segment file is scanned"
    );
    assert_no_hits(
        &data_files,
        &planted.secret,
        "data directory after a graceful stop",
    );
    // The logs were captured (request lines name the route template), and hold no canary.
    let logs: String = deployment.log_files().iter().map(|f| read_log(f)).collect();
    assert!(
        logs.contains("/v1/tenants/{tenant}/subjects/{subject}/events"),
        "request logs captured:\n{logs}"
    );
    assert_no_hits(&deployment.log_files(), &planted.secret, "server logs");
    assert_no_log_hits(
        &deployment,
        &planted.secret,
        "server logs without colour sequences",
    );
    // Logs name routes by template: not even a pseudonym reaches them.
    assert_no_log_hits(&deployment, &pseudonyms, "server logs (pseudonyms)");
    if !no_encrypt {
        assert_no_hits(
            &data_files,
            &planted.public,
            "encrypted at rest: public values of segments and WAL",
        );
    }

    // A crash with events only in the WAL: the flush interval is long, and the server is killed.
    let mut args = vec!["--flush-interval-ms", "600000"];
    args.extend_from_slice(mode);
    let server = deployment.start(&args);
    let api = server.api();
    let mut wal_only = Planted {
        secret: Vec::new(),
        public: Vec::new(),
        events: Vec::new(),
    };
    let events: Vec<Value> = (0..3)
        .map(|i| planted_event("wal", 1000 + i, &mut wal_only))
        .collect();
    assert_eq!(
        ingest(&api, &keys.writer, TENANT, &events[..2])["accepted"],
        2
    );
    assert_eq!(
        ingest_ndjson(&api, &keys.writer, TENANT, &events[2..])["accepted"],
        1
    );
    server.kill();
    let wal: Vec<PathBuf> = wal_files(&deployment.data, TENANT);
    assert!(!wal.is_empty());
    let data_files = files_under(&deployment.data);
    let mut all_secret = planted.secret.clone();
    all_secret.extend(wal_only.secret.iter().cloned());
    assert_no_hits(
        &data_files,
        &all_secret,
        "data directory after a crash (events in the WAL)",
    );
    if no_encrypt {
        // Positive control: the same scan finds a public value in the plain WAL.
        let hits = scan(&wal, &wal_only.public);
        for track in &wal_only.public {
            assert!(
                hits.iter().any(|(_, n, _)| n == track),
                "positive control: public value {track} not found in the unencrypted WAL"
            );
        }
    } else {
        assert_no_hits(
            &data_files,
            &wal_only.public,
            "encrypted at rest: public values in the WAL",
        );
    }

    // Recovery replays them; one more graceful cycle, and a last scan of everything.
    let server = deployment.start(mode);
    let more = read_back(&server.api(), &keys, &wal_only.events);
    let status = server.terminate();
    assert!(status.success(), "graceful stop: {status}");
    assert_no_hits(
        &files_under(&deployment.data),
        &all_secret,
        "data directory at the end",
    );
    assert_no_hits(
        &deployment.log_files(),
        &all_secret,
        "server logs at the end",
    );
    assert_no_log_hits(
        &deployment,
        &all_secret,
        "server logs at the end, without colour sequences",
    );
    assert_no_log_hits(
        &deployment,
        &[pseudonyms, more].concat(),
        "server logs at the end (pseudonyms)",
    );
    eprintln!(
        "canary ({}) took {:?}",
        if no_encrypt {
            "no encryption at rest"
        } else {
            "default"
        },
        started.elapsed()
    );
}

#[test]
fn no_personal_data_in_clear_with_default_settings() {
    no_personal_data_on_disk_or_in_logs(false);
}

#[test]
fn no_personal_data_in_clear_without_encryption_at_rest() {
    no_personal_data_on_disk_or_in_logs(true);
}
