//! Opening a tenant's audit directory: create the files, rebuild the in-memory tree, cut a torn
//! tail, and refuse anything else that is wrong (mid-file corruption, a head the records do not
//! reach or do not match, another tenant's heads).

use std::path::{Path, PathBuf};

use crate::error::{AuditError, io_error};
use crate::files;
use crate::frame::{FILE_HEADER_BYTES, HEADS_FILE, HEADS_MAGIC, RECORDS_FILE, RECORDS_MAGIC};
use crate::hash::{Hash, to_hex};
use crate::head::{HeadsStop, SignedHead, read_heads};
use crate::scan::{Opened, ScanStop, Scanner};
use crate::tree::MerkleTree;

/// What recovery rebuilt.
pub(crate) struct Recovered {
    pub tree: MerkleTree,
    pub latest_head: Option<SignedHead>,
    pub records_path: PathBuf,
    pub heads_path: PathBuf,
}

/// Recovers (creating if needed) the log in `dir` for `tenant`.
pub(crate) fn recover(dir: &Path, tenant: &str) -> Result<Recovered, AuditError> {
    std::fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;
    let heads_path = dir.join(HEADS_FILE);
    let records_path = dir.join(RECORDS_FILE);
    let heads = recover_heads(dir, &heads_path)?;
    if heads.iter().any(|h| h.tenant != tenant) {
        return Err(AuditError::TenantMismatch);
    }
    if let Some(pair) = heads.windows(2).position(|w| w[1].size < w[0].size) {
        return Err(corrupted(&heads_path, 0, None, format!("signed head #{} has a smaller size than the one before", pair + 1)));
    }
    let tree = recover_records(dir, &records_path, &heads)?;
    tracing::info!(dir = %dir.display(), records = tree.size(), heads = heads.len(), "opened audit log");
    Ok(Recovered { tree, latest_head: heads.last().cloned(), records_path, heads_path })
}

fn recover_heads(dir: &Path, path: &Path) -> Result<Vec<SignedHead>, AuditError> {
    let file = match read_heads(path) {
        Ok(file) => file,
        Err(HeadsStop::Io(source)) => return Err(AuditError::Io { op: "read", path: path.to_path_buf(), source }),
        Err(HeadsStop::NotAuditFile) => return Err(corrupted(path, 0, None, "not a heads file".into())),
        Err(HeadsStop::Bad { head, offset, reason }) => {
            return Err(corrupted(path, offset, None, format!("signed head #{head}: {reason}")));
        }
    };
    if file.valid_len < FILE_HEADER_BYTES as u64 {
        files::create_with_magic(dir, path, &HEADS_MAGIC)?;
    } else if file.torn_bytes > 0 {
        tracing::warn!(file = %path.display(), offset = file.valid_len, bytes = file.torn_bytes, "cutting torn tail of audit heads");
        files::truncate(path, file.valid_len)?;
    }
    Ok(file.heads)
}

fn recover_records(dir: &Path, path: &Path, heads: &[SignedHead]) -> Result<MerkleTree, AuditError> {
    let opened = match Scanner::open(path, false) {
        Ok(opened) => opened,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Opened::NoHeader { len: 0 },
        Err(source) => return Err(AuditError::Io { op: "open", path: path.to_path_buf(), source }),
    };
    let mut scanner = match opened {
        Opened::Scanner(scanner) => scanner,
        Opened::NotAuditFile => return Err(corrupted(path, 0, None, "not an audit records file".into())),
        Opened::NoHeader { len } => {
            if len > 0 {
                tracing::warn!(file = %path.display(), "recreating audit records file torn before its header");
            }
            files::create_with_magic(dir, path, &RECORDS_MAGIC)?;
            check_heads_reached(path, heads, 0)?;
            return Ok(MerkleTree::new());
        }
    };
    let mut tree = MerkleTree::new();
    let mut next_head = 0;
    check_heads_at(path, heads, &mut next_head, &tree)?;
    loop {
        match scanner.next_frame() {
            Ok(Some(frame)) => tree.push(frame.leaf_hash),
            Ok(None) => break,
            Err(ScanStop::Torn { index, offset, .. }) => {
                tracing::warn!(file = %path.display(), index, offset, "cutting torn tail of audit records");
                files::truncate(path, offset)?;
                break;
            }
            Err(ScanStop::Bad { index, offset, tamper }) => {
                return Err(corrupted(path, offset, Some(index), tamper.to_string()));
            }
            Err(ScanStop::Io(source)) => return Err(AuditError::Io { op: "read", path: path.to_path_buf(), source }),
        }
        check_heads_at(path, heads, &mut next_head, &tree)?;
    }
    check_heads_reached(path, heads, tree.size())?;
    Ok(tree)
}

/// Checks every head whose size is the tree's current size against its root.
fn check_heads_at(path: &Path, heads: &[SignedHead], next: &mut usize, tree: &MerkleTree) -> Result<(), AuditError> {
    while let Some(head) = heads.get(*next).filter(|h| h.size == tree.size()) {
        let root: Hash = tree.root();
        if head.root != root {
            return Err(corrupted(
                path,
                0,
                Some(tree.size()),
                format!("records do not match signed head #{next} (size {}, root {})", head.size, to_hex(&head.root)),
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
            format!("records end after {records} but a signed head covers {}", head.size),
        )),
        _ => Ok(()),
    }
}

fn corrupted(path: &Path, offset: u64, index: Option<u64>, reason: String) -> AuditError {
    AuditError::Corrupted { file: path.to_path_buf(), offset, index, reason }
}
