//! Tamper tests: flipped bytes, dropped, reordered, inserted and truncated records are all
//! detected by `verify_dir`, which names the right first bad index; `AuditLog::open` refuses
//! them too (except a torn tail, which it cuts).

mod support;

use std::path::Path;

use steward_audit::{
    AuditConfig, AuditError, AuditLog, RECORDS_FILE, Tamper, VerifyError, leaf_hash, verify_dir,
};
use support::{TENANT, assemble, build_log, frames, key, link, push_record_frame, record};

const N: u64 = 40;
const HEADS: &[u64] = &[0, 10, 25, N];

fn setup() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    build_log(dir.path(), N, HEADS);
    let bytes = std::fs::read(dir.path().join(RECORDS_FILE)).unwrap();
    (dir, bytes)
}

fn verify(dir: &Path) -> Result<steward_audit::VerifyReport, VerifyError> {
    verify_dir(dir, TENANT, &key().verifying_key())
}

fn write(dir: &Path, bytes: &[u8]) {
    std::fs::write(dir.join(RECORDS_FILE), bytes).unwrap();
}

fn parts(bytes: &[u8]) -> Vec<Vec<u8>> {
    frames(bytes)
        .into_iter()
        .map(|r| bytes[r].to_vec())
        .collect()
}

/// Verifies, expects failure at `index`, and checks that reopening refuses the log as well.
fn expect_bad(dir: &Path, index: u64) -> VerifyError {
    let error = verify(dir).unwrap_err();
    assert_eq!(error.first_bad_index(), Some(index), "{error}");
    let opened = AuditLog::open(dir, AuditConfig::new(TENANT));
    assert!(
        matches!(opened, Err(AuditError::Corrupted { .. })),
        "open accepted a tampered log: {opened:?}"
    );
    error
}

#[test]
fn an_untouched_log_verifies() {
    let (dir, _) = setup();
    let report = verify(dir.path()).unwrap();
    assert_eq!(
        (
            report.records,
            report.heads,
            report.signed_size,
            report.torn_tail_at
        ),
        (N, 4, N, None)
    );
    let log = AuditLog::open(dir.path(), AuditConfig::new(TENANT)).unwrap();
    assert_eq!(log.head().root, report.root);
}

#[test]
fn every_flipped_byte_names_its_record() {
    let (dir, bytes) = setup();
    let ranges = frames(&bytes);
    // Every byte of the first and last frames and of the frames around each signed head.
    for k in [0, 1, 9, 10, 24, 25, 38, 39] {
        let range = &ranges[k];
        for position in range.clone() {
            let mut tampered = bytes.clone();
            tampered[position] ^= 0x10;
            write(dir.path(), &tampered);
            let error = verify(dir.path()).unwrap_err();
            assert_eq!(
                error.first_bad_index(),
                Some(k as u64),
                "byte {position} of frame {k}: {error}"
            );
        }
    }
    for position in 0..8 {
        let mut tampered = bytes.clone();
        tampered[position] ^= 1;
        write(dir.path(), &tampered);
        assert!(matches!(
            verify(dir.path()),
            Err(VerifyError::NotAuditFile { .. })
        ));
    }
}

#[test]
fn a_flipped_byte_is_refused_by_open() {
    let (dir, bytes) = setup();
    let ranges = frames(&bytes);
    let mut tampered = bytes.clone();
    tampered[ranges[7].end - 3] ^= 1;
    write(dir.path(), &tampered);
    let error = expect_bad(dir.path(), 7);
    assert!(matches!(
        error,
        VerifyError::BadRecord {
            tamper: Tamper::Checksum,
            ..
        }
    ));
}

#[test]
fn a_dropped_record_is_named() {
    for k in [0, 1, 17, N as usize - 2] {
        let (dir, bytes) = setup();
        let mut p = parts(&bytes);
        p.remove(k);
        write(dir.path(), &assemble(&bytes, &p));
        let error = expect_bad(dir.path(), k as u64);
        assert!(
            matches!(
                error,
                VerifyError::BadRecord {
                    tamper: Tamper::Missing { .. },
                    ..
                }
            ),
            "{error}"
        );
    }
    // Dropping the last record is a truncation under the last head.
    let (dir, bytes) = setup();
    let mut p = parts(&bytes);
    p.pop();
    write(dir.path(), &assemble(&bytes, &p));
    let error = expect_bad(dir.path(), N - 1);
    assert!(matches!(error, VerifyError::Truncated { .. }), "{error}");
}

#[test]
fn reordered_records_are_named() {
    for (from, to) in [
        (0, 1),
        (5, 6),
        (12, 30),
        (30, 12),
        (N as usize - 2, N as usize - 1),
    ] {
        let (dir, bytes) = setup();
        let mut p = parts(&bytes);
        let moved = p.remove(from);
        p.insert(to, moved);
        write(dir.path(), &assemble(&bytes, &p));
        expect_bad(dir.path(), from.min(to) as u64);
    }
}

