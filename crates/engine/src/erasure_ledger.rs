//! The erasure ledger: an append-only file kept outside backups, so a backup restored after
//! an erasure never brings the subject back.
//!
//! Each line records, before the erasure's key-destroying commit, what a restore needs to
//! find the subject again in an older copy of the data: the tenant, the erasure request's id
//! (a keyed hash of the pseudonym), the keyed fingerprints of the subject keys being
//! destroyed, and, for a request that blocks future events, the suppression entry. None of
//! these name the subject to anyone without the tenant's secrets (the same values the tenant
//! catalog holds), so a forensic scan for the subject finds nothing here.
//!
//! `steward restore` replays the ledger before the restored directory serves: every subject
//! whose key fingerprint is listed is erased again (its key in the backup is the one that was
//! destroyed); a subject who came back after the erasure under a new key is not (its new key
//! has another fingerprint). Lines are `<16 hex digits of SHA-256> <json>\n`: a torn last line
//! (a crash mid-append) is ignored, any other damage refuses the replay.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The default file name, in the data directory (never copied into a backup).
pub const ERASURE_LEDGER_FILE: &str = "erasure.ledger";
/// A line longer than this is damage (entries are a few hundred bytes).
const LINE_BYTES_MAX: usize = 1 << 20;
/// A ledger larger than this is refused rather than read into memory.
pub const LEDGER_BYTES_MAX: u64 = 4 << 30;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("erasure ledger {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("erasure ledger {path}: line {line} is damaged ({reason})")]
    Damaged {
        path: PathBuf,
        line: usize,
        reason: &'static str,
    },
    #[error("erasure ledger {path}: larger than {LEDGER_BYTES_MAX} bytes")]
    TooLarge { path: PathBuf },
}

/// One erasure (or one suppression) as the ledger keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub tenant: String,
    /// The erasure request id (keyed hash of the pseudonym); absent on a suppression line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure: Option<String>,
    /// Keyed fingerprints (hex) of the subject keys destroyed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Suppression entries (hex) to restore: the subject's future events are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppress: Vec<String>,
    /// When (RFC 3339).
    pub at: String,
}

/// The open ledger: appends are serialized and durable (fsync) before they return.
pub struct ErasureLedger {
    path: PathBuf,
    file: parking_lot::Mutex<Option<std::fs::File>>,
}

impl ErasureLedger {
    pub fn new(path: PathBuf) -> ErasureLedger {
        ErasureLedger {
            path,
            file: parking_lot::Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the entries as one write, then fsyncs (and, for a new file, its directory).
    pub fn append(&self, entries: &[LedgerEntry]) -> Result<(), LedgerError> {
        if entries.is_empty() {
            return Ok(());
        }
        let io = |source| LedgerError::Io {
            path: self.path.clone(),
            source,
        };
        let mut text = Vec::new();
        for entry in entries {
            text.extend_from_slice(&encode_line(entry));
        }
        let mut slot = self.file.lock();
        if slot.is_none() {
            let created = !self.path.exists();
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let file = options.open(&self.path).map_err(io)?;
            // A torn line left by a crash (never acknowledged) would glue onto the next
            // entry: cut it off first.
            let len = file.metadata().map_err(io)?.len();
            if len > 0 {
                let keep = complete_prefix(&self.path, len).map_err(io)?;
                if keep < len {
                    file.set_len(keep).map_err(io)?;
                    file.sync_all().map_err(io)?;
                }
            }
            if created {
                file.sync_all().map_err(io)?;
                if let Some(dir) = self.path.parent() {
                    std::fs::File::open(dir)
                        .and_then(|d| d.sync_all())
                        .map_err(io)?;
                }
            }
            *slot = Some(file);
        }
        let Some(file) = slot.as_mut() else {
            return Ok(());
        };
        file.write_all(&text).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(())
    }
}

/// The length of the file up to and including its last newline.
fn complete_prefix(path: &Path, len: u64) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let tail = len.min(LINE_BYTES_MAX as u64 + 1);
    file.seek(SeekFrom::Start(len - tail))?;
    let mut buf = vec![0u8; tail as usize];
    file.read_exact(&mut buf)?;
    Ok(match buf.iter().rposition(|&b| b == b'\n') {
        Some(i) => len - tail + i as u64 + 1,
        None if len > tail => len,
        None => 0,
    })
}

fn checksum(json: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&steward_crypto::sha256(&[json])[..8])
}

