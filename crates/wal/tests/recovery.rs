//! Recovery tests: torn tails at every cut, corruption detection with file and offset, lsn checks.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{assert_corrupted, open_collect, open_default, payload, wal_files};
use steward_wal::{TornTail, WalConfig, WalError, format, frame};

/// Appends `frames` single-record frames and returns the byte offset where each frame starts.
fn write_frames(dir: &Path, frames: u64, len: usize) -> (PathBuf, Vec<u64>, Vec<Vec<u8>>) {
    let (wal, _, _) = open_default(dir);
    let mut starts = Vec::new();
    let mut payloads = Vec::new();
    for i in 1..=frames {
        starts.push(wal.files().last().expect("current file").bytes);
        let p = payload(i, len);
        assert_eq!(wal.append(&p).expect("append"), i);
        payloads.push(p);
    }
    let path = wal.files().last().expect("current file").path.clone();
    (path, starts, payloads)
}

fn flip(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).expect("read");
    bytes[offset as usize] ^= 0x5a;
    fs::write(path, bytes).expect("write");
}

#[test]
fn torn_tail_at_every_cut_of_the_last_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, starts, payloads) = write_frames(dir.path(), 4, 60);
    let full = fs::read(&path).expect("read");
    let last_start = *starts.last().expect("frames") as usize;
    assert!(last_start < full.len());

    for cut in last_start..full.len() {
        fs::write(&path, &full[..cut]).expect("cut");
        let (wal, recovery, records) = open_default(dir.path());
        let expected: Vec<_> = payloads[..3]
            .iter()
            .enumerate()
            .map(|(i, p)| (i as u64 + 1, p.clone()))
            .collect();
        assert_eq!(records, expected, "cut at {cut}");
        assert_eq!(recovery.last_lsn, 3);
        if cut == last_start {
            assert_eq!(recovery.torn_tail, None, "cut at a frame boundary is clean");
        } else {
            assert_eq!(
                recovery.torn_tail,
                Some(TornTail {
                    file: path.clone(),
                    offset: last_start as u64,
                    bytes_truncated: (cut - last_start) as u64,
                    lsns: (cut - last_start >= format::FRAME_HEADER_BYTES).then_some((4, 4)),
                }),
                "cut at {cut}"
            );
        }
        assert_eq!(fs::metadata(&path).expect("stat").len(), last_start as u64);
        drop(wal);

        let (wal, recovery, records) = open_default(dir.path());
        assert_eq!(recovery.torn_tail, None, "second reopen after cut at {cut}");
        assert_eq!(records.len(), 3);
        drop(wal);
    }

    // After truncation the log keeps going from the right lsn.
    let (wal, _, _) = open_default(dir.path());
    assert_eq!(wal.append(b"after").expect("append"), 4);
    drop(wal);
    let (_, _, records) = open_default(dir.path());
    assert_eq!(records.last(), Some(&(4, b"after".to_vec())));
}

#[test]
fn flipped_byte_before_valid_frames_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, starts, _) = write_frames(dir.path(), 4, 40);
    // Payload byte, magic byte, length byte and crc byte of the second frame.
    for delta in [30u64, 0, 5, 9] {
        let target = starts[1] + delta;
        flip(&path, target);
        assert_corrupted(open_default_result(dir.path()), &path, starts[1]);
        flip(&path, target); // restore
    }
    let (_, recovery, records) = open_default(dir.path());
    assert_eq!((records.len(), recovery.torn_tail), (4, None));
}