#[test]
fn inserted_records_are_named() {
    // A copy of another record, a copy of the record just before, and a forged frame with the
    // right index and link for its position.
    let (dir, bytes) = setup();
    let original = parts(&bytes);
    let mut p = original.clone();
    p.insert(9, original[3].clone());
    write(dir.path(), &assemble(&bytes, &p));
    expect_bad(dir.path(), 9);

    let mut p = original.clone();
    p.insert(9, original[8].clone());
    write(dir.path(), &assemble(&bytes, &p));
    expect_bad(dir.path(), 9);

    for k in [0usize, 9, 26] {
        let leaf = record(1000).encode().unwrap();
        let previous = if k == 0 {
            [0; 32]
        } else {
            leaf_hash(&record(k as u64 - 1).encode().unwrap())
        };
        let mut forged = Vec::new();
        push_record_frame(&mut forged, k as u64, &link(k as u64, &previous), &leaf);
        let mut p = original.clone();
        p.insert(k, forged);
        write(dir.path(), &assemble(&bytes, &p));
        let error = expect_bad(dir.path(), k as u64);
        assert!(
            matches!(
                error,
                VerifyError::BadRecord {
                    tamper: Tamper::Inserted,
                    ..
                }
            ),
            "{error}"
        );
    }
}

#[test]
fn truncation_names_the_first_missing_record() {
    let (dir, bytes) = setup();
    let ranges = frames(&bytes);
    // At a frame boundary, inside a frame, and inside a frame prefix.
    for (cut, first_missing) in [
        (ranges[30].start, 30),
        (ranges[30].start + 11, 30),
        (ranges[12].start + 3, 12),
    ] {
        write(dir.path(), &bytes[..cut]);
        let error = verify(dir.path()).unwrap_err();
        assert!(matches!(error, VerifyError::Truncated { .. }), "{error}");
        assert_eq!(error.first_bad_index(), Some(first_missing));
        assert!(matches!(
            AuditLog::open(dir.path(), AuditConfig::new(TENANT)),
            Err(AuditError::Corrupted { .. })
        ));
    }
}

#[test]
fn a_consistent_rewrite_is_caught_by_the_next_signed_head() {
    // Remove record 17 and renumber, re-link and re-checksum everything after it, as a forger
    // with the format but without the deployment key would.
    let (dir, bytes) = setup();
    let mut rewritten = Vec::new();
    let mut previous = [0u8; 32];
    for (index, i) in (0..N).filter(|i| *i != 17).enumerate() {
        let leaf = record(i).encode().unwrap();
        push_record_frame(
            &mut rewritten,
            index as u64,
            &link(index as u64, &previous),
            &leaf,
        );
        previous = leaf_hash(&leaf);
    }
    let mut file = bytes[..8].to_vec();
    file.extend_from_slice(&rewritten);
    write(dir.path(), &file);
    let error = verify(dir.path()).unwrap_err();
    // Head at 10 still matches; the head at 25 does not; records from 10 on are unproven.
    assert!(
        matches!(
            error,
            VerifyError::RootMismatch {
                head: 2,
                size: 25,
                first_unproven: 10
            }
        ),
        "{error}"
    );
    assert_eq!(error.first_bad_index(), Some(10));
    assert!(matches!(
        AuditLog::open(dir.path(), AuditConfig::new(TENANT)),
        Err(AuditError::Corrupted { .. })
    ));
}

#[test]
fn a_tampered_or_foreign_head_is_refused() {
    let (dir, _) = setup();
    let heads_path = dir.path().join(steward_audit::HEADS_FILE);
    let heads = std::fs::read(&heads_path).unwrap();
    // Flip a byte in the middle of the second head: its CRC fails and more heads follow.
    let mut tampered = heads.clone();
    tampered[8 + 8 + 100 + 20] ^= 1;
    std::fs::write(&heads_path, &tampered).unwrap();
    assert!(
        matches!(
            verify(dir.path()),
            Err(VerifyError::BadHead { head: 1, .. })
        ),
        "{:?}",
        verify(dir.path())
    );
    std::fs::write(&heads_path, &heads).unwrap();
    // Another key, or another tenant.
    let other = steward_audit::SigningKey::from_bytes(&[7; 32]);
    assert!(matches!(
        verify_dir(dir.path(), TENANT, &other.verifying_key()),
        Err(VerifyError::BadHead { head: 0, .. })
    ));
    assert!(matches!(
        verify_dir(dir.path(), "globex", &key().verifying_key()),
        Err(VerifyError::BadHead { head: 0, .. })
    ));
    assert!(matches!(
        AuditLog::open(dir.path(), AuditConfig::new("globex")),
        Err(AuditError::TenantMismatch)
    ));
}
