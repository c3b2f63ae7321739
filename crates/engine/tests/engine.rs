//! Engine round trips: tenants, keys, schemas, ingest, timeline, flush, compaction, reopen.

use serde_json::{Value, json};
use std::sync::Arc;
use steward_access::{Principal, Role};
use steward_engine::{Engine, EngineConfig, EventOutcome, IngestOptions, TimelineQuery};

const CANARY: &str = "canary-engine-7f3a@example.org";

fn open(dir: &std::path::Path) -> Arc<Engine> {
    let mut config = EngineConfig::new(dir);
    config.background = false;
    Engine::open(config).unwrap()
}

fn play_schema() -> Value {
    json!({"fields": {
        "email": {"type": "string", "class": "personal"},
        "track_id": {"type": "string", "class": "public", "required": true},
        "ms_played": {"type": "int", "class": "public", "min": 0}
    }})
}

fn event(id: &str, subject: &str, time: &str, track: &str) -> Value {
    json!({"event_id": id, "type": "play", "subject": subject, "time": time,
           "properties": {"email": CANARY, "track_id": track, "ms_played": 1000}})
}

fn query(engine: &Engine, subject: &str, limit: usize) -> TimelineQuery {
    TimelineQuery {
        subject: engine.resolve_subject("acme", subject).unwrap(),
        from_us: None,
        to_us: None,
        types: None,
        cursor: None,
        limit,
    }
}

/// A page through a read guard: every class (an access request's read) or public fields and
/// identifiers only (analytics).
fn timeline(
    engine: &Engine,
    q: &TimelineQuery,
    open_personal: bool,
) -> steward_engine::TimelinePage {
    let access = if open_personal {
        steward_engine::ReadAccess::subject_access()
    } else {
        steward_engine::ReadAccess::declared(
            "analytics",
            vec![
                steward_privacy::PrivacyClass::Public,
                steward_privacy::PrivacyClass::Identifier,
            ],
        )
    };
    let guard = engine.read_guard("acme", access).unwrap();
    engine.timeline(&guard, q).unwrap()
}

