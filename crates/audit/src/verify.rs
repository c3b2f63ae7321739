//! The offline verifier behind `steward audit verify`: re-reads a tenant's audit directory,
//! recomputes the tree with a frontier (about two hashes per record, no tree in memory), checks
//! every signed head's signature and root, and names the first bad record.
//!
//! What it proves: every record up to the last signed head is exactly what the deployment key
//! signed. Per-frame CRC, index and link (see `scan.rs`) name the first bad index for a flipped
//! byte, a dropped, reordered or inserted record; a truncation is named by the first index a
//! head covers but the file lacks. A forger who rewrites frames consistently (recomputing CRCs,
//! indexes and links) is caught by the next signed head, and the report then names the first
//! record after the last head that still verifies.
//!
//! The shutdown markers (`marker.rs`, `FORMAT.md` §4.4) decide what a damaged final frame is:
//! a torn write, tolerated and reported, only while `open.marker` says the writer is running or
//! crashed; damage otherwise, so the last signed head of a log closed cleanly cannot be damaged
//! unnoticed. A log closed cleanly must also have every record signed. Records after the last
//! signed head of an open (or unmarked) log are protected only by their frames; close logs
//! cleanly and sign heads often to keep that tail short. A rollback (the last heads and the
//! records after an earlier head removed together) leaves no trace in the directory: only a
//! head saved elsewhere catches it (`monitor.rs`).

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;

use crate::error::{Tamper, VerifyError, verify_io};
use crate::frame::{HEADS_FILE, RECORDS_FILE};
use crate::frontier::Frontier;
use crate::hash::Hash;
use crate::head::{HeadsStop, SignedHead, read_heads};
use crate::marker::{ShutdownState, shutdown_state};
use crate::scan::{Opened, ScanStop, Scanner};

/// What a successful verification established.
#[non_exhaustive]
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
    /// How the log was left, from its markers.
    pub shutdown: ShutdownState,
    /// The records file ends inside a frame at this index (a crash mid-write, not covered by any
    /// head; only in a log marked open); the next open cuts it.
    pub torn_tail_at: Option<u64>,
    /// `heads.log` ends in a damaged frame that would be head number `torn_head_at` (a crash
    /// while signing; only in a log marked open). It was ignored; the next open cuts it.
    pub torn_head_at: Option<usize>,
}

impl VerifyReport {
    /// Human-readable caveats of a successful verification (empty for a log closed cleanly).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.shutdown {
            ShutdownState::Open => out.push(
                "the log is marked open (open.marker): its writer is running or crashed, so a damaged final frame is taken for a torn write"
                    .to_owned(),
            ),
            ShutdownState::Unmarked => out.push(
                "the log has no shutdown marker (last written before markers existed, or they were removed): whether it was closed cleanly is unknown"
                    .to_owned(),
            ),
            ShutdownState::Closed => {}
        }
        if let Some(head) = self.torn_head_at {
            out.push(format!(
                "signed head #{head} is a damaged final frame, taken for a torn write and ignored"
            ));
        }
        if let Some(index) = self.torn_tail_at {
            out.push(format!(
                "record {index} is a damaged final frame, taken for a torn write and ignored"
            ));
        }
        if self.records > self.signed_size {
            out.push(format!(
                "records {}..{} are covered by no signed head: protected by their frames only",
                self.signed_size, self.records
            ));
        }
        out
    }
}

/// Verifies the audit log in `dir` for `tenant` against the deployment's public key.
pub fn verify_dir(
    dir: &Path,
    tenant: &str,
    key: &VerifyingKey,
) -> Result<VerifyReport, VerifyError> {
    verify_dir_with(dir, tenant, key, |_| ()).map(|(report, _)| report)
}

