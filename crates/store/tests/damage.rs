//! Damaged files are detected, never acted on: a flipped bit anywhere in `catalog.redb` either
//! refuses the partition (naming the file, changing nothing) or opens it with every event; no
//! segment file is ever deleted, and files the catalog does not list go to quarantine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use steward_crypto::{Key256, Pseudonym};
use steward_store::{NewEvent, Partition, PartitionConfig, PartitionKeys, SubjectScan};

const SUBJECTS: u8 = 16;

fn config(dir: &Path) -> PartitionConfig {
    PartitionConfig::new(dir.to_owned(), "acme".into())
}

fn event(subject: u8, id: String) -> NewEvent {
    NewEvent {
        subject: Pseudonym::from_bytes([subject.wrapping_mul(16).wrapping_add(subject); 32]),
        time_us: 1_000,
        event_id: id,
        event_type: "play".into(),
        schema_version: 1,
        public: br#"{"track_id":"t"}"#.to_vec(),
        sealed: vec![7; 40],
    }
}

fn count(partition: &Partition) -> usize {
    (0..SUBJECTS)
        .map(|s| {
            let scan = SubjectScan {
                subject: event(s, String::new()).subject,
                from_us: None,
                to_us: None,
                types: None,
                after: None,
                limit: 100_000,
            };
            partition
                .scan_subject(&scan, &|_, _, _, _| true)
                .unwrap()
                .0
                .len()
        })
        .sum()
}

/// Every file under `dir` with its bytes.
fn image(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                out.insert(
                    entry.path().strip_prefix(dir).unwrap().to_owned(),
                    std::fs::read(entry.path()).unwrap(),
                );
            }
        }
    }
    out
}

fn restore(dir: &Path, files: &BTreeMap<PathBuf, Vec<u8>>) {
    let _ = std::fs::remove_dir_all(dir);
    for (path, bytes) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// A partition with segments from three flushes (16 subject ranges each) and a WAL tail.
fn build(dir: &Path, key: &Key256) -> usize {
    let partition = Partition::open(
        config(dir),
        PartitionKeys {
            tenant_key: key.clone(),
        },
    )
    .unwrap();
    let mut n = 0;
    for round in 0..4 {
        let events: Vec<_> = (0..SUBJECTS)
            .flat_map(|s| (0..3).map(move |i| event(s, format!("r{round}-s{s}-i{i}"))))
            .collect();
        n += events.len();
        partition.append(events).unwrap();
        if round < 3 {
            partition.flush().unwrap();
        }
    }
    assert_eq!(count(&partition), n);
    n
}

fn segment_files(files: &BTreeMap<PathBuf, Vec<u8>>) -> BTreeMap<PathBuf, Vec<u8>> {
    files
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "parquet"))
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect()
}

#[test]
fn a_flipped_bit_in_the_catalog_refuses_or_reads_everything_and_never_deletes_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key256::random();
    let events = build(dir.path(), &key);
    let pristine = image(dir.path());
    let segments = segment_files(&pristine);
    assert!(segments.len() >= 16, "{} segments", segments.len());
    let catalog = PathBuf::from("catalog.redb");
    let bytes = pristine[&catalog].clone();

    // Every byte of redb's header (god byte, commit slots), then a sample of the other
    // non-zero bytes (the pages of the trees), spread over the file.
    let mut positions: Vec<usize> = (0..320).collect();
    let rest: Vec<usize> = (320..bytes.len()).filter(|&i| bytes[i] != 0).collect();
    let sample = std::env::var("STEWARD_CATALOG_FLIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150usize);
    let step = (rest.len() / sample.max(1)).max(1);
    positions.extend(rest.iter().step_by(step).copied());

    let (mut refused, mut opened) = (0, 0);
    for (n, &at) in positions.iter().enumerate() {
        let bit = (at + n) % 8;
        restore(dir.path(), &pristine);
        let mut flipped = bytes.clone();
        flipped[at] ^= 1 << bit;
        std::fs::write(dir.path().join(&catalog), &flipped).unwrap();
        match Partition::open(
            config(dir.path()),
            PartitionKeys {
                tenant_key: key.clone(),
            },
        ) {
            Ok(partition) => {
                opened += 1;
                assert_eq!(
                    count(&partition),
                    events,
                    "byte {at} bit {bit}: opened, so every event must be there"
                );
                drop(partition);
                let after = image(dir.path());
                assert_eq!(
                    segment_files(&after),
                    segments,
                    "byte {at} bit {bit}: opened, segment files unchanged"
                );
            }
            Err(error) => {
                refused += 1;
                let message = error.to_string();
                assert!(
                    message.contains("catalog.redb"),
                    "byte {at} bit {bit}: the error names the file: {message}"
                );
                let after = image(dir.path());
                assert_eq!(
                    segment_files(&after),
                    segments,
                    "byte {at} bit {bit}: refused, and no segment file moved or deleted"
                );
                assert!(
                    !dir.path().join("quarantine").exists(),
                    "byte {at} bit {bit}: nothing quarantined from a damaged catalog"
                );
                assert_eq!(
                    after[&catalog], flipped,
                    "byte {at} bit {bit}: a refused catalog is left as found"
                );
            }
        }
    }
    eprintln!(
        "catalog flips: {} positions, {refused} refused, {opened} opened with every event",
        positions.len()
    );
    assert!(refused > 0);
}

