//! Erasure in the store: shredding destroys the key and hides the rows at once, survives a
//! crash (the destroyed key still in the WAL is not installed again), leaves later events
//! visible, and purging removes every stored copy of the old rows from segments and WAL.

use steward_crypto::{Key256, Pseudonym};
use steward_store::{NewEvent, Partition, PartitionConfig, PartitionKeys, SubjectScan};

fn open(dir: &std::path::Path, key: &Key256) -> Partition {
    let mut config = PartitionConfig::new(dir.to_owned(), "acme".into());
    config.encrypt_at_rest = false;
    Partition::open(
        config,
        PartitionKeys {
            tenant_key: key.clone(),
        },
    )
    .unwrap()
}

fn subject(n: u8) -> Pseudonym {
    Pseudonym::from_bytes([n; 32])
}

fn event(partition: &Partition, n: u8, id: &str, time_us: i64) -> NewEvent {
    // The engine asks for (and so creates) the key before sealing.
    partition.subject_key(&subject(n), true).unwrap();
    NewEvent {
        subject: subject(n),
        time_us,
        event_id: id.to_owned(),
        event_type: "play".into(),
        schema_version: 1,
        public: format!(r#"{{"track_id":"canary-{id}"}}"#).into_bytes(),
        sealed: vec![7; 40],
    }
}

fn ids(partition: &Partition, n: u8) -> Vec<String> {
    let scan = SubjectScan {
        subject: subject(n),
        from_us: None,
        to_us: None,
        types: None,
        after: None,
        limit: 10_000,
    };
    // What a reader sees: rows hidden by a tombstone are the read guard's to refuse.
    let tombstones = partition.tombstones();
    let admit = move |s: &steward_crypto::Pseudonym, seq: u64, _: &str, _: i64| {
        tombstones.get(s).is_none_or(|&cut| seq > cut)
    };
    partition
        .scan_subject(&scan, &admit)
        .unwrap()
        .0
        .into_iter()
        .map(|r| r.event.event_id)
        .collect()
}

/// Every stored copy (segments and WAL) of subject `n`'s events, by id.
fn stored_ids(partition: &Partition, n: u8) -> Vec<String> {
    let mut out = Vec::new();
    partition
        .visit_stored_copies(&mut |_, r| {
            if r.event.subject == subject(n) {
                out.push(r.event.event_id.clone());
            }
        })
        .unwrap();
    out.sort();
    out
}

#[test]
fn shred_hides_at_once_survives_a_crash_and_purge_removes_every_copy() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key256::random();
    let partition = open(dir.path(), &key);
    // Old rows of subjects 1 and 2 in a segment, more in the WAL and memtable.
    let first: Vec<_> = (0..10)
        .map(|i| event(&partition, 1 + (i % 2) as u8, &format!("a{i}"), i))
        .collect();
    partition.append(first).unwrap();
    partition.flush().unwrap();
    let second: Vec<_> = (0..10)
        .map(|i| event(&partition, 1 + (i % 2) as u8, &format!("b{i}"), 100 + i))
        .collect();
    partition.append(second).unwrap();
    assert_eq!(ids(&partition, 1).len(), 10);

    let shredded = partition.shred_subject(&subject(1)).unwrap();
    assert!(shredded.had_key);
    assert!(ids(&partition, 1).is_empty(), "hidden at once");
    assert_eq!(
        partition.subject_key(&subject(1), false).unwrap(),
        None,
        "key destroyed"
    );
    assert_eq!(ids(&partition, 2).len(), 10, "others untouched");
    assert_eq!(
        partition.shred_subject(&subject(1)).unwrap(),
        shredded,
        "idempotent"
    );

    // A crash now: the WAL still holds the batch that carried subject 1's key.
    drop(partition);
    let partition = open(dir.path(), &key);
    assert!(partition.is_hidden(&subject(1)));
    assert!(ids(&partition, 1).is_empty(), "still hidden after recovery");
    assert_eq!(
        partition.subject_key(&subject(1), false).unwrap(),
        None,
        "the key from the WAL is not installed again"
    );
    partition.flush().unwrap();
    assert_eq!(
        partition.subject_key(&subject(1), false).unwrap(),
        None,
        "nor by a flush"
    );

    // A new event after the erasure starts a new key and stays visible.
    let after = event(&partition, 1, "c0", 500);
    partition.append(vec![after]).unwrap();
    assert_eq!(ids(&partition, 1), vec!["c0".to_owned()]);
    assert!(partition.subject_key(&subject(1), false).unwrap().is_some());

    let mut old: Vec<String> = (0..10)
        .step_by(2)
        .flat_map(|i| [format!("a{i}"), format!("b{i}")])
        .collect();
    old.push("c0".into());
    old.sort();
    assert_eq!(
        stored_ids(&partition, 1),
        old,
        "before the purge, the old rows are still stored (hidden)"
    );
    let purged = partition.purge_subject(&subject(1)).unwrap();
    assert_eq!(purged.rows_removed, 10, "{purged:?}");
    assert!(purged.segments_rewritten >= 1);
    assert_eq!(
        stored_ids(&partition, 1),
        vec!["c0".to_owned()],
        "only the new event is stored anywhere"
    );
    assert_eq!(stored_ids(&partition, 2).len(), 10);
    assert!(!partition.is_hidden(&subject(1)));
    assert_eq!(ids(&partition, 1), vec!["c0".to_owned()]);
    assert_eq!(
        partition.purge_subject(&subject(1)).unwrap(),
        Default::default(),
        "purging again does nothing"
    );

    // No file holds the old rows' public values (stored in the clear here).
    let mut hits = Vec::new();
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        for id in ["a0", "b4"] {
            let needle = format!("canary-{id}\"");
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                hits.push((entry.clone(), id));
            }
        }
    }
    assert!(hits.is_empty(), "{hits:?}");
    // After a restart the purge holds.
    drop(partition);
    let partition = open(dir.path(), &key);
    assert_eq!(ids(&partition, 1), vec!["c0".to_owned()]);
    assert_eq!(ids(&partition, 2).len(), 10);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_wal_file_left_behind_by_a_crash_after_a_flush_is_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key256::random();
    let partition = open(dir.path(), &key);
    partition
        .append(vec![event(&partition, 1, "x0", 0)])
        .unwrap();
    let wal_dir = dir.path().join("wal");
    let saved: Vec<_> = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    partition.flush().unwrap();
    drop(partition);
    // As if the process died after the flush's catalog commit, before the WAL truncation.
    for (path, bytes) in &saved {
        std::fs::write(path, bytes).unwrap();
    }
    let partition = open(dir.path(), &key);
    assert_eq!(
        stored_ids(&partition, 1),
        vec!["x0".to_owned()],
        "the row is in its segment only, not twice"
    );
    assert!(
        saved.iter().all(|(path, _)| !path.exists()),
        "the stale WAL file is gone"
    );
    // Shredding and purging still remove every copy.
    partition.shred_subject(&subject(1)).unwrap();
    partition.purge_subject(&subject(1)).unwrap();
    assert!(stored_ids(&partition, 1).is_empty());
}
