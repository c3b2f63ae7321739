//! End to end over real HTTP on loopback, against the real `steward` binary: init, tenant, keys,
//! schema, JSON and NDJSON ingest, resolve, timelines (opened and masked), duplicates, per-event
//! rejections, all-or-nothing, body limits, content types, cursor paging, problem+json, restart,
//! health, metrics and the OpenAPI document.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};

const TENANT: &str = "acme";

fn by_id(events: &[Value]) -> BTreeMap<String, Value> {
    events
        .iter()
        .map(|e| {
            (
                e["event_id"].as_str().expect("event_id").to_owned(),
                e.clone(),
            )
        })
        .collect()
}

/// Asserts a timeline event carries what was sent (time compared as an instant).
fn assert_same_event(got: &Value, sent: &Value, personal_opened: bool) {
    let id = &sent["event_id"];
    assert_eq!(&got["event_id"], id);
    assert_eq!(got["type"], sent["type"], "type of {id}");
    assert_eq!(
        micros_of(got["time"].as_str().expect("time")),
        micros_of(sent["time"].as_str().unwrap()),
        "time of {id}"
    );
    let (gp, sp) = (&got["properties"], &sent["properties"]);
    assert_eq!(gp["track_id"], sp["track_id"], "track_id of {id}");
    assert_eq!(gp["ms_played"], sp["ms_played"], "ms_played of {id}");
    if personal_opened {
        assert_eq!(gp["email"], sp["email"], "opened email of {id}");
    } else {
        assert_eq!(gp["email"], Value::Null, "masked email of {id}: {got}");
        assert!(
            !got.to_string()
                .contains(sp["email"].as_str().unwrap_or("\u{0}")),
            "masked event leaks the email: {got}"
        );
    }
}

/// Reads `subject`'s whole timeline with the privacy officer key, as a map by event id.
fn opened_timeline(api: &Api, keys: &TenantKeys, subject: &str) -> BTreeMap<String, Value> {
    let (events, page) = timeline_all(api, &keys.privacy_officer, TENANT, subject, 1000);
    assert_eq!(
        page["masked_classes"],
        serde_json::json!([]),
        "everything opened for legal"
    );
    let map = by_id(&events);
    assert_eq!(map.len(), events.len(), "no event twice");
    map
}