fn encode_line(entry: &LedgerEntry) -> Vec<u8> {
    // Serializing plain strings and vectors cannot fail.
    let json = serde_json::to_vec(entry).unwrap_or_default();
    let mut line = checksum(&json).into_bytes();
    line.push(b' ');
    line.extend_from_slice(&json);
    line.push(b'\n');
    line
}

/// Reads every entry. A missing file is an empty ledger only when `missing_ok`.
pub fn read_ledger(path: &Path) -> Result<Vec<LedgerEntry>, LedgerError> {
    let io = |source| LedgerError::Io {
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > LEDGER_BYTES_MAX {
        return Err(LedgerError::TooLarge {
            path: path.to_owned(),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    parse(path, &bytes)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<LedgerEntry>, LedgerError> {
    let damaged = |line: usize, reason: &'static str| LedgerError::Damaged {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut number = 0;
    while !rest.is_empty() {
        number += 1;
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            // The last line never got its newline: an append torn by a crash, never
            // acknowledged (the erasure it belonged to was not carried out either).
            break;
        };
        let line = &rest[..end];
        rest = &rest[end + 1..];
        if line.is_empty() {
            continue;
        }
        if line.len() > LINE_BYTES_MAX {
            return Err(damaged(number, "line too long"));
        }
        if line.len() < 18 || line[16] != b' ' {
            return Err(damaged(number, "no checksum"));
        }
        let (sum, json) = (&line[..16], &line[17..]);
        if sum != checksum(json).as_bytes() {
            return Err(damaged(number, "checksum mismatch"));
        }
        let entry: LedgerEntry =
            serde_json::from_slice(json).map_err(|_| damaged(number, "not a ledger entry"))?;
        if entry.tenant.is_empty() || entry.tenant.len() > 128 {
            return Err(damaged(number, "bad tenant"));
        }
        for hex in entry.keys.iter().chain(&entry.suppress) {
            if hex.len() != 64 || data_encoding::HEXLOWER.decode(hex.as_bytes()).is_err() {
                return Err(damaged(number, "bad fingerprint"));
            }
        }
        out.push(entry);
    }
    Ok(out)
}

/// Decodes a 64-hex-digit fingerprint (validated by [`read_ledger`]).
pub(crate) fn fingerprint(hex: &str) -> Option<[u8; 32]> {
    let bytes = data_encoding::HEXLOWER.decode(hex.as_bytes()).ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(tenant: &str, n: u8) -> LedgerEntry {
        LedgerEntry {
            tenant: tenant.into(),
            erasure: Some(format!("{n:032x}")),
            keys: vec![data_encoding::HEXLOWER.encode(&[n; 32])],
            suppress: Vec::new(),
            at: "2026-12-04T00:00:00Z".into(),
        }
    }

    #[test]
    fn appends_survive_reopen_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("erasure.ledger");
        let ledger = ErasureLedger::new(path.clone());
        ledger
            .append(&[entry("acme", 1), entry("beta", 2)])
            .unwrap();
        drop(ledger);
        // A crash mid-append leaves half a line.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"0123456789abcdef {\"tenant\":\"ac");
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_ledger(&path).unwrap().len(), 2);
        // The next append cuts the torn line off first, so the ledger stays readable.
        ErasureLedger::new(path.clone())
            .append(&[entry("acme", 3)])
            .unwrap();
        let entries = read_ledger(&path).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[2], entry("acme", 3));
    }

    #[test]
    fn a_flipped_byte_is_reported_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("erasure.ledger");
        ErasureLedger::new(path.clone())
            .append(&[entry("acme", 1), entry("acme", 2)])
            .unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let second = bytes.iter().position(|&b| b == b'\n').unwrap() + 30;
        bytes[second] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        match read_ledger(&path) {
            Err(LedgerError::Damaged { line: 2, .. }) => {}
            other => panic!("expected damage on line 2, got {other:?}"),
        }
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(Path::new("x"), &bytes);
        }

        #[test]
        fn entries_round_trip(tenants in proptest::collection::vec("[a-z]{1,12}", 1..20)) {
            let entries: Vec<LedgerEntry> = tenants.iter().enumerate().map(|(i, t)| entry(t, i as u8)).collect();
            let mut bytes = Vec::new();
            for e in &entries { bytes.extend_from_slice(&encode_line(e)); }
            prop_assert_eq!(parse(Path::new("x"), &bytes).unwrap(), entries);
        }
    }
}
