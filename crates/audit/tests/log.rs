//! `AuditLog` behaviour: durable and batched appends, group commit across threads, the batched
//! bound and delay, signed heads, proofs, and crash recovery (torn tails cut, nothing lost).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use steward_audit::limits::COMMIT_BYTES_MAX;
use steward_audit::{
    AuditConfig, AuditError, AuditLog, HEADS_FILE, ProofError, RECORDS_FILE, verify_consistency,
    verify_dir, verify_inclusion,
};
use support::{TENANT, frames, key, record};

fn open(dir: &std::path::Path) -> AuditLog {
    AuditLog::open(dir, AuditConfig::new(TENANT)).unwrap()
}

#[test]
fn durable_appends_get_consecutive_indexes_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    assert_eq!(log.size(), 0);
    assert_eq!(log.head().root, steward_audit::empty_root());
    assert_eq!(
        log.append_durable(&[record(0), record(1), record(2)])
            .unwrap(),
        0
    );
    assert_eq!(log.append_durable(&[record(3)]).unwrap(), 3);
    assert_eq!(log.size(), 4);
    let head = log.head();
    drop(log);
    let log = open(dir.path());
    assert_eq!(log.head(), head);
    assert_eq!(log.append_durable(&[record(4)]).unwrap(), 4);
    assert!(matches!(
        log.append_durable(&[]),
        Err(AuditError::EmptyBatch)
    ));
    let report = verify_dir(dir.path(), TENANT, &key().verifying_key()).unwrap();
    assert_eq!((report.records, report.root), (5, log.head().root));
}

#[test]
fn an_invalid_record_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let mut bad = record(1);
    bad.resource = "tenant/acme/subjects/jane.doe@example.com".into();
    let error = log.append_durable(&[record(0), bad.clone()]).unwrap_err();
    assert!(
        matches!(error, AuditError::InvalidRecord(ref e) if e.field == "resource"),
        "{error}"
    );
    assert!(!error.to_string().contains("jane"));
    assert!(matches!(
        log.append_batched(&bad),
        Err(AuditError::InvalidRecord(_))
    ));
    assert_eq!(log.size(), 0);
    assert_eq!(
        std::fs::metadata(dir.path().join(RECORDS_FILE))
            .unwrap()
            .len(),
        8
    );
}

#[test]
fn one_call_larger_than_a_commit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let records: Vec<_> = (0..(COMMIT_BYTES_MAX / 100) as u64).map(record).collect();
    assert!(matches!(
        log.append_durable(&records),
        Err(AuditError::BatchTooLarge { .. })
    ));
    assert_eq!(log.size(), 0);
}

#[test]
fn concurrent_appenders_share_commits_and_get_distinct_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path()));
    let handles: Vec<_> = (0..8u64)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut firsts = Vec::new();
                for i in 0..50 {
                    let batch = [record(t * 1000 + i), record(t * 1000 + i + 500)];
                    firsts.push(if i % 5 == 0 {
                        log.append_batched(&batch[0]).unwrap()
                    } else {
                        log.append_durable(&batch).unwrap()
                    });
                }
                firsts
            })
        })
        .collect();
    let mut firsts: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    log.flush().unwrap();
    firsts.sort_unstable();
    firsts.dedup();
    assert_eq!(firsts.len(), 400);
    assert_eq!(log.size(), 8 * (40 * 2 + 10));
    log.sign_head(&key()).unwrap();
    let root = log.head().root;
    drop(log);
    let report = verify_dir(dir.path(), TENANT, &key().verifying_key()).unwrap();
    assert_eq!(
        (report.records, report.root, report.signed_size),
        (720, root, 720)
    );
}

#[test]
fn batched_records_become_durable_within_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), AuditConfig::new(TENANT).with_read_flush_ms(20)).unwrap();
    let started = Instant::now();
    assert_eq!(log.append_batched(&record(0)).unwrap(), 0);
    assert_eq!(log.append_batched(&record(1)).unwrap(), 1);
    while log.size() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "batched records never flushed"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // Not flushed early: the flusher waited for the delay (with slack for a slow fsync).
    assert!(
        started.elapsed() >= Duration::from_millis(19),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_full_batched_queue_fails_closed_until_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let config = AuditConfig::new(TENANT)
        .with_read_flush_ms(60_000)
        .with_batched_records_max(5);
    let log = AuditLog::open(dir.path(), config).unwrap();
    for i in 0..5 {
        assert_eq!(log.append_batched(&record(i)).unwrap(), i);
    }
    assert!(matches!(
        log.append_batched(&record(5)),
        Err(AuditError::QueueFull { waiting: 5 })
    ));
    assert_eq!(log.size(), 0);
    // A durable append commits the waiting batched records with its own.
    assert_eq!(log.append_durable(&[record(5)]).unwrap(), 5);
    assert_eq!(log.size(), 6);
    assert_eq!(log.append_batched(&record(6)).unwrap(), 6);
    log.flush().unwrap();
    assert_eq!(log.size(), 7);
}

