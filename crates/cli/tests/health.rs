//! A panic in a background worker against the real binary (debug builds inject one with
//! `STEWARD_FAULT_PANIC`): it is caught and counted, `/readyz` fails naming the worker while
//! its rounds panic, the worker restarts and the server becomes ready again, and the work it
//! does (erasures advance on the compaction thread) still completes.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[test]
fn a_panicking_background_worker_fails_readiness_then_recovers() {
    let mut deployment = Deployment::init();
    deployment
        .env
        .push(("STEWARD_FAULT_PANIC".into(), "steward-compact:3".into()));
    let server = deployment.start(&[]);
    let api = server.api();
    let deadline = Instant::now() + Duration::from_secs(30);
    let failing = loop {
        let r = api.get("/readyz", None);
        if r.status == 503 && r.text.contains("steward-compact") {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "readiness never reported the panicking worker: {} {}",
            r.status,
            r.text
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        failing.body["errors"][0]["worker"], "steward-compact",
        "{}",
        failing.text
    );
    api.get("/healthz", None)
        .expect(200, "alive while not ready");
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.get("/readyz", None).status != 200 {
        assert!(Instant::now() < deadline, "the worker did not recover");
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = api.get("/metrics", None).expect(200, "metrics").text;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("steward_worker_panics_total{worker=\"steward-compact\"} 3")),
        "{metrics}"
    );
    // The restarted thread does its work: an erasure advances to done.
    let keys = tenant_with_keys(&api, &deployment.operator_key, "acme");
    let r = api
        .post(
            &keys.path("/erasures"),
            Some(&keys.privacy_officer),
            &json!({"external_id": "someone@example.org", "now": true}),
        )
        .expect(202, "erase")
        .body;
    wait_erasure_done(&api, &keys, r["id"].as_str().unwrap());
    assert!(
        server.stderr().contains("background worker panicked"),
        "logged"
    );
}
