//! The offline verifier behind `steward audit verify`: re-reads a tenant's audit directory,
//! recomputes the tree with a frontier (about two hashes per record, no tree in memory), checks
//! every signed head's signature and root, and names the first bad record.
//!
//! What it proves: every record up to the last signed head is exactly what the deployment key
//! signed. Per-frame CRC, index and link (see `scan.rs`) name the first bad index for a flipped
//! byte, a dropped, reordered or inserted record; a truncation is named by the first index a
//! head covers but the file lacks. A forger who rewrites frames consistently (recomputing CRCs,
//! indexes and links) is caught by the next signed head, and the report then names the first
//! record after the last head that still verifies. Records after the last signed head are
//! protected only by their frames; sign heads often (and at shutdown) to keep that tail short.

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;

use crate::error::{Tamper, VerifyError, verify_io};
use crate::frame::{HEADS_FILE, RECORDS_FILE};
use crate::frontier::Frontier;
use crate::hash::Hash;
use crate::head::{HeadsStop, SignedHead, read_heads};
use crate::scan::{Opened, ScanStop, Scanner};

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records read (all verified frames).
    pub records: u64,
    /// Root of all `records`.
    pub root: Hash,
    /// Signed heads checked (signature and root).
    pub heads: usize,
    /// Size of the last signed head: records `0..signed_size` are proven by the key.
    pub signed_size: u64,
    /// The file ends inside a frame at this index (a crash mid-write, not covered by any head);
    /// the next open cuts it.
    pub torn_tail_at: Option<u64>,
}

/// Verifies the audit log in `dir` for `tenant` against the deployment's public key.
pub fn verify_dir(dir: &Path, tenant: &str, key: &VerifyingKey) -> Result<VerifyReport, VerifyError> {
    let heads = load_heads(&dir.join(HEADS_FILE), tenant, key)?;
    let path = dir.join(RECORDS_FILE);
    let opened = Scanner::open(&path, true).map_err(verify_io("open", &path))?;
    let mut scanner = match opened {
        Opened::Scanner(scanner) => scanner,
        Opened::NoHeader { .. } => {
            let mut checker = HeadChecker { heads: &heads, next: 0, proven: 0 };
            checker.at(&Frontier::new())?;
            checker.finish(0)?;
            return Ok(VerifyReport { records: 0, root: Frontier::new().root(), heads: 0, signed_size: 0, torn_tail_at: None });
        }
        Opened::NotAuditFile => return Err(VerifyError::NotAuditFile { path }),
    };
    let mut frontier = Frontier::new();
    let mut checker = HeadChecker { heads: &heads, next: 0, proven: 0 };
    checker.at(&frontier)?;
    let mut torn_tail_at = None;
    loop {
        match scanner.next_frame() {
            Ok(Some(frame)) => frontier.push(frame.leaf_hash),
            Ok(None) => break,
            Err(ScanStop::Torn { index, offset, complete }) => {
                if complete {
                    return Err(VerifyError::BadRecord { index, offset, tamper: Tamper::Checksum });
                }
                torn_tail_at = Some(index);
                break;
            }
            Err(ScanStop::Bad { index, offset, tamper }) => return Err(VerifyError::BadRecord { index, offset, tamper }),
            Err(ScanStop::Io(source)) => return Err(VerifyError::Io { op: "read", path: PathBuf::from(&path), source }),
        }
        if let Err(mismatch) = checker.at(&frontier) {
            // A record inserted just before a head's size is only recognized by the frame after
            // it, which names it more precisely than the head can.
            return Err(match scanner.next_frame() {
                Err(ScanStop::Bad { index, offset, tamper: Tamper::Inserted }) if index + 1 == frontier.size() => {
                    VerifyError::BadRecord { index, offset, tamper: Tamper::Inserted }
                }
                _ => mismatch,
            });
        }
    }
    checker.finish(frontier.size())?;
    Ok(VerifyReport {
        records: frontier.size(),
        root: frontier.root(),
        heads: heads.len(),
        signed_size: heads.last().map_or(0, |h| h.size),
        torn_tail_at,
    })
}

/// Reads `heads.log` and checks each head's tenant, signature and order. A torn final head (a
/// crash while signing) is ignored, as recovery would cut it.
fn load_heads(path: &Path, tenant: &str, key: &VerifyingKey) -> Result<Vec<SignedHead>, VerifyError> {
    let file = match read_heads(path) {
        Ok(file) => file,
        Err(HeadsStop::Io(source)) => return Err(VerifyError::Io { op: "read", path: path.to_path_buf(), source }),
        Err(HeadsStop::NotAuditFile) => return Err(VerifyError::NotAuditFile { path: path.to_path_buf() }),
        Err(HeadsStop::Bad { head, reason, .. }) => return Err(VerifyError::BadHead { head, reason }),
    };
    for (i, head) in file.heads.iter().enumerate() {
        if head.tenant != tenant {
            return Err(VerifyError::BadHead { head: i, reason: "signed for another tenant" });
        }
        if !head.verify(key) {
            return Err(VerifyError::BadHead { head: i, reason: "signature does not verify with the deployment key" });
        }
        if i > 0 && head.size < file.heads[i - 1].size {
            return Err(VerifyError::BadHead { head: i, reason: "size smaller than the head before it" });
        }
    }
    Ok(file.heads)
}

/// Walks the heads in size order as the records are replayed.
struct HeadChecker<'a> {
    heads: &'a [SignedHead],
    next: usize,
    /// Records proven by the last matching head.
    proven: u64,
}

impl HeadChecker<'_> {
    /// Checks every head for the frontier's current size.
    fn at(&mut self, frontier: &Frontier) -> Result<(), VerifyError> {
        if self.heads.get(self.next).is_none_or(|h| h.size != frontier.size()) {
            return Ok(());
        }
        let root = frontier.root();
        while let Some(head) = self.heads.get(self.next).filter(|h| h.size == frontier.size()) {
            if head.root != root {
                return Err(VerifyError::RootMismatch { head: self.next, size: head.size, first_unproven: self.proven });
            }
            self.proven = head.size;
            self.next += 1;
        }
        Ok(())
    }

    /// Fails if a head covers more records than were read.
    fn finish(&self, records: u64) -> Result<(), VerifyError> {
        match self.heads.get(self.next) {
            Some(head) => Err(VerifyError::Truncated { head: self.next, size: head.size, records }),
            None => Ok(()),
        }
    }
}
