//! The gauges the alert rules read (deploy/prometheus/steward-alerts.yml) move as the rules
//! expect, against the real binary: an erasure waiting for its purge shows as open (`hidden`)
//! with a growing age, and leaves both once it is `done`; the audit heads keep up (nothing
//! waits for a signed head while the server is healthy).

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const TENANT: &str = "acme";

/// The value of the first sample of `name` whose labels hold every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            (l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
                && labels.iter().all(|x| l.contains(x))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn wait_for(api: &Api, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let text = api.get("/metrics", None).expect(200, "metrics").text;
        if ok(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "{what} never showed:\n{text}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn erasure_and_audit_gauges_follow_the_requests() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&["--erasure-purge-after-s", "3600"]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(
        &api,
        &keys.admin,
        TENANT,
        "play",
        &json!({"fields": {"item": {"type": "string", "class": "public"}}}),
    );
    let events: Vec<_> = (0..4)
        .map(|i| {
            json!({"event_id": format!("p{i}"), "type": "play", "subject": format!("user-{i}"),
                   "time": time_at(1_000_000 * (i + 1)), "properties": {"item": "a"}})
        })
        .collect();
    assert_eq!(ingest(&api, &keys.writer, TENANT, &events)["accepted"], 4);

    // --- an erasure waiting for its purge (an hour away): open, hidden, ageing
    let r = api
        .post(
            &keys.path("/erasures"),
            Some(&keys.privacy_officer),
            &json!({"external_id": "user-1"}),
        )
        .expect(202, "erase")
        .body;
    let id = r["id"].as_str().expect("id").to_owned();
    let tenant = format!("tenant=\"{TENANT}\"");
    let text = wait_for(&api, "an open hidden erasure", |t| {
        sample(t, "steward_erasures_open", &[&tenant, "state=\"hidden\""]) == Some(1.0)
    });
    let first = sample(&text, "steward_erasure_oldest_open_seconds", &[&tenant]).expect("age");
    let text = wait_for(&api, "the erasure's age growing", |t| {
        sample(t, "steward_erasure_oldest_open_seconds", &[&tenant]).is_some_and(|a| a > first)
    });
    assert!(
        sample(&text, "steward_erasure_oldest_open_seconds", &[&tenant]).unwrap() < 3600.0,
        "{text}"
    );

    // --- asked again with `now`: done, and the gauges let go of it
    api.post(
        &keys.path("/erasures"),
        Some(&keys.privacy_officer),
        &json!({"external_id": "user-1", "now": true}),
    )
    .expect(202, "erase now");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = api
            .get(
                &keys.path(&format!("/erasures/{id}")),
                Some(&keys.privacy_officer),
            )
            .expect(200, "erasure")
            .body;
        if r["state"] == "done" {
            break;
        }
        assert!(Instant::now() < deadline, "never done: {r}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = wait_for(&api, "no open erasure", |t| {
        sample(t, "steward_erasures_open", &[&tenant, "state=\"hidden\""]) == Some(0.0)
            && sample(t, "steward_erasure_oldest_open_seconds", &[&tenant]) == Some(0.0)
    });

    // --- the audit heads keep up with the records
    let unsigned = sample(&text, "steward_audit_unsigned_seconds", &[]).expect("gauge");
    assert!(unsigned < 30.0, "records waited {unsigned} s for a head");

    // --- ingest acknowledgements are timed; the WAL's size is watched between flushes
    let acks = sample(&text, "steward_ingest_ack_seconds_count", &[]).expect("ack histogram");
    assert!(acks >= 1.0, "one ingest call at least: {acks}");
    let more: Vec<_> = (10..30)
        .map(|i| {
            json!({"event_id": format!("p{i}"), "type": "play", "subject": format!("user-{i}"),
                   "time": time_at(1_000_000 * (i + 1)), "properties": {"item": "b"}})
        })
        .collect();
    assert_eq!(ingest(&api, &keys.writer, TENANT, &more)["accepted"], 20);
    wait_for(&api, "the WAL size gauge", |t| {
        sample(t, "steward_wal_bytes", &[&tenant]).is_some_and(|b| b > 0.0)
            && sample(t, "steward_ingest_ack_seconds_count", &[]).is_some_and(|n| n > acks)
    });
}