#[test]
fn full_round_trip_survives_flush_compaction_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let init = steward_engine::init(dir.path()).unwrap();
    let engine = open(dir.path());
    assert_eq!(
        engine.authenticate(&init.operator_key).unwrap(),
        Principal::Operator
    );
    engine.create_tenant("acme").unwrap();
    assert!(engine.create_tenant("acme").is_err(), "duplicate tenant");
    assert!(engine.create_tenant("Bad Id").is_err());
    let (record, token) = engine
        .create_key("acme", steward_engine::NewKey::new("ingest", Role::Writer))
        .unwrap();
    assert!(
        matches!(engine.authenticate(&token).unwrap(), Principal::Key { ref tenant, .. } if tenant == "acme")
    );
    engine.put_schema("acme", "play", &play_schema()).unwrap();
    assert_eq!(
        engine
            .put_schema("acme", "play", &play_schema())
            .unwrap()
            .version,
        1,
        "same document keeps its version"
    );

    // Several flushes so compaction has work; duplicates and a bad event in the mix.
    for round in 0..5 {
        let mut batch: Vec<Value> = (0..20)
            .map(|i| {
                event(
                    &format!("e-{round}-{i}"),
                    &format!("user-{}", i % 4),
                    &format!("2026-11-22T10:{round:02}:{i:02}Z"),
                    "trk_1",
                )
            })
            .collect();
        batch.push(event(
            &format!("e-{round}-0"),
            "user-0",
            "2026-11-22T10:00:00Z",
            "trk_1",
        ));
        batch.push(json!({"event_id": "bad", "type": "play", "subject": "user-0", "time": "yesterday", "properties": {"track_id": "t"}}));
        let report = engine
            .ingest("acme", &batch, IngestOptions::default())
            .unwrap();
        assert_eq!(report.accepted(), 20);
        assert_eq!(report.duplicates(), 1);
        let rejected: Vec<_> = report.rejected().collect();
        assert_eq!(rejected.len(), 1);
        assert_eq!(
            (
                rejected[0].0,
                rejected[0].1.code,
                rejected[0].1.field.as_deref()
            ),
            (21, "invalid_time", Some("time"))
        );
        engine.flush_all().unwrap();
    }
    assert!(engine.compact_all().unwrap() >= 1);
    let stats = engine.tenant_stats("acme").unwrap();
    // Fully compacted: one segment per subject range the four users fall in.
    let ranges: std::collections::BTreeSet<u8> = (0..4)
        .map(|u| {
            engine
                .resolve_subject("acme", &format!("user-{u}"))
                .unwrap()
                .as_bytes()[0]
                >> 4
        })
        .collect();
    assert_eq!(
        (stats.stored_events, stats.segments),
        (100, ranges.len() as u64)
    );

    let page = timeline(&engine, &query(&engine, "user-1", 1000), true);
    assert_eq!(page.events.len(), 25);
    assert_eq!(page.events[0].properties["email"], json!(CANARY));
    let masked = timeline(&engine, &query(&engine, "user-1", 1000), false);
    assert_eq!(masked.events[0].properties["email"], Value::Null);
    assert_eq!(masked.events[0].properties["track_id"], json!("trk_1"));

    // Paging returns every event once, in order.
    let mut q = query(&engine, "user-2", 7);
    let mut seen = Vec::new();
    loop {
        let page = timeline(&engine, &q, false);
        seen.extend(page.events.iter().map(|e| e.event_id.clone()));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 25);

    engine.revoke_key("acme", &record.id).unwrap();
    assert!(engine.authenticate(&token).is_err());
    drop(engine);

    // Unflushed events come back from the WAL.
    let engine = open(dir.path());
    let report = engine
        .ingest(
            "acme",
            &[event("late", "user-3", "2026-11-23T00:00:00Z", "trk_2")],
            IngestOptions::default(),
        )
        .unwrap();
    assert_eq!(report.outcomes, vec![EventOutcome::Accepted]);
    drop(engine);
    let engine = open(dir.path());
    let page = timeline(&engine, &query(&engine, "user-3", 1000), true);
    assert_eq!(page.events.len(), 26);
    assert_eq!(page.events.last().unwrap().event_id, "late");
    let again = engine
        .ingest(
            "acme",
            &[event("e-0-0", "user-0", "2026-11-22T10:00:00Z", "trk_1")],
            IngestOptions::default(),
        )
        .unwrap();
    assert_eq!(again.duplicates(), 1, "idempotency survives restart");
    engine.shutdown().unwrap();
    drop(engine);

    // No plaintext canary anywhere under the data directory.
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
            "canary in {}",
            entry.display()
        );
    }
}

#[test]
fn all_or_nothing_stores_nothing_on_one_bad_event() {
    let dir = tempfile::tempdir().unwrap();
    steward_engine::init(dir.path()).unwrap();
    let engine = open(dir.path());
    engine.create_tenant("acme").unwrap();
    engine.put_schema("acme", "play", &play_schema()).unwrap();
    let batch = vec![
        event("a", "user-1", "2026-11-22T10:00:00Z", "t"),
        json!({"event_id": "b", "type": "play", "subject": "user-1", "time": "2026-11-22T10:00:00Z", "properties": {"ms_played": -5}}),
    ];
    let report = engine
        .ingest(
            "acme",
            &batch,
            IngestOptions {
                all_or_nothing: true,
            },
        )
        .unwrap();
    assert_eq!(report.accepted(), 0);
    let codes: Vec<_> = report
        .rejected()
        .map(|(_, e)| (e.code, e.field.clone()))
        .collect();
    assert_eq!(codes[0], ("batch_aborted", None));
    assert_eq!(codes[1].0, "out_of_range");
    let all: Vec<_> = report
        .rejected()
        .nth(1)
        .unwrap()
        .1
        .all
        .iter()
        .map(|(c, f, _)| (*c, f.clone().unwrap()))
        .collect();
    assert_eq!(
        all,
        vec![
            ("out_of_range", "properties.ms_played".to_string()),
            ("missing_field", "properties.track_id".to_string())
        ]
    );
    assert_eq!(engine.tenant_stats("acme").unwrap().stored_events, 0);
}

