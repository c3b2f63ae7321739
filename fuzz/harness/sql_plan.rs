//! One input of the `sql_plan` fuzz target, shared by `fuzz/fuzz_targets/sql_plan.rs`
//! (libFuzzer, nightly) and `crates/query/tests/fuzz_smoke.rs` (a bounded stable run), each
//! of which mounts this file as a module with `#[path]`.
//!
//! SQL text goes the whole way: the complexity scan, the read-only check, parsing, planning
//! against a session with a tenant's demo views (events, play, subjects), and execution
//! bounded in time, rows and memory, on the heavy-work pool's threads as in the server. It
//! must never panic, overflow a stack or grow past the query's memory; every refusal is a
//! typed error. Returns the outcome's code for the run's figures.

struct SqlPlanWorld {
    _dir: tempfile::TempDir,
    _engine: std::sync::Arc<steward_engine::Engine>,
    guard: std::sync::Arc<steward_engine::ReadGuard>,
    pool: std::sync::Arc<steward_query::WorkPool>,
}

fn sql_plan_world() -> &'static SqlPlanWorld {
    static WORLD: std::sync::OnceLock<SqlPlanWorld> = std::sync::OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        steward_engine::init(dir.path()).expect("init");
        let mut config = steward_engine::EngineConfig::new(dir.path());
        config.background = false;
        let engine = steward_engine::Engine::open(config).expect("engine");
        engine.create_tenant("acme").expect("tenant");
        let schema = serde_json::json!({"fields": {
            "email": {"type": "string", "class": "personal"},
            "track_id": {"type": "string", "class": "public", "required": true},
            "ms_played": {"type": "int", "class": "public", "min": 0}
        }});
        engine.put_schema("acme", "play", &schema).expect("schema");
        let events: Vec<_> = (0..20)
            .map(|i| serde_json::json!({"event_id": format!("e-{i}"), "type": "play", "subject": format!("user-{}", i % 4),
                "time": format!("2026-11-22T10:{:02}:00Z", i), "properties": {"email": "a@example.org", "track_id": format!("trk_{}", i % 3), "ms_played": i * 1000}}))
            .collect();
        engine.ingest("acme", &events, steward_engine::IngestOptions::default()).expect("ingest");
        let access = steward_engine::ReadAccess::declared("analytics", vec![steward_privacy::PrivacyClass::Public]);
        let guard = std::sync::Arc::new(engine.read_guard("acme", access).expect("guard"));
        let pool = steward_query::WorkPool::new(steward_query::PoolConfig { threads: 1, jobs_max: 1, queue_wait: std::time::Duration::from_secs(60) }).expect("pool");
        SqlPlanWorld { _dir: dir, _engine: engine, guard, pool }
    })
}

pub fn sql_plan(data: &[u8]) -> &'static str {
    let Ok(sql) = std::str::from_utf8(data) else {
        return "not_utf8";
    };
    let world = sql_plan_world();
    let limits = steward_query::QueryLimits {
        max_rows: 1_000,
        max_bytes: 1 << 20,
        timeout: std::time::Duration::from_secs(1),
        memory_bytes: 64 << 20,
    };
    let (guard, sql) = (world.guard.clone(), sql.to_owned());
    let outcome = world.pool.block_on(async move {
        let session =
            steward_query::Session::open(guard, &limits, &steward_query::QueryOptions::default())
                .await?;
        session.start(&sql).await?.collect().await
    });
    match outcome {
        Ok(Ok(result)) => {
            assert!(result.rows <= 1_000, "rows past the limit");
            "ok"
        }
        Ok(Err(error)) => error.code(),
        Err(steward_query::PoolError::Panicked) => panic!("the query panicked"),
        Err(other) => panic!("the pool failed: {other}"),
    }
}
