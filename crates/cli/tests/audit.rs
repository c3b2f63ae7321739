//! The audit trail end to end: decisions (allowed and denied) land in the tenant's log, the
//! API serves heads and proofs, and `steward audit verify` checks the log offline, names the
//! first bad record (or signed head) after tampering, and, given a head saved from the API
//! (`--since-head`), proves that the log still extends it.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// Runs `steward audit verify`; returns (exit code, the JSON line it printed).
fn verify_with(data: &Path, tenant: &str, extra: &[&std::ffi::OsStr]) -> (i32, serde_json::Value) {
    let out = Command::new(steward_bin())
        .args(["audit", "verify", "--data"])
        .arg(data)
        .args(["--tenant", tenant])
        .args(extra)
        .output()
        .expect("run verify");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let value = serde_json::from_str(text.lines().last().unwrap_or("null"))
        .unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), value)
}

fn verify(data: &Path, tenant: &str) -> (bool, serde_json::Value) {
    let (code, value) = verify_with(data, tenant, &[]);
    (code == 0, value)
}

fn verify_since(data: &Path, tenant: &str, saved: &Path) -> (i32, serde_json::Value) {
    verify_with(data, tenant, &["--since-head".as_ref(), saved.as_os_str()])
}

#[test]
fn decisions_are_audited_and_the_log_verifies_offline() {
    let mut deployment = Deployment::init();
    // Heads signed every 200 ms, so a monitor has one to save below.
    let server = deployment.start(&["--audit-head-interval-ms", "200"]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, "acme");
    // Allowed and denied decisions.
    api.get(&keys.path("/schemas"), Some(&keys.reader))
        .expect(200, "allowed read");
    api.get(&keys.path("/keys"), Some(&keys.reader))
        .expect(403, "denied: role");
    api.get(&keys.path("/schemas"), None)
        .expect(401, "denied: no key");
    // Reads and denials are batched: durable within the log's flush bound (50 ms).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let head = api
        .get(&keys.path("/audit/head"), Some(&keys.privacy_officer))
        .expect(200, "audit head");
    let size = head.body["size"].as_u64().expect("size");
    // A monitor saves the head it was served; wait for one to be signed first.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let saved_head = loop {
        let head = api
            .get(&keys.path("/audit/head"), Some(&keys.privacy_officer))
            .expect(200, "audit head");
        if head.body["signed"].is_object() {
            break head.body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no head signed: {}",
            head.text
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(
        size >= 7,
        "key creations, the read and the denials are recorded: {}",
        head.text
    );
    api.get(&keys.path("/audit/head"), Some(&keys.writer))
        .expect(403, "writers do not read the audit log");
    let proof = api
        .get(
            &keys.path(&format!("/audit/proofs/inclusion?index=0&size={size}")),
            Some(&keys.admin),
        )
        .expect(200, "inclusion");
    assert!(
        proof.text.contains("audit_path") || proof.text.contains("path") || proof.body.is_object(),
        "{}",
        proof.text
    );
    api.get(
        &keys.path(&format!("/audit/proofs/consistency?from=1&to={size}")),
        Some(&keys.admin),
    )
    .expect(200, "consistency");
    api.get(
        &keys.path("/audit/proofs/inclusion?index=999999"),
        Some(&keys.admin),
    )
    .expect(400, "index past the end");
    assert_eq!(
        server.terminate().code(),
        Some(0),
        "graceful stop signs a head"
    );

    let (ok, report) = verify(&deployment.data, "acme");
    assert!(ok, "verify: {report}");
    assert_eq!(
        report["shutdown"], "closed",
        "a graceful stop closes the log: {report}"
    );
    assert!(report["records"].as_u64().unwrap() >= size);
    assert!(report["signed_heads"].as_u64().unwrap() >= 1, "{report}");
    // The log still extends the head the monitor saved: the whole response, or its `signed`.
    let saved = deployment.data.parent().unwrap().join("saved-head.json");
    for form in [saved_head.clone(), saved_head["signed"].clone()] {
        std::fs::write(&saved, form.to_string()).unwrap();
        let (code, report) = verify_since(&deployment.data, "acme", &saved);
        assert_eq!(code, 0, "{report}");
        assert_eq!(
            report["since_head"]["size"], saved_head["signed"]["size"],
            "{report}"
        );
        assert_eq!(report["consistency"]["to"], report["records"], "{report}");
    }
    // The operator's tenant administration is in the deployment's own log, signed too.
    let (ok, system) = verify(&deployment.data, "_system");
    assert!(ok, "verify the system log: {system}");
    assert!(
        system["records"].as_u64().unwrap() >= 1,
        "creating the tenant is recorded: {system}"
    );
    assert!(system["signed_heads"].as_u64().unwrap() >= 1, "{system}");

    // Flip one byte inside the third record's frame: verify fails and names a record.
    let log = deployment.data.join("tenants/acme/audit/records.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&log, &bytes).unwrap();
    let (ok, report) = verify(&deployment.data, "acme");
    assert!(!ok, "a flipped byte must fail verification");
    assert!(
        report["first_bad_index"].is_u64(),
        "names the first bad index: {report}"
    );
}

/// A data directory holding only the deployment key and one tenant's audit log, written and
/// closed cleanly with the audit crate (what `Engine::shutdown` leaves once it closes its logs).
fn closed_log(
    root: &Path,
) -> (
    std::path::PathBuf,
    steward_audit::SigningKey,
    serde_json::Value,
) {
    let data = root.join("data");
    let dir = data.join("tenants/acme/audit");
    std::fs::create_dir_all(&dir).unwrap();
    let seed = [9u8; 32];
    std::fs::write(
        data.join("audit-signing.key"),
        data_encoding::HEXLOWER.encode(&seed) + "\n",
    )
    .unwrap();
    let key = steward_audit::SigningKey::from_bytes(&seed);
    let log = steward_audit::AuditLog::open(&dir, steward_audit::AuditConfig::new("acme")).unwrap();
    log.append_durable(&(0..12).map(record).collect::<Vec<_>>())
        .unwrap();
    let saved = steward_audit::head_json(&log.sign_head(&key).unwrap());
    log.append_durable(&(12..20).map(record).collect::<Vec<_>>())
        .unwrap();
    log.close(&key).unwrap();
    (data, key, saved)
}

fn record(i: u64) -> steward_audit::AuditRecord {
    steward_audit::AuditRecord {
        time_us: 1_760_000_000_000_000 + i as i64,
        principal: "operator".into(),
        action: "events.read".into(),
        purpose: None,
        resource: "tenant/acme/events".into(),
        subject_refs: Vec::new(),
        subject_count: 0,
        decision: steward_audit::Decision::Allow,
        policy_ids: Vec::new(),
        request_id: format!("req-{i}"),
        result_rows: i,
        statement: i
            .is_multiple_of(2)
            .then(|| "SELECT count(*) FROM events WHERE kind = ?".to_string()),
    }
}

#[test]
fn a_damaged_last_head_of_a_cleanly_closed_log_fails_verification() {
    let root = tempfile::tempdir().unwrap();
    let (data, _, _) = closed_log(root.path());
    let (ok, report) = verify(&data, "acme");
    assert!(ok, "{report}");
    assert_eq!(
        (report["shutdown"].as_str(), report["signed_size"].as_u64()),
        (Some("closed"), Some(20)),
        "{report}"
    );
    assert_eq!(report["warnings"], serde_json::json!([]));
    let heads = data.join("tenants/acme/audit/heads.log");
    let good = std::fs::read(&heads).unwrap();
    let mut bytes = good.clone();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x01;
    std::fs::write(&heads, &bytes).unwrap();
    let (code, report) = verify_with(&data, "acme", &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        report["bad_head"], 1,
        "the damaged final head is named: {report}"
    );
    assert!(
        report["error"].as_str().unwrap().contains("signed head #1"),
        "{report}"
    );
}

#[test]
fn since_head_catches_a_rewrite_the_directory_no_longer_shows() {
    let root = tempfile::tempdir().unwrap();
    let (data, _, saved) = closed_log(root.path());
    let saved_path = root.path().join("saved.json");
    std::fs::write(&saved_path, saved.to_string()).unwrap();
    let (code, report) = verify_since(&data, "acme", &saved_path);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        (
            report["consistency"]["from"].as_u64(),
            report["consistency"]["to"].as_u64()
        ),
        (Some(12), Some(20))
    );

    // A forger rewrites record 4 (CRCs, indexes and links recomputed), removes every signed
    // head and the clean-close marker: the directory alone verifies (with warnings).
    let dir = data.join("tenants/acme/audit");
    let mut file = b"STWAUDR\x01".to_vec();
    let mut previous = [0u8; 32];
    for i in 0..20u64 {
        let mut r = record(i);
        if i == 4 {
            r.result_rows = 4_000;
        }
        let leaf = r.encode().unwrap();
        let mut body = i.to_be_bytes().to_vec();
        body.extend_from_slice(if i == 0 { &[0u8; 8] } else { &previous[..8] });
        body.extend_from_slice(&leaf);
        file.extend_from_slice(&(body.len() as u32).to_be_bytes());
        file.extend_from_slice(&crc32c(&body).to_be_bytes());
        file.extend_from_slice(&body);
        previous = steward_audit::leaf_hash(&leaf);
    }
    std::fs::write(dir.join("records.log"), &file).unwrap();
    std::fs::write(dir.join("heads.log"), b"STWAUDH\x01").unwrap();
    std::fs::remove_file(dir.join("closed.marker")).unwrap();
    let (ok, report) = verify(&data, "acme");
    assert!(ok, "{report}");
    let (code, report) = verify_since(&data, "acme", &saved_path);
    assert_eq!(code, 1, "{report}");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("not a consistent extension"),
        "{report}"
    );

    // A saved head that is not JSON is a usage error.
    std::fs::write(&saved_path, "not json").unwrap();
    assert_eq!(verify_since(&data, "acme", &saved_path).0, 2);
}

