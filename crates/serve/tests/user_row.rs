//! `Registry::user_row`, the serving path's only way to a user vector, over a real engine with
//! both artifact kinds registered: a subject's row is served for a purpose its consent admits;
//! an opt-out of that purpose refuses it from the moment the consent call returns (other
//! purposes still see it); an erasure refuses it from the moment the erasure call returns, long
//! before the durable task rewrites the model file, and a decoded model held in memory has
//! already lost the row. Model references: `name`, `name@v1`, `name@alias`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::json;
use steward_engine::{ConsentSource, Engine, EngineConfig, IngestOptions, ReadAccess};
use steward_lineage::{BuildRequest, DatasetConfig, Datasets};
use steward_privacy::PrivacyClass;
use steward_query::{PoolConfig, WorkPool};
use steward_serve::{
    Algorithm, Columns, ModelConfig, ModelKind, ModelRef, ModelState, Registry, TrainRequest,
    params_from_json,
};

const TENANT: &str = "acme";

fn open(dir: &std::path::Path) -> (Arc<Engine>, Arc<Datasets>, Arc<Registry>) {
    let pool = WorkPool::new(PoolConfig::default()).unwrap();
    let datasets: Arc<Mutex<Option<Arc<Datasets>>>> = Arc::default();
    let registry: Arc<Mutex<Option<Arc<Registry>>>> = Arc::default();
    let (d1, d2, r2) = (datasets.clone(), datasets.clone(), registry.clone());
    let engine = Engine::builder(EngineConfig::new(dir))
        .kind(move |engine| {
            let made = Datasets::new(
                engine.clone(),
                DatasetConfig::default(),
                steward_lineage::openlineage::LineageSink::none(),
                pool,
            );
            *d1.lock() = Some(made.clone());
            steward_lineage::DatasetKind::new(&made)
        })
        .kind(move |engine| {
            let made = Registry::new(
                engine.clone(),
                d2.lock().clone().unwrap(),
                ModelConfig {
                    threads: 2,
                    ..ModelConfig::default()
                },
                steward_lineage::openlineage::LineageSink::none(),
            );
            *r2.lock() = Some(made.clone());
            ModelKind::new(&made)
        })
        .open()
        .unwrap();
    let datasets = datasets.lock().take().unwrap();
    let registry = registry.lock().take().unwrap();
    (engine, datasets, registry)
}

fn guard(engine: &Engine, purpose: &str) -> steward_engine::ReadGuard {
    engine
        .read_guard(
            TENANT,
            ReadAccess::declared(purpose, vec![PrivacyClass::Public]),
        )
        .unwrap()
}

