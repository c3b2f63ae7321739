//! The third-party Python verifier (`python/audit_verify/verify.py`) agrees with the Rust one on
//! a generated log: same size and root, every head and a pair of proofs accepted, with both the
//! `cryptography` and the pure-Python Ed25519 backends; and it rejects a tampered export naming
//! the bad index, including the removal of the final head of a log closed cleanly. Every third
//! record carries a statement, so both record versions are checked.
//! Skips (with a message) when `python3` is not installed.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use steward_audit::{AuditConfig, AuditLog, AuditRecord, export, to_hex, verify_dir};
use support::{TENANT, key, record};

fn script_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../python/audit_verify")
}

/// `support::record(i)`, with a normalized statement (a version 2 leaf) for every third index.
fn varied(i: u64) -> AuditRecord {
    let statement = i.is_multiple_of(3).then(|| {
        format!(
            "SELECT \"subject\", count(*) FROM events_{} WHERE kind = ? AND at > ? LIMIT ?",
            i % 5
        )
    });
    AuditRecord {
        statement,
        ..record(i)
    }
}

fn python() -> Option<Command> {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipping: python3 is not installed");
        return None;
    }
    let mut command = Command::new("python3");
    command.env("PYTHONDONTWRITEBYTECODE", "1");
    Some(command)
}

