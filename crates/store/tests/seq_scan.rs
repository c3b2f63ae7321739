//! Following one event type by seq: pages in seq order, nothing missed across memtables,
//! flushes and compactions, concurrent appenders never let a follower skip a row.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use steward_crypto::{Key256, Pseudonym};
use steward_store::{NewEvent, Partition, PartitionConfig, PartitionKeys, SeqScan};

fn open(dir: &std::path::Path) -> Partition {
    let mut config = PartitionConfig::new(dir.to_owned(), "acme".into());
    config.memtable_bytes_max = 32 * 1024; // appends freeze memtables themselves
    Partition::open(
        config,
        PartitionKeys {
            tenant_key: Key256::random(),
        },
    )
    .unwrap()
}

fn event(subject: u8, id: String, event_type: &str, time_us: i64) -> NewEvent {
    NewEvent {
        subject: Pseudonym::from_bytes([subject; 32]),
        time_us,
        event_id: id,
        event_type: event_type.into(),
        schema_version: 1,
        public: br#"{"body":"b"}"#.to_vec(),
        sealed: Vec::new(),
    }
}

/// Every admitted `note` after `after`, paged like a follower does; returns the ids and the
/// new watermark.
fn follow(
    p: &Partition,
    after: u64,
    page: usize,
    admit: steward_store::Admit<'_>,
) -> (Vec<String>, u64) {
    let upto = p.settled_seq();
    let mut at = after;
    let mut out = Vec::new();
    loop {
        let scan = SeqScan {
            event_type: "note".into(),
            after: at,
            upto,
            limit: page,
        };
        let (rows, more) = p.scan_since(&scan, admit).unwrap();
        let mut last = at;
        for r in rows {
            assert!(r.seq > last, "seq order");
            last = r.seq;
            assert_eq!(r.event.event_type, "note");
            out.push(r.event.event_id);
        }
        if !more {
            return (out, upto);
        }
        at = last;
    }
}

#[test]
fn pages_cover_memtables_and_segments_in_seq_order() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path());
    let all = |_: &Pseudonym, _: u64, _: &str, _: i64| true;
    let mut expected = Vec::new();
    for batch in 0..20 {
        let mut events = Vec::new();
        for i in 0..25 {
            let n = batch * 25 + i;
            let kind = if n % 3 == 0 { "play" } else { "note" };
            // Times go backwards: seq order, not time order, is what a follower reads.
            events.push(event(
                (n % 7) as u8,
                format!("e{n}"),
                kind,
                1_000_000 - n as i64,
            ));
            if kind == "note" {
                expected.push(format!("e{n}"));
            }
        }
        p.append(events).unwrap();
        if batch % 5 == 4 {
            p.flush().unwrap();
        }
    }
    let (got, mark) = follow(&p, 0, 7, &all);
    assert_eq!(got, expected);
    // Nothing new: an empty page; new rows after the mark only.
    assert!(follow(&p, mark, 7, &all).0.is_empty());
    p.append(vec![event(1, "late".into(), "note", 5)]).unwrap();
    p.flush().unwrap();
    while p.compact_once().unwrap() {}
    assert_eq!(follow(&p, mark, 7, &all).0, vec!["late".to_owned()]);
    // The caller's rule picks rows (the store has none of its own).
    let only_subject_1 =
        |s: &Pseudonym, _: u64, _: &str, _: i64| *s == Pseudonym::from_bytes([1; 32]);
    let (got, _) = follow(&p, 0, 1000, &only_subject_1);
    assert!(
        got.iter()
            .all(|id| id == "late" || id[1..].parse::<usize>().unwrap() % 7 == 1)
    );
    assert!(got.contains(&"late".to_owned()));
    // An empty range reads nothing.
    let scan = SeqScan {
        event_type: "note".into(),
        after: mark + 10,
        upto: mark,
        limit: 10,
    };
    assert!(p.scan_since(&scan, &all).unwrap().0.is_empty());
}

#[test]
fn a_follower_racing_appenders_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = Arc::new(open(dir.path()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4u8)
        .map(|w| {
            let p = p.clone();
            std::thread::spawn(move || {
                for i in 0..150 {
                    p.append(vec![event(w, format!("w{w}-{i}"), "note", i)])
                        .unwrap();
                }
            })
        })
        .collect();
    let follower = {
        let (p, stop) = (p.clone(), stop.clone());
        std::thread::spawn(move || {
            let all = |_: &Pseudonym, _: u64, _: &str, _: i64| true;
            let (mut seen, mut mark) = (Vec::new(), 0);
            loop {
                let done = stop.load(Ordering::SeqCst);
                let (ids, next) = follow(&p, mark, 16, &all);
                seen.extend(ids);
                mark = next;
                if done {
                    return seen;
                }
            }
        })
    };
    let flusher = {
        let (p, stop) = (p.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                p.flush().unwrap();
                std::thread::sleep(std::time::Duration::from_millis(3));
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    flusher.join().unwrap();
    let seen = follower.join().unwrap();
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no row twice");
    assert_eq!(seen.len(), 600, "no row missed");
}
