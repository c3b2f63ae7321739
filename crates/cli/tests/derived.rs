//! Derived artifacts under the read guard and the ledger, against the real binary: each hole
//! the wave-2 review found has a test here.
//!
//! - Exports obey the guard at the moment of the read: a purpose that may not see a class the
//!   version holds is refused; from the moment an opt-out or an erasure call returns, exports
//!   of versions holding that subject refuse and point to the successor.
//! - Shredding reaches data set files: once the erasure call returns, the files of versions that
//!   held the subject are unreadable even with the master key (their keys are destroyed), long
//!   before the purge; after a restart while the purge is due, the erasure completes, every
//!   version that held the subject is rebuilt, and nothing of the subject is left in any file.
//! - Lineage cannot be hidden by the query: aliases, joins, subqueries, aggregates, UNION and
//!   the consents table all record the subjects they read.
//! - An import of 10,000 opt-outs redoes each affected version once.
//! - The SQL consents view does not name subjects being erased.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const TENANT: &str = "acme";

struct Person {
    external_id: String,
    email: String,
}

fn people(n: usize, tag: &str) -> Vec<Person> {
    (0..n)
        .map(|i| Person {
            external_id: format!("p{i}-{tag}@example.org"),
            email: format!("canary-{i}-{tag}@example.org"),
        })
        .collect()
}

fn ingest_all(api: &Api, keys: &TenantKeys, people: &[Person], per: usize) {
    for (n, p) in people.iter().enumerate() {
        let events: Vec<Value> = (0..per)
            .map(|i| {
                play_event(
                    &format!("e-{n}-{i}-{}", &p.email[7..15]),
                    &p.external_id,
                    &time_at((n * 100 + i) as i64 * 1_000_000),
                    &p.email,
                    &format!("trk_{}", i % 5),
                    10,
                )
            })
            .collect();
        assert_eq!(
            ingest(api, &keys.writer, TENANT, &events)["accepted"],
            per as u64
        );
    }
}

fn forensics(deployment: &Deployment, needles: &[&str]) -> Vec<Value> {
    forensics_scan(deployment, needles, false)
}

fn cut(api: &Api, key: &str, name: &str, sql: &str, purpose: &str) -> Value {
    api.post(
        &format!("/v1/tenants/{TENANT}/datasets?purpose={purpose}"),
        Some(key),
        &json!({"name": name, "sql": sql}),
    )
    .expect(201, name)
    .body
}

fn arrow(api: &Api, key: &str, name: &str, version: u64, purpose: &str) -> Resp {
    api.get(
        &format!("/v1/tenants/{TENANT}/datasets/{name}/versions/{version}/arrow?purpose={purpose}"),
        Some(key),
    )
}

