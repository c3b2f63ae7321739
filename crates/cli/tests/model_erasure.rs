//! Deletion reaches models (core idea 5), against the real binary.
//!
//! - After an erasure is done, a forensic scan of every file (model files opened with the
//!   master key) finds neither the erased subject's pseudonym nor the bytes of its user vector;
//!   a kept subject's vector in the retrained version is found by the same scan (so the scan
//!   does look inside model files); the receipt lists each model version with what was done
//!   and when; the retrained version's lineage names the data set's successor; the production
//!   alias moved to it, audited; lineage no longer lists the subject anywhere.
//! - The race: an erasure filed while a training job (whose read came first) runs is caught:
//!   the erasure waits for the job, then removes the subject from the version it produced.
//! - A restart with a job left training marks it failed (`training_interrupted`), never resumes
//!   it, and the registry trains again.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const TENANT: &str = "acme";

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
                    &format!("trk_{}", (p % 3) * 10 + (i * 7 + p) % 12),
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
    api.post(
        &keys.path("/datasets"),
        Some(&keys.reader),
        &json!({"name": "plays", "sql": "SELECT subject, track_id, time FROM play"}),
    )
    .expect(201, "cut");
    who
}

fn train(api: &Api, keys: &TenantKeys, name: &str, algorithm: &str, params: Value) -> u64 {
    let body = json!({"name": name, "algorithm": algorithm, "dataset": {"name": "plays", "version": "latest"}, "columns": {"user": "subject", "item": "track_id", "time": "time"}, "params": params});
    api.post(&keys.path("/models"), Some(&keys.reader), &body)
        .expect(202, name)
        .body["version"]
        .as_u64()
        .unwrap()
}

fn version(api: &Api, keys: &TenantKeys, name: &str, v: u64) -> Value {
    api.get(
        &keys.path(&format!("/models/{name}/versions/{v}")),
        Some(&keys.reader),
    )
    .expect(200, "version")
    .body
}

