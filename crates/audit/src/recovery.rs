//! Opening a tenant's audit directory: read the shutdown markers, check every frame and signed
//! head without changing a byte, mark the log open, and only then create missing files and cut
//! a torn tail.
//!
//! A torn tail is cut only when `open.marker` says the last writer did not close the log (a
//! crash). In a log closed cleanly (`closed.marker`) or with no marker at all, a damaged final
//! frame is damage like any other: open fails with [`AuditError::Corrupted`] naming the file and
//! byte offset, and leaves every file (markers included) as it found them. A log closed cleanly
//! must also have every record covered by its last signed head. Anything else that is wrong
//! (mid-file corruption, a head the records do not reach or do not match, another tenant's
//! heads) fails in every state.

use std::path::{Path, PathBuf};

use crate::error::{AuditError, io_error};
use crate::files;
use crate::frame::{HEADS_FILE, HEADS_MAGIC, RECORDS_FILE, RECORDS_MAGIC};
use crate::hash::{Hash, to_hex};
use crate::head::{HeadsStop, SignedHead, read_heads};
use crate::marker::{self, ShutdownState};
use crate::scan::{Opened, ScanStop, Scanner};
use crate::tree::MerkleTree;

/// What recovery rebuilt.
pub(crate) struct Recovered {
    pub tree: MerkleTree,
    pub heads: usize,
    pub latest_head: Option<SignedHead>,
    pub records_path: PathBuf,
    pub heads_path: PathBuf,
    /// The markers found before this open marked the log open.
    pub previous_shutdown: ShutdownState,
}

/// A change recovery makes to a file once the log is marked open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repair {
    None,
    /// (Re)create the file holding only its magic.
    Create,
    /// Cut a torn tail at this length.
    Cut {
        len: u64,
        bytes: u64,
    },
}

/// Recovers (creating if needed) the log in `dir` for `tenant`.
pub(crate) fn recover(dir: &Path, tenant: &str) -> Result<Recovered, AuditError> {
    std::fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;
    let state = marker::shutdown_state(dir).map_err(io_error("read shutdown markers", dir))?;
    let tolerate_torn = state.tolerates_torn_tail();
    let heads_path = dir.join(HEADS_FILE);
    let records_path = dir.join(RECORDS_FILE);
    let (heads, heads_exists, heads_repair) = check_heads(&heads_path, tolerate_torn)?;
    if heads.iter().any(|h| h.tenant != tenant) {
        return Err(AuditError::TenantMismatch);
    }
    if let Some(pair) = heads.windows(2).position(|w| w[1].size < w[0].size) {
        return Err(corrupted(
            &heads_path,
            0,
            None,
            format!(
                "signed head #{} has a smaller size than the one before",
                pair + 1
            ),
        ));
    }
    let records = check_records(&records_path, &heads, tolerate_torn)?;
    if !tolerate_torn && !heads_exists && records.tree.size() > 0 {
        return Err(corrupted(
            &heads_path,
            0,
            None,
            "heads file missing next to a records file, and no open marker says the writer crashed"
                .into(),
        ));
    }
    let signed = heads.last().map_or(0, |h| h.size);
    if state.requires_every_record_signed() && signed < records.tree.size() {
        return Err(corrupted(
            &records_path,
            records.unsigned_offset,
            Some(signed),
            format!(
                "records from {signed} on are not covered by a signed head, but the log was closed cleanly (a clean close signs every record)"
            ),
        ));
    }

    // Everything checked: mark the log open before changing any byte, so a crash from here on
    // is recognized as one.
    marker::mark_open(dir, state)?;
    repair(dir, &heads_path, &HEADS_MAGIC, heads_repair, "audit heads")?;
    repair(
        dir,
        &records_path,
        &RECORDS_MAGIC,
        records.repair,
        "audit records",
    )?;
    tracing::info!(dir = %dir.display(), records = records.tree.size(), heads = heads.len(), previous_shutdown = %state, "opened audit log");
    Ok(Recovered {
        tree: records.tree,
        heads: heads.len(),
        latest_head: heads.last().cloned(),
        records_path,
        heads_path,
        previous_shutdown: state,
    })
}

fn repair(
    dir: &Path,
    path: &Path,
    magic: &[u8],
    repair: Repair,
    what: &str,
) -> Result<(), AuditError> {
    match repair {
        Repair::None => Ok(()),
        Repair::Create => files::create_with_magic(dir, path, magic),
        Repair::Cut { len, bytes } => {
            tracing::warn!(file = %path.display(), offset = len, bytes, "cutting torn tail of {what}");
            files::truncate(path, len)
        }
    }
}

