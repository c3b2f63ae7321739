//! Deterministic fault injection: the log on a simulated file system (`steward_wal::sim`) that
//! fails I/O after a seeded countdown and then crashes, leaving a seeded image of what reached
//! the disk (unsynced appends cut short or with sectors never written, unsynced creations and
//! removals kept or lost). Then one bit of one file of the recovered log is flipped.
//!
//! Invariants, per seed: recovery never panics and a crash alone never reads as corruption;
//! every acknowledged record survives with its bytes; a call that was not acknowledged is
//! visible whole or not at all; the log continues at the next lsn. A flipped bit either
//! refuses the log (`Corrupted`, naming the file, changing no file) or opens it with every
//! acknowledged record, and never deletes a file that held a record.
//!
//! `STEWARD_SIM_SEEDS=N` runs N seeds (default 1,000); `STEWARD_SIM_SEED=S` replays one.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use steward_wal::sim::{Image, SimFs, SimRng, SimVfs};
use steward_wal::{Lsn, Recovery, Wal, WalConfig, WalError};

const DIR: &str = "/sim/wal";

fn config() -> WalConfig {
    WalConfig {
        file_bytes_max: 4096,
        frame_bytes_max: 2048,
        record_bytes_max: 4096,
    }
}

/// What the caller knows.
#[derive(Default)]
struct Model {
    acked: BTreeMap<Lsn, Vec<u8>>,
    /// Calls that returned an error: each may be visible whole or not at all.
    attempted: Vec<Vec<Vec<u8>>>,
    /// Records at or below this are in the caller's own store (the store's flushed lsn):
    /// recovery starts after it and truncation may remove them.
    flushed: Lsn,
}

/// A payload that names its call and index; the rest random (as the store's ciphertext is).
fn payload(rng: &mut SimRng, call: u32, index: u16) -> Vec<u8> {
    let len = match rng.below(4) {
        0 => rng.below(16),
        1 => 500 + rng.below(600),
        _ => rng.below(300),
    } as usize;
    let mut bytes = Vec::with_capacity(8 + len);
    bytes.extend_from_slice(&call.to_le_bytes());
    bytes.extend_from_slice(&index.to_le_bytes());
    bytes.extend_from_slice(&[0xA5, 0x5A]);
    bytes.extend((0..len).map(|_| rng.next_u64() as u8));
    bytes
}

/// A reopened log, its recovery report and the records it replayed.
type Opened = (Wal, Recovery, Vec<(Lsn, Vec<u8>)>);

fn open(image: &Image, after: Lsn) -> (Arc<SimFs>, Result<Opened, WalError>) {
    let fs = SimFs::from_image(image);
    let mut records = Vec::new();
    let result = Wal::open_in(
        Arc::new(SimVfs(fs.clone())),
        Path::new(DIR),
        config(),
        after,
        |lsn, p| {
            records.push((lsn, p.to_vec()));
            Ok(())
        },
    );
    (fs, result.map(|(wal, recovery)| (wal, recovery, records)))
}

/// What one seed did, for the summary line.
#[derive(Default, Debug)]
struct Tally {
    io_failed: u64,
    torn_tails: u64,
    flips_refused: u64,
    flips_opened: u64,
}