#[test]
fn end_to_end_over_http() {
    let started = std::time::Instant::now();
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let op = deployment.operator_key.clone();

    // --- health, before anything else
    let health = api.get("/healthz", None).expect(200, "healthz");
    assert_eq!(health.body["status"], "ok");
    api.get("/readyz", None).expect(200, "readyz");

    // --- tenant, keys of every role, schema
    let keys = tenant_with_keys(&api, &op, TENANT);
    let tenants = api
        .get("/v1/tenants", Some(&op))
        .expect(200, "list tenants");
    assert!(
        tenants.body["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == TENANT),
        "{}",
        tenants.text
    );
    let listed = api
        .get(&keys.path("/keys"), Some(&keys.admin))
        .expect(200, "list keys");
    assert!(
        !listed.text.contains(&keys.writer),
        "listing keys never shows secrets"
    );
    for (role, id) in &keys.key_ids {
        assert!(
            listed.body["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["id"] == id.as_str() && k["role"] == role.as_str()),
            "{role} key listed"
        );
    }
    let schema = put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    assert_eq!(schema["version"], 1, "{schema}");
    let again = put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    assert_eq!(
        again["version"], 1,
        "an unchanged document keeps its version: {again}"
    );
    let got = api
        .get(&keys.path("/schemas/play"), Some(&keys.reader))
        .expect(200, "get schema");
    assert_eq!(
        got.body["schema"]["fields"]["email"]["class"], "personal",
        "{}",
        got.text
    );

    // --- ingest: a JSON batch for user-1, an NDJSON body for user-1 and user-2
    let user1 = "user-1@example.org";
    let user2 = "user-2@example.org";
    let batch: Vec<Value> = (0..5)
        .map(|i| {
            play_event(
                &format!("j-{i}"),
                user1,
                &time_at(i * 1_000_000),
                &format!("u1-j{i}@mail.example"),
                &format!("track-j{i}"),
                1000 + i,
            )
        })
        .collect();
    let report = ingest(&api, &keys.writer, TENANT, &batch);
    assert_eq!(report["accepted"], 5, "{report}");
    assert_eq!(report["duplicates"], 0);
    assert_eq!(report["rejected"], json!([]));

    let nd: Vec<Value> = (0..6)
        .map(|i| {
            let who = if i % 2 == 0 { user1 } else { user2 };
            play_event(
                &format!("n-{i}"),
                who,
                &time_at(10_000_000 + i * 1_000_000),
                &format!("nd{i}@mail.example"),
                &format!("track-n{i}"),
                2000 + i,
            )
        })
        .collect();
    // NDJSON with a blank line and one line that is not JSON: the others are stored.
    let mut body = ndjson(&nd[..3]);
    body.extend_from_slice(b"\n{\"event_id\": \"broken\n");
    body.extend_from_slice(&ndjson(&nd[3..]));
    let report = api
        .request(
            "POST",
            &keys.path("/events"),
            Some(&keys.writer),
            Some(("application/x-ndjson", body)),
        )
        .expect(200, "ndjson ingest")
        .body;
    assert_eq!(report["accepted"], 6, "{report}");
    assert_eq!(report["rejected_count"], 1, "{report}");
    assert_eq!(
        report["rejected"][0]["index"], 4,
        "an NDJSON index is the 0-based line number (the blank line counts): {report}"
    );
    assert_eq!(report["rejected"][0]["code"], "invalid_json", "{report}");

    // --- resolve and read
    let s1 = resolve(&api, &keys.reader, TENANT, user1);
    let s2 = resolve(&api, &keys.writer, TENANT, user2);
    assert_ne!(s1, s2);
    assert_eq!(
        resolve(&api, &keys.privacy_officer, TENANT, user1),
        s1,
        "resolving is deterministic"
    );
    let sent1: Vec<&Value> = batch.iter().chain(nd.iter().step_by(2)).collect();
    let (opened, page) = timeline_all(&api, &keys.privacy_officer, TENANT, &s1, 100);
    assert_eq!(
        page["masked_classes"],
        serde_json::json!([]),
        "everything opened for legal"
    );
    assert_eq!(page["subject"], s1.as_str());
    assert_eq!(opened.len(), sent1.len(), "user-1 timeline: {page}");
    let times: Vec<i64> = opened
        .iter()
        .map(|e| micros_of(e["time"].as_str().unwrap()))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "timeline in time order"
    );
    let opened_map = by_id(&opened);
    for sent in &sent1 {
        assert_same_event(&opened_map[sent["event_id"].as_str().unwrap()], sent, true);
    }
    let (masked, page) = timeline_masked(&api, &keys.reader, TENANT, &s1, 100);
    assert_eq!(
        page["masked_classes"],
        serde_json::json!(["personal", "free_text", "sensitive"]),
        "{page}"
    );
    assert_eq!(page["purpose"], "analytics");
    let masked_map = by_id(&masked);
    assert_eq!(masked_map.len(), sent1.len());
    for sent in &sent1 {
        assert_same_event(&masked_map[sent["event_id"].as_str().unwrap()], sent, false);
    }
    let admin_view = timeline_all(&api, &keys.admin, TENANT, &s2, 100).1;
    assert_eq!(admin_view["masked_classes"], serde_json::json!([]));
    assert_eq!(admin_view["events"].as_array().unwrap().len(), 3);
    // A writer may not read timelines.
    api.get(
        &keys.path(&format!("/subjects/{s1}/events")),
        Some(&keys.writer),
    )
    .expect_problem(403, "forbidden", "writer timeline");

    // --- duplicates: the same ids again, as JSON and as NDJSON
    let report = ingest(&api, &keys.writer, TENANT, &batch);
    assert_eq!(
        (report["accepted"].as_u64(), report["duplicates"].as_u64()),
        (Some(0), Some(5)),
        "{report}"
    );
    let report = ingest_ndjson(&api, &keys.admin, TENANT, &nd);
    assert_eq!(
        (report["accepted"].as_u64(), report["duplicates"].as_u64()),
        (Some(0), Some(6)),
        "{report}"
    );
    assert_eq!(
        opened_timeline(&api, &keys, &s1).len(),
        sent1.len(),
        "duplicates are not stored twice"
    );

    // --- a batch mixing good and bad events
    let secret_email = format!("do-not-echo-{}@mail.example", random_hex(6));
    let mixed = vec![
        play_event(
            "m-0",
            user2,
            &time_at(30_000_000),
            "m0@mail.example",
            "track-m0",
            1,
        ),
        json!({"event_id": "m-1", "type": "play", "subject": user2, "time": time_at(30_000_001), "properties": {"email": secret_email, "track_id": "t", "ms_played": "abc"}}),
        json!({"event_id": "m-2", "type": "play", "subject": user2, "time": time_at(30_000_002), "properties": {"email": secret_email, "ms_played": 3}}),
        json!({"event_id": "m-3", "type": "play", "subject": user2, "time": "yesterday at noon", "properties": {"track_id": "t"}}),
        json!({"event_id": "m-4", "type": "play", "subject": user2, "time": time_at(30_000_004), "properties": {"track_id": "t"}, "colour": "red"}),
        json!({"event_id": "m-5", "type": "no_such_type", "subject": user2, "time": time_at(30_000_005), "properties": {}}),
        play_event(
            "m-6",
            user2,
            &time_at(30_000_006),
            "m6@mail.example",
            "track-m6",
            6,
        ),
        json!({"event_id": "m-7", "type": "play", "subject": user2, "time": time_at(30_000_007), "properties": {"track_id": "t", "ms_played": -5}}),
        json!({"type": "play", "subject": user2, "time": time_at(30_000_008), "properties": {"track_id": "t"}}),
    ];
    let resp = api
        .post(
            &keys.path("/events"),
            Some(&keys.writer),
            &Value::Array(mixed.clone()),
        )
        .expect(200, "mixed batch");
    let report = &resp.body;
    assert_eq!(report["accepted"], 2, "{report}");
    assert_eq!(report["rejected_count"], 7, "{report}");
    let expected = [
        (1, "wrong_type", "properties.ms_played"),
        (2, "missing_field", "properties.track_id"),
        (3, "invalid_time", "time"),
        // An unknown envelope field is not named back (it is the caller's name, not ours).
        (4, "unknown_field", ""),
        (5, "unknown_event_type", "type"),
        (7, "out_of_range", "properties.ms_played"),
        (8, "missing_field", "event_id"),
    ];
    let rejected = report["rejected"].as_array().expect("rejected list");
    assert_eq!(rejected.len(), expected.len(), "{report}");
    for (item, (index, code, field)) in rejected.iter().zip(expected) {
        assert_eq!(item["index"], index, "{item}");
        assert_eq!(item["code"], code, "event {index}: {item}");
        assert_eq!(
            item["field"].as_str().unwrap_or(""),
            field,
            "event {index}: {item}"
        );
        assert!(
            item["message"].as_str().is_some_and(|m| !m.is_empty()),
            "event {index} has a message: {item}"
        );
    }
    assert!(
        !resp.text.contains(&secret_email),
        "rejections never echo values: {}",
        resp.text
    );
    let t2 = opened_timeline(&api, &keys, &s2);
    assert!(
        t2.contains_key("m-0") && t2.contains_key("m-6"),
        "good events of a mixed batch are stored"
    );
    for bad in ["m-1", "m-2", "m-3", "m-4", "m-5", "m-7"] {
        assert!(
            !t2.contains_key(bad),
            "{bad} was rejected and must not be stored"
        );
    }

    // --- times at the edge of RFC 3339: an offset may push a time out of years 0000..=9999,
    // which the timeline could not write back; such an event is rejected, not stored with an
    // empty time. The extreme writable instants are stored and read back as sent.
    let edges = vec![
        play_event(
            "t-late",
            user2,
            "9999-12-31T23:59:59-01:00",
            "late@mail.example",
            "track-late",
            1,
        ),
        play_event(
            "t-early",
            user2,
            "0000-01-01T00:00:00+01:00",
            "early@mail.example",
            "track-early",
            1,
        ),
        play_event(
            "t-max",
            user2,
            "9999-12-31T23:59:59.999999Z",
            "max@mail.example",
            "track-max",
            1,
        ),
        play_event(
            "t-min",
            user2,
            "0000-01-01T00:00:00Z",
            "min@mail.example",
            "track-min",
            1,
        ),
    ];
    let report = ingest(&api, &keys.writer, TENANT, &edges);
    assert_eq!(report["accepted"], 2, "{report}");
    for (item, index) in report["rejected"].as_array().unwrap().iter().zip([0, 1]) {
        assert_eq!(
            (&item["index"], &item["code"], &item["field"]),
            (&json!(index), &json!("invalid_time"), &json!("time")),
            "{report}"
        );
    }
    let t2 = opened_timeline(&api, &keys, &s2);
    assert!(
        !t2.contains_key("t-late") && !t2.contains_key("t-early"),
        "out-of-range times are not stored"
    );
    for sent in &edges[2..] {
        assert_same_event(&t2[sent["event_id"].as_str().unwrap()], sent, true);
    }
    for event in t2.values() {
        assert!(
            !event["time"].as_str().unwrap_or("").is_empty(),
            "every stored event has a time: {event}"
        );
    }

    // --- one event as a bare object; one id twice in a batch (stored once)
    let single = play_event(
        "s-0",
        user2,
        &time_at(35_000_000),
        "s0@mail.example",
        "track-s0",
        1,
    );
    let report = api
        .post(&keys.path("/events"), Some(&keys.writer), &single)
        .expect(200, "single event")
        .body;
    assert_eq!(report["accepted"], 1, "{report}");
    let twice = vec![
        play_event(
            "tw-0",
            user2,
            &time_at(36_000_000),
            "first@mail.example",
            "track-first",
            1,
        ),
        play_event(
            "tw-0",
            user2,
            &time_at(36_000_001),
            "second@mail.example",
            "track-second",
            2,
        ),
    ];
    let report = ingest(&api, &keys.writer, TENANT, &twice);
    assert_eq!(
        (report["accepted"].as_u64(), report["duplicates"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let t2 = opened_timeline(&api, &keys, &s2);
    assert_same_event(&t2["tw-0"], &twice[0], true);
    assert_same_event(&t2["s-0"], &single, true);

    // --- all or nothing: one bad event, nothing stored
    let aon = vec![
        play_event(
            "a-0",
            user2,
            &time_at(40_000_000),
            "a0@mail.example",
            "track-a0",
            1,
        ),
        play_event(
            "a-1",
            user2,
            &time_at(40_000_001),
            "a1@mail.example",
            "track-a1",
            2,
        ),
        json!({"event_id": "a-2", "type": "play", "subject": user2, "time": time_at(40_000_002), "properties": {"ms_played": 1}}),
    ];
    let resp = api.post(
        &keys.path("/events?all_or_nothing=true"),
        Some(&keys.writer),
        &Value::Array(aon.clone()),
    );
    assert_eq!(resp.status, 422, "{}", resp.text);
    assert_eq!(resp.body["accepted"], 0, "{}", resp.text);
    assert_eq!(resp.body["rejected_count"], 3, "{}", resp.text);
    assert!(
        resp.body["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["index"] == 2 && r["code"] == "missing_field"),
        "{}",
        resp.text
    );
    let t2 = opened_timeline(&api, &keys, &s2);
    assert!(
        !t2.keys().any(|k| k.starts_with("a-")),
        "an all-or-nothing batch with a bad event stores nothing"
    );
    // The good ones were not stored, so they are new (not duplicates) when sent alone.
    let report = api
        .post(
            &keys.path("/events?all_or_nothing=true"),
            Some(&keys.writer),
            &Value::Array(aon[..2].to_vec()),
        )
        .expect(200, "all or nothing, all good")
        .body;
    assert_eq!(
        (report["accepted"].as_u64(), report["duplicates"].as_u64()),
        (Some(2), Some(0)),
        "{report}"
    );
    // all_or_nothing is refused for NDJSON, with a problem.
    api.request(
        "POST",
        &keys.path("/events?all_or_nothing=true"),
        Some(&keys.writer),
        Some(("application/x-ndjson", ndjson(&aon[..1]))),
    )
    .expect_problem(400, "unsupported_option", "ndjson all_or_nothing");

    // --- edge of the HTTP API: limits, content types, malformed JSON, unknown routes
    let huge = vec![b' '; 16 * 1024 * 1024 + 4096];
    let resp = raw_request(
        server.addr,
        "POST",
        &keys.path("/events"),
        &[
            ("Authorization", &format!("Bearer {}", keys.writer)),
            ("Content-Type", "application/json"),
        ],
        huge,
    );
    assert_eq!(resp.status, 413, "{}", resp.text);
    assert_problem_shape(&resp, "ingest too large");
    assert_eq!(resp.body["code"], "too_large");
    let big_schema = format!(
        "{{\"fields\": {{}}, \"description\": \"{}\"}}",
        "d".repeat(1024 * 1024 + 100)
    );
    let resp = raw_request(
        server.addr,
        "PUT",
        &keys.path("/schemas/big"),
        &[
            ("Authorization", &format!("Bearer {}", keys.admin)),
            ("Content-Type", "application/json"),
        ],
        big_schema.into_bytes(),
    );
    assert_eq!(resp.status, 413, "{}", resp.text);
    assert_problem_shape(&resp, "schema too large");
    assert_eq!(resp.body["code"], "too_large");
    api.request(
        "POST",
        &keys.path("/events"),
        Some(&keys.writer),
        Some(("text/plain", batch[0].to_string().into_bytes())),
    )
    .expect_problem(415, "unsupported_media_type", "ingest text/plain");
    api.request(
        "POST",
        &keys.path("/subjects/resolve"),
        Some(&keys.reader),
        Some(("text/plain", b"{\"external_id\":\"x\"}".to_vec())),
    )
    .expect_problem(415, "unsupported_media_type", "resolve text/plain");
    api.request(
        "POST",
        &keys.path("/events"),
        Some(&keys.writer),
        Some(("application/json", b"[{\"event_id\": \"x\",".to_vec())),
    )
    .expect_problem(400, "invalid_json", "ingest malformed JSON");
    api.request(
        "POST",
        &keys.path("/subjects/resolve"),
        Some(&keys.reader),
        Some(("application/json", b"{\"external_id\": ".to_vec())),
    )
    .expect_problem(400, "invalid_json", "resolve malformed JSON");
    api.get("/v1/no/such/route", Some(&keys.admin))
        .expect_problem(404, "not_found", "unknown route");
    api.get(
        &keys.path("/subjects/not-a-pseudonym/events?purpose=analytics"),
        Some(&keys.reader),
    )
    .expect_problem(400, "invalid_subject", "bad subject");
    api.get(
        &keys.path(&format!("/subjects/{s1}/events?purpose=gossip")),
        Some(&keys.reader),
    )
    .expect_problem(400, "invalid_purpose", "bad purpose");
    api.get(
        &keys.path(&format!(
            "/subjects/{s1}/events?purpose=analytics&cursor=%21%21"
        )),
        Some(&keys.reader),
    )
    .expect_problem(400, "invalid_cursor", "bad cursor");
    api.get(
        &keys.path(&format!("/subjects/{s1}/events?purpose=analytics&limit=0")),
        Some(&keys.reader),
    )
    .expect_problem(400, "invalid_limit", "bad limit");
    api.get(&keys.path("/schemas/nothing_here"), Some(&keys.reader))
        .expect_problem(404, "not_found", "missing schema");
    api.post("/v1/tenants", Some(&op), &json!({"id": TENANT}))
        .expect_problem(409, "conflict", "tenant twice");
    api.post("/v1/tenants", Some(&op), &json!({"id": "Bad Id!"}))
        .expect_problem(400, "invalid_tenant_id", "bad tenant id");
    api.post(
        &keys.path("/keys"),
        Some(&keys.admin),
        &json!({"name": "x", "role": "emperor"}),
    )
    .expect_problem(400, "invalid_role", "bad role");
    api.get(&keys.path("/schemas"), None)
        .expect_problem(401, "unauthenticated", "no key");

    // --- cursor paging: every event once, in order, also with equal times
    let pager = "pager@example.org";
    let paged: Vec<Value> = (0..23)
        .map(|i| {
            play_event(
                &format!("p-{i:02}"),
                pager,
                &time_at(50_000_000 + (i / 3) * 1_000),
                &format!("p{i}@mail.example"),
                &format!("track-p{i}"),
                i,
            )
        })
        .collect();
    let report = ingest(&api, &keys.writer, TENANT, &paged);
    assert_eq!(report["accepted"], 23, "{report}");
    let sp = resolve(&api, &keys.reader, TENANT, pager);
    for limit in [1, 5, 7, 23, 1000] {
        let (events, _) = timeline_all(&api, &keys.privacy_officer, TENANT, &sp, limit);
        let ids: Vec<&str> = events
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 23, "limit {limit}: {ids:?}");
        assert_eq!(
            ids.iter().collect::<HashSet<_>>().len(),
            23,
            "limit {limit}: an event twice: {ids:?}"
        );
        let times: Vec<i64> = events
            .iter()
            .map(|e| micros_of(e["time"].as_str().unwrap()))
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "limit {limit}: order"
        );
        let paged_map = by_id(&events);
        for sent in &paged {
            assert_same_event(&paged_map[sent["event_id"].as_str().unwrap()], sent, true);
        }
    }
    let full = api
        .get(
            &keys.path(&format!("/subjects/{sp}/events?purpose=analytics&limit=23")),
            Some(&keys.reader),
        )
        .expect(200, "one page")
        .body;
    assert_eq!(
        full["next_cursor"],
        Value::Null,
        "no cursor after the last page: {full}"
    );
    let filtered = api
        .get(
            &keys.path(&format!(
                "/subjects/{sp}/events?purpose=analytics&limit=1000&from={}&to={}",
                time_at(50_001_000),
                time_at(50_002_000)
            )),
            Some(&keys.reader),
        )
        .expect(200, "time filter")
        .body;
    assert_eq!(
        filtered["events"].as_array().unwrap().len(),
        3,
        "[from, to) holds the three events at 50.001 s: {filtered}"
    );

    // --- health, metrics, API document
    let metrics = api.get("/metrics", None).expect(200, "metrics");
    assert!(
        metrics.content_type.starts_with("text/plain"),
        "{}",
        metrics.content_type
    );
    for name in [
        "steward_ingest_events_total",
        "steward_http_requests_total",
        "steward_wal_fsync_seconds",
        // read by the alert rules (deploy/prometheus/steward-alerts.yml)
        "steward_audit_unsigned_seconds",
    ] {
        assert!(
            metrics.text.contains(name),
            "metrics lack {name}:\n{}",
            metrics.text
        );
    }
    assert!(
        !metrics.text.contains(&s1),
        "metrics never carry a pseudonym"
    );
    assert!(
        !metrics.text.contains(user1),
        "metrics never carry an external id"
    );
    let doc = api.get("/openapi.json", None).expect(200, "openapi").body;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    for route in steward_server::ROUTES {
        let op = &paths
            .get(route.path)
            .unwrap_or_else(|| panic!("openapi.json lacks {}", route.path))
            [route.method.to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "openapi.json lacks {} {}",
            route.method,
            route.path
        );
    }
    for path in paths.keys() {
        assert!(
            steward_server::ROUTES.iter().any(|r| r.path == path),
            "openapi.json documents {path}, not in ROUTES"
        );
    }

    // --- restart (SIGTERM, wait, start again): everything still readable, ids still deduplicated
    let before: Vec<BTreeMap<String, Value>> = [&s1, &s2, &sp]
        .iter()
        .map(|s| opened_timeline(&api, &keys, s))
        .collect();
    let masked_before = timeline_masked(&api, &keys.reader, TENANT, &s1, 1000).0;
    let status = server.terminate();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let server = deployment.start(&[]);
    let api = server.api();
    api.get("/readyz", None).expect(200, "readyz after restart");
    assert_eq!(
        resolve(&api, &keys.reader, TENANT, user1),
        s1,
        "pseudonyms survive a restart"
    );
    let after: Vec<BTreeMap<String, Value>> = [&s1, &s2, &sp]
        .iter()
        .map(|s| opened_timeline(&api, &keys, s))
        .collect();
    assert_eq!(
        before, after,
        "every timeline reads the same after a restart"
    );
    assert_eq!(
        timeline_masked(&api, &keys.reader, TENANT, &s1, 1000).0,
        masked_before
    );
    let report = ingest(&api, &keys.writer, TENANT, &batch);
    assert_eq!(
        report["duplicates"], 5,
        "deduplication survives a restart: {report}"
    );
    let got = api
        .get(&keys.path("/schemas/play"), Some(&keys.admin))
        .expect(200, "schema after restart");
    assert_eq!(got.body["version"], 1);
    let status = server.terminate();
    assert!(status.success(), "{status}");
    eprintln!("e2e took {:?}", started.elapsed());
}
