//! The simulated file system's crash model (`steward_wal::sim`), checked over many crash seeds:
//! what a crash may leave of names (creations, renames) and of random-access files, and that
//! what was synced is always there.

use std::path::{Path, PathBuf};

use steward_wal::sim::{SECTOR_BYTES, SimFs, SimRng, SimVfs};
use steward_wal::{ReadSource, Vfs};

const CRASHES: u64 = 300;

fn path(name: &str) -> PathBuf {
    Path::new("/d").join(name)
}

#[test]
fn a_rename_is_atomic_and_durable_once_its_directories_are_synced() {
    let fs = SimFs::new();
    let vfs = SimVfs(fs.clone());
    let mut file = vfs.create_new(&path("a")).unwrap();
    file.write_all(b"bytes").unwrap();
    file.sync_all().unwrap();
    vfs.sync_dir(Path::new("/d")).unwrap();
    vfs.create_dir_all(Path::new("/q")).unwrap();
    vfs.rename(&path("a"), Path::new("/q/a")).unwrap();
    let (mut old, mut new) = (0, 0);
    for seed in 0..CRASHES {
        let image = fs.crash_image(&mut SimRng::new(seed));
        let at_old = image.get(&path("a"));
        let at_new = image.get(Path::new("/q/a"));
        assert!(
            at_old.is_some() || at_new.is_some(),
            "seed {seed}: a renamed file is under one of its names"
        );
        for bytes in [at_old, at_new].into_iter().flatten() {
            assert_eq!(bytes, b"bytes");
        }
        old += usize::from(at_old.is_some());
        new += usize::from(at_new.is_some());
    }
    assert!(old > 0 && new > 0, "both outcomes happen: {old} {new}");
    // The destination synced first: the file is at its new name whatever happens to the old.
    vfs.sync_dir(Path::new("/q")).unwrap();
    for seed in 0..CRASHES {
        let image = fs.crash_image(&mut SimRng::new(seed));
        assert_eq!(
            image.get(Path::new("/q/a")).map(Vec::as_slice),
            Some(&b"bytes"[..]),
            "seed {seed}"
        );
    }
    vfs.sync_dir(Path::new("/d")).unwrap();
    let image = fs.crash_image(&mut SimRng::new(0));
    assert!(
        !image.contains_key(&path("a")) && image.contains_key(Path::new("/q/a")),
        "both directories synced: only the new name"
    );
}

#[test]
fn a_created_name_survives_a_crash_only_after_its_directory_is_synced() {
    let fs = SimFs::new();
    let vfs = SimVfs(fs.clone());
    let file = vfs.open_random(&path("c"), true).unwrap();
    file.write_at(0, b"x").unwrap();
    file.sync_data().unwrap();
    let lost = (0..CRASHES)
        .filter(|&seed| {
            !fs.crash_image(&mut SimRng::new(seed))
                .contains_key(&path("c"))
        })
        .count();
    assert!(lost > 0, "an unsynced creation may vanish");
    vfs.sync_dir(Path::new("/d")).unwrap();
    for seed in 0..CRASHES {
        assert_eq!(
            fs.crash_image(&mut SimRng::new(seed))
                .get(&path("c"))
                .map(Vec::as_slice),
            Some(&b"x"[..]),
            "seed {seed}"
        );
    }
}

#[test]
fn a_file_written_in_place_keeps_each_sector_old_or_new_and_its_old_or_new_length() {
    let fs = SimFs::new();
    let vfs = SimVfs(fs.clone());
    let file = vfs.open_random(&path("r"), true).unwrap();
    let old: Vec<u8> = (0..4 * SECTOR_BYTES)
        .map(|i| (i / SECTOR_BYTES) as u8 + 1)
        .collect();
    file.write_at(0, &old).unwrap();
    file.sync_data().unwrap();
    vfs.sync_dir(Path::new("/d")).unwrap();
    // Rewrite sectors 1 and 3 in part, and grow the file by a sector and a half (set_len, then
    // a write at the end): not synced.
    file.write_at(SECTOR_BYTES as u64 + 10, &[0xAA; 20])
        .unwrap();
    file.write_at(3 * SECTOR_BYTES as u64, &[0xBB; 5]).unwrap();
    file.set_len(5 * SECTOR_BYTES as u64 + SECTOR_BYTES as u64 / 2)
        .unwrap();
    file.write_at(5 * SECTOR_BYTES as u64, &[0xCC; 8]).unwrap();
    let mut new = vec![0u8; 5 * SECTOR_BYTES + SECTOR_BYTES / 2];
    file.read_at(0, &mut new).unwrap();
    let (mut lengths, mut mixed) = (std::collections::BTreeSet::new(), 0);
    for seed in 0..CRASHES {
        let bytes = fs.crash_image(&mut SimRng::new(seed))[&path("r")].clone();
        assert!(
            bytes.len() == old.len() || bytes.len() == new.len(),
            "seed {seed}: length {} is the old or the new one",
            bytes.len()
        );
        lengths.insert(bytes.len());
        let sector = |v: &[u8], i: usize| {
            let mut s = vec![0u8; SECTOR_BYTES];
            let (lo, hi) = (i * SECTOR_BYTES, ((i + 1) * SECTOR_BYTES).min(v.len()));
            if lo < hi {
                s[..hi - lo].copy_from_slice(&v[lo..hi]);
            }
            s
        };
        let mut from_new = 0;
        for i in 0..bytes.len().div_ceil(SECTOR_BYTES) {
            let got = sector(&bytes, i);
            let keep =
                |s: Vec<u8>| s[..(bytes.len() - i * SECTOR_BYTES).min(SECTOR_BYTES)].to_vec();
            let (o, n) = (keep(sector(&old, i)), keep(sector(&new, i)));
            let got = keep(got);
            assert!(
                got == o || got == n,
                "seed {seed}: sector {i} is whole, old or new"
            );
            from_new += usize::from(got == n && o != n);
        }
        mixed += usize::from(from_new > 0 && from_new < 3);
    }
    assert_eq!(lengths.len(), 2, "both lengths happen");
    assert!(
        mixed > 0,
        "some crashes keep some new sectors and not others"
    );
    // Synced: the new bytes, whole.
    file.sync_data().unwrap();
    assert_eq!(fs.crash_image(&mut SimRng::new(1))[&path("r")], new);
}

#[test]
fn reads_see_what_was_written_and_an_injected_failure_stops_every_later_write() {
    let fs = SimFs::new();
    let vfs = SimVfs(fs.clone());
    let file = vfs.open_random(&path("f"), true).unwrap();
    file.write_at(0, b"hello").unwrap();
    assert_eq!(vfs.file_len(&path("f")).unwrap(), 5);
    match vfs.open_read(&path("f")).unwrap() {
        ReadSource::Bytes(bytes) => assert_eq!(bytes, b"hello"),
        ReadSource::File(_) => panic!("the simulation reads from memory"),
    }
    assert!(file.try_lock().unwrap());
    assert!(
        !vfs.open_random(&path("f"), false)
            .unwrap()
            .try_lock()
            .unwrap(),
        "one lock holder at a time"
    );
    file.unlock().unwrap();
    fs.fail_after(1);
    file.write_at(5, b"!").unwrap();
    assert!(file.sync_data().is_err());
    assert!(
        vfs.rename(&path("f"), &path("g")).is_err(),
        "the disk is gone"
    );
    assert!(fs.has_failed());
}
