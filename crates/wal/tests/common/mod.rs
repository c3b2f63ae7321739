//! Helpers shared by the integration tests: opening a log while collecting what it replays.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use steward_wal::{Lsn, Recovery, Wal, WalConfig, WalError};

/// Records as `(lsn, payload)`.
pub type Records = Vec<(Lsn, Vec<u8>)>;

/// Opens the log, collecting every replayed record.
pub fn open_collect(
    dir: &Path,
    config: WalConfig,
    after_lsn: Lsn,
) -> Result<(Wal, Recovery, Records), WalError> {
    let mut records = Vec::new();
    let (wal, recovery) = Wal::open(dir, config, after_lsn, |lsn, payload| {
        records.push((lsn, payload.to_vec()));
        Ok(())
    })?;
    assert_eq!(recovery.records_replayed, records.len() as u64);
    Ok((wal, recovery, records))
}

/// Opens with the default config and after_lsn 0, panicking on error.
pub fn open_default(dir: &Path) -> (Wal, Recovery, Records) {
    open_collect(dir, WalConfig::default(), 0).expect("open wal")
}

/// A payload that is easy to recognise in a failure message.
pub fn payload(tag: u64, len: usize) -> Vec<u8> {
    let mut bytes = tag.to_le_bytes().to_vec();
    bytes.resize(len.max(8), (tag % 251) as u8);
    bytes
}

/// The WAL files in `dir`, oldest first.
pub fn wal_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    files.sort();
    files
}

/// Asserts that `result` is `Corrupted` naming `file` and `offset`.
pub fn assert_corrupted<T: std::fmt::Debug>(result: Result<T, WalError>, file: &Path, offset: u64) {
    match result {
        Err(WalError::Corrupted {
            file: bad_file,
            offset: bad_offset,
            reason,
        }) => {
            assert_eq!(bad_file, file, "wrong file ({reason})");
            assert_eq!(bad_offset, offset, "wrong offset ({reason})");
        }
        other => panic!(
            "expected Corrupted at {}:{offset}, got {other:?}",
            file.display()
        ),
    }
}
