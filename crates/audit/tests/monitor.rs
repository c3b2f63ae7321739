//! Monitoring against a head saved earlier (`verify_consistent_with`): the untouched log, grown
//! since, is a consistent extension of it; a consistent rewrite of an early record is caught,
//! even after the forger removed every signed head and marker in the directory that would have
//! betrayed it; so is a rollback. Saved heads are read back from the API's JSON.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use steward_audit::{
    AuditConfig, AuditLog, CLOSED_MARKER_FILE, HEADS_FILE, RECORDS_FILE, SignedHead, VerifyError,
    head_json, to_hex, verify_consistent_with, verify_dir,
};
use support::{TENANT, key, records_file, varied};

/// The `GET /v1/tenants/{t}/audit/head` response body for `log`.
fn head_response(log: &AuditLog) -> Value {
    let current = log.head();
    json!({
        "size": current.size,
        "root": to_hex(&current.root),
        "signed": log.latest_signed_head().map(|h| head_json(&h)),
        "public_key": to_hex(key().verifying_key().as_bytes()),
    })
}

fn check(dir: &Path, saved: &SignedHead) -> Result<steward_audit::ConsistencyReport, VerifyError> {
    verify_consistent_with(dir, TENANT, &key().verifying_key(), saved)
}

/// A log of 30 records with heads at 10 and 20; returns the head response saved at 20.
fn build(dir: &Path) -> Value {
    let log = AuditLog::open(dir, AuditConfig::new(TENANT)).unwrap();
    log.append_durable(&(0..10).map(varied).collect::<Vec<_>>())
        .unwrap();
    log.sign_head(&key()).unwrap();
    log.append_durable(&(10..20).map(varied).collect::<Vec<_>>())
        .unwrap();
    log.sign_head(&key()).unwrap();
    let saved = head_response(&log);
    // More records and a new head after the monitor saved its head.
    log.append_durable(&(20..30).map(varied).collect::<Vec<_>>())
        .unwrap();
    log.close(&key()).unwrap();
    saved
}

#[test]
fn the_grown_log_is_a_consistent_extension_of_a_saved_head() {
    let dir = tempfile::tempdir().unwrap();
    let response = build(dir.path());
    // Either the whole response or its `signed` object.
    let from_response = SignedHead::from_json(&response, TENANT).unwrap();
    let from_signed = SignedHead::from_json(&response["signed"], TENANT).unwrap();
    assert_eq!(from_response, from_signed);
    assert_eq!(from_signed.size, 20);
    let report = check(dir.path(), &from_signed).unwrap();
    assert_eq!(
        (report.proof.from, report.proof.to, report.current.records),
        (20, 30, 30)
    );
    assert_eq!(report.proof.root_from, from_signed.root);
    assert_eq!(report.proof.root_to, report.current.root);
    assert!(report.proof.verify() && !report.proof.path.is_empty());
    // The latest head itself (same size: empty proof, equal roots).
    let log = AuditLog::open(dir.path(), AuditConfig::new(TENANT)).unwrap();
    let latest = SignedHead::from_json(&head_response(&log), TENANT).unwrap();
    log.close(&key()).unwrap();
    drop(log);
    let report = check(dir.path(), &latest).unwrap();
    assert_eq!((report.proof.from, report.proof.to), (30, 30));
    assert!(report.proof.path.is_empty());
}

#[test]
fn a_saved_head_must_be_genuine_and_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    let response = build(dir.path());
    let saved = SignedHead::from_json(&response, TENANT).unwrap();
    let other = steward_audit::SigningKey::from_bytes(&[7; 32]);
    assert!(matches!(
        verify_consistent_with(dir.path(), TENANT, &other.verifying_key(), &saved),
        Err(VerifyError::SavedHead { .. })
    ));
    let mut forged = saved.clone();
    forged.root[0] ^= 1;
    assert!(matches!(
        check(dir.path(), &forged),
        Err(VerifyError::SavedHead { .. })
    ));
    // The message binds the tenant; without a message, the signature does.
    assert_eq!(
        SignedHead::from_json(&response, "globex")
            .unwrap_err()
            .field,
        "message"
    );
    let mut bare = response["signed"].clone();
    bare.as_object_mut().unwrap().remove("message");
    let foreign = SignedHead::from_json(&bare, "globex").unwrap();
    assert!(matches!(
        check(dir.path(), &foreign),
        Err(VerifyError::SavedHead { .. })
    ));

    let mut edited = response["signed"].clone();
    edited["size"] = json!(21);
    let error = SignedHead::from_json(&edited, TENANT).unwrap_err();
    assert_eq!(error.field, "message");
    assert!(
        !error.to_string().contains("21"),
        "no value echoed: {error}"
    );
    edited.as_object_mut().unwrap().remove("message");
    let parsed = SignedHead::from_json(&edited, TENANT).unwrap();
    assert!(matches!(
        check(dir.path(), &parsed),
        Err(VerifyError::SavedHead { .. })
    ));
    for (field, value) in [
        ("root", json!("abcd")),
        ("signature", json!("zz")),
        ("size", json!(-1)),
        ("time_us", json!("x")),
    ] {
        let mut bad = response["signed"].clone();
        bad[field] = value;
        assert_eq!(
            SignedHead::from_json(&bad, TENANT).unwrap_err().field,
            field
        );
    }
    let none = json!({"size": 0, "root": to_hex(&steward_audit::empty_root()), "signed": null});
    assert_eq!(
        SignedHead::from_json(&none, TENANT).unwrap_err().field,
        "signed"
    );
}

