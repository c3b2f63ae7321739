//! Crashes at chosen points, on the simulated file system (`steward_wal::sim`): regression tests
//! for what the seeded run (`tests/sim.rs`) found.
//!
//! - A new partition's `catalog.redb` was never named durably (its directory was not fsynced):
//!   a crash could lose the whole catalog after flushes had already dropped WAL files (seeds 1
//!   and 3 of the first run).
//! - A crash inside redb's own recovery leaves a cleanly flagged header whose primary commit is
//!   older than the other slot (the newest commit failed verification and redb fell back, or its
//!   repair commit was written but not yet made primary); the catalog was refused as damaged
//!   (seeds 6 and 147).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use steward_crypto::{Key256, Pseudonym};
use steward_store::{NewEvent, Partition, PartitionConfig, PartitionKeys, StoreError, SubjectScan};
use steward_wal::WalConfig;
use steward_wal::sim::{Image, SimFs, SimRng, SimVfs};

const DIR: &str = "/sim/acme";

fn config() -> PartitionConfig {
    let mut config = PartitionConfig::new(PathBuf::from(DIR), "acme".into());
    config.wal = WalConfig {
        file_bytes_max: 2_048,
        frame_bytes_max: 4_096,
        record_bytes_max: 1 << 16,
    };
    config
}

fn key() -> Key256 {
    Key256::from_bytes([7; 32])
}

fn open(fs: &Arc<SimFs>) -> Result<Partition, StoreError> {
    Partition::open_in(
        config(),
        PartitionKeys { tenant_key: key() },
        Arc::new(SimVfs(fs.clone())),
    )
}

fn event(id: &str) -> NewEvent {
    NewEvent {
        subject: Pseudonym::from_bytes([0x42; 32]),
        time_us: 1_000,
        event_id: id.into(),
        event_type: "play".into(),
        schema_version: 1,
        public: b"{}".to_vec(),
        sealed: vec![9; 64],
    }
}

fn ids(partition: &Partition) -> Vec<String> {
    let scan = SubjectScan {
        subject: event("").subject,
        from_us: None,
        to_us: None,
        types: None,
        after: None,
        limit: 1_000,
    };
    partition
        .scan_subject(&scan, &|_, _, _, _| true)
        .expect("read")
        .0
        .into_iter()
        .map(|r| r.event.event_id)
        .collect()
}

/// A partition with `flushes` flushed appends and the WAL files they made redundant removed.
fn flushed(fs: &Arc<SimFs>, flushes: usize) -> Partition {
    let partition = open(fs).expect("open");
    for i in 0..flushes {
        partition
            .append(vec![event(&format!("e{i}"))])
            .expect("append");
        partition.flush_and_drop_wal().expect("flush");
    }
    partition
}

#[test]
fn a_new_catalog_survives_a_crash_once_its_first_flush_returned() {
    let fs = SimFs::new();
    let partition = flushed(&fs, 2);
    for seed in 0..64 {
        let image = fs.crash_image(&mut SimRng::new(seed));
        assert!(
            image.contains_key(&Path::new(DIR).join("catalog.redb")),
            "seed {seed}: the catalog's name is durable"
        );
        let reopened =
            open(&SimFs::from_image(&image)).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(ids(&reopened), ["e0", "e1"], "seed {seed}");
    }
    drop(partition);
}

/// redb's header: god byte 9 (bit 0 primary slot, bit 1 recovery needed), slots at 64 and 192
/// with the transaction id 104 bytes in.
fn clean_with_older_primary(image: &Image) -> bool {
    let Some(c) = image
        .get(&Path::new(DIR).join("catalog.redb"))
        .filter(|c| c.len() >= 320)
    else {
        return false;
    };
    let txn =
        |slot: usize| u64::from_le_bytes(c[slot + 104..slot + 112].try_into().unwrap_or([0; 8]));
    let (primary, other) = if c[9] & 1 == 0 { (64, 192) } else { (192, 64) };
    c[9] & 2 == 0 && txn(primary) < txn(other)
}

#[test]
fn a_crash_inside_the_catalogs_own_recovery_never_reads_as_damage() {
    let mut older_primary = 0;
    // A crash in the middle of a flush (the countdown `during_flush`), then one in the middle of
    // the recovery that follows (`during_recovery`), then a recovery that must succeed.
    for during_flush in 0..24 {
        let fs = SimFs::new();
        let partition = flushed(&fs, 2);
        partition.append(vec![event("e2")]).expect("append");
        fs.fail_after(during_flush);
        let flush_returned = partition.flush().is_ok();
        let first = fs.crash_image(&mut SimRng::new(during_flush));
        drop(partition);
        for during_recovery in 0..24 {
            let fs = SimFs::from_image(&first);
            fs.fail_after(during_recovery);
            let reopened = open(&fs);
            assert!(
                reopened.is_ok() || fs.has_failed(),
                "flush countdown {during_flush}, recovery countdown {during_recovery}: refused without a failure"
            );
            let second = fs.crash_image(&mut SimRng::new(during_recovery));
            drop(reopened);
            older_primary += usize::from(clean_with_older_primary(&second));
            let partition = open(&SimFs::from_image(&second)).unwrap_or_else(|e| {
                panic!("flush countdown {during_flush}, recovery countdown {during_recovery}: {e}")
            });
            let ids = ids(&partition);
            assert!(
                ids.starts_with(&["e0".to_owned(), "e1".to_owned()]),
                "{ids:?}"
            );
            assert!(ids.len() == 3 || !flush_returned, "{ids:?}");
        }
    }
    assert!(
        older_primary > 0,
        "some crash left a clean header naming the older commit"
    );
}