/// Runs verify.py; returns (exit code, parsed stdout).
fn run_verify(export_dir: &Path, extra: &[&str], pure: bool) -> Option<(i32, Value)> {
    let mut command = python()?;
    command
        .arg(script_dir().join("verify.py"))
        .arg(export_dir)
        .args(extra);
    if pure {
        command.env("AUDIT_VERIFY_PURE_PYTHON", "1");
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: stdout {stdout:?} stderr {stderr}"));
    Some((output.status.code().unwrap_or(-1), value))
}

#[test]
fn python_agrees_with_rust_on_a_generated_log() {
    let dir = tempfile::tempdir().unwrap();
    let key = key();
    let log = AuditLog::open(dir.path(), AuditConfig::new(TENANT)).unwrap();
    for batch in 0..30u64 {
        let records: Vec<_> = (0..batch % 7 + 1).map(|i| varied(batch * 10 + i)).collect();
        log.append_durable(&records).unwrap();
        if batch % 6 == 5 {
            log.sign_head(&key).unwrap();
        }
    }
    log.append_batched(&varied(999)).unwrap();
    log.close(&key).unwrap();
    let size = log.size();
    let inclusion = log.prove_inclusion(17, size - 3).unwrap();
    let heads = log.signed_heads().unwrap();
    let consistency = log.prove_consistency(heads[1].size, size).unwrap();
    drop(log);
    let report = verify_dir(dir.path(), TENANT, &key.verifying_key()).unwrap();

    let out = tempfile::tempdir().unwrap();
    let exported = export(dir.path(), out.path(), TENANT, &key.verifying_key()).unwrap();
    assert_eq!((exported.records, exported.heads), (size, heads.len()));
    let inclusion_file = out.path().join("inclusion.json");
    std::fs::write(&inclusion_file, inclusion.to_json().to_string()).unwrap();
    let consistency_file = out.path().join("consistency.json");
    std::fs::write(&consistency_file, consistency.to_json().to_string()).unwrap();
    let proofs = [
        "--inclusion",
        inclusion_file.to_str().unwrap(),
        "--consistency",
        consistency_file.to_str().unwrap(),
    ];

    // Python's own unit tests (RFC 8032 vectors, RFC 6962 example) first.
    let Some(mut unit) = python() else { return };
    let unit = unit
        .args(["-m", "unittest", "discover", "-s"])
        .arg(script_dir())
        .output()
        .unwrap();
    assert!(
        unit.status.success(),
        "{}",
        String::from_utf8_lossy(&unit.stderr)
    );

    for pure in [false, true] {
        let Some((code, result)) = run_verify(out.path(), &proofs, pure) else {
            return;
        };
        assert_eq!(code, 0, "{result}");
        assert_eq!(result["ok"], true);
        assert_eq!(result["size"], report.records);
        assert_eq!(result["root"], to_hex(&report.root));
        assert_eq!(result["heads"], report.heads);
        assert_eq!(result["signed_size"], report.signed_size);
        assert_eq!(result["shutdown"], "closed");
        assert_eq!(result["warnings"], serde_json::json!([]));
        assert_eq!(result["inclusion"]["index"], 17);
        assert_eq!(result["consistency"]["to"], size);
        if pure {
            assert_eq!(result["signature_backend"], "pure-python");
        } else {
            eprintln!("python signature backend: {}", result["signature_backend"]);
        }
    }

    // Tampering with the export: a changed field, a dropped record, a forged head signature.
    let records_path = out.path().join("records.ndjson");
    let lines: Vec<String> = std::fs::read_to_string(&records_path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let exported: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let with_statement = exported
        .iter()
        .filter(|v| v["statement"].is_string())
        .count();
    assert!(
        with_statement > 0 && exported.iter().any(|v| v["statement"].is_null()),
        "both record versions exported"
    );
    assert!(
        exported
            .iter()
            .all(|v| v["statement"].is_null() == v["leaf"].as_str().unwrap().starts_with("01"))
    );
    type Change = Box<dyn Fn(&mut Vec<String>)>;
    let cases: [(usize, Change); 3] = [
        (
            12,
            Box::new(|l: &mut Vec<String>| {
                let mut v: Value = serde_json::from_str(&l[12]).unwrap();
                v["result_rows"] = Value::from(v["result_rows"].as_u64().unwrap() + 1);
                l[12] = v.to_string();
            }),
        ),
        (20, Box::new(|l: &mut Vec<String>| drop(l.remove(20)))),
        (
            5,
            Box::new(|l: &mut Vec<String>| {
                // Alter the leaf itself and recompute its hash: only the signed head can catch it.
                let mut v: Value = serde_json::from_str(&l[5]).unwrap();
                let leaf = v["leaf"].as_str().unwrap().replace("7265712d", "7265712e");
                let bytes = data_encoding::HEXLOWER.decode(leaf.as_bytes()).unwrap();
                v["leaf"] = Value::from(leaf);
                v["leaf_hash"] = Value::from(to_hex(&steward_audit::leaf_hash(&bytes)));
                v["request_id"] =
                    Value::from(v["request_id"].as_str().unwrap().replace("req-", "req."));
                l[5] = v.to_string();
            }),
        ),
    ];
    for (expected, change) in cases {
        let mut tampered = lines.clone();
        change(&mut tampered);
        std::fs::write(&records_path, tampered.join("\n") + "\n").unwrap();
        let (code, result) = run_verify(out.path(), &[], false).unwrap();
        assert_eq!(code, 1, "{result}");
        assert_eq!(result["ok"], false);
        // A consistent change inside a signed range is only known to lie after the last head
        // that still matches.
        let first_bad = result["first_bad_index"].as_u64().unwrap();
        if expected == 5 {
            assert!(first_bad <= 5, "{result}");
        } else {
            assert_eq!(first_bad, expected as u64, "{result}");
        }
    }
    std::fs::write(&records_path, lines.join("\n") + "\n").unwrap();
    let heads_path = out.path().join("heads.json");
    let heads_text = std::fs::read_to_string(&heads_path).unwrap();
    // The final head of a log closed cleanly removed: the records after the one before are
    // unsigned, which a clean close never leaves.
    let mut doc: Value = serde_json::from_str(&heads_text).unwrap();
    let removed = doc["heads"].as_array_mut().unwrap().pop().unwrap();
    assert_eq!(removed["size"], size);
    let previous = doc["heads"].as_array().unwrap().last().unwrap()["size"]
        .as_u64()
        .unwrap();
    std::fs::write(&heads_path, doc.to_string()).unwrap();
    let (code, result) = run_verify(out.path(), &[], false).unwrap();
    assert_eq!(
        (code, result["first_bad_index"].as_u64()),
        (1, Some(previous)),
        "{result}"
    );
    let mut doc: Value = serde_json::from_str(&heads_text).unwrap();
    doc["heads"][0]["time_us"] = Value::from(doc["heads"][0]["time_us"].as_i64().unwrap() + 1);
    std::fs::write(&heads_path, doc.to_string()).unwrap();
    for pure in [false, true] {
        let (code, result) = run_verify(out.path(), &[], pure).unwrap();
        assert_eq!(code, 1, "{result}");
        assert!(
            result["error"].as_str().unwrap().contains("signature"),
            "{result}"
        );
    }
}