/// Waits until version `version` of `name` is ready, and returns its manifest.
fn wait_ready(api: &Api, key: &str, name: &str, version: u64, purpose: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = api.get(
            &format!("/v1/tenants/{TENANT}/datasets/{name}/versions/{version}?purpose={purpose}"),
            Some(key),
        );
        if r.status == 200 && r.body["state"] == "ready" {
            return r.body;
        }
        assert!(
            Instant::now() < deadline,
            "version {version} of {name} not ready: {} {}",
            r.status,
            r.text
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn exports_and_files_follow_consent_and_erasure_at_once_and_restart_finishes_the_work() {
    let mut deployment = Deployment::init();
    let args = ["--erasure-purge-after-s", "5", "--opt-out-grace-s", "3600"];
    let server = deployment.start(&args);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    let tag = random_hex(5);
    let people = people(3, &tag);
    ingest_all(&api, &keys, &people, 20);

    // --- a legal cut holds e-mails in the clear; no purpose that may not see them downloads it
    let legal = cut(
        &api,
        &keys.admin,
        "legal_cut",
        "SELECT subject, email, track_id FROM play",
        "legal",
    );
    assert_eq!(
        legal["classes"],
        json!(["personal"]),
        "the classes the cut read in the clear: {legal}"
    );
    for (key, purpose) in [
        (&keys.reader, "analytics"),
        (&keys.reader, "model_training"),
        (&keys.admin, "analytics"),
    ] {
        arrow(&api, key, "legal_cut", 1, purpose).expect_problem(
            403,
            "dataset_purpose_forbidden",
            purpose,
        );
        api.get(
            &keys.path(&format!(
                "/datasets/legal_cut/versions/1/files/part-00000.parquet?purpose={purpose}"
            )),
            Some(key),
        )
        .expect_problem(403, "dataset_purpose_forbidden", purpose);
        api.post(
            &keys.path(&format!(
                "/datasets/legal_cut/versions/1/links?purpose={purpose}"
            )),
            Some(key),
            &json!({"ttl_s": 60}),
        )
        .expect_problem(403, "dataset_purpose_forbidden", purpose);
    }
    assert_eq!(
        arrow(&api, &keys.admin, "legal_cut", 1, "legal").status,
        200,
        "legal may read what it cut"
    );

    // --- an opt-out refuses the training set's export from the moment the call returns
    let train = cut(
        &api,
        &keys.reader,
        "train",
        "SELECT subject, track_id FROM play",
        "model_training",
    );
    assert_eq!(
        (train["rows"].as_u64(), train["subjects"].as_u64()),
        (Some(60), Some(3))
    );
    let links = api
        .post(
            &keys.path("/datasets/train/versions/1/links?purpose=model_training"),
            Some(&keys.reader),
            &json!({"ttl_s": 600}),
        )
        .expect(200, "links")
        .body;
    let p2 = resolve(&api, &keys.reader, TENANT, &people[2].external_id);
    api.put(
        &keys.path(&format!("/subjects/{p2}/consents/model_training")),
        Some(&keys.privacy_officer),
        &json!({"granted": false}),
    )
    .expect(200, "opt out");
    arrow(&api, &keys.reader, "train", 1, "model_training").expect_problem(
        409,
        "dataset_version_stale",
        "opted out",
    );
    // A link made before the opt-out is refused the same way: every use asks the guard.
    let url = links["arrow_url"].as_str().unwrap();
    assert_eq!(
        api.get(url, None).status,
        409,
        "a signed link made before the opt-out"
    );
    let v2 = wait_ready(&api, &keys.reader, "train", 2, "model_training");
    assert_eq!(
        (
            v2["rows"].as_u64(),
            v2["subjects"].as_u64(),
            v2["reason"].as_str()
        ),
        (Some(40), Some(2), Some("opt_out")),
        "{v2}"
    );
    let stale = arrow(&api, &keys.reader, "train", 1, "model_training").expect_problem(
        409,
        "dataset_version_stale",
        "still stale",
    );
    assert_eq!(
        stale.body["errors"][0]["successor"], 2,
        "points to its successor: {}",
        stale.text
    );
    assert_eq!(
        arrow(&api, &keys.reader, "train", 2, "model_training").status,
        200
    );

    // --- the consents view (legal sees personal data) names the subject until it is erased
    let p1 = resolve(&api, &keys.reader, TENANT, &people[1].external_id);
    api.put(
        &keys.path(&format!("/subjects/{p1}/consents/analytics")),
        Some(&keys.privacy_officer),
        &json!({"granted": true}),
    )
    .expect(200, "consent");
    let named = |api: &Api| -> Vec<String> {
        let r = api
            .post(
                &keys.path("/sql"),
                Some(&keys.admin),
                &json!({"sql": "SELECT subject FROM consents", "purpose": "legal"}),
            )
            .expect(200, "consents view")
            .body;
        r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["subject"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(named(&api).contains(&p1));

    // --- an erasure (purge in 5 s) refuses exports and shreds data set files at once
    let request = api
        .post(
            &keys.path("/erasures"),
            Some(&keys.privacy_officer),
            &json!({"external_id": people[1].external_id}),
        )
        .expect(202, "erase")
        .body;
    let id = request["id"].as_str().unwrap().to_owned();
    assert_eq!(request["state"], "hidden");
    arrow(&api, &keys.reader, "train", 2, "model_training").expect_problem(
        409,
        "dataset_version_stale",
        "erased subject",
    );
    assert_eq!(
        arrow(&api, &keys.admin, "legal_cut", 1, "legal").status,
        409,
        "erased subject in the legal cut"
    );
    assert!(
        !named(&api).contains(&p1),
        "the consents view names no subject being erased"
    );
    // The server is killed before the purge is due: nothing was purged or rebuilt yet, but the
    // files of every version that held the subject are unreadable now, even with the master key.
    server.kill();
    let hits = forensics(&deployment, &[&people[1].email]);
    // Its e-mail is a sealed field: its key went with the shred, and the data set files that
    // held it in the clear went with theirs.
    assert!(
        hits.is_empty(),
        "the erased subject's e-mail is unreadable everywhere before the purge: {hits:?}"
    );
    let kept = forensics(&deployment, &[&people[0].email]);
    assert!(
        !kept.is_empty(),
        "another subject's e-mail is still readable: {kept:?}"
    );

    // --- restarted while the purge is due: the erasure resumes and completes
    std::thread::sleep(Duration::from_secs(5));
    let server = deployment.start(&args);
    let api = server.api();
    let done = wait_erasure_done(&api, &keys, &id);
    let receipt = api
        .get(
            &keys.path(&format!("/erasures/{id}/receipt")),
            Some(&keys.privacy_officer),
        )
        .expect(200, "receipt")
        .body;
    let derived: Vec<(String, u64)> = receipt["body"]["derived"]
        .as_array()
        .unwrap_or_else(|| panic!("{receipt}"))
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_owned(),
                d["version"].as_u64().unwrap(),
            )
        })
        .collect();
    for held in [
        ("legal_cut".to_owned(), 1),
        ("train".to_owned(), 1),
        ("train".to_owned(), 2),
    ] {
        assert!(
            derived.contains(&held),
            "the receipt lists {held:?}: {derived:?} {done}"
        );
    }
    let successor = api
        .get(
            &keys.path("/datasets/legal_cut/versions/latest?purpose=legal"),
            Some(&keys.admin),
        )
        .expect(200, "successor")
        .body;
    assert_eq!(
        (successor["rows"].as_u64(), successor["subjects"].as_u64()),
        (Some(40), Some(2)),
        "{successor}"
    );
    assert_eq!(
        arrow(
            &api,
            &keys.admin,
            "legal_cut",
            successor["version"].as_u64().unwrap(),
            "legal"
        )
        .status,
        200
    );
    drop(server);
    let hits = forensics(&deployment, &[&people[1].email, &p1]);
    assert!(
        hits.is_empty(),
        "nothing of the erased subject in any file: {hits:?}"
    );
    let kept = forensics(&deployment, &[&people[0].email]);
    assert!(
        kept.iter()
            .any(|h| h["file"].as_str().is_some_and(|f| f.contains("datasets"))),
        "the others' rows are in the successor: {kept:?}"
    );
}

#[test]
fn lineage_follows_the_scan_whatever_the_query_calls_its_columns() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    let tag = random_hex(5);
    let people = people(3, &tag);
    ingest_all(&api, &keys, &people, 6);
    let p1 = resolve(&api, &keys.reader, TENANT, &people[1].external_id);
    api.put(
        &keys.path(&format!("/subjects/{p1}/consents/support")),
        Some(&keys.privacy_officer),
        &json!({"granted": true}),
    )
    .expect(200, "consent");
    let cuts = [
        ("aliased", "SELECT email, 'x' AS subject FROM play"),
        (
            "joined",
            "SELECT a.email AS who FROM play a JOIN play b ON a.event_id = b.event_id",
        ),
        (
            "subquery",
            "SELECT e FROM (SELECT email AS e, subject AS s FROM play WHERE ms_played >= 0) t",
        ),
        (
            "aggregated",
            "SELECT count(*) AS n, max(email) AS m FROM play",
        ),
        (
            "unioned",
            "SELECT email AS v FROM play UNION ALL SELECT track_id AS v FROM play",
        ),
        ("consented", "SELECT subject AS s, purpose FROM consents"),
    ];
    for (name, sql) in cuts {
        let manifest = cut(&api, &keys.admin, name, sql, "legal");
        let want = if name == "consented" { 1 } else { 3 };
        assert!(
            manifest["subjects"].as_u64().unwrap() >= want,
            "{name}: lineage holds every subject read: {manifest}"
        );
    }
    let lineage = api
        .get(
            &keys.path(&format!("/subjects/{p1}/lineage")),
            Some(&keys.privacy_officer),
        )
        .expect(200, "lineage")
        .body;
    assert_eq!(
        lineage["datasets"].as_array().unwrap().len(),
        cuts.len(),
        "{lineage}"
    );
    let request = api
        .post(
            &keys.path("/erasures"),
            Some(&keys.privacy_officer),
            &json!({"external_id": people[1].external_id, "now": true}),
        )
        .expect(202, "erase")
        .body;
    let id = request["id"].as_str().unwrap();
    wait_erasure_done(&api, &keys, id);
    let receipt = api
        .get(
            &keys.path(&format!("/erasures/{id}/receipt")),
            Some(&keys.privacy_officer),
        )
        .expect(200, "receipt")
        .body;
    let names: Vec<&str> = receipt["body"]["derived"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    for (name, _) in cuts {
        assert!(names.contains(&name), "{name} is in the receipt: {names:?}");
    }
    drop(server);
    let hits = forensics(&deployment, &[&people[1].email, &p1]);
    assert!(
        hits.is_empty(),
        "nothing of the erased subject left: {hits:?}"
    );
    let kept = forensics(&deployment, &[&people[0].email]);
    assert!(
        kept.iter().any(|h| h["file"]
            .as_str()
            .is_some_and(|f| f.contains("datasets/aliased"))),
        "the others are intact in the successors: {kept:?}"
    );
}

#[test]
fn an_import_of_ten_thousand_opt_outs_redoes_each_version_once() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&["--opt-out-grace-s", "0"]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    let tag = random_hex(5);
    let people = people(30, &tag);
    ingest_all(&api, &keys, &people, 2);
    cut(
        &api,
        &keys.reader,
        "train",
        "SELECT subject, track_id FROM play",
        "model_training",
    );
    cut(
        &api,
        &keys.reader,
        "other",
        "SELECT track_id, count(*) AS n FROM play GROUP BY track_id",
        "model_training",
    );
    // 10,000 lines: the first 10 people opt out, and 9,990 people the tenant never saw.
    let mut lines = String::new();
    for i in 0..10_000 {
        let who = match people.get(i).filter(|_| i < 10) {
            Some(p) => p.external_id.clone(),
            None => format!("stranger-{i}-{tag}@example.org"),
        };
        lines.push_str(
            &json!({"external_id": who, "purpose": "model_training", "granted": false}).to_string(),
        );
        lines.push('\n');
    }
    let started = Instant::now();
    let answer = api
        .request(
            "POST",
            &keys.path("/consents"),
            Some(&keys.privacy_officer),
            Some(("application/x-ndjson", lines.into_bytes())),
        )
        .expect(200, "import")
        .body;
    assert_eq!(answer["accepted"], 10_000, "{answer}");
    eprintln!("import of 10,000 opt-outs: {:?}", started.elapsed());
    arrow(&api, &keys.reader, "train", 1, "model_training").expect_problem(
        409,
        "dataset_version_stale",
        "opted out",
    );
    for name in ["train", "other"] {
        let v2 = wait_ready(&api, &keys.reader, name, 2, "model_training");
        assert_eq!(
            v2["subjects"], 20,
            "{name}: only the people who did not opt out: {v2}"
        );
    }
    // One successor per version, however many lines named its subjects.
    std::thread::sleep(Duration::from_secs(2));
    for name in ["train", "other"] {
        let versions = api
            .get(
                &keys.path(&format!("/datasets/{name}/versions?purpose=model_training")),
                Some(&keys.reader),
            )
            .expect(200, "versions")
            .body;
        assert_eq!(
            versions["versions"].as_array().unwrap().len(),
            2,
            "{name}: {versions}"
        );
    }
}