#[test]
fn wrong_master_key_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    steward_engine::init(dir.path()).unwrap();
    let path = dir.path().join("master.key");
    let other = steward_crypto::MasterKey::generate();
    std::fs::remove_file(&path).unwrap();
    other.write_file(&path).unwrap();
    let err = Engine::open(EngineConfig::new(dir.path())).err().unwrap();
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[test]
fn master_rotation_rewraps_without_touching_data() {
    let dir = tempfile::tempdir().unwrap();
    steward_engine::init(dir.path()).unwrap();
    let engine = open(dir.path());
    engine.create_tenant("acme").unwrap();
    engine.put_schema("acme", "play", &play_schema()).unwrap();
    engine
        .ingest(
            "acme",
            &[event("a", "user-1", "2026-11-22T10:00:00Z", "t")],
            IngestOptions::default(),
        )
        .unwrap();
    engine.flush_all().unwrap();
    let before = engine.resolve_subject("acme", "user-1").unwrap();
    drop(engine);
    let old_key = std::fs::read(dir.path().join("master.key")).unwrap();
    steward_engine::rotate_master(dir.path()).unwrap();
    assert_ne!(
        std::fs::read(dir.path().join("master.key")).unwrap(),
        old_key
    );
    let engine = open(dir.path());
    assert_eq!(
        engine.resolve_subject("acme", "user-1").unwrap(),
        before,
        "pseudonyms are stable across rotation"
    );
    let page = timeline(&engine, &query(&engine, "user-1", 10), true);
    assert_eq!(page.events[0].properties["email"], json!(CANARY));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn an_interrupted_rotation_is_finished_at_open() {
    let dir = tempfile::tempdir().unwrap();
    steward_engine::init(dir.path()).unwrap();
    let engine = open(dir.path());
    engine.create_tenant("acme").unwrap();
    drop(engine);
    // Simulate a crash after the catalog commit and before the rename: rotate, then put the
    // old key file back as master.key and the new one as master.key.new.
    let old = std::fs::read(dir.path().join("master.key")).unwrap();
    steward_engine::rotate_master(dir.path()).unwrap();
    std::fs::rename(
        dir.path().join("master.key"),
        dir.path().join("master.key.new"),
    )
    .unwrap();
    std::fs::write(dir.path().join("master.key"), old).unwrap();
    let engine = open(dir.path());
    assert_eq!(engine.list_tenants().unwrap().len(), 1);
    assert!(!dir.path().join("master.key.new").exists());
}

#[test]
fn a_timeline_page_ends_at_its_byte_bound_and_the_cursor_resumes() {
    let dir = tempfile::tempdir().unwrap();
    steward_engine::init(dir.path()).unwrap();
    let engine = open(dir.path());
    engine.create_tenant("acme").unwrap();
    engine.put_schema("acme", "play", &play_schema()).unwrap();
    // 160 events of about 60 KiB each (strings are at most 64 KiB): about 9.4 MiB, past the
    // 8 MiB page bound.
    let big = "x".repeat(60 * 1024);
    let events: Vec<Value> = (0..160)
        .map(|i| {
            event(
                &format!("big-{i}"),
                "heavy",
                &format!("2026-11-22T10:{:02}:{:02}Z", i / 60, i % 60),
                &big,
            )
        })
        .collect();
    let report = engine
        .ingest("acme", &events, IngestOptions::default())
        .unwrap();
    assert_eq!(report.accepted(), 160);
    let mut q = query(&engine, "heavy", 1000);
    let first = timeline(&engine, &q, false);
    assert!(
        first.events.len() < 160 && !first.events.is_empty(),
        "{} events on the first page",
        first.events.len()
    );
    let bytes: usize = first
        .events
        .iter()
        .map(|e| serde_json::to_vec(&e.properties).unwrap().len())
        .sum();
    assert!(
        bytes <= steward_engine::limits::TIMELINE_PAGE_BYTES_MAX + 100 * 1024,
        "{bytes} bytes"
    );
    let mut seen = first.events.len();
    let mut cursor = first.next_cursor;
    while let Some(c) = cursor {
        q.cursor = Some(c);
        let page = timeline(&engine, &q, false);
        assert!(!page.events.is_empty());
        seen += page.events.len();
        cursor = page.next_cursor;
    }
    assert_eq!(seen, 160, "every event once, across pages");
}
