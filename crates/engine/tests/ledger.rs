//! The derived-artifact ledger with a test kind: an erasure reaches `derived` only when every
//! kind the deployment ever registered has acknowledged its task (a kind missing after a
//! restart makes it wait, it never skips); tasks survive a crash; a panicking kind is caught,
//! reported and retried; an import of 10,000 opt-outs reaches a kind as one work item.
//! Also the read guard's timeline paging under retention (every event once, no repeats).

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::json;
use steward_crypto::Pseudonym;
use steward_engine::{
    ArtifactKind, ConsentChange, ConsentSource, DerivedArtifact, Engine, EngineConfig, Hide,
    IngestOptions, Outcome, ReadAccess, TimelineQuery, Work,
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Done,
    Wait,
    Panic,
}

#[derive(Default)]
struct Calls {
    hides: Vec<usize>,
    works: Vec<String>,
    opt_out_subjects: Vec<usize>,
}

struct TestKind {
    mode: Arc<Mutex<Mode>>,
    calls: Arc<Mutex<Calls>>,
}

impl ArtifactKind for TestKind {
    fn name(&self) -> &'static str {
        "test"
    }

    fn hide(&self, _tenant: &str, hide: &Hide<'_>) -> Result<(), String> {
        let n = match hide {
            Hide::Erased { subjects, .. } => subjects.len(),
            Hide::OptedOut { subjects, .. } => subjects.len(),
        };
        self.calls.lock().hides.push(n);
        Ok(())
    }

    fn process(&self, _tenant: &str, work: &Work) -> Result<Outcome, String> {
        let mode = *self.mode.lock();
        let mut calls = self.calls.lock();
        match work {
            Work::Erase { .. } => calls.works.push("erase".into()),
            Work::OptOut { subjects, .. } => {
                calls.works.push("opt_out".into());
                calls.opt_out_subjects.push(subjects.len());
            }
            Work::RegimeChanged { .. } => calls.works.push("regime".into()),
            Work::Retention => calls.works.push("retention".into()),
        }
        drop(calls);
        match (mode, work) {
            (Mode::Panic, _) => panic!("test kind told to panic"),
            (Mode::Wait, _) => Ok(Outcome::Wait {
                reason: "told to wait".into(),
            }),
            (Mode::Done, Work::Erase { subjects }) => {
                let artifact = DerivedArtifact {
                    kind: "test".into(),
                    name: "thing".into(),
                    version: 1,
                    action: "rebuilt".into(),
                    successor: Some(2),
                    files_removed: 1,
                    ..Default::default()
                };
                Ok(Outcome::Done {
                    artifacts: subjects
                        .iter()
                        .map(|(s, _)| (*s, vec![artifact.clone()]))
                        .collect(),
                })
            }
            (Mode::Done, _) => Ok(Outcome::done()),
        }
    }
}

struct Harness {
    mode: Arc<Mutex<Mode>>,
    calls: Arc<Mutex<Calls>>,
}

impl Harness {
    fn new(mode: Mode) -> Harness {
        Harness {
            mode: Arc::new(Mutex::new(mode)),
            calls: Arc::default(),
        }
    }

    fn open(&self, dir: &std::path::Path, with_kind: bool) -> Arc<Engine> {
        let mut config = EngineConfig::new(dir);
        config.flush_interval_ms = 200;
        let mut builder = Engine::builder(config);
        if with_kind {
            let (mode, calls) = (self.mode.clone(), self.calls.clone());
            builder = builder.kind(move |_| Arc::new(TestKind { mode, calls }));
        }
        builder.open().unwrap()
    }
}

fn play_schema() -> serde_json::Value {
    json!({"fields": {"email": {"type": "string", "class": "personal"}, "track_id": {"type": "string", "class": "public"}}})
}

fn setup(engine: &Engine) {
    engine.create_tenant("acme").unwrap();
    engine.put_schema("acme", "play", &play_schema()).unwrap();
    let events: Vec<_> = (0..6)
        .map(|i| json!({"event_id": format!("e{i}"), "type": "play", "subject": format!("user-{}", i % 2), "time": format!("2026-11-22T10:00:0{i}Z"), "properties": {"email": "x@example.org", "track_id": "t"}}))
        .collect();
    engine
        .ingest("acme", &events, IngestOptions::default())
        .unwrap();
}

fn state_of(engine: &Engine, id: &str) -> String {
    engine
        .erasure("acme", id)
        .unwrap()
        .state
        .as_str()
        .to_owned()
}

