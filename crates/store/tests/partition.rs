//! Partition under concurrency: appends racing flushes and compactions, then reopen.

use std::collections::HashMap;
use std::sync::Arc;
use steward_crypto::{Key256, Pseudonym};
use steward_store::{NewEvent, Partition, PartitionConfig, PartitionKeys, SubjectScan};

fn config(dir: &std::path::Path, encrypt: bool) -> PartitionConfig {
    let mut config = PartitionConfig::new(dir.to_owned(), "acme".into());
    config.memtable_bytes_max = 64 * 1024; // tiny: appends freeze memtables themselves
    config.encrypt_at_rest = encrypt;
    config
}

fn event(subject: u8, id: String, time_us: i64) -> NewEvent {
    NewEvent {
        subject: Pseudonym::from_bytes([subject; 32]),
        time_us,
        event_id: id,
        event_type: "play".into(),
        schema_version: 1,
        public: br#"{"track_id":"t"}"#.to_vec(),
        sealed: vec![7; 40],
    }
}

fn all_of(partition: &Partition, subject: u8) -> Vec<String> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let scan = SubjectScan {
            subject: Pseudonym::from_bytes([subject; 32]),
            from_us: None,
            to_us: None,
            types: None,
            after,
            limit: 10_000,
        };
        let (rows, more) = partition.scan_subject(&scan, &|_, _, _, _| true).unwrap();
        after = rows.last().map(|r| (r.event.time_us, r.seq));
        out.extend(rows.into_iter().map(|r| r.event.event_id));
        if !more {
            return out;
        }
    }
}

fn check(encrypt: bool) {
    let dir = tempfile::tempdir().unwrap();
    let key = Key256::random();
    let partition = Arc::new(
        Partition::open(
            config(dir.path(), encrypt),
            PartitionKeys {
                tenant_key: key.clone(),
            },
        )
        .unwrap(),
    );
    let writers: Vec<_> = (0..4u8)
        .map(|w| {
            let partition = partition.clone();
            std::thread::spawn(move || {
                for batch in 0..60 {
                    let events: Vec<_> = (0..25)
                        .map(|i| {
                            event(
                                (i % 5) as u8,
                                format!("w{w}-b{batch}-i{i}"),
                                (batch * 100 + i) as i64,
                            )
                        })
                        .collect();
                    let outcome = partition.append(events).unwrap();
                    assert!(outcome.stored.iter().all(|s| *s));
                    // Re-sending is idempotent.
                    let again = partition
                        .append(vec![event(0, format!("w{w}-b{batch}-i0"), 0)])
                        .unwrap();
                    assert_eq!(again.stored, vec![false]);
                }
            })
        })
        .collect();
    let maintenance = {
        let partition = partition.clone();
        std::thread::spawn(move || {
            for _ in 0..40 {
                partition.flush().unwrap();
                partition.compact_once().unwrap();
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    maintenance.join().unwrap();
    let expected: HashMap<u8, usize> = (0..5).map(|s| (s, 4 * 60 * 5)).collect();
    for (subject, count) in &expected {
        let ids = all_of(&partition, *subject);
        assert_eq!(ids.len(), *count, "subject {subject}");
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), *count, "no event twice");
    }
    let before = partition.stats();
    assert_eq!(before.stored_events, 6000);
    drop(partition);
    let reopened = Partition::open(
        config(dir.path(), encrypt),
        PartitionKeys { tenant_key: key },
    )
    .unwrap();
    assert_eq!(reopened.stats().stored_events, 6000);
    for (subject, count) in &expected {
        assert_eq!(all_of(&reopened, *subject).len(), *count);
    }
    assert_eq!(
        reopened
            .append(vec![event(1, "w0-b0-i1".into(), 0)])
            .unwrap()
            .stored,
        vec![false],
        "index rebuilt at open"
    );
}

#[test]
fn concurrent_appends_flushes_and_compactions_lose_nothing() {
    check(true);
}

#[test]
fn same_without_encryption_at_rest() {
    check(false);
}

#[test]
fn a_wrong_tenant_key_cannot_open_segments() {
    let dir = tempfile::tempdir().unwrap();
    let partition = Partition::open(
        config(dir.path(), true),
        PartitionKeys {
            tenant_key: Key256::random(),
        },
    )
    .unwrap();
    partition.append(vec![event(1, "a".into(), 1)]).unwrap();
    partition.flush().unwrap();
    drop(partition);
    assert!(
        Partition::open(
            config(dir.path(), true),
            PartitionKeys {
                tenant_key: Key256::random()
            }
        )
        .is_err()
    );
}
