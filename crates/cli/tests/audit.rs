//! The audit trail end to end: decisions (allowed and denied) land in the tenant's log, the
//! API serves heads and proofs, and `steward audit verify` checks the log offline and names
//! the first bad record after tampering.

mod common;

use common::*;
use std::process::Command;

fn verify(data: &std::path::Path, tenant: &str) -> (bool, serde_json::Value) {
    let out = Command::new(steward_bin()).args(["audit", "verify", "--data"]).arg(data).args(["--tenant", tenant]).output().expect("run verify");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let value = serde_json::from_str(text.lines().last().unwrap_or("null")).unwrap_or(serde_json::Value::Null);
    (out.status.success(), value)
}

#[test]
fn decisions_are_audited_and_the_log_verifies_offline() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, "acme");
    // Allowed and denied decisions.
    api.get(&keys.path("/schemas"), Some(&keys.reader)).expect(200, "allowed read");
    api.get(&keys.path("/keys"), Some(&keys.reader)).expect(403, "denied: role");
    api.get(&keys.path("/schemas"), None).expect(401, "denied: no key");
    // Reads and denials are batched: durable within the log's flush bound (50 ms).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let head = api.get(&keys.path("/audit/head"), Some(&keys.privacy_officer)).expect(200, "audit head");
    let size = head.body["size"].as_u64().expect("size");
    assert!(size >= 7, "key creations, the read and the denials are recorded: {}", head.text);
    api.get(&keys.path("/audit/head"), Some(&keys.writer)).expect(403, "writers do not read the audit log");
    let proof = api.get(&keys.path(&format!("/audit/proofs/inclusion?index=0&size={size}")), Some(&keys.admin)).expect(200, "inclusion");
    assert!(proof.text.contains("audit_path") || proof.text.contains("path") || proof.body.is_object(), "{}", proof.text);
    api.get(&keys.path(&format!("/audit/proofs/consistency?from=1&to={size}")), Some(&keys.admin)).expect(200, "consistency");
    api.get(&keys.path("/audit/proofs/inclusion?index=999999"), Some(&keys.admin)).expect(400, "index past the end");
    assert_eq!(server.terminate().code(), Some(0), "graceful stop signs a head");

    let (ok, report) = verify(&deployment.data, "acme");
    assert!(ok, "verify: {report}");
    assert!(report["records"].as_u64().unwrap() >= size);
    assert!(report["signed_heads"].as_u64().unwrap() >= 1, "{report}");
    // The operator's tenant administration is in the deployment's own log, signed too.
    let (ok, system) = verify(&deployment.data, "_system");
    assert!(ok, "verify the system log: {system}");
    assert!(system["records"].as_u64().unwrap() >= 1, "creating the tenant is recorded: {system}");
    assert!(system["signed_heads"].as_u64().unwrap() >= 1, "{system}");

    // Flip one byte inside the third record's frame: verify fails and names a record.
    let log = deployment.data.join("tenants/acme/audit/records.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&log, &bytes).unwrap();
    let (ok, report) = verify(&deployment.data, "acme");
    assert!(!ok, "a flipped byte must fail verification");
    assert!(report["first_bad_index"].is_u64(), "names the first bad index: {report}");
}