/// [`verify_dir`], calling `leaf` with each verified record's leaf hash, in index order; also
/// returns the verified signed heads.
pub(crate) fn verify_dir_with(
    dir: &Path,
    tenant: &str,
    key: &VerifyingKey,
    mut leaf: impl FnMut(&Hash),
) -> Result<(VerifyReport, Vec<SignedHead>), VerifyError> {
    let shutdown = shutdown_state(dir).map_err(verify_io("read the shutdown markers of", dir))?;
    let tolerate_torn = shutdown.tolerates_torn_tail();
    let heads_file = load_heads(&dir.join(HEADS_FILE), tenant, key, tolerate_torn)?;
    let heads = heads_file.heads.as_slice();
    let path = dir.join(RECORDS_FILE);
    let opened = Scanner::open(&path, true).map_err(verify_io("open", &path))?;
    let mut frontier = Frontier::new();
    let mut checker = HeadChecker {
        heads,
        next: 0,
        proven: 0,
    };
    checker.at(&frontier)?;
    let mut torn_tail_at = None;
    let mut incomplete = None;
    match opened {
        Opened::Scanner(mut scanner) => loop {
            match scanner.next_frame() {
                Ok(Some(frame)) => {
                    leaf(&frame.leaf_hash);
                    frontier.push(frame.leaf_hash);
                }
                Ok(None) => break,
                Err(ScanStop::Torn {
                    index,
                    offset,
                    complete,
                }) => {
                    if complete {
                        return Err(VerifyError::BadRecord {
                            index,
                            offset,
                            tamper: Tamper::Checksum,
                        });
                    }
                    if !tolerate_torn {
                        incomplete = Some((index, offset));
                    }
                    torn_tail_at = Some(index);
                    break;
                }
                Err(ScanStop::Bad {
                    index,
                    offset,
                    tamper,
                }) => {
                    return Err(VerifyError::BadRecord {
                        index,
                        offset,
                        tamper,
                    });
                }
                Err(ScanStop::Io(source)) => {
                    return Err(VerifyError::Io {
                        op: "read",
                        path: PathBuf::from(&path),
                        source,
                    });
                }
            }
            if let Err(mismatch) = checker.at(&frontier) {
                // A record inserted just before a head's size is only recognized by the frame
                // after it, which names it more precisely than the head can.
                return Err(match scanner.next_frame() {
                    Err(ScanStop::Bad {
                        index,
                        offset,
                        tamper: Tamper::Inserted,
                    }) if index + 1 == frontier.size() => VerifyError::BadRecord {
                        index,
                        offset,
                        tamper: Tamper::Inserted,
                    },
                    _ => mismatch,
                });
            }
        },
        // Shorter than its header: created by a crash before the header was durable.
        Opened::NoHeader { .. } if tolerate_torn => {}
        Opened::NoHeader { .. } => incomplete = Some((0, 0)),
        Opened::NotAuditFile => return Err(VerifyError::NotAuditFile { path }),
    }
    // A head covering records the file lacks names the first missing one best.
    checker.finish(frontier.size())?;
    if let Some((index, offset)) = incomplete {
        return Err(VerifyError::BadRecord {
            index,
            offset,
            tamper: Tamper::Incomplete,
        });
    }
    if !tolerate_torn && !heads_file.exists && frontier.size() > 0 {
        return Err(VerifyError::BadHead {
            head: 0,
            reason: "heads file missing, and no open marker says the writer crashed",
        });
    }
    let signed_size = heads.last().map_or(0, |h| h.size);
    if shutdown.requires_every_record_signed() && signed_size < frontier.size() {
        return Err(VerifyError::UnsignedTail {
            signed_size,
            records: frontier.size(),
        });
    }
    let report = VerifyReport {
        records: frontier.size(),
        root: frontier.root(),
        heads: heads.len(),
        signed_size,
        shutdown,
        torn_tail_at,
        torn_head_at: heads_file.torn_head_at,
    };
    Ok((report, heads_file.heads))
}

/// The checked heads of a `heads.log`.
pub(crate) struct LoadedHeads {
    pub heads: Vec<SignedHead>,
    pub exists: bool,
    /// A damaged final frame taken for a torn write (only when tolerated).
    pub torn_head_at: Option<usize>,
}

/// Reads `heads.log` and checks each head's tenant, signature and order. A damaged final head
/// is a torn write (ignored, as recovery would cut it) only with `tolerate_torn`.
pub(crate) fn load_heads(
    path: &Path,
    tenant: &str,
    key: &VerifyingKey,
    tolerate_torn: bool,
) -> Result<LoadedHeads, VerifyError> {
    let file = match read_heads(path, tolerate_torn) {
        Ok(file) => file,
        Err(HeadsStop::Io(source)) => {
            return Err(VerifyError::Io {
                op: "read",
                path: path.to_path_buf(),
                source,
            });
        }
        Err(HeadsStop::NotAuditFile) => {
            return Err(VerifyError::NotAuditFile {
                path: path.to_path_buf(),
            });
        }
        Err(HeadsStop::Bad { head, reason, .. }) => {
            return Err(VerifyError::BadHead { head, reason });
        }
    };
    for (i, head) in file.heads.iter().enumerate() {
        if head.tenant != tenant {
            return Err(VerifyError::BadHead {
                head: i,
                reason: "signed for another tenant",
            });
        }
        if !head.verify(key) {
            return Err(VerifyError::BadHead {
                head: i,
                reason: "signature does not verify with the deployment key",
            });
        }
        if i > 0 && head.size < file.heads[i - 1].size {
            return Err(VerifyError::BadHead {
                head: i,
                reason: "size smaller than the head before it",
            });
        }
    }
    let torn_head_at = (file.torn_bytes > 0 && file.valid_len > 0).then_some(file.heads.len());
    Ok(LoadedHeads {
        heads: file.heads,
        exists: file.exists,
        torn_head_at,
    })
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
        if self
            .heads
            .get(self.next)
            .is_none_or(|h| h.size != frontier.size())
        {
            return Ok(());
        }
        let root = frontier.root();
        while let Some(head) = self
            .heads
            .get(self.next)
            .filter(|h| h.size == frontier.size())
        {
            if head.root != root {
                return Err(VerifyError::RootMismatch {
                    head: self.next,
                    size: head.size,
                    first_unproven: self.proven,
                });
            }
            self.proven = head.size;
            self.next += 1;
        }
        Ok(())
    }

    /// Fails if a head covers more records than were read.
    fn finish(&self, records: u64) -> Result<(), VerifyError> {
        match self.heads.get(self.next) {
            Some(head) => Err(VerifyError::Truncated {
                head: self.next,
                size: head.size,
                records,
            }),
            None => Ok(()),
        }
    }
}