/// A frame written whole and then damaged is not a torn write: whichever bit of the last frame
/// flips (magic, length, checksum, body header, payload), opening refuses and names the file,
/// the offset and the lsns, and changes nothing.
#[test]
fn every_flipped_bit_in_the_last_frame_of_the_last_file_is_refused_not_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, starts, _) = write_frames(dir.path(), 3, 40);
    let clean = fs::read(&path).expect("read");
    let last = starts[2] as usize;
    for at in last..clean.len() {
        for bit in 0..8 {
            let mut bytes = clean.clone();
            bytes[at] ^= 1 << bit;
            fs::write(&path, &bytes).expect("write");
            match open_default_result(dir.path()) {
                Err(WalError::Corrupted {
                    file,
                    offset,
                    reason,
                }) => {
                    assert_eq!(
                        (file.as_path(), offset),
                        (path.as_path(), starts[2]),
                        "byte {at} bit {bit}: {reason}"
                    );
                    assert!(
                        reason.contains("lsn"),
                        "byte {at} bit {bit}: names the lsns: {reason}"
                    );
                }
                other => panic!(
                    "byte {at} bit {bit}: a damaged complete last frame must be refused, got {other:?}"
                ),
            }
            assert_eq!(
                fs::read(&path).expect("read"),
                bytes,
                "byte {at} bit {bit}: the file is left as found"
            );
        }
    }
    fs::write(&path, &clean).expect("restore");
    let (_, recovery, records) = open_default(dir.path());
    assert_eq!((records.len(), recovery.torn_tail), (3, None));
}

/// What a crash mid-write leaves, when the file system extended the file but some sectors of
/// the frame were never written (they read as zeros): a torn tail, cut, the lsns named.
#[test]
fn a_last_frame_with_a_sector_never_written_is_a_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, starts, _) = write_frames(dir.path(), 3, 1500);
    let clean = fs::read(&path).expect("read");
    let last = starts[2] as usize;
    let sector = 512;
    // Each sector the frame touches, zeroed alone (the one holding the magic is a bad magic).
    let mut at = last;
    while at < clean.len() {
        let end = ((at / sector) + 1) * sector;
        let mut bytes = clean.clone();
        bytes[at..end.min(clean.len())].fill(0);
        fs::write(&path, &bytes).expect("write");
        let (wal, recovery, records) = open_default(dir.path());
        assert_eq!(records.len(), 2, "sector at {at}");
        let torn = recovery.torn_tail.expect("torn");
        assert_eq!(torn.offset, starts[2], "sector at {at}");
        if at > last + format::FRAME_HEADER_BYTES {
            assert_eq!(torn.lsns, Some((3, 3)), "sector at {at}");
        }
        drop(wal);
        at = end;
    }
}
#[test]
fn flipped_byte_in_a_closed_file_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _, _) = open_default(dir.path());
    wal.append(b"one").expect("append");
    let second_frame = wal.files()[0].bytes;
    wal.append(b"two, the last frame of the closed file")
        .expect("append");
    wal.rotate().expect("rotate");
    wal.append(b"three").expect("append");
    let closed = wal.files()[0].path.clone();
    drop(wal);

    flip(&closed, second_frame + 20);
    assert_corrupted(open_default_result(dir.path()), &closed, second_frame);
}

#[test]
fn flipped_header_byte_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _, _) = write_frames(dir.path(), 2, 10);
    for at in [0u64, 9, 17, 25] {
        flip(&path, at);
        assert_corrupted(open_default_result(dir.path()), &path, 0);
        flip(&path, at);
    }
}

#[test]
fn zero_length_and_half_created_last_files_are_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _, _) = open_default(dir.path());
    wal.append(b"one").expect("append");
    wal.append(b"two").expect("append");
    drop(wal);

    // A crash right after creating the next file, before anything was written.
    let empty = dir.path().join(format::file_name(3));
    fs::File::create(&empty).expect("create");
    let (wal, recovery, records) = open_default(dir.path());
    assert_eq!((records.len(), recovery.torn_tail), (2, None));
    assert!(!empty.exists());
    assert_eq!(wal.append(b"three").expect("append"), 3);
    wal.rotate().expect("rotate");
    drop(wal);

    // A crash while writing the header of the next file.
    let half = dir.path().join(format::file_name(4));
    let header = format::encode_file_header(4);
    fs::write(&half, &header[..13]).expect("write");
    let (wal, recovery, records) = open_default(dir.path());
    assert_eq!(records.len(), 3);
    assert_eq!(
        recovery.torn_tail,
        Some(TornTail {
            file: half.clone(),
            offset: 0,
            bytes_truncated: 13,
            lsns: None,
        })
    );
    assert_eq!(wal.append(b"four").expect("append"), 4);
}

