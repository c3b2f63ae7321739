//! Consent and opt-out against the real binary: a subject who opts out of a purpose is in
//! zero rows of every read for that purpose from the moment the call returns, and still in
//! the rows of other purposes; opt-in regimes; the history; bulk import with per-line errors;
//! and an erasure forgets the subject's consents.

mod common;

use common::*;
use serde_json::json;

const TENANT: &str = "acme";

#[test]
fn an_opted_out_subject_is_in_no_row_of_that_purpose() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    let people = ["ann@example.org", "bob@example.org"];
    for (n, who) in people.iter().enumerate() {
        let events: Vec<_> = (0..3)
            .map(|i| {
                play_event(
                    &format!("e-{n}-{i}"),
                    who,
                    &time_at(i * 1000),
                    "x@example.org",
                    "trk",
                    1,
                )
            })
            .collect();
        assert_eq!(ingest(&api, &keys.writer, TENANT, &events)["accepted"], 3);
    }
    let ann = resolve(&api, &keys.reader, TENANT, people[0]);
    let bob = resolve(&api, &keys.reader, TENANT, people[1]);
    let rows = |subject: &str, purpose: &str| {
        timeline_for(&api, &keys.reader, TENANT, subject, 100, purpose)
            .0
            .len()
    };
    // Every read path that exists today reads through the same engine call; today that is the timeline.
    assert_eq!((rows(&ann, "analytics"), rows(&ann, "support")), (3, 3));

    // --- opt-out: in force when the call returns, for that purpose only
    let consent = |subject: &str, purpose: &str, granted: bool, source: &str| {
        api.put(
            &keys.path(&format!("/subjects/{subject}/consents/{purpose}")),
            Some(&keys.privacy_officer),
            &json!({"granted": granted, "source": source}),
        )
    };
    let answer = consent(&ann, "analytics", false, "gpc")
        .expect(200, "opt out")
        .body;
    assert_eq!(
        (&answer["granted"], &answer["source"]),
        (&json!(false), &json!("gpc"))
    );
    assert_eq!(
        rows(&ann, "analytics"),
        0,
        "opted out: no rows for analytics"
    );
    assert_eq!(rows(&ann, "support"), 3, "other purposes unchanged");
    assert_eq!(rows(&bob, "analytics"), 3, "other subjects unchanged");
    // Readers may not record consent; bad input is refused precisely.
    api.put(
        &keys.path(&format!("/subjects/{ann}/consents/analytics")),
        Some(&keys.reader),
        &json!({"granted": true}),
    )
    .expect_problem(403, "forbidden", "reader");
    consent(&ann, "analytics", true, "telepathy").expect_problem(
        400,
        "invalid_source",
        "bad source",
    );
    consent("not-hex", "analytics", true, "api").expect_problem(
        400,
        "invalid_subject",
        "bad subject",
    );
    consent(&ann, "Not-A-Purpose", true, "api").expect_problem(
        400,
        "invalid_purpose",
        "bad purpose",
    );

    // --- opting back in; the history keeps both
    consent(&ann, "analytics", true, "api").expect(200, "opt in");
    assert_eq!(rows(&ann, "analytics"), 3);
    let state = api
        .get(
            &keys.path(&format!("/subjects/{ann}/consents")),
            Some(&keys.privacy_officer),
        )
        .expect(200, "consents")
        .body;
    assert_eq!(state["consents"].as_array().unwrap().len(), 1, "{state}");
    let history: Vec<(bool, &str)> = state["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["granted"].as_bool().unwrap(),
                c["source"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(history, [(false, "gpc"), (true, "api")], "{state}");

    // --- an opt-in regime: nobody until they grant it
    api.put(
        &keys.path("/consent-regimes/personalization"),
        Some(&keys.admin),
        &json!({"regime": "opt_in"}),
    )
    .expect(200, "regime");
    api.put(
        &keys.path("/consent-regimes/personalization"),
        Some(&keys.admin),
        &json!({"regime": "maybe"}),
    )
    .expect_problem(400, "invalid_regime", "bad regime");
    assert_eq!(
        (rows(&ann, "personalization"), rows(&bob, "personalization")),
        (0, 0)
    );
    // Bulk import: one good line, one bad line, reported by line number.
    let ndjson = format!(
        "{}\n{}\n",
        json!({"external_id": people[1], "purpose": "personalization", "granted": true, "at": "2026-11-20T10:00:00Z"}),
        json!({"external_id": people[0], "purpose": "personalization", "granted": "yes"})
    );
    let report = api
        .request(
            "POST",
            &keys.path("/consents"),
            Some(&keys.privacy_officer),
            Some(("application/x-ndjson", ndjson.into_bytes())),
        )
        .expect(200, "import")
        .body;
    assert_eq!(
        (
            report["accepted"].as_u64(),
            report["rejected"][0]["index"].as_u64()
        ),
        (Some(1), Some(1)),
        "{report}"
    );
    assert_eq!(
        (rows(&ann, "personalization"), rows(&bob, "personalization")),
        (0, 3)
    );
    let regimes = api
        .get(&keys.path("/consent-regimes"), Some(&keys.admin))
        .expect(200, "regimes")
        .body;
    assert_eq!(regimes["regimes"]["personalization"], "opt_in", "{regimes}");

    // The same through the CLI: a file, chunked, with a progress bar; line numbers from 1.
    let file = deployment.root().join("consents.ndjson");
    std::fs::write(
        &file,
        format!(
            "{}\nnot json\n",
            json!({"external_id": people[0], "purpose": "personalization", "granted": true})
        ),
    )
    .unwrap();
    let out = std::process::Command::new(steward_bin())
        .args([
            "consent",
            "import",
            "--tenant",
            TENANT,
            "--url",
            &server.base(),
            "--key",
            &keys.privacy_officer,
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            summary["accepted"].as_u64(),
            summary["rejected"][0]["line"].as_u64()
        ),
        (Some(1), Some(2)),
        "{summary}"
    );
    assert_eq!(
        rows(&ann, "personalization"),
        3,
        "granted through the CLI import"
    );

    // --- the subject's access request: everything held about them, in one archive
    let archive = api.request(
        "POST",
        &keys.path("/access-requests"),
        Some(&keys.privacy_officer),
        Some((
            "application/json",
            json!({"external_id": people[0]}).to_string().into_bytes(),
        )),
    );
    assert_eq!(archive.status, 200, "{}", archive.text);
    assert_eq!(archive.content_type, "application/x-tar");
    let dir = deployment.root().join("archive");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.tar"), archive.text.as_bytes()).unwrap();
    let untar = std::process::Command::new("tar")
        .arg("-xf")
        .arg(dir.join("a.tar"))
        .arg("-C")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        untar.status.success(),
        "{}",
        String::from_utf8_lossy(&untar.stderr)
    );
    let events = std::fs::read_to_string(dir.join("events.ndjson")).unwrap();
    assert_eq!(events.lines().count(), 3);
    assert!(
        events.contains("x@example.org"),
        "personal fields opened for the subject's own request"
    );
    let consents: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("consents.json")).unwrap()).unwrap();
    assert!(
        consents["history"].as_array().unwrap().len() >= 3,
        "{consents}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("access_report.json")).unwrap())
            .unwrap();
    assert!(
        report
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "read_timeline"),
        "the access report lists reads: {report}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("subject.json")).unwrap()).unwrap();
    assert_eq!(
        (summary["subject"].as_str(), summary["events"].as_u64()),
        (Some(ann.as_str()), Some(3)),
        "{summary}"
    );
    api.request(
        "POST",
        &keys.path("/access-requests"),
        Some(&keys.reader),
        Some((
            "application/json",
            json!({"external_id": people[0]}).to_string().into_bytes(),
        )),
    )
    .expect_problem(403, "forbidden", "readers do not file access requests");

    // --- an erasure forgets the subject's consents with everything else
    let erasure = api
        .post(
            &keys.path("/erasures"),
            Some(&keys.privacy_officer),
            &json!({"external_id": people[0], "now": true}),
        )
        .expect(202, "erase")
        .body;
    let id = erasure["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while api
        .get(
            &keys.path(&format!("/erasures/{id}")),
            Some(&keys.privacy_officer),
        )
        .expect(200, "state")
        .body["state"]
        != "done"
    {
        assert!(std::time::Instant::now() < deadline, "erasure not done");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let state = api
        .get(
            &keys.path(&format!("/subjects/{ann}/consents")),
            Some(&keys.privacy_officer),
        )
        .expect(200, "consents")
        .body;
    assert_eq!(
        (
            state["consents"].as_array().unwrap().len(),
            state["history"].as_array().unwrap().len()
        ),
        (0, 0),
        "{state}"
    );
}
