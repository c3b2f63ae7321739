//! Concurrency tests: group commit under many appenders, and rotation/truncation racing appends.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use common::{open_collect, open_default};
use steward_wal::{Lsn, WalConfig};

const THREADS: u64 = 8;
const RECORDS_PER_THREAD: u64 = 1000;

fn tagged(thread: u64, i: u64) -> Vec<u8> {
    format!("thread {thread} record {i}").into_bytes()
}

#[test]
fn concurrent_appenders_get_contiguous_lsns_and_share_frames() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _, _) = open_default(dir.path());
    let wal = Arc::new(wal);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let wal = Arc::clone(&wal);
            thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0..RECORDS_PER_THREAD {
                    let payload = tagged(t, i);
                    let lsn = wal.append(&payload).expect("append");
                    acked.push((lsn, payload));
                }
                acked
            })
        })
        .collect();
    let mut acked: BTreeMap<Lsn, Vec<u8>> = BTreeMap::new();
    for handle in handles {
        let thread_acked = handle.join().expect("thread");
        // One thread's appends are acknowledged in the order it made them.
        assert!(thread_acked.windows(2).all(|w| w[0].0 < w[1].0));
        for (lsn, payload) in thread_acked {
            assert!(
                acked.insert(lsn, payload).is_none(),
                "lsn {lsn} handed out twice"
            );
        }
    }
    let total = THREADS * RECORDS_PER_THREAD;
    assert_eq!(
        acked.keys().copied().collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    assert_eq!(wal.last_lsn(), total);
    drop(wal);

    let (_, recovery, records) = open_default(dir.path());
    assert_eq!(records, acked.into_iter().collect::<Vec<_>>());
    assert!(
        recovery.frames_read < total,
        "no batching happened: {} frames for {total} records",
        recovery.frames_read
    );
}

#[test]
fn rotation_and_truncation_race_appends_safely() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = WalConfig {
        file_bytes_max: 4096,
        ..WalConfig::default()
    };
    let (wal, _, _) = open_collect(dir.path(), config.clone(), 0).expect("open");
    let wal = Arc::new(wal);
    let done = Arc::new(AtomicBool::new(false));

    let maintainer = {
        let wal = Arc::clone(&wal);
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut truncated_through = 0;
            while !done.load(Ordering::Acquire) {
                let closed_through = wal.rotate().expect("rotate");
                // Everything in closed files is durable, so a flush could have covered it.
                assert!(closed_through <= wal.last_lsn());
                wal.truncate_through(closed_through).expect("truncate");
                truncated_through = closed_through;
                let files = wal.files();
                assert!(
                    files
                        .windows(2)
                        .all(|w| w[0].last_lsn + 1 == w[1].first_lsn)
                );
                assert!(files.iter().rev().skip(1).all(|f| f.closed));
                assert!(
                    files
                        .iter()
                        .filter(|f| f.closed)
                        .all(|f| f.last_lsn > truncated_through)
                );
                thread::yield_now();
            }
            truncated_through
        })
    };
    let appenders: Vec<_> = (0..4u64)
        .map(|t| {
            let wal = Arc::clone(&wal);
            thread::spawn(move || {
                (0..300u64)
                    .map(|i| {
                        let payload = tagged(t, i);
                        (wal.append(&payload).expect("append"), payload)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acked: BTreeMap<Lsn, Vec<u8>> = BTreeMap::new();
    for handle in appenders {
        acked.extend(handle.join().expect("appender"));
    }
    done.store(true, Ordering::Release);
    let truncated_through = maintainer.join().expect("maintainer");
    assert_eq!(acked.len(), 1200);
    drop(wal);

    let (_, recovery, records) =
        open_collect(dir.path(), config, truncated_through).expect("reopen");
    let expected: Vec<_> = acked
        .into_iter()
        .filter(|(lsn, _)| *lsn > truncated_through)
        .collect();
    assert_eq!(records, expected);
    assert_eq!(recovery.last_lsn, 1200);
}
