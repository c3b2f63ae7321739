//! Shutdown markers (FORMAT.md §4.4): in a log closed cleanly every byte of both files is
//! protected (the last signed head included), and open refuses the damage without touching a
//! file; after a crash (open marker left behind) a torn final head or record is tolerated with
//! a warning and cut by recovery; an unmarked (older) log treats a torn tail as damage too.

mod support;

use std::os::unix::fs::FileExt;
use std::path::Path;

use steward_audit::{
    AuditConfig, AuditError, AuditLog, CLOSED_MARKER_FILE, HEADS_FILE, OPEN_MARKER_FILE,
    RECORDS_FILE, ShutdownState, Tamper, VerifyError, VerifyReport, shutdown_state, verify_dir,
};
use support::{TENANT, frames, head_frames, key, varied};

/// Records in the acceptance log, and the sizes at which heads are signed before the close.
const N: u64 = 36;
const HEADS_AT: &[u64] = &[5, 12, 20, 29];

fn open(dir: &Path) -> Result<AuditLog, AuditError> {
    AuditLog::open(dir, AuditConfig::new(TENANT))
}

fn verify(dir: &Path) -> Result<VerifyReport, VerifyError> {
    verify_dir(dir, TENANT, &key().verifying_key())
}

/// A log of `N` records of both versions (durable batches and batched reads) with heads at
/// `HEADS_AT`; closed cleanly (`close`) or left as a crash leaves it (dropped).
fn build(dir: &Path, clean: bool) {
    let log = open(dir).unwrap();
    let mut next = 0;
    for &at in HEADS_AT.iter().chain([&N]) {
        while next < at {
            if next % 4 == 1 {
                log.append_batched(&varied(next)).unwrap();
                next += 1;
            } else {
                let end = (next + 2).min(at);
                log.append_durable(&(next..end).map(varied).collect::<Vec<_>>())
                    .unwrap();
                next = end;
            }
        }
        if at < N {
            log.flush().unwrap();
            log.sign_head(&key()).unwrap();
        }
    }
    if clean {
        let last = log.close(&key()).unwrap().unwrap();
        assert_eq!(last.size, N);
    } else {
        log.flush().unwrap();
    }
}

/// Every file of the log directory, for checking that a refused open changed nothing.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = support::all_files(dir);
    files.sort();
    files
}

#[test]
fn a_clean_close_signs_every_record_and_verifies_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), true);
    assert_eq!(shutdown_state(dir.path()).unwrap(), ShutdownState::Closed);
    assert!(!dir.path().join(OPEN_MARKER_FILE).exists());
    let report = verify(dir.path()).unwrap();
    assert_eq!(
        (report.records, report.heads, report.signed_size),
        (N, HEADS_AT.len() + 1, N)
    );
    assert_eq!(report.shutdown, ShutdownState::Closed);
    assert!(report.warnings().is_empty(), "{:?}", report.warnings());
    let leaves: Vec<_> = {
        let mut v = Vec::new();
        steward_audit::for_each_record(dir.path(), |_, r| {
            v.push(r.statement.is_some());
            true
        })
        .unwrap();
        v
    };
    assert!(
        leaves.iter().any(|s| *s) && leaves.iter().any(|s| !*s),
        "both record versions"
    );
}