/// CRC-32C (Castagnoli), bitwise: the frame checksum of FORMAT.md §4.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn every_flipped_byte_of_a_cleanly_stopped_servers_log_is_caught() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&["--audit-head-interval-ms", "300"]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, "acme");
    for _ in 0..3 {
        api.get(&keys.path("/schemas"), Some(&keys.reader))
            .expect(200, "a read");
        std::thread::sleep(std::time::Duration::from_millis(400));
    }
    // A monitor's view: every signed head, a page at a time, and the key that verifies them.
    let heads = api
        .get(
            &keys.path("/audit/heads?limit=2"),
            Some(&keys.privacy_officer),
        )
        .expect(200, "heads")
        .body;
    assert!(heads["total"].as_u64().unwrap() >= 2, "{heads}");
    assert_eq!(heads["heads"].as_array().unwrap().len(), 2, "{heads}");
    assert!(
        heads["next_start"].is_u64() || heads["total"] == 2,
        "{heads}"
    );
    assert_eq!(heads["public_key"].as_str().unwrap().len(), 64);
    api.get(
        &keys.path("/audit/heads?limit=0"),
        Some(&keys.privacy_officer),
    )
    .expect_problem(400, "invalid_limit", "limit");
    assert_eq!(server.terminate().code(), Some(0));
    let (ok, report) = verify(&deployment.data, "acme");
    assert!(ok && report["shutdown"] == "closed", "{report}");
    let dir = deployment.data.join("tenants/acme/audit");
    // Every byte of heads.log; every fifth byte of records.log (the audit crate's own test
    // flips every byte of both, in process).
    for (file, step) in [("heads.log", 1), ("records.log", 5)] {
        let path = dir.join(file);
        let good = std::fs::read(&path).unwrap();
        for at in (0..good.len()).step_by(step) {
            let mut bytes = good.clone();
            bytes[at] ^= 0x10;
            std::fs::write(&path, &bytes).unwrap();
            let (code, report) = verify_with(&deployment.data, "acme", &[]);
            assert_eq!(
                code,
                1,
                "{file} byte {at} of {} flipped after a clean stop: {report}",
                good.len()
            );
        }
        std::fs::write(&path, &good).unwrap();
    }
    let (ok, report) = verify(&deployment.data, "acme");
    assert!(ok, "restored: {report}");
}
