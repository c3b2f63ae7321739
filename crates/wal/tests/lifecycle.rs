//! Lifecycle tests: rotation, truncation, file listing, size limits and argument checks.

mod common;

use common::{open_collect, open_default, payload, wal_files};
use steward_wal::{Wal, WalConfig, WalError, format};

#[test]
fn wal_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Wal>();
}

#[test]
fn append_many_gets_consecutive_lsns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _, _) = open_default(dir.path());
    assert_eq!(wal.last_lsn(), 0);
    assert_eq!(wal.append(b"a").expect("append"), 1);
    assert_eq!(wal.append_many(&[b"b", b"c", b""]).expect("append"), (2, 4));
    assert_eq!(wal.last_lsn(), 4);
    assert!(matches!(wal.append_many(&[]), Err(WalError::EmptyBatch)));
    drop(wal);
    let (_, recovery, records) = open_default(dir.path());
    assert_eq!(recovery.frames_read, 2);
    assert_eq!(
        records,
        vec![
            (1, b"a".to_vec()),
            (2, b"b".to_vec()),
            (3, b"c".to_vec()),
            (4, Vec::new())
        ]
    );
}

#[test]
fn oversized_records_are_refused_without_consuming_lsns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = WalConfig {
        record_bytes_max: 100,
        ..WalConfig::default()
    };
    let (wal, _, _) = open_collect(dir.path(), config, 0).expect("open");
    assert!(matches!(
        wal.append(&[0u8; 101]),
        Err(WalError::RecordTooLarge {
            bytes: 101,
            max: 100
        })
    ));
    assert!(matches!(
        wal.append_many(&[b"ok", &[0u8; 101]]),
        Err(WalError::RecordTooLarge { .. })
    ));
    assert_eq!(wal.append(&[0u8; 100]).expect("append"), 1);
}

#[test]
fn a_batch_larger_than_frame_bytes_max_still_goes_in_one_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = WalConfig {
        frame_bytes_max: 64,
        ..WalConfig::default()
    };
    let (wal, _, _) = open_collect(dir.path(), config, 0).expect("open");
    let big = payload(1, 500);
    assert_eq!(wal.append_many(&[&big, &big]).expect("append"), (1, 2));
    drop(wal);
    let (_, recovery, records) = open_default(dir.path());
    assert_eq!((recovery.frames_read, records.len()), (1, 2));
}

#[test]
fn rotate_closes_the_current_file_and_is_a_no_op_when_it_is_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _, _) = open_default(dir.path());
    assert_eq!(wal.rotate().expect("rotate"), 0);
    assert_eq!(wal.files().len(), 1);
    wal.append(b"a").expect("append");
    wal.append(b"b").expect("append");
    assert_eq!(wal.rotate().expect("rotate"), 2);
    assert_eq!(wal.rotate().expect("rotate"), 2);
    assert_eq!(wal.append(b"c").expect("append"), 3);
    let files = wal.files();
    assert_eq!(files.len(), 2);
    assert_eq!(
        (files[0].first_lsn, files[0].last_lsn, files[0].closed),
        (1, 2, true)
    );
    assert_eq!(
        (files[1].first_lsn, files[1].last_lsn, files[1].closed),
        (3, 3, false)
    );
    assert_eq!(files[1].path, dir.path().join(format::file_name(3)));
    assert_eq!(files[0].records(), 2);
    for file in &files {
        assert_eq!(
            std::fs::metadata(&file.path).expect("stat").len(),
            file.bytes
        );
    }
    drop(wal);

    // Reopening continues in the last file.
    let (wal, _, records) = open_default(dir.path());
    assert_eq!(records.len(), 3);
    assert_eq!(wal.append(b"d").expect("append"), 4);
    assert_eq!(wal.files().len(), 2);
    assert_eq!(wal.files()[1].last_lsn, 4);
}

#[test]
fn files_rotate_when_they_exceed_file_bytes_max() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = WalConfig {
        file_bytes_max: 300,
        ..WalConfig::default()
    };
    let (wal, _, _) = open_collect(dir.path(), config.clone(), 0).expect("open");
    for i in 1..=20 {
        wal.append(&payload(i, 50)).expect("append");
    }
    let files = wal.files();
    assert!(files.len() > 3, "{files:?}");
    for file in &files {
        assert!(file.bytes <= 300, "{file:?}");
    }
    assert!(
        files
            .windows(2)
            .all(|w| w[0].last_lsn + 1 == w[1].first_lsn)
    );
    drop(wal);
    let (_, _, records) = open_collect(dir.path(), config, 0).expect("open");
    assert_eq!(records.len(), 20);
}

#[test]
fn truncate_through_removes_only_fully_covered_closed_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _, _) = open_default(dir.path());
    // Files: [1..=2], [3..=4], [5..=6], current [7..].
    for i in 1..=6 {
        wal.append(&payload(i, 10)).expect("append");
        if i % 2 == 0 {
            wal.rotate().expect("rotate");
        }
    }
    wal.append(&payload(7, 10)).expect("append");
    assert_eq!(wal.files().len(), 4);

    assert_eq!(wal.truncate_through(1).expect("truncate"), 0);
    assert_eq!(wal.truncate_through(3).expect("truncate"), 1);
    assert_eq!(wal.files()[0].first_lsn, 3);
    assert_eq!(wal.truncate_through(6).expect("truncate"), 2);
    // The current file is never removed, even when fully covered.
    assert_eq!(wal.truncate_through(100).expect("truncate"), 0);
    let files = wal.files();
    assert_eq!(files.len(), 1);
    assert_eq!((files[0].first_lsn, files[0].closed), (7, false));
    assert_eq!(wal_files(dir.path()), vec![files[0].path.clone()]);
    drop(wal);

    let (_, recovery, records) = open_collect(dir.path(), WalConfig::default(), 6).expect("open");
    assert_eq!(records.iter().map(|r| r.0).collect::<Vec<_>>(), vec![7]);
    assert_eq!(recovery.last_lsn, 7);
}

#[test]
fn unrelated_files_in_the_directory_are_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), b"hello").expect("write");
    std::fs::write(dir.path().join("00000000000000000001.wal.tmp"), b"junk").expect("write");
    let (wal, _, records) = open_default(dir.path());
    assert!(records.is_empty());
    assert_eq!(wal.append(b"a").expect("append"), 1);
}