#[test]
fn dropping_the_log_flushes_batched_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(
        dir.path(),
        AuditConfig::new(TENANT).with_read_flush_ms(60_000),
    )
    .unwrap();
    log.append_batched(&record(0)).unwrap();
    drop(log);
    assert_eq!(open(dir.path()).size(), 1);
}

#[test]
fn heads_are_signed_stored_and_match_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let key = key();
    assert_eq!(log.latest_signed_head(), None);
    assert_eq!(
        log.maybe_sign(&key, Duration::ZERO).unwrap(),
        None,
        "nothing to sign in an empty log"
    );
    log.append_durable(&[record(0), record(1)]).unwrap();
    let first = log
        .maybe_sign(&key, Duration::from_secs(3600))
        .unwrap()
        .expect("first head is due at once");
    assert_eq!((first.size, first.root), (2, log.head().root));
    assert!(first.verify(&key.verifying_key()));
    log.append_durable(&[record(2)]).unwrap();
    assert_eq!(
        log.maybe_sign(&key, Duration::from_secs(3600)).unwrap(),
        None,
        "interval not elapsed"
    );
    let second = log.maybe_sign(&key, Duration::ZERO).unwrap().unwrap();
    assert_eq!(second.size, 3);
    assert!(second.time_us >= first.time_us);
    assert_eq!(
        log.maybe_sign(&key, Duration::ZERO).unwrap(),
        None,
        "no new records"
    );
    let again = log.sign_head(&key).unwrap();
    assert_eq!(again.size, 3);
    assert_eq!(
        log.signed_heads().unwrap(),
        vec![first, second, again.clone()]
    );
    drop(log);
    let log = open(dir.path());
    assert_eq!(log.latest_signed_head(), Some(again));
}

#[test]
fn proofs_from_the_log_verify() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let records: Vec<_> = (0..37).map(record).collect();
    log.append_durable(&records).unwrap();
    for size in 1..=37 {
        let root = log.root_at(size).unwrap();
        for index in 0..size {
            let proof = log.prove_inclusion(index, size).unwrap();
            assert!(proof.verify());
            assert_eq!(
                proof.leaf_hash,
                steward_audit::leaf_hash(&records[index as usize].encode().unwrap())
            );
            let path = log.inclusion_proof(index, size).unwrap();
            assert!(verify_inclusion(
                &log.leaf_hash(index).unwrap(),
                index,
                size,
                &path,
                &root
            ));
        }
        let proof = log.prove_consistency(size / 2, size).unwrap();
        assert!(proof.verify());
        let path = log.consistency_proof(size / 2, size).unwrap();
        assert!(verify_consistency(
            size / 2,
            size,
            &log.root_at(size / 2).unwrap(),
            &root,
            &path
        ));
    }
    assert!(matches!(
        log.inclusion_proof(37, 37),
        Err(AuditError::Proof(ProofError::IndexOutOfRange { .. }))
    ));
    assert!(matches!(
        log.inclusion_proof(0, 38),
        Err(AuditError::Proof(ProofError::SizeOutOfRange { .. }))
    ));
    assert!(matches!(
        log.consistency_proof(5, 4),
        Err(AuditError::Proof(ProofError::FromAfterTo { .. }))
    ));
    assert_eq!(log.leaf_hash(37), None);
}