/// The heads, whether the file exists, and what to repair.
fn check_heads(
    path: &Path,
    tolerate_torn: bool,
) -> Result<(Vec<SignedHead>, bool, Repair), AuditError> {
    let file = match read_heads(path, tolerate_torn) {
        Ok(file) => file,
        Err(HeadsStop::Io(source)) => {
            return Err(AuditError::Io {
                op: "read",
                path: path.to_path_buf(),
                source,
            });
        }
        Err(HeadsStop::NotAuditFile) => {
            return Err(corrupted(path, 0, None, "not a heads file".into()));
        }
        Err(HeadsStop::Bad {
            head,
            offset,
            reason,
        }) => {
            return Err(corrupted(
                path,
                offset,
                None,
                format!("signed head #{head}: {reason}"),
            ));
        }
    };
    let repair = if file.valid_len == 0 {
        Repair::Create
    } else if file.torn_bytes > 0 {
        Repair::Cut {
            len: file.valid_len,
            bytes: file.torn_bytes,
        }
    } else {
        Repair::None
    };
    Ok((file.heads, file.exists, repair))
}

/// What the records file holds.
struct CheckedRecords {
    tree: MerkleTree,
    repair: Repair,
    /// Byte offset of the first record after the last signed head.
    unsigned_offset: u64,
}

fn check_records(
    path: &Path,
    heads: &[SignedHead],
    tolerate_torn: bool,
) -> Result<CheckedRecords, AuditError> {
    let (opened, exists) = match Scanner::open(path, false) {
        Ok(opened) => (opened, true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            (Opened::NoHeader { len: 0 }, false)
        }
        Err(source) => {
            return Err(AuditError::Io {
                op: "open",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut scanner = match opened {
        Opened::Scanner(scanner) => scanner,
        Opened::NotAuditFile => {
            return Err(corrupted(path, 0, None, "not an audit records file".into()));
        }
        Opened::NoHeader { len } => {
            check_heads_reached(path, heads, 0)?;
            if exists && !tolerate_torn {
                return Err(corrupted(path, 0, Some(0), "records file shorter than its header, and no open marker says the writer crashed".into()));
            }
            if len > 0 {
                tracing::warn!(file = %path.display(), "recreating audit records file torn before its header");
            }
            return Ok(CheckedRecords {
                tree: MerkleTree::new(),
                repair: Repair::Create,
                unsigned_offset: 0,
            });
        }
    };
    let signed = heads.last().map_or(0, |h| h.size);
    let mut tree = MerkleTree::new();
    let mut next_head = 0;
    let mut repair = Repair::None;
    let mut unsigned_offset = scanner.offset();
    check_heads_at(path, heads, &mut next_head, &tree)?;
    loop {
        match scanner.next_frame() {
            Ok(Some(frame)) => tree.push(frame.leaf_hash),
            Ok(None) => break,
            Err(ScanStop::Torn {
                index,
                offset,
                complete,
            }) => {
                if !tolerate_torn {
                    // Name the first record a head lacks when one covers it; else the bad frame.
                    check_heads_reached(path, heads, tree.size())?;
                    let what = if complete {
                        "checksum mismatch in the final frame"
                    } else {
                        "final frame cut short"
                    };
                    return Err(corrupted(
                        path,
                        offset,
                        Some(index),
                        format!("{what}, and no open marker says the writer crashed"),
                    ));
                }
                repair = Repair::Cut {
                    len: offset,
                    bytes: scanner.file_len() - offset,
                };
                break;
            }
            Err(ScanStop::Bad {
                index,
                offset,
                tamper,
            }) => {
                return Err(corrupted(path, offset, Some(index), tamper.to_string()));
            }
            Err(ScanStop::Io(source)) => {
                return Err(AuditError::Io {
                    op: "read",
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        check_heads_at(path, heads, &mut next_head, &tree)?;
        if tree.size() == signed {
            unsigned_offset = scanner.offset();
        }
    }
    check_heads_reached(path, heads, tree.size())?;
    Ok(CheckedRecords {
        tree,
        repair,
        unsigned_offset,
    })
}

/// Checks every head whose size is the tree's current size against its root.
fn check_heads_at(
    path: &Path,
    heads: &[SignedHead],
    next: &mut usize,
    tree: &MerkleTree,
) -> Result<(), AuditError> {
    while let Some(head) = heads.get(*next).filter(|h| h.size == tree.size()) {
        let root: Hash = tree.root();
        if head.root != root {
            return Err(corrupted(
                path,
                0,
                Some(tree.size()),
                format!(
                    "records do not match signed head #{next} (size {}, root {})",
                    head.size,
                    to_hex(&head.root)
                ),
            ));
        }
        *next += 1;
    }
    Ok(())
}

/// Refuses a records file shorter than what a signed head covers (lost or cut records).
fn check_heads_reached(path: &Path, heads: &[SignedHead], records: u64) -> Result<(), AuditError> {
    match heads.last() {
        Some(head) if head.size > records => Err(corrupted(
            path,
            0,
            Some(records),
            format!(
                "records end after {records} but a signed head covers {}",
                head.size
            ),
        )),
        _ => Ok(()),
    }
}

fn corrupted(path: &Path, offset: u64, index: Option<u64>, reason: String) -> AuditError {
    AuditError::Corrupted {
        file: path.to_path_buf(),
        offset,
        index,
        reason,
    }
}