fn wait_state(
    api: &Api,
    keys: &TenantKeys,
    name: &str,
    v: u64,
    done: impl Fn(&Value) -> bool,
    what: &str,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let body = version(api, keys, name, v);
        if done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{name} v{v} never {what}: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_ready(api: &Api, keys: &TenantKeys, name: &str, v: u64) -> Value {
    let body = wait_state(
        api,
        keys,
        name,
        v,
        |b| {
            !matches!(
                b["state"].as_str(),
                Some("queued" | "training" | "evaluating")
            )
        },
        "finished",
    );
    assert_eq!(body["state"], "ready", "{body}");
    body
}

fn wait_training(api: &Api, keys: &TenantKeys, name: &str, v: u64) -> Value {
    wait_state(
        api,
        keys,
        name,
        v,
        |b| b["state"] == "training" && b["progress"]["iteration"].as_u64().unwrap_or(0) >= 1,
        "reported an iteration",
    )
}

/// `steward forensics model-row`: the subject's row in a stopped deployment's model version
/// (its bytes in hex), or None.
fn model_row(deployment: &Deployment, name: &str, v: u64, subject: &str) -> Option<String> {
    let out = Command::new(steward_bin())
        .args(["forensics", "model-row", "--data"])
        .arg(&deployment.data)
        .args([
            "--tenant",
            TENANT,
            "--model",
            name,
            "--version",
            &v.to_string(),
            "--subject",
            subject,
        ])
        .output()
        .expect("model-row");
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "model-row printed {:?} {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    match out.status.code() {
        Some(0) => Some(printed["bytes_hex"].as_str().unwrap().to_owned()),
        Some(1) => None,
        other => panic!(
            "model-row exited {other:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// `steward forensics scan` with text and hex needles; every hit.
fn scan(deployment: &Deployment, needles: &[&str], hex: &[&str]) -> Vec<Value> {
    let mut command = Command::new(steward_bin());
    command
        .args(["forensics", "scan", "--data"])
        .arg(&deployment.data);
    for n in needles {
        command.args(["--needle", n]);
    }
    for h in hex {
        command.args(["--needle-hex", h]);
    }
    let out = command.output().expect("forensics scan");
    let hits: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON hit"))
        .collect();
    assert_eq!(
        out.status.code(),
        Some(if hits.is_empty() { 0 } else { 1 }),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    hits
}

fn erase(api: &Api, keys: &TenantKeys, external_id: &str) -> String {
    let r = api
        .post(
            &keys.path("/erasures"),
            Some(&keys.privacy_officer),
            &json!({"external_id": external_id, "now": true}),
        )
        .expect(202, "erase")
        .body;
    r["id"].as_str().unwrap().to_owned()
}

fn receipt_models(api: &Api, keys: &TenantKeys, id: &str) -> Vec<Value> {
    let receipt = api
        .get(
            &keys.path(&format!("/erasures/{id}/receipt")),
            Some(&keys.privacy_officer),
        )
        .expect(200, "receipt")
        .body;
    receipt["body"]["derived"]
        .as_array()
        .unwrap_or_else(|| panic!("{receipt}"))
        .iter()
        .filter(|d| d["kind"] == "model")
        .cloned()
        .collect()
}

fn step_actions(artifact: &Value) -> Vec<String> {
    artifact["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("steps in {artifact}"))
        .iter()
        .map(|s| {
            assert!(
                s["at"].as_str().is_some_and(|t| t.ends_with('Z')),
                "each step has its time: {artifact}"
            );
            s["action"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn erasure_removes_user_vectors_retrains_on_the_successor_and_leaves_nothing() {
    let started = Instant::now();
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    let people = plays(&api, &keys, 12, 15);
    assert_eq!(
        train(
            &api,
            &keys,
            "recs",
            "als",
            json!({"factors": 8, "iterations": 5})
        ),
        1
    );
    assert_eq!(train(&api, &keys, "sim", "item_knn", json!({})), 1);
    wait_ready(&api, &keys, "recs", 1);
    wait_ready(&api, &keys, "sim", 1);
    api.put(
        &keys.path("/models/recs/aliases/production"),
        Some(&keys.admin),
        &json!({"version": 1}),
    )
    .expect(200, "alias");
    let (x, y) = (
        resolve(&api, &keys.reader, TENANT, &people[3]),
        resolve(&api, &keys.reader, TENANT, &people[5]),
    );
    let lineage = api
        .get(
            &keys.path(&format!("/subjects/{x}/lineage")),
            Some(&keys.privacy_officer),
        )
        .expect(200, "lineage")
        .body;
    let held: Vec<(String, u64)> = lineage["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        held,
        vec![("recs".to_owned(), 1), ("sim".to_owned(), 1)],
        "{lineage}"
    );
    assert!(server.terminate().success());
    let x_vector = model_row(&deployment, "recs", 1, &x)
        .expect("the subject has a user vector before the erasure");
    assert!(model_row(&deployment, "recs", 1, &y).is_some());
    assert!(
        !scan(&deployment, &[], &[&x_vector]).is_empty(),
        "positive control: the scan finds a vector in a model file"
    );

    let server = deployment.start(&[]);
    let api = server.api();
    let id = erase(&api, &keys, &people[3]);
    wait_erasure_done(&api, &keys, &id);
    eprintln!(
        "erasure to done (retrains included): {:?} since the start of the test",
        started.elapsed()
    );

    // --- the receipt lists each model version, with its steps and their times
    let models = receipt_models(&api, &keys, &id);
    let recs = models
        .iter()
        .find(|d| d["name"] == "recs")
        .unwrap_or_else(|| panic!("recs in {models:?}"));
    assert_eq!(
        (
            recs["version"].as_u64(),
            recs["action"].as_str(),
            recs["successor"].as_u64()
        ),
        (Some(1), Some("retrained"), Some(2)),
        "{recs}"
    );
    assert_eq!(
        step_actions(recs),
        ["user_vector_removed", "retrained", "removed"],
        "{recs}"
    );
    let sim = models
        .iter()
        .find(|d| d["name"] == "sim")
        .unwrap_or_else(|| panic!("sim in {models:?}"));
    assert_eq!(
        (sim["action"].as_str(), sim["successor"].as_u64()),
        (Some("retrained"), Some(2)),
        "{sim}"
    );
    assert_eq!(
        step_actions(sim),
        ["retrained", "removed"],
        "item-kNN holds no user rows: {sim}"
    );

    // --- the retrained version's lineage names the data set's successor; the alias moved
    let successor = api
        .get(
            &keys.path("/datasets/plays/versions/1?purpose=model_training"),
            Some(&keys.reader),
        )
        .expect(200, "plays v1")
        .body["successor"]
        .as_u64()
        .expect("the data set was rebuilt");
    let v2 = version(&api, &keys, "recs", 2);
    assert_eq!(
        (
            v2["state"].as_str(),
            v2["lineage"]["dataset"]["name"].as_str(),
            v2["lineage"]["dataset"]["version"].as_u64()
        ),
        (Some("ready"), Some("plays"), Some(successor)),
        "{v2}"
    );
    assert_eq!(
        (
            v2["replaces"].as_u64(),
            v2["reason"].as_str(),
            v2["trained_by"].as_str()
        ),
        (Some(1), Some("erasure"), Some("steward:erasure")),
        "{v2}"
    );
    assert_eq!(v2["users"], 11, "{v2}");
    let v1 = version(&api, &keys, "recs", 1);
    assert_eq!(
        (
            v1["state"].as_str(),
            v1["files_removed"].as_bool(),
            v1["retrained_as"].as_u64()
        ),
        (Some("erased"), Some(true), Some(2)),
        "{v1}"
    );
    let model = api
        .get(&keys.path("/models/recs"), Some(&keys.reader))
        .expect(200, "model")
        .body;
    assert_eq!(
        (
            model["aliases"]["production"]["version"].as_u64(),
            model["aliases"]["production"]["previous"].as_u64()
        ),
        (Some(2), Some(1)),
        "{model}"
    );
    let report = api
        .get(
            &keys.path("/audit/reports/principal?principal=steward:erasure&limit=1000"),
            Some(&keys.admin),
        )
        .expect(200, "audit")
        .body;
    let moved: Vec<&str> = report["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "move_alias")
        .filter_map(|r| r["resource"].as_str())
        .collect();
    assert_eq!(
        moved,
        [format!(
            "/v1/tenants/{TENANT}/models/recs/aliases/production/versions/2"
        )],
        "{report}"
    );
    let gone = api
        .get(
            &keys.path(&format!("/subjects/{x}/lineage")),
            Some(&keys.privacy_officer),
        )
        .expect(200, "lineage")
        .body;
    assert_eq!(
        (
            gone["models"].as_array().unwrap().len(),
            gone["datasets"].as_array().unwrap().len()
        ),
        (0, 0),
        "{gone}"
    );
    let kept = api
        .get(
            &keys.path(&format!("/subjects/{y}/lineage")),
            Some(&keys.privacy_officer),
        )
        .expect(200, "lineage")
        .body;
    let held: Vec<(String, u64)> = kept["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        held,
        vec![("recs".to_owned(), 2), ("sim".to_owned(), 2)],
        "{kept}"
    );
    assert!(server.terminate().success());

    // --- forensics: nothing of the erased subject in any file; the kept subject's new vector is there
    let hits = scan(&deployment, &[&x, &people[3]], &[&x_vector]);
    assert!(
        hits.is_empty(),
        "the erased subject's pseudonym or vector bytes remain: {hits:?}"
    );
    assert!(
        model_row(&deployment, "recs", 2, &x).is_none(),
        "no row for the erased subject"
    );
    let y_vector = model_row(&deployment, "recs", 2, &y).expect("the kept subject's row");
    let hits = scan(&deployment, &[], &[&y_vector]);
    assert!(
        hits.iter().any(|h| h["file"]
            .as_str()
            .is_some_and(|f| f.contains("models/recs/v000002/"))),
        "the kept subject's vector is in the retrained file: {hits:?}"
    );
    eprintln!("model erasure test took {:?}", started.elapsed());
}

#[test]
fn an_erasure_filed_while_a_job_trains_waits_for_it_and_reaches_its_model() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    let people = plays(&api, &keys, 12, 15);
    let x = resolve(&api, &keys.reader, TENANT, &people[2]);
    // A job that trains for a while: its read of the data set comes before the erasure.
    let params = json!({"factors": 256, "iterations": 1500, "compute_loss": false});
    assert_eq!(train(&api, &keys, "race", "als", params), 1);
    wait_training(&api, &keys, "race", 1);
    let id = erase(&api, &keys, &people[2]);
    let during = version(&api, &keys, "race", 1);
    assert_eq!(
        during["state"], "training",
        "the job must still run when the erasure is accepted (raise its iterations): {during}"
    );
    let done = wait_erasure_done(&api, &keys, &id);
    let v1 = version(&api, &keys, "race", 1);
    assert_eq!(
        (v1["state"].as_str(), v1["retrained_as"].as_u64()),
        (Some("erased"), Some(2)),
        "the version the job produced was reached: {v1} {done}"
    );
    let models = receipt_models(&api, &keys, &id);
    assert!(
        models
            .iter()
            .any(|d| d["name"] == "race" && d["version"] == 1 && d["action"] == "retrained"),
        "{models:?}"
    );
    let v2 = version(&api, &keys, "race", 2);
    assert_eq!(
        (v2["state"].as_str(), v2["users"].as_u64()),
        (Some("ready"), Some(11)),
        "{v2}"
    );
    assert!(server.terminate().success());
    assert!(model_row(&deployment, "race", 2, &x).is_none());
    let hits = scan(&deployment, &[&x], &[]);
    assert!(
        hits.is_empty(),
        "nothing of the subject in any file: {hits:?}"
    );
}

#[test]
fn a_job_left_training_by_a_crash_is_failed_at_restart_not_resumed() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    plays(&api, &keys, 8, 10);
    assert_eq!(
        train(
            &api,
            &keys,
            "slow",
            "als",
            json!({"factors": 256, "iterations": 10_000, "compute_loss": false})
        ),
        1
    );
    wait_training(&api, &keys, "slow", 1);
    server.kill();
    for _ in 0..2 {
        let server = deployment.start(&[]);
        let api = server.api();
        let v1 = version(&api, &keys, "slow", 1);
        assert_eq!(
            (
                v1["state"].as_str(),
                v1["error"].as_str(),
                v1["attempts"].as_u64()
            ),
            (Some("failed"), Some("training_interrupted"), Some(1)),
            "{v1}"
        );
        assert!(
            server.stderr().contains("training job was interrupted") || v1["state"] == "failed"
        );
        drop(server);
    }
    let server = deployment.start(&[]);
    let api = server.api();
    assert_eq!(train(&api, &keys, "slow", "popularity", json!({})), 2);
    wait_ready(&api, &keys, "slow", 2);
    let listed = api
        .get(&keys.path("/models/slow"), Some(&keys.reader))
        .expect(200, "model")
        .body;
    assert_eq!(listed["versions"][0]["state"], "failed", "{listed}");
    let partial = files_under(
        &deployment
            .data
            .join("tenants")
            .join(TENANT)
            .join("models")
            .join("slow")
            .join("v000001"),
    );
    assert!(
        partial.iter().all(|f| f.ends_with("manifest.json")),
        "no partial files left: {partial:?}"
    );
}