#[test]
fn torn_tails_are_cut_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    support::build_log(dir.path(), 10, &[10]);
    let path = dir.path().join(RECORDS_FILE);
    let good = std::fs::read(&path).unwrap();
    let last = frames(&good).pop().unwrap();
    let whole_frame = good[last.clone()].to_vec();
    let mut bad_crc = whole_frame.clone();
    *bad_crc.last_mut().unwrap() ^= 1;
    // A crash mid-write: part of a frame, zeros from a grown file, a complete frame with a bad
    // checksum at the very end, a torn prefix.
    let tails: [Vec<u8>; 4] = [
        whole_frame[..whole_frame.len() / 2].to_vec(),
        vec![0; 300],
        bad_crc,
        whole_frame[..5].to_vec(),
    ];
    for tail in tails {
        let mut torn = good.clone();
        torn.extend_from_slice(&tail);
        std::fs::write(&path, &torn).unwrap();
        let log = open(dir.path());
        assert_eq!(log.size(), 10);
        assert_eq!(std::fs::read(&path).unwrap(), good, "the tail was cut");
        drop(log);
    }
    let log = open(dir.path());
    assert_eq!(log.append_durable(&[record(10)]).unwrap(), 10);
    log.sign_head(&key()).unwrap();
    drop(log);
    assert_eq!(
        verify_dir(dir.path(), TENANT, &key().verifying_key())
            .unwrap()
            .records,
        11
    );
}

#[test]
fn a_torn_tail_is_reported_not_failed_by_the_verifier() {
    let dir = tempfile::tempdir().unwrap();
    support::build_log(dir.path(), 10, &[5]);
    let path = dir.path().join(RECORDS_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = frames(&bytes).pop().unwrap();
    bytes.truncate(last.end - 4);
    std::fs::write(&path, &bytes).unwrap();
    let report = verify_dir(dir.path(), TENANT, &key().verifying_key()).unwrap();
    assert_eq!(
        (report.records, report.torn_tail_at, report.signed_size),
        (9, Some(9), 5)
    );
}

#[test]
fn files_torn_before_their_header_are_recreated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(RECORDS_FILE), b"STW").unwrap();
    std::fs::write(dir.path().join(HEADS_FILE), b"").unwrap();
    // Without the open marker a writer leaves before creating the files, this is damage.
    assert!(matches!(
        AuditLog::open(dir.path(), AuditConfig::new(TENANT)),
        Err(AuditError::Corrupted { .. })
    ));
    std::fs::write(dir.path().join(steward_audit::OPEN_MARKER_FILE), b"").unwrap();
    let log = open(dir.path());
    assert_eq!(log.append_durable(&[record(0)]).unwrap(), 0);
    log.sign_head(&key()).unwrap();
    drop(log);
    assert_eq!(
        verify_dir(dir.path(), TENANT, &key().verifying_key())
            .unwrap()
            .heads,
        1
    );
}

#[test]
fn a_torn_head_is_cut_but_a_damaged_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    support::build_log(dir.path(), 4, &[2, 4]);
    let path = dir.path().join(HEADS_FILE);
    let good = std::fs::read(&path).unwrap();
    let mut torn = good.clone();
    torn.extend_from_slice(&good[8..60]);
    std::fs::write(&path, &torn).unwrap();
    let log = open(dir.path());
    assert_eq!(log.signed_heads().unwrap().len(), 2);
    drop(log);
    assert_eq!(std::fs::read(&path).unwrap(), good);
    let mut damaged = good.clone();
    damaged[20] ^= 1;
    std::fs::write(&path, &damaged).unwrap();
    assert!(matches!(
        AuditLog::open(dir.path(), AuditConfig::new(TENANT)),
        Err(AuditError::Corrupted { .. })
    ));
}

#[test]
fn invalid_tenants_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        AuditLog::open(dir.path(), AuditConfig::new("a b")),
        Err(AuditError::InvalidTenant(_))
    ));
    assert!(matches!(
        AuditLog::open(dir.path(), AuditConfig::new("")),
        Err(AuditError::InvalidTenant(_))
    ));
}

#[test]
fn readers_see_a_consistent_prefix_of_a_live_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path()));
    let writer = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for i in 0..300u64 {
                let batch: Vec<_> = (0..(i % 13 + 1)).map(|j| record(i * 100 + j)).collect();
                log.append_durable(&batch).unwrap();
                if i % 50 == 0 {
                    log.sign_head(&key()).unwrap();
                }
            }
        })
    };
    let target = record(0).subject_refs.first().copied().unwrap_or([0; 32]);
    while !writer.is_finished() {
        let report = verify_dir(dir.path(), TENANT, &key().verifying_key()).unwrap();
        assert!(report.records >= report.signed_size);
        log.records_referencing(&target).unwrap();
    }
    writer.join().unwrap();
}