fn run(seed: u64, tally: &mut Tally) {
    let mut rng = SimRng::new(seed);
    let fs = SimFs::new();
    if !rng.chance(5) {
        fs.fail_after(5 + rng.below(250));
    }
    let (wal, _) = Wal::open_in(
        Arc::new(SimVfs(fs.clone())),
        Path::new(DIR),
        config(),
        0,
        |_, _| panic!("empty log"),
    )
    .expect("open empty");
    let mut model = Model::default();
    let mut call = 0u32;
    let ops = 1 + rng.below(80);
    for _ in 0..ops {
        match rng.below(10) {
            0 => {
                let _ = wal.rotate();
            }
            1 => {
                // The caller flushed through some acknowledged lsn (durably, in its own store)
                // and then truncates the log.
                if let Some(&last) = model.acked.keys().next_back() {
                    let to = model.flushed + rng.below(last - model.flushed + 1);
                    model.flushed = to;
                    let _ = wal.truncate_through(to);
                }
            }
            _ => {
                call += 1;
                let n = 1 + rng.below(3) as u16;
                let payloads: Vec<Vec<u8>> = (0..n).map(|i| payload(&mut rng, call, i)).collect();
                let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
                let expected = model.acked.keys().next_back().copied().unwrap_or(0) + 1;
                match wal.append_many(&refs) {
                    Ok((first, last)) => {
                        assert!(
                            model.attempted.is_empty(),
                            "an append succeeded after a failed one: the log must be poisoned"
                        );
                        assert_eq!((first, last), (expected, expected + u64::from(n) - 1));
                        for (i, p) in payloads.into_iter().enumerate() {
                            model.acked.insert(first + i as u64, p);
                        }
                    }
                    Err(_) => model.attempted.push(payloads),
                }
            }
        }
    }
    let image = fs.crash_image(&mut rng);
    tally.io_failed += u64::from(fs.has_failed());
    drop(wal);

    // Recovery after the crash.
    let (fs2, opened) = open(&image, model.flushed);
    let (wal, recovery, records) = match opened {
        Ok(opened) => opened,
        Err(error) => panic!("a crash alone must never read as damage: {error}"),
    };
    tally.torn_tails += u64::from(recovery.torn_tail.is_some());
    let acked_after: BTreeMap<Lsn, Vec<u8>> = model
        .acked
        .range(model.flushed + 1..)
        .map(|(l, p)| (*l, p.clone()))
        .collect();
    let mut seen: BTreeMap<Lsn, Vec<u8>> = BTreeMap::new();
    let mut previous = None;
    for (lsn, p) in &records {
        if let Some(prev) = previous {
            assert_eq!(*lsn, prev + 1, "replayed lsns are contiguous");
        }
        previous = Some(*lsn);
        seen.insert(*lsn, p.clone());
    }
    for (lsn, p) in &acked_after {
        assert_eq!(
            seen.get(lsn),
            Some(p),
            "acknowledged lsn {lsn} survives with its bytes"
        );
    }
    // What was not acknowledged is visible whole or not at all.
    let extra: BTreeSet<Vec<u8>> = seen
        .iter()
        .filter(|(l, _)| !acked_after.contains_key(l))
        .map(|(_, p)| p.clone())
        .collect();
    for group in &model.attempted {
        let visible = group.iter().filter(|p| extra.contains(*p)).count();
        assert!(
            visible == 0 || visible == group.len(),
            "an unacknowledged call is half visible ({visible} of {})",
            group.len()
        );
    }
    let unexplained = extra
        .iter()
        .filter(|p| !model.attempted.iter().any(|g| g.contains(p)))
        .count();
    assert_eq!(
        unexplained, 0,
        "every replayed record was appended by someone"
    );
    let last = wal.last_lsn();
    assert_eq!(
        wal.append(b"after the crash")
            .expect("append after recovery"),
        last + 1
    );
    let mut acked_all = acked_after;
    acked_all.extend(seen);
    acked_all.insert(last + 1, b"after the crash".to_vec());
    drop(wal);
    let recovered = fs2.visible_image();

    // One flipped bit in one file of the recovered log.
    let files: Vec<&PathBuf> = recovered.keys().collect();
    let file = files[rng.below(files.len() as u64) as usize].clone();
    let mut flipped = recovered.clone();
    let bytes = flipped.get_mut(&file).expect("file");
    if bytes.is_empty() {
        return;
    }
    let at = rng.below(bytes.len() as u64) as usize;
    let bit = rng.below(8) as u8;
    bytes[at] ^= 1 << bit;
    let (fs3, opened) = open(&flipped, model.flushed);
    match opened {
        Err(WalError::Corrupted {
            file: named,
            offset,
            reason,
        }) => {
            tally.flips_refused += 1;
            assert_eq!(
                named, file,
                "byte {at} bit {bit}: the refusal names the damaged file ({reason} at {offset})"
            );
            assert_eq!(
                fs3.visible_image(),
                flipped,
                "byte {at} bit {bit}: a refused log is left as found"
            );
        }
        Err(other) => panic!(
            "byte {at} bit {bit} of {}: refused without naming the damage: {other}",
            file.display()
        ),
        Ok((_wal, _, records)) => {
            tally.flips_opened += 1;
            let seen: BTreeMap<Lsn, Vec<u8>> = records.into_iter().collect();
            for (lsn, p) in &acked_all {
                assert_eq!(
                    seen.get(lsn),
                    Some(p),
                    "byte {at} bit {bit} of {}: opened, so acknowledged lsn {lsn} must be there",
                    file.display()
                );
            }
            let after = fs3.visible_image();
            for (path, bytes) in &flipped {
                assert!(
                    after.contains_key(path)
                        || bytes.len() <= steward_wal::format::FILE_HEADER_BYTES,
                    "byte {at} bit {bit}: {} was removed although it held records",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn crash_recovery_and_flipped_bits_over_many_seeds() {
    let seeds: Vec<u64> = match std::env::var("STEWARD_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => vec![seed],
        None => {
            let n = std::env::var("STEWARD_SIM_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(1_000u64);
            (0..n).collect()
        }
    };
    let started = std::time::Instant::now();
    let mut tally = Tally::default();
    for &seed in &seeds {
        if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(|| run(seed, &mut tally))) {
            eprintln!("seed {seed} failed; replay it with STEWARD_SIM_SEED={seed}");
            panic::resume_unwind(panic);
        }
    }
    eprintln!(
        "{} seeds in {:?}: {tally:?}",
        seeds.len(),
        started.elapsed()
    );
    if seeds.len() >= 1_000 {
        assert!(
            tally.io_failed > 0
                && tally.torn_tails > 0
                && tally.flips_refused > 0
                && tally.flips_opened > 0,
            "the seeds reach every case: {tally:?}"
        );
    }
}