#[test]
fn every_flipped_byte_of_a_cleanly_closed_log_fails_verification_and_open() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), true);
    let before = snapshot(dir.path());
    for (file, name_frames) in [(RECORDS_FILE, true), (HEADS_FILE, false)] {
        let path = dir.path().join(file);
        let bytes = std::fs::read(&path).unwrap();
        let ranges = if name_frames {
            frames(&bytes)
        } else {
            head_frames(&bytes)
        };
        eprintln!("{file}: {} bytes, {} frames", bytes.len(), ranges.len());
        let handle = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        for position in 0..bytes.len() {
            handle
                .write_all_at(&[bytes[position] ^ 0x5a], position as u64)
                .unwrap();
            let error = verify(dir.path())
                .expect_err(&format!("{file}: byte {position} flipped, yet it verifies"));
            let frame = ranges.iter().position(|r| r.contains(&position));
            match frame {
                None => assert!(
                    matches!(error, VerifyError::NotAuditFile { .. }),
                    "{file} byte {position}: {error}"
                ),
                Some(k) if name_frames => assert_eq!(
                    error.first_bad_index(),
                    Some(k as u64),
                    "{file} byte {position}: {error}"
                ),
                Some(k) => assert_eq!(error.bad_head(), Some(k), "{file} byte {position}: {error}"),
            }
            let opened = open(dir.path());
            assert!(
                matches!(opened, Err(AuditError::Corrupted { .. })),
                "{file} byte {position}: open accepted: {opened:?}"
            );
            handle
                .write_all_at(&bytes[position..=position], position as u64)
                .unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
    // Nothing was repaired or re-marked by the refused opens.
    assert_eq!(snapshot(dir.path()), before);
    verify(dir.path()).unwrap();
}

#[test]
fn a_torn_final_head_is_tolerated_only_after_a_crash() {
    for clean in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), clean);
        if !clean {
            // The crash: the writer is gone without closing; a final head was being written.
            let log = open(dir.path()).unwrap();
            log.sign_head(&key()).unwrap();
            drop(log);
        }
        assert_eq!(
            shutdown_state(dir.path()).unwrap(),
            if clean {
                ShutdownState::Closed
            } else {
                ShutdownState::Open
            }
        );
        let path = dir.path().join(HEADS_FILE);
        let bytes = std::fs::read(&path).unwrap();
        let last = head_frames(&bytes).len() - 1;
        let cut = bytes.len() - 30;
        std::fs::write(&path, &bytes[..cut]).unwrap();
        if clean {
            let error = verify(dir.path()).unwrap_err();
            assert!(
                matches!(error, VerifyError::BadHead { head, .. } if head == last),
                "{error}"
            );
            let before = snapshot(dir.path());
            match open(dir.path()) {
                Err(AuditError::Corrupted { file, offset, .. }) => {
                    assert_eq!(file, path);
                    assert_eq!(offset, head_frames(&bytes)[last].start as u64);
                }
                other => panic!("open accepted a damaged head: {other:?}"),
            }
            assert_eq!(snapshot(dir.path()), before);
        } else {
            let report = verify(dir.path()).unwrap();
            assert_eq!(
                (report.heads, report.torn_head_at, report.shutdown),
                (last, Some(last), ShutdownState::Open)
            );
            assert!(
                report
                    .warnings()
                    .iter()
                    .any(|w| w.contains(&format!("signed head #{last}"))),
                "{:?}",
                report.warnings()
            );
            let log = open(dir.path()).unwrap();
            assert_eq!(log.previous_shutdown(), ShutdownState::Open);
            assert_eq!(log.signed_heads().unwrap().len(), last);
            assert_eq!(
                std::fs::read(&path).unwrap(),
                bytes[..head_frames(&bytes)[last].start]
            );
            log.close(&key()).unwrap();
            drop(log);
            let report = verify(dir.path()).unwrap();
            assert_eq!(
                (report.heads, report.torn_head_at, report.shutdown),
                (last + 1, None, ShutdownState::Closed)
            );
        }
    }
}

#[test]
fn a_torn_final_record_is_tolerated_only_after_a_crash() {
    for clean in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), clean);
        if !clean {
            // The crash: records written after the last head, the final one torn.
            let log = open(dir.path()).unwrap();
            log.append_durable(&[varied(N), varied(N + 1)]).unwrap();
            drop(log);
        }
        let path = dir.path().join(RECORDS_FILE);
        let bytes = std::fs::read(&path).unwrap();
        let ranges = frames(&bytes);
        let last = ranges.len() - 1;
        std::fs::write(&path, &bytes[..ranges[last].start + 11]).unwrap();
        if clean {
            let error = verify(dir.path()).unwrap_err();
            // The final head covers it: named as a truncation at that record.
            assert_eq!(error.first_bad_index(), Some(last as u64), "{error}");
            let before = snapshot(dir.path());
            match open(dir.path()) {
                Err(AuditError::Corrupted { file, index, .. }) => {
                    assert_eq!((file, index), (path.clone(), Some(last as u64)))
                }
                other => panic!("open accepted a damaged record: {other:?}"),
            }
            assert_eq!(snapshot(dir.path()), before);
        } else {
            let report = verify(dir.path()).unwrap();
            assert_eq!(
                (report.records, report.torn_tail_at),
                (last as u64, Some(last as u64))
            );
            assert!(
                report
                    .warnings()
                    .iter()
                    .any(|w| w.contains(&format!("record {last}"))),
                "{:?}",
                report.warnings()
            );
            let log = open(dir.path()).unwrap();
            assert_eq!(log.size(), last as u64);
            assert_eq!(std::fs::read(&path).unwrap(), bytes[..ranges[last].start]);
            // Appends continue after the cut, and a clean close signs them.
            assert_eq!(log.append_durable(&[varied(100)]).unwrap(), last as u64);
            assert_eq!(log.close(&key()).unwrap().unwrap().size, last as u64 + 1);
            drop(log);
            assert_eq!(verify(dir.path()).unwrap().signed_size, last as u64 + 1);
        }
    }
}