#[test]
fn segment_files_the_catalog_does_not_list_are_quarantined_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key256::random();
    let events = build(dir.path(), &key);
    let stray = dir.path().join("segments").join("00000000000fffff.parquet");
    std::fs::write(&stray, b"leftover of a crashed flush").unwrap();
    let tmp = dir
        .path()
        .join("segments")
        .join("0000000000000fff.parquet.tmp");
    std::fs::write(&tmp, b"half written").unwrap();
    let partition = Partition::open(
        config(dir.path()),
        PartitionKeys {
            tenant_key: key.clone(),
        },
    )
    .unwrap();
    assert_eq!(count(&partition), events);
    assert!(!stray.exists() && !tmp.exists());
    let quarantine = dir.path().join(steward_store::QUARANTINE_SEGMENTS);
    assert_eq!(
        std::fs::read(quarantine.join("00000000000fffff.parquet")).unwrap(),
        b"leftover of a crashed flush"
    );
    assert_eq!(
        std::fs::read(quarantine.join("0000000000000fff.parquet.tmp")).unwrap(),
        b"half written"
    );
    // Quarantined files may hold an erased subject's rows: the erasure's purge removes them.
    let subject = event(3, String::new()).subject;
    partition.shred_subject(&subject).unwrap();
    let purged = partition.purge_subject(&subject).unwrap();
    assert!(purged.files_removed >= 2, "{purged:?}");
    assert_eq!(
        std::fs::read_dir(&quarantine).unwrap().count(),
        0,
        "an erasure leaves nothing quarantined"
    );
}

#[test]
fn a_listed_segment_that_is_missing_cut_or_damaged_refuses_the_partition_naming_it_and_changes_no_file()
 {
    let dir = tempfile::tempdir().unwrap();
    let key = Key256::random();
    build(dir.path(), &key);
    let pristine = image(dir.path());
    let victim = segment_files(&pristine).keys().next().unwrap().clone();
    for damage in ["cut", "missing", "footer"] {
        restore(dir.path(), &pristine);
        let path = dir.path().join(&victim);
        let bytes = std::fs::read(&path).unwrap();
        match damage {
            "cut" => std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap(),
            "missing" => std::fs::remove_file(&path).unwrap(),
            _ => {
                // A bit of the encrypted footer, which the open reads to index the event ids.
                let mut flipped = bytes.clone();
                flipped[bytes.len() - 20] ^= 0x10;
                std::fs::write(&path, &flipped).unwrap();
            }
        }
        let expected = image(dir.path());
        let Err(error) = Partition::open(
            config(dir.path()),
            PartitionKeys {
                tenant_key: key.clone(),
            },
        ) else {
            panic!("opened with segment {} {damage}", victim.display());
        };
        let name = victim.file_name().unwrap().to_string_lossy().into_owned();
        assert!(error.to_string().contains(&name), "{damage}: {error}");
        // Not a byte changed, the catalog's included (redb writes at every open; those writes
        // wait until the partition's checks passed).
        assert!(
            image(dir.path()) == expected,
            "{damage}: the refused open changed a file"
        );
    }
}

#[test]
fn a_flipped_bit_in_the_newest_commit_slot_is_refused_never_rolled_back() {
    // The newest commit holds a flush (segments, flushed lsn), and the WAL it made redundant is
    // gone: opening the previous commit instead would lose those events.
    let dir = tempfile::tempdir().unwrap();
    let key = Key256::random();
    let events = build(dir.path(), &key);
    {
        let partition = Partition::open(
            config(dir.path()),
            PartitionKeys {
                tenant_key: key.clone(),
            },
        )
        .unwrap();
        partition.flush_and_drop_wal().unwrap();
    }
    let pristine = image(dir.path());
    let catalog = PathBuf::from("catalog.redb");
    let bytes = pristine[&catalog].clone();
    // redb 4's header: god byte 9 (bit 0: primary slot), slots of 128 bytes at 64 and 192.
    let primary = if bytes[9] & 1 == 0 { 64 } else { 192 };
    let (mut refused, mut opened) = (0, 0);
    for at in primary..primary + 128 {
        let bit = at % 8;
        restore(dir.path(), &pristine);
        let mut flipped = bytes.clone();
        flipped[at] ^= 1 << bit;
        std::fs::write(dir.path().join(&catalog), &flipped).unwrap();
        match Partition::open(
            config(dir.path()),
            PartitionKeys {
                tenant_key: key.clone(),
            },
        ) {
            Ok(partition) => {
                opened += 1;
                assert_eq!(
                    count(&partition),
                    events,
                    "byte {at} bit {bit}: opened, so every event must be there"
                );
            }
            Err(error) => {
                refused += 1;
                assert!(
                    error.to_string().contains("catalog.redb"),
                    "byte {at} bit {bit}: {error}"
                );
                assert_eq!(
                    image(dir.path()),
                    {
                        let mut p = pristine.clone();
                        p.insert(catalog.clone(), flipped.clone());
                        p
                    },
                    "byte {at} bit {bit}: refused, nothing changed"
                );
            }
        }
    }
    eprintln!("newest slot flips: {refused} refused, {opened} opened with every event");
}
