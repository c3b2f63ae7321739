//! The right to be forgotten, end to end against the real binary: erase some subjects (one
//! with the server killed before its purge), then prove that nothing of them remains: zero
//! hits from `steward forensics scan` (every file, decoded and decrypted with the master key)
//! and from a plain byte scan of every file and log with encryption at rest off, while every
//! other subject's canaries are still found by both scans and its data is intact. Audit
//! records still verify, and the erased subjects' compliance reports find nothing.

mod common;

use common::*;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

const TENANT: &str = "acme";
const SUBJECTS: usize = 6;

struct Person {
    external_id: String,
    email: String,
    tracks: Vec<String>,
    pseudonym: String,
}

fn person(n: usize, tag: &str) -> Person {
    Person {
        external_id: format!("person-{n}-{tag}@example.org"),
        email: format!("canary-mail-{n}-{tag}@example.org"),
        tracks: (0..4)
            .map(|i| format!("canary-track-{n}-{i}-{tag}"))
            .collect(),
        pseudonym: String::new(),
    }
}

fn events(p: &Person, round: usize) -> Vec<Value> {
    p.tracks
        .iter()
        .enumerate()
        .map(|(i, track)| {
            play_event(
                &format!("{}-r{round}-e{i}", &p.pseudonym[..12]),
                &p.external_id,
                &time_at((round * 10 + i) as i64 * 1_000_000),
                &p.email,
                track,
                1000,
            )
        })
        .collect()
}

fn forensics(deployment: &Deployment, needles: &[&str]) -> Vec<Value> {
    forensics_scan(deployment, needles, true)
}

