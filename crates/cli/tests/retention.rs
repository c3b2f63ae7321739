//! Retention against the real binary: a schema's retention hides expired events at once and
//! removes them from every file within the check interval, while younger events stay.

mod common;

use common::*;
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

const TENANT: &str = "acme";
const CHECK_MS: u64 = 300;

#[test]
fn expired_events_are_hidden_at_once_and_purged_within_the_bound() {
    let mut deployment = Deployment::init();
    let check = CHECK_MS.to_string();
    let server = deployment.start(&[
        "--no-encrypt-at-rest",
        "--flush-interval-ms",
        "200",
        "--retention-check-interval-ms",
        &check,
    ]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    let mut schema = play_schema();
    schema["retention"] = json!("10x");
    api.put(&keys.path("/schemas/play"), Some(&keys.admin), &schema)
        .expect_problem(400, "invalid_schema", "bad retention");
    schema["retention"] = json!("1h");
    let stored = put_schema(&api, &keys.admin, TENANT, "play", &schema);
    assert_eq!(stored["schema"]["retention"], "1h", "{stored}");

    let tag = random_hex(4);
    let now = chrono::Utc::now();
    let at =
        |age: chrono::Duration| (now - age).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let old: Vec<_> = (0..5)
        .map(|i| {
            play_event(
                &format!("old-{i}"),
                "pat@example.org",
                &at(chrono::Duration::hours(2) + chrono::Duration::seconds(i)),
                "pat@example.org",
                &format!("old-track-{tag}-{i}"),
                1,
            )
        })
        .collect();
    let young: Vec<_> = (0..5)
        .map(|i| {
            play_event(
                &format!("young-{i}"),
                "pat@example.org",
                &at(chrono::Duration::minutes(5) + chrono::Duration::seconds(i)),
                "pat@example.org",
                &format!("young-track-{tag}-{i}"),
                1,
            )
        })
        .collect();
    let sent = Instant::now();
    assert_eq!(
        ingest(&api, &keys.writer, TENANT, &[old, young].concat())["accepted"],
        10
    );
    let pat = resolve(&api, &keys.reader, TENANT, "pat@example.org");
    let (events, _) = timeline_all(&api, &keys.privacy_officer, TENANT, &pat, 100);
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 5, "expired events are hidden at once: {ids:?}");
    assert!(ids.iter().all(|id| id.starts_with("young")));

    // Purged from disk within the check interval (plus scheduling slack on a busy machine).
    let deadline = sent + Duration::from_millis(CHECK_MS) + Duration::from_secs(5);
    loop {
        let metrics = api.get("/metrics", None).expect(200, "metrics").text;
        let removed: u64 = metrics
            .lines()
            .find(|l| l.starts_with("steward_retention_rows_removed_total"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0, |v| v as u64);
        if removed >= 5 {
            assert!(
                metrics.contains("steward_retention_oldest_overdue_seconds"),
                "the overdue gauge is published"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "expired rows not purged within the bound:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let waited = sent.elapsed();
    eprintln!("expired rows purged {waited:?} after ingest (check interval {CHECK_MS} ms)");
    assert!(server.terminate().success());

    let scan = |needles: Vec<String>| {
        let mut command = Command::new(steward_bin());
        command
            .args(["forensics", "scan", "--data"])
            .arg(&deployment.data);
        for n in &needles {
            command.args(["--needle", n]);
        }
        let out = command.output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert_eq!(
        scan((0..5).map(|i| format!("old-track-{tag}-{i}")).collect()),
        0,
        "no file holds an expired event"
    );
    assert!(
        scan((0..5).map(|i| format!("young-track-{tag}-{i}")).collect()) >= 5,
        "the scan sees the events kept"
    );
}