/// Rewrites record 3 consistently (CRCs, indexes and links recomputed): a forger with the
/// format but without the deployment key.
fn rewrite_record_3(dir: &Path) {
    let mut leaves: Vec<Vec<u8>> = (0..30).map(|i| varied(i).encode().unwrap()).collect();
    let mut changed = varied(3);
    changed.result_rows += 1;
    leaves[3] = changed.encode().unwrap();
    std::fs::write(dir.join(RECORDS_FILE), records_file(&leaves)).unwrap();
}

#[test]
fn a_consistent_rewrite_of_an_early_record_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let saved = SignedHead::from_json(&build(dir.path()), TENANT).unwrap();
    rewrite_record_3(dir.path());
    // The heads still in the directory catch it already.
    let error = check(dir.path(), &saved).unwrap_err();
    assert!(
        matches!(
            error,
            VerifyError::RootMismatch {
                head: 0,
                first_unproven: 0,
                ..
            }
        ),
        "{error}"
    );

    // The forger also removes every signed head, and the closed marker that would demand them:
    // the directory alone now verifies, but not against the saved head.
    let heads = dir.path().join(HEADS_FILE);
    let magic = std::fs::read(&heads).unwrap()[..8].to_vec();
    std::fs::write(&heads, &magic).unwrap();
    std::fs::remove_file(dir.path().join(CLOSED_MARKER_FILE)).unwrap();
    let report = verify_dir(dir.path(), TENANT, &key().verifying_key()).unwrap();
    assert_eq!((report.records, report.heads), (30, 0));
    let error = check(dir.path(), &saved).unwrap_err();
    assert!(
        matches!(
            error,
            VerifyError::Inconsistent {
                saved_size: 20,
                size: 30,
                first_unproven: 0
            }
        ),
        "{error}"
    );
    assert_eq!(error.first_bad_index(), Some(0));
}

#[test]
fn a_rewrite_keeping_the_first_head_names_what_it_still_proves() {
    let dir = tempfile::tempdir().unwrap();
    let saved = SignedHead::from_json(&build(dir.path()), TENANT).unwrap();
    // Rewrite record 13 (after the head at 10) and keep only that first head.
    let mut leaves: Vec<Vec<u8>> = (0..30).map(|i| varied(i).encode().unwrap()).collect();
    let mut changed = varied(13);
    changed.decision = steward_audit::Decision::Deny;
    leaves[13] = changed.encode().unwrap();
    std::fs::write(dir.path().join(RECORDS_FILE), records_file(&leaves)).unwrap();
    let heads = dir.path().join(HEADS_FILE);
    let bytes = std::fs::read(&heads).unwrap();
    let first = support::head_frames(&bytes)[0].end;
    std::fs::write(&heads, &bytes[..first]).unwrap();
    std::fs::remove_file(dir.path().join(CLOSED_MARKER_FILE)).unwrap();
    verify_dir(dir.path(), TENANT, &key().verifying_key()).unwrap();
    let error = check(dir.path(), &saved).unwrap_err();
    assert!(
        matches!(
            error,
            VerifyError::Inconsistent {
                first_unproven: 10,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn a_rollback_below_the_saved_head_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let saved = SignedHead::from_json(&build(dir.path()), TENANT).unwrap();
    let leaves: Vec<Vec<u8>> = (0..15).map(|i| varied(i).encode().unwrap()).collect();
    std::fs::write(dir.path().join(RECORDS_FILE), records_file(&leaves)).unwrap();
    let heads = dir.path().join(HEADS_FILE);
    let bytes = std::fs::read(&heads).unwrap();
    std::fs::write(&heads, &bytes[..support::head_frames(&bytes)[0].end]).unwrap();
    std::fs::remove_file(dir.path().join(CLOSED_MARKER_FILE)).unwrap();
    verify_dir(dir.path(), TENANT, &key().verifying_key()).unwrap();
    let error = check(dir.path(), &saved).unwrap_err();
    assert!(
        matches!(
            error,
            VerifyError::RolledBack {
                saved_size: 20,
                records: 15
            }
        ),
        "{error}"
    );
    assert_eq!(error.first_bad_index(), Some(15));
}