#[test]
fn user_rows_follow_consent_and_erasure_at_once() {
    let dir = tempfile::tempdir().unwrap();
    steward_engine::init(dir.path()).unwrap();
    let (engine, datasets, registry) = open(dir.path());
    engine.create_tenant(TENANT).unwrap();
    engine
        .put_schema(
            TENANT,
            "play",
            &json!({"fields": {"track_id": {"type": "string", "class": "public"}}}),
        )
        .unwrap();
    let events: Vec<_> = (0..48)
        .map(|i| json!({"event_id": format!("e{i}"), "type": "play", "subject": format!("user-{}", i % 6), "time": format!("2026-11-22T10:{:02}:00Z", i), "properties": {"track_id": format!("t{}", (i * 5) % 11)}}))
        .collect();
    engine
        .ingest(TENANT, &events, IngestOptions::default())
        .unwrap();
    let training = Arc::new(guard(&engine, "model_training"));
    let request = BuildRequest {
        name: "plays".into(),
        sql: "SELECT subject, track_id FROM play".into(),
        purpose: "model_training".into(),
        visible: vec![PrivacyClass::Public],
        built_by: "test".into(),
    };
    let d = datasets.clone();
    let built = datasets
        .pool()
        .block_on(async move { d.build(training, &request, None, None).await })
        .unwrap()
        .unwrap();
    assert_eq!(built.subjects, 6);
    let job = TrainRequest {
        name: "recs".into(),
        params: params_from_json(Algorithm::Als, &json!({"factors": 4, "iterations": 3})).unwrap(),
        dataset: "plays".into(),
        dataset_version: 1,
        columns: Columns {
            user: "subject".into(),
            item: "track_id".into(),
            weight: None,
            time: None,
        },
        evaluation: None,
        seed: 7,
        purpose: "model_training".into(),
        visible: vec![PrivacyClass::Public],
        trained_by: "test".into(),
    };
    assert_eq!(
        registry
            .submit(&guard(&engine, "model_training"), job)
            .unwrap()
            .version,
        1
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while registry.version(TENANT, "recs", 1).unwrap().0.state != ModelState::Ready {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            registry.version(TENANT, "recs", 1).unwrap().0
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let subject = |n: usize| {
        engine
            .resolve_subject(TENANT, &format!("user-{n}"))
            .unwrap()
    };
    let recs = ModelRef::parse("recs").unwrap();
    let row = |purpose: &str, n: usize| {
        registry
            .user_row(&guard(&engine, purpose), &recs, &subject(n))
            .unwrap()
    };
    for n in 0..6 {
        let r = row("personalization", n).unwrap_or_else(|| panic!("user-{n} has a row"));
        assert_eq!(
            (r.model.as_str(), r.version, r.factors.len()),
            ("recs", 1, 4)
        );
    }
    assert_eq!(
        registry
            .user_row(
                &guard(&engine, "personalization"),
                &ModelRef::parse("recs@v1").unwrap(),
                &subject(0)
            )
            .unwrap()
            .map(|r| r.version),
        Some(1)
    );
    assert!(
        registry
            .user_row(
                &guard(&engine, "personalization"),
                &ModelRef::parse("recs@production").unwrap(),
                &subject(0)
            )
            .is_err(),
        "no such alias yet"
    );
    registry
        .set_alias(TENANT, "recs", "production", 1, "test")
        .unwrap();
    assert!(
        registry
            .user_row(
                &guard(&engine, "personalization"),
                &ModelRef::parse("recs@production").unwrap(),
                &subject(0)
            )
            .unwrap()
            .is_some()
    );
    assert!(
        ModelRef::parse("../x").is_err()
            && ModelRef::parse("recs@").is_err()
            && ModelRef::parse("recs@../v").is_err()
    );

    // An opt-out of personalization: refused at once for that purpose, not for others.
    engine
        .set_consent(
            TENANT,
            &subject(1),
            "personalization",
            false,
            ConsentSource::Api,
            None,
        )
        .unwrap();
    assert!(
        row("personalization", 1).is_none(),
        "an opted-out subject's row is not served"
    );
    assert!(
        row("model_training", 1).is_some(),
        "other purposes are not affected"
    );
    assert!(row("personalization", 0).is_some());

    // An erasure (its durable work due only at the purge deadline, an hour away): refused at
    // once, and the decoded model held in memory lost the row in the hide.
    let held = registry.model_file(TENANT, "recs", 1).unwrap();
    assert!(held.user_row(subject(2).as_bytes()).is_some());
    let erased = subject(2);
    engine
        .request_erasure(TENANT, "user-2", false, false)
        .unwrap();
    assert!(
        registry
            .user_row(&guard(&engine, "personalization"), &recs, &erased)
            .unwrap()
            .is_none(),
        "refused from the erasure call's return"
    );
    assert!(
        registry
            .user_row(&guard(&engine, "model_training"), &recs, &erased)
            .unwrap()
            .is_none(),
        "for every purpose"
    );
    assert!(
        registry
            .model_file(TENANT, "recs", 1)
            .unwrap()
            .user_row(erased.as_bytes())
            .is_none(),
        "the cached model dropped the row"
    );
    assert!(row("personalization", 3).is_some(), "others are served");
    let lineage = engine.subject_lineage(TENANT, &subject(3)).unwrap();
    assert!(
        lineage
            .iter()
            .any(|a| a.kind == "model" && a.name == "recs" && a.version == 1),
        "{lineage:?}"
    );
}