fn wait_state(engine: &Engine, id: &str, want: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if state_of(engine, id) == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn an_erasure_waits_for_every_kind_ever_registered_and_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    steward_engine::init(dir.path()).unwrap();
    let harness = Harness::new(Mode::Wait);
    let engine = harness.open(dir.path(), true);
    setup(&engine);
    let request = engine
        .request_erasure("acme", "user-0", true, false)
        .unwrap();
    assert_eq!(
        harness.calls.lock().hides,
        vec![1],
        "the kind hid the subject before the call returned"
    );
    // The kind keeps waiting: the erasure is purged but never derived.
    assert!(
        wait_state(&engine, &request.id, "purged", Duration::from_secs(20)),
        "{}",
        state_of(&engine, &request.id)
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        state_of(&engine, &request.id),
        "purged",
        "derived waits for the kind"
    );
    assert_eq!(engine.ledger_pending("acme").unwrap(), 1);
    // A crash: no shutdown. The task is durable.
    drop(engine);

    // Reopened without the kind (a tool, or an older binary): the erasure still waits.
    let engine = harness.open(dir.path(), false);
    assert_eq!(
        engine.ledger_pending("acme").unwrap(),
        1,
        "the task survived the crash"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        state_of(&engine, &request.id),
        "purged",
        "a kind missing after a restart is waited for, never skipped"
    );
    // A new erasure still files a task for the missing kind.
    let second = engine
        .request_erasure("acme", "user-1", true, false)
        .unwrap();
    assert!(wait_state(
        &engine,
        &second.id,
        "purged",
        Duration::from_secs(20)
    ));
    assert_eq!(engine.ledger_pending("acme").unwrap(), 2);
    engine.shutdown().unwrap();
    drop(engine);

    // With the kind back and answering, both complete and list what it did.
    *harness.mode.lock() = Mode::Done;
    let engine = harness.open(dir.path(), true);
    for id in [&request.id, &second.id] {
        assert!(
            wait_state(&engine, id, "done", Duration::from_secs(30)),
            "{}",
            state_of(&engine, id)
        );
        let done = engine.erasure("acme", id).unwrap();
        assert_eq!(done.derived.len(), 1, "{done:?}");
        assert_eq!(done.derived[0].name, "thing");
        assert!(engine.erasure_receipt("acme", id).is_ok());
    }
    assert_eq!(engine.ledger_pending("acme").unwrap(), 0);
    engine.shutdown().unwrap();
}

#[test]
fn a_panicking_kind_is_caught_reported_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    steward_engine::init(dir.path()).unwrap();
    let harness = Harness::new(Mode::Panic);
    let engine = harness.open(dir.path(), true);
    setup(&engine);
    let request = engine
        .request_erasure("acme", "user-0", true, false)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while engine.failing_workers().is_empty() {
        assert!(Instant::now() < deadline, "the panic is reported");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(engine.failing_workers(), vec!["ledger:test".to_owned()]);
    *harness.mode.lock() = Mode::Done;
    assert!(
        wait_state(&engine, &request.id, "done", Duration::from_secs(30)),
        "retried after the panic: {}",
        state_of(&engine, &request.id)
    );
    assert!(
        engine.failing_workers().is_empty(),
        "healthy again once the kind runs cleanly"
    );
    engine.shutdown().unwrap();
}

#[test]
fn ten_thousand_opt_outs_reach_a_kind_as_one_work() {
    let dir = tempfile::tempdir().unwrap();
    steward_engine::init(dir.path()).unwrap();
    let harness = Harness::new(Mode::Done);
    let engine = harness.open(dir.path(), true);
    setup(&engine);
    let changes: Vec<ConsentChange> = (0..10_000)
        .map(|i| ConsentChange {
            subject: engine
                .resolve_subject("acme", &format!("person-{i}"))
                .unwrap(),
            purpose: "model_training".into(),
            granted: false,
            source: ConsentSource::Import,
            at: None,
        })
        .collect();
    let started = Instant::now();
    engine.set_consents("acme", &changes).unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "{took:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while engine.ledger_pending("acme").unwrap() > 0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let calls = harness.calls.lock();
    assert_eq!(calls.hides, vec![10_000], "one hide for the batch");
    assert_eq!(
        calls.opt_out_subjects,
        vec![10_000],
        "one work item for 10,000 lines"
    );
    drop(calls);
    // The read guard refuses them at once.
    let guard = engine
        .read_guard("acme", ReadAccess::declared("model_training", vec![]))
        .unwrap();
    assert!(!guard.admits_subject(&changes[0].subject));
    assert!(guard.admits_subject(&engine.resolve_subject("acme", "someone-else").unwrap()));
    engine.shutdown().unwrap();
}

#[test]
fn timeline_pages_skip_expired_rows_without_repeating_any() {
    let dir = tempfile::tempdir().unwrap();
    steward_engine::init(dir.path()).unwrap();
    let mut config = EngineConfig::new(dir.path());
    config.background = false;
    let engine = Engine::open(config).unwrap();
    engine.create_tenant("acme").unwrap();
    let mut schema = play_schema();
    schema["retention"] = json!("30d");
    engine.put_schema("acme", "play", &schema).unwrap();
    let now = chrono::Utc::now();
    // Old (expired) and fresh events interleaved in arrival order, some flushed to segments.
    for round in 0..2 {
        let events: Vec<_> = (0..30)
            .map(|i| {
                let age = if i % 3 == 0 { chrono::Duration::days(60) } else { chrono::Duration::hours(1) };
                let time = (now - age + chrono::Duration::seconds(i64::from(round) * 100 + i)).to_rfc3339();
                json!({"event_id": format!("r{round}-{i}"), "type": "play", "subject": "heavy", "time": time, "properties": {"email": "x@example.org", "track_id": "t"}})
            })
            .collect();
        engine
            .ingest("acme", &events, IngestOptions::default())
            .unwrap();
        if round == 0 {
            engine.flush_all().unwrap();
        }
    }
    let guard = engine
        .read_guard(
            "acme",
            ReadAccess::declared("analytics", vec![steward_privacy::PrivacyClass::Public]),
        )
        .unwrap();
    let subject: Pseudonym = engine.resolve_subject("acme", "heavy").unwrap();
    let mut q = TimelineQuery {
        subject,
        from_us: None,
        to_us: None,
        types: None,
        cursor: None,
        limit: 7,
    };
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = engine.timeline(&guard, &q).unwrap();
        pages += 1;
        assert!(
            !page.events.is_empty() || page.next_cursor.is_none(),
            "no empty page before the end"
        );
        seen.extend(page.events.iter().map(|e| e.event_id.clone()));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
        assert!(pages < 100);
    }
    let fresh = 2 * (30 - 10);
    assert_eq!(seen.len(), fresh, "{seen:?}");
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), fresh, "every fresh event exactly once");
}