#[test]
fn an_unmarked_log_treats_a_torn_tail_as_damage_but_allows_unsigned_records() {
    // A log last written before markers existed: no marker, records after the last head.
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), false);
    let log = open(dir.path()).unwrap();
    log.append_durable(&[varied(N)]).unwrap();
    drop(log);
    std::fs::remove_file(dir.path().join(OPEN_MARKER_FILE)).unwrap();
    let report = verify(dir.path()).unwrap();
    assert_eq!(
        (report.shutdown, report.records, report.signed_size),
        (ShutdownState::Unmarked, N + 1, *HEADS_AT.last().unwrap())
    );
    assert!(
        report
            .warnings()
            .iter()
            .any(|w| w.contains("no shutdown marker")),
        "{:?}",
        report.warnings()
    );

    let records = dir.path().join(RECORDS_FILE);
    let bytes = std::fs::read(&records).unwrap();
    std::fs::write(&records, &bytes[..bytes.len() - 5]).unwrap();
    let error = verify(dir.path()).unwrap_err();
    assert!(
        matches!(error, VerifyError::BadRecord { index, tamper: Tamper::Incomplete, .. } if index == N),
        "{error}"
    );
    assert!(matches!(
        open(dir.path()),
        Err(AuditError::Corrupted { .. })
    ));
    assert_eq!(
        shutdown_state(dir.path()).unwrap(),
        ShutdownState::Unmarked,
        "a refused open marks nothing"
    );
    std::fs::write(&records, &bytes).unwrap();

    // Opened and closed by this version, it becomes a closed log.
    let log = open(dir.path()).unwrap();
    assert_eq!(log.previous_shutdown(), ShutdownState::Unmarked);
    assert_eq!(log.close(&key()).unwrap().unwrap().size, N + 1);
    drop(log);
    assert_eq!(verify(dir.path()).unwrap().shutdown, ShutdownState::Closed);
}

#[test]
fn a_cleanly_closed_log_with_a_removed_final_head_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), true);
    // Remove the whole final head frame: every remaining frame is intact.
    let path = dir.path().join(HEADS_FILE);
    let bytes = std::fs::read(&path).unwrap();
    let ranges = head_frames(&bytes);
    std::fs::write(&path, &bytes[..ranges[ranges.len() - 1].start]).unwrap();
    let signed = *HEADS_AT.last().unwrap();
    let error = verify(dir.path()).unwrap_err();
    assert!(
        matches!(error, VerifyError::UnsignedTail { signed_size, records: N } if signed_size == signed),
        "{error}"
    );
    assert_eq!(error.first_bad_index(), Some(signed));
    assert!(
        matches!(open(dir.path()), Err(AuditError::Corrupted { index: Some(i), .. }) if i == signed)
    );
    assert!(dir.path().join(CLOSED_MARKER_FILE).exists());
}

#[test]
fn close_refuses_later_writes_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path()).unwrap();
    assert_eq!(log.previous_shutdown(), ShutdownState::Unmarked);
    assert_eq!(shutdown_state(dir.path()).unwrap(), ShutdownState::Open);
    // An empty log closes without a head.
    assert_eq!(log.close(&key()).unwrap(), None);
    assert!(log.is_closed());
    drop(log);
    assert_eq!(verify(dir.path()).unwrap().shutdown, ShutdownState::Closed);

    let log = open(dir.path()).unwrap();
    assert_eq!(log.previous_shutdown(), ShutdownState::Closed);
    assert_eq!(shutdown_state(dir.path()).unwrap(), ShutdownState::Open);
    log.append_batched(&varied(0)).unwrap();
    log.append_durable(&[varied(1)]).unwrap();
    let head = log.close(&key()).unwrap().unwrap();
    assert_eq!(
        head.size, 2,
        "queued batched records are flushed and signed"
    );
    assert!(matches!(
        log.append_durable(&[varied(2)]),
        Err(AuditError::Closed)
    ));
    assert!(matches!(
        log.append_batched(&varied(2)),
        Err(AuditError::Closed)
    ));
    assert!(matches!(log.sign_head(&key()), Err(AuditError::Closed)));
    assert_eq!(
        log.maybe_sign(&key(), std::time::Duration::ZERO).unwrap(),
        None
    );
    log.flush().unwrap();
    assert_eq!(
        log.close(&key()).unwrap(),
        Some(head.clone()),
        "a second close writes nothing"
    );
    assert_eq!(log.signed_heads().unwrap(), vec![head]);
    assert!(
        log.prove_inclusion(1, 2).unwrap().verify(),
        "reads work after close"
    );
    drop(log);
    assert_eq!(shutdown_state(dir.path()).unwrap(), ShutdownState::Closed);

    // No new head when the latest already covers every record.
    let log = open(dir.path()).unwrap();
    log.close(&key()).unwrap();
    assert_eq!(log.signed_heads().unwrap().len(), 1);
}

#[test]
fn heads_are_listed_by_page() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path()).unwrap();
    for i in 0..7 {
        log.append_durable(&[varied(i)]).unwrap();
        log.sign_head(&key()).unwrap();
    }
    let all = log.signed_heads().unwrap();
    let page = log.signed_heads_page(2, 3).unwrap();
    assert_eq!((page.start, page.total), (2, 7));
    assert_eq!(page.heads, all[2..5].to_vec());
    assert_eq!(
        log.signed_heads_page(5, 100).unwrap().heads,
        all[5..].to_vec()
    );
    assert!(log.signed_heads_page(9, 3).unwrap().heads.is_empty());
    assert_eq!(log.signed_heads_page(0, usize::MAX).unwrap().heads, all);
    drop(log);
    // Reopened, the count comes from recovery.
    let log = open(dir.path()).unwrap();
    log.append_durable(&[varied(7)]).unwrap();
    let closing = log.close(&key()).unwrap().unwrap();
    let page = log.signed_heads_page(6, 10).unwrap();
    assert_eq!((page.total, page.heads.len()), (8, 2));
    assert_eq!(page.heads[1], closing);
}