#[test]
fn missing_middle_file_is_a_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _, _) = open_default(dir.path());
    for i in 0..3 {
        wal.append(&payload(i, 10)).expect("append");
        wal.rotate().expect("rotate");
    }
    drop(wal);
    let files = wal_files(dir.path());
    assert_eq!(files.len(), 4);
    fs::remove_file(&files[1]).expect("remove");
    assert_corrupted(open_default_result(dir.path()), &files[2], 0);
}

#[test]
fn repeated_lsn_across_frames_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(format::file_name(1));
    let mut file = fs::File::create(&path).expect("create");
    file.write_all(&format::encode_file_header(1))
        .expect("header");
    let first = frame::encode_frame(1, &[b"a", b"b"]);
    file.write_all(&first).expect("frame");
    file.write_all(&frame::encode_frame(2, &[b"again"]))
        .expect("frame");
    drop(file);
    let offset = (format::FILE_HEADER_BYTES + first.len()) as u64;
    assert_corrupted(open_default_result(dir.path()), &path, offset);
}

#[test]
fn header_lsn_must_match_file_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(format::file_name(1));
    fs::write(&path, format::encode_file_header(2)).expect("write");
    assert_corrupted(open_default_result(dir.path()), &path, 0);
}

#[test]
fn after_lsn_skips_applied_records_and_detects_missing_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _, _) = open_default(dir.path());
    for i in 1..=10 {
        wal.append(&payload(i, 10)).expect("append");
    }
    drop(wal);

    let (wal, recovery, records) = open_collect(dir.path(), WalConfig::default(), 6).expect("open");
    assert_eq!(
        records.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![7, 8, 9, 10]
    );
    assert_eq!(recovery.last_lsn, 10);
    drop(wal);

    match open_collect(dir.path(), WalConfig::default(), 11) {
        Err(WalError::LogBehindCaller {
            after_lsn: 11,
            last_lsn: 10,
        }) => {}
        other => panic!("expected LogBehindCaller, got {:?}", other.map(|r| r.1)),
    }

    // A fresh directory continues after the caller's applied lsn instead of reusing lsns.
    let fresh = tempfile::tempdir().expect("tempdir");
    let (wal, recovery, _) = open_collect(fresh.path(), WalConfig::default(), 100).expect("open");
    assert_eq!(recovery.last_lsn, 100);
    assert_eq!(wal.append(b"x").expect("append"), 101);
    drop(wal);
    let (_, _, records) = open_collect(fresh.path(), WalConfig::default(), 100).expect("open");
    assert_eq!(records, vec![(101, b"x".to_vec())]);
    assert_corrupted(
        open_collect(fresh.path(), WalConfig::default(), 50),
        &fresh.path().join(format::file_name(101)),
        0,
    );
}

#[test]
fn replay_error_is_returned() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_frames(dir.path(), 3, 10);
    let result = steward_wal::Wal::open(dir.path(), WalConfig::default(), 0, |lsn, _| {
        if lsn == 2 {
            Err(steward_wal::ReplayError::new("boom"))
        } else {
            Ok(())
        }
    });
    match result {
        Err(WalError::Replay(e)) => assert_eq!(e.to_string(), "boom"),
        other => panic!("expected Replay, got {:?}", other.map(|r| r.1)),
    }
}

#[test]
fn read_file_reads_closed_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _, _) = open_default(dir.path());
    wal.append_many(&[b"a", b"b"]).expect("append");
    wal.append(b"c").expect("append");
    wal.rotate().expect("rotate");
    let info = wal.files()[0].clone();
    let mut seen = Vec::new();
    let read = steward_wal::read_file(&info.path, |lsn, p| {
        seen.push((lsn, p.to_vec()));
        Ok(())
    })
    .expect("read");
    assert_eq!(read, info);
    assert_eq!(
        seen,
        vec![(1, b"a".to_vec()), (2, b"b".to_vec()), (3, b"c".to_vec())]
    );
}

fn open_default_result(
    dir: &Path,
) -> Result<(steward_wal::Wal, steward_wal::Recovery, common::Records), WalError> {
    open_collect(dir, WalConfig::default(), 0)
}