#[test]
fn erased_subjects_leave_nothing_behind_and_others_are_intact() {
    let mut deployment = Deployment::init();
    let tag = random_hex(4);
    let args = ["--no-encrypt-at-rest", "--flush-interval-ms", "300"];
    let server = deployment.start(&args);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    let mut people: Vec<Person> = (0..SUBJECTS).map(|n| person(n, &tag)).collect();
    for p in &mut people {
        p.pseudonym = resolve(&api, &keys.reader, TENANT, &p.external_id);
    }
    // Round 0 reaches a segment; round 1 stays in the WAL and memtable.
    for p in &people {
        assert_eq!(
            ingest(&api, &keys.writer, TENANT, &events(p, 0))["accepted"],
            4
        );
    }
    std::thread::sleep(Duration::from_millis(1200));
    for p in &people {
        assert_eq!(
            ingest(&api, &keys.writer, TENANT, &events(p, 1))["accepted"],
            4
        );
    }
    // Reads and a report link subject 0 in the audit log before its erasure.
    timeline_all(
        &api,
        &keys.privacy_officer,
        TENANT,
        &people[0].pseudonym,
        100,
    );
    let before = api
        .post(
            &keys.path("/audit/reports/subject"),
            Some(&keys.privacy_officer),
            &json!({"external_id": people[0].external_id}),
        )
        .expect(200, "report")
        .body;
    assert!(
        !before["records"].as_array().unwrap().is_empty(),
        "{before}"
    );

    // --- erase 0 and 1 now; the answer comes once the key is gone and the rows hidden
    let erased = [0usize, 1, 2];
    let mut ids = Vec::new();
    let mut salts = Vec::new();
    for &n in &erased[..2] {
        // Subject 1 also asks that nothing new about them be accepted.
        let body =
            json!({"external_id": people[n].external_id, "now": true, "block_future": n == 1});
        let r = api
            .post(&keys.path("/erasures"), Some(&keys.privacy_officer), &body)
            .expect(202, "erase")
            .body;
        let states: Vec<&str> = r["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["state"].as_str().unwrap())
            .collect();
        assert!(
            states.starts_with(&["received", "shredded", "hidden"]),
            "{r}"
        );
        let (events, _) = timeline_all(
            &api,
            &keys.privacy_officer,
            TENANT,
            &people[n].pseudonym,
            100,
        );
        assert!(events.is_empty(), "hidden at once");
        ids.push(r["id"].as_str().unwrap().to_owned());
        salts.push(
            r["subject_salt"]
                .as_str()
                .expect("the filing answer carries the salt")
                .to_owned(),
        );
    }
    let again = api
        .post(
            &keys.path("/erasures"),
            Some(&keys.admin),
            &json!({"external_id": people[0].external_id}),
        )
        .expect(202, "again")
        .body;
    assert_eq!(
        again["id"],
        ids[0].as_str(),
        "the same subject twice is the same request"
    );
    assert!(
        again.get("subject_salt").is_none(),
        "the salt is given once, to the filer"
    );

    // --- subject 2: erased with a purge deadline far away, the server killed, then purged on demand
    let r = api
        .post(
            &keys.path("/erasures"),
            Some(&keys.privacy_officer),
            &json!({"external_id": people[2].external_id}),
        )
        .expect(202, "erase later")
        .body;
    assert_eq!(r["state"], "hidden", "{r}");
    let id2 = r["id"].as_str().unwrap().to_owned();
    server.kill();
    let server = deployment.start(&args);
    let api = server.api();
    assert_eq!(
        api.get(
            &keys.path(&format!("/erasures/{id2}")),
            Some(&keys.privacy_officer)
        )
        .expect(200, "after crash")
        .body["state"],
        "hidden"
    );
    let (events, _) = timeline_all(
        &api,
        &keys.privacy_officer,
        TENANT,
        &people[2].pseudonym,
        100,
    );
    assert!(events.is_empty(), "still hidden after the crash");
    api.post(
        &keys.path("/erasures"),
        Some(&keys.privacy_officer),
        &json!({"external_id": people[2].external_id, "now": true}),
    )
    .expect(202, "now");
    ids.push(id2);
    for id in &ids {
        let done = wait_erasure_done(&api, &keys, id);
        let states: Vec<&str> = done["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["state"].as_str().unwrap())
            .collect();
        assert_eq!(
            states,
            [
                "received", "shredded", "hidden", "purged", "derived", "done"
            ],
            "{done}"
        );
        assert!(done["rows_removed"].as_u64().unwrap() >= 4, "{done}");
    }
    // --- receipts: signed, with the audit proof of completion; any change breaks them
    let head = api
        .get(&keys.path("/audit/head"), Some(&keys.privacy_officer))
        .expect(200, "head")
        .body;
    let public_key = head["public_key"].as_str().unwrap().to_owned();
    let receipt = api
        .get(
            &keys.path(&format!("/erasures/{}/receipt", ids[0])),
            Some(&keys.privacy_officer),
        )
        .expect(200, "receipt")
        .body;
    let file = deployment.root().join("receipt.json");
    let verify = |extra: &[&str]| {
        let out = Command::new(steward_bin())
            .args(["receipt", "verify"])
            .arg(&file)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    std::fs::write(&file, receipt.to_string()).unwrap();
    let (code, out) = verify(&[
        "--public-key",
        &public_key,
        "--salt",
        &salts[0],
        "--subject",
        &people[0].pseudonym,
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        !receipt.to_string().contains(&people[0].pseudonym),
        "the receipt names no one: {receipt}"
    );
    let (code, out) = verify(&["--salt", &salts[0], "--subject", &people[1].pseudonym]);
    assert_eq!(
        code,
        Some(1),
        "another subject's pseudonym does not match: {out}"
    );
    let mut forged = receipt.clone();
    forged["body"]["rows_removed"] = json!(forged["body"]["rows_removed"].as_u64().unwrap() + 1);
    std::fs::write(&file, forged.to_string()).unwrap();
    assert_eq!(verify(&[]).0, Some(1), "a modified receipt fails");
    let mut forged = receipt.clone();
    forged["body"]["audit"]["index"] = json!(0);
    std::fs::write(&file, forged.to_string()).unwrap();
    assert_eq!(verify(&[]).0, Some(1), "a moved proof fails");
    std::fs::write(&file, receipt.to_string()).unwrap();
    let other = data_encoding::HEXLOWER.encode(
        ed25519_dalek::SigningKey::from_bytes(&[9; 32])
            .verifying_key()
            .as_bytes(),
    );
    assert_eq!(
        verify(&["--public-key", &other]).0,
        Some(1),
        "a receipt signed by another key fails"
    );

    let unknown = api
        .post(
            &keys.path("/erasures"),
            Some(&keys.privacy_officer),
            &json!({"external_id": "nobody@example.org", "now": true}),
        )
        .expect(202, "unknown")
        .body;
    let unknown = wait_erasure_done(&api, &keys, unknown["id"].as_str().unwrap());
    assert_eq!(unknown["no_data"], true, "{unknown}");
    // A batch: one request per subject, each to done with its own receipt.
    let batch = api
        .post(
            &keys.path("/erasures/batch"),
            Some(&keys.privacy_officer),
            &json!({"external_ids": ["nobody-1@example.org", "nobody-2@example.org"], "now": true}),
        )
        .expect(202, "batch")
        .body;
    for r in batch["requests"].as_array().unwrap() {
        wait_erasure_done(&api, &keys, r["id"].as_str().unwrap());
        api.get(
            &keys.path(&format!("/erasures/{}/receipt", r["id"].as_str().unwrap())),
            Some(&keys.admin),
        )
        .expect(200, "batch receipt");
    }
    api.post(
        &keys.path("/erasures/batch"),
        Some(&keys.privacy_officer),
        &json!({"external_ids": []}),
    )
    .expect_problem(400, "invalid_batch", "empty batch");

    // --- the others are intact through the API; the erased read as empty
    for (n, p) in people.iter().enumerate() {
        let (events, _) = timeline_all(&api, &keys.privacy_officer, TENANT, &p.pseudonym, 100);
        if erased.contains(&n) {
            assert!(events.is_empty(), "subject {n}: {events:?}");
        } else {
            assert_eq!(events.len(), 8, "subject {n}");
            assert!(
                events
                    .iter()
                    .all(|e| e["properties"]["email"] == p.email.as_str()),
                "subject {n}'s personal fields open"
            );
        }
    }
    // The erased subject's reports find nothing now; its old records still verify (below).
    let after = api
        .post(
            &keys.path("/audit/reports/subject"),
            Some(&keys.privacy_officer),
            &json!({"external_id": people[0].external_id}),
        )
        .expect(200, "report")
        .body;
    assert_eq!(after["records"].as_array().unwrap().len(), 0, "{after}");
    assert!(server.terminate().success());

    // --- forensic proof: nothing of an erased subject anywhere, everything of the others
    let needles = |p: &Person| -> Vec<String> {
        let mut v = vec![p.email.clone(), p.external_id.clone(), p.pseudonym.clone()];
        v.extend(p.tracks.iter().cloned());
        v
    };
    for (n, p) in people.iter().enumerate() {
        let mine = needles(p);
        let refs: Vec<&str> = mine.iter().map(String::as_str).collect();
        let hits = forensics(&deployment, &refs);
        if erased.contains(&n) {
            assert!(hits.is_empty(), "erased subject {n} still found: {hits:?}");
        } else {
            for needle in &mine {
                if needle == &p.external_id {
                    continue; // never stored by design, erased or not
                }
                assert!(
                    hits.iter().any(|h| h["needle"] == needle.as_str()),
                    "subject {n}: forensics must see {needle}: {hits:?}"
                );
            }
        }
        // A plain byte scan of every file and log (encryption at rest is off).
        let mut files = files_under(&deployment.data);
        files.extend(deployment.log_files());
        let raw_hits: Vec<(String, String)> = files
            .iter()
            .flat_map(|f| {
                let bytes = std::fs::read(f).unwrap_or_default();
                mine.iter()
                    .filter(|needle| !find_all(&bytes, needle.as_bytes()).is_empty())
                    .map(|needle| (f.display().to_string(), needle.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        // The pseudonym as the store keeps it: 32 raw bytes.
        let raw = data_encoding::HEXLOWER
            .decode(p.pseudonym.as_bytes())
            .unwrap();
        let raw_found = files
            .iter()
            .any(|f| !find_all(&std::fs::read(f).unwrap_or_default(), &raw).is_empty());
        if erased.contains(&n) {
            assert!(
                raw_hits.is_empty(),
                "erased subject {n} in plain bytes: {raw_hits:?}"
            );
            assert!(!raw_found, "erased subject {n}'s pseudonym bytes remain");
        } else {
            assert!(
                raw_found,
                "the byte scan sees subject {n}'s pseudonym bytes (positive control)"
            );
            assert!(
                raw_hits.iter().any(|(_, needle)| p.tracks.contains(needle)),
                "the byte scan sees subject {n}'s public values: {raw_hits:?}"
            );
        }
    }
    // Positive control for the byte scan: the kept subjects' public values are readable in the clear somewhere.
    let mut files = files_under(&deployment.data);
    files.extend(deployment.log_files());
    let visible = people
        .iter()
        .enumerate()
        .filter(|(n, _)| !erased.contains(n))
        .flat_map(|(_, p)| p.tracks.clone())
        .filter(|t| {
            files
                .iter()
                .any(|f| !find_all(&std::fs::read(f).unwrap_or_default(), t.as_bytes()).is_empty())
        })
        .count();
    assert!(
        visible > 0,
        "the byte scan must be able to see public values at all"
    );

    let out = Command::new(steward_bin())
        .args(["audit", "verify", "--data"])
        .arg(&deployment.data)
        .args(["--tenant", TENANT])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the audit log still verifies: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // --- after the erasure: a suppressed subject's events are refused, another's start afresh
    let server = deployment.start(&args);
    let api = server.api();
    let late = |n: usize| {
        play_event(
            &format!("late-{n}"),
            &people[n].external_id,
            &time_at(99_000_000),
            "late@example.org",
            "late-track",
            1,
        )
    };
    let refused = ingest(&api, &keys.writer, TENANT, &[late(1)]);
    assert_eq!(
        (
            refused["accepted"].as_u64(),
            refused["rejected"][0]["code"].as_str()
        ),
        (Some(0), Some("subject_suppressed")),
        "{refused}"
    );
    let fresh = ingest(&api, &keys.writer, TENANT, &[late(0)]);
    assert_eq!(fresh["accepted"], 1, "{fresh}");
    let (events, _) = timeline_all(
        &api,
        &keys.privacy_officer,
        TENANT,
        &people[0].pseudonym,
        100,
    );
    assert_eq!(
        events.len(),
        1,
        "only the event sent after the erasure, under a new key"
    );
    assert_eq!(events[0]["properties"]["email"], "late@example.org");
    // The suppression holds across a restart.
    assert!(server.terminate().success());
    let server = deployment.start(&args);
    let refused = ingest(&server.api(), &keys.writer, TENANT, &[late(1)]);
    assert_eq!(
        refused["rejected"][0]["code"], "subject_suppressed",
        "{refused}"
    );
}
