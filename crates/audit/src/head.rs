//! Signed tree heads: what is signed (the canonical message), how a head is stored in
//! `heads.log`, and how the file is read back.

use std::io;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::frame::{FILE_HEADER_BYTES, FRAME_PREFIX_BYTES, HEADS_MAGIC, parse_prefix};
use crate::hash::Hash;
use crate::limits::STRING_BYTES_MAX;

/// Domain-separation prefix of the signed message; a signature over a head can never be
/// mistaken for a signature over anything else the deployment key signs.
pub const HEAD_SIGNING_CONTEXT: &[u8] = b"steward-audit-head-v1";
/// Version byte that opens a stored head.
pub const HEAD_VERSION: u8 = 1;

/// The size and root of the tree at some moment, unsigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
}

/// A tree head signed with the deployment's Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHead {
    pub tenant: String,
    /// Records covered: indexes `0..size`.
    pub size: u64,
    /// RFC 9162 Merkle tree hash of those records.
    pub root: Hash,
    /// When the head was signed, microseconds since the Unix epoch.
    pub time_us: i64,
    pub signature: [u8; 64],
}

/// `"steward-audit-head-v1" ‖ u16 tenant length ‖ tenant ‖ u64 size ‖ root ‖ i64 time_us`, all
/// big-endian: the exact bytes the Ed25519 signature covers.
pub fn head_message(tenant: &str, size: u64, root: &Hash, time_us: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEAD_SIGNING_CONTEXT.len() + 2 + tenant.len() + 8 + 32 + 8);
    out.extend_from_slice(HEAD_SIGNING_CONTEXT);
    out.extend_from_slice(&(tenant.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    out.extend_from_slice(tenant.as_bytes());
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(root);
    out.extend_from_slice(&time_us.to_be_bytes());
    out
}

impl SignedHead {
    /// Signs `head` for `tenant` at `time_us`.
    pub fn sign(key: &SigningKey, tenant: &str, head: TreeHead, time_us: i64) -> SignedHead {
        let signature = key.sign(&head_message(tenant, head.size, &head.root, time_us));
        SignedHead {
            tenant: tenant.to_owned(),
            size: head.size,
            root: head.root,
            time_us,
            signature: signature.to_bytes(),
        }
    }

    /// The signed message (see [`head_message`]).
    pub fn message(&self) -> Vec<u8> {
        head_message(&self.tenant, self.size, &self.root, self.time_us)
    }

    /// Whether the signature is valid for `key` (strict RFC 8032 verification: no malleable
    /// signatures, no small-order keys).
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        key.verify_strict(&self.message(), &Signature::from_bytes(&self.signature))
            .is_ok()
    }

    /// The unsigned part.
    pub fn tree_head(&self) -> TreeHead {
        TreeHead {
            size: self.size,
            root: self.root,
        }
    }

    /// The stored form: `version ‖ u16 tenant length ‖ tenant ‖ u64 size ‖ root ‖ i64 time_us ‖
    /// signature`, big-endian.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = vec![HEAD_VERSION];
        out.extend_from_slice(&self.message()[HEAD_SIGNING_CONTEXT.len()..]);
        out.extend_from_slice(&self.signature);
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<SignedHead> {
        let (&version, rest) = bytes.split_first()?;
        if version != HEAD_VERSION || rest.len() < 2 {
            return None;
        }
        let tenant_len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        if tenant_len > STRING_BYTES_MAX || rest.len() != 2 + tenant_len + 8 + 32 + 8 + 64 {
            return None;
        }
        let tenant = String::from_utf8(rest[2..2 + tenant_len].to_vec()).ok()?;
        let rest = &rest[2 + tenant_len..];
        Some(SignedHead {
            tenant,
            size: u64::from_be_bytes(rest[..8].try_into().ok()?),
            root: rest[8..40].try_into().ok()?,
            time_us: i64::from_be_bytes(rest[40..48].try_into().ok()?),
            signature: rest[48..112].try_into().ok()?,
        })
    }
}

/// A page of a log's signed heads (see `AuditLog::signed_heads_page`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadsPage {
    /// Index (0-based, oldest first) of the first head in `heads`.
    pub start: usize,
    /// Signed heads in the log.
    pub total: usize,
    pub heads: Vec<SignedHead>,
}

/// The heads of a `heads.log`, and where its valid part ends.
#[derive(Debug, Default)]
pub(crate) struct HeadsFile {
    /// Whether the file exists (a missing file holds no head).
    pub exists: bool,
    pub heads: Vec<SignedHead>,
    /// Byte length of the valid frames (header included); a torn tail starts here.
    pub valid_len: u64,
    /// Bytes after `valid_len` that belong to a torn final frame (only when torn tails are
    /// tolerated).
    pub torn_bytes: u64,
}

/// Why a heads file could not be read.
#[derive(Debug)]
pub(crate) enum HeadsStop {
    Io(io::Error),
    NotAuditFile,
    /// Frame number `head` (at byte `offset`) is damaged with more bytes after it, or is a
    /// damaged final frame in a log not marked open.
    Bad {
        head: usize,
        offset: u64,
        reason: &'static str,
    },
}

/// Reads a heads file (missing file = no heads). With `tolerate_torn` (the log is marked open,
/// so a crash may have cut the last write), a damaged final frame or a file shorter than its
/// header is a torn tail; without it, that is damage too. Any other damage stops the read.
pub(crate) fn read_heads(path: &Path, tolerate_torn: bool) -> Result<HeadsFile, HeadsStop> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(HeadsFile::default()),
        Err(error) => return Err(HeadsStop::Io(error)),
    };
    if bytes.len() < FILE_HEADER_BYTES {
        if !tolerate_torn {
            return Err(HeadsStop::Bad {
                head: 0,
                offset: 0,
                reason: "heads file shorter than its header, and no open marker says the writer crashed",
            });
        }
        // A crash while creating the file; it holds no head.
        return Ok(HeadsFile {
            exists: true,
            heads: Vec::new(),
            valid_len: 0,
            torn_bytes: bytes.len() as u64,
        });
    }
    if bytes[..FILE_HEADER_BYTES] != HEADS_MAGIC {
        return Err(HeadsStop::NotAuditFile);
    }
    let mut heads = Vec::new();
    let mut offset = FILE_HEADER_BYTES;
    while offset < bytes.len() {
        match parse_head_frame(&bytes[offset..]) {
            Some((head, len)) => {
                heads.push(head);
                offset += len;
            }
            // A bad frame is a torn tail (a crash while signing) only when no valid head follows.
            None if (offset + 1..bytes.len())
                .any(|start| parse_head_frame(&bytes[start..]).is_some()) =>
            {
                return Err(HeadsStop::Bad {
                    head: heads.len(),
                    offset: offset as u64,
                    reason: "damaged head frame",
                });
            }
            None if !tolerate_torn => {
                return Err(HeadsStop::Bad {
                    head: heads.len(),
                    offset: offset as u64,
                    reason: "damaged final head frame, and no open marker says the writer crashed",
                });
            }
            None => {
                let torn_bytes = (bytes.len() - offset) as u64;
                return Ok(HeadsFile {
                    exists: true,
                    heads,
                    valid_len: offset as u64,
                    torn_bytes,
                });
            }
        }
    }
    Ok(HeadsFile {
        exists: true,
        heads,
        valid_len: offset as u64,
        torn_bytes: 0,
    })
}

/// Bytes of one stored head frame of `tenant`: every head of a log has this size, so head `i`
/// starts at `FILE_HEADER_BYTES + i * head_frame_bytes(tenant)`.
pub(crate) fn head_frame_bytes(tenant: &str) -> usize {
    FRAME_PREFIX_BYTES + 1 + 2 + tenant.len() + 8 + 32 + 8 + 64
}

/// Reads the intact heads `start..start + count` of a heads file whose frames all have
/// `frame_bytes` bytes (the writer's own file, already checked by recovery). `None` when a
/// frame in that range does not parse.
pub(crate) fn read_head_range(
    file: &mut std::fs::File,
    frame_bytes: usize,
    start: usize,
    count: usize,
) -> io::Result<Option<Vec<SignedHead>>> {
    use std::io::{Read, Seek, SeekFrom};
    let offset = FILE_HEADER_BYTES as u64 + start as u64 * frame_bytes as u64;
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = vec![0u8; count * frame_bytes];
    file.read_exact(&mut bytes)?;
    let mut heads = Vec::with_capacity(count);
    for chunk in bytes.chunks(frame_bytes) {
        match parse_head_frame(chunk) {
            Some((head, len)) if len == frame_bytes => heads.push(head),
            _ => return Ok(None),
        }
    }
    Ok(Some(heads))
}

/// A valid head frame at the start of `bytes`, and its length.
fn parse_head_frame(bytes: &[u8]) -> Option<(SignedHead, usize)> {
    let prefix: &[u8; FRAME_PREFIX_BYTES] = bytes.get(..FRAME_PREFIX_BYTES)?.try_into().ok()?;
    let (len, crc) = parse_prefix(prefix);
    let body = bytes.get(FRAME_PREFIX_BYTES..FRAME_PREFIX_BYTES.checked_add(len)?)?;
    if crc32c::crc32c(body) != crc {
        return None;
    }
    Some((SignedHead::decode(body)?, FRAME_PREFIX_BYTES + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_round_trips_and_its_signature_binds_every_field() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let head = SignedHead::sign(
            &key,
            "acme",
            TreeHead {
                size: 9,
                root: [4; 32],
            },
            123,
        );
        assert!(head.verify(&key.verifying_key()));
        assert_eq!(SignedHead::decode(&head.encode()), Some(head.clone()));
        let changes: [fn(&mut SignedHead); 4] = [
            |h| h.size += 1,
            |h| h.root[0] ^= 1,
            |h| h.time_us += 1,
            |h| h.tenant = "acmf".into(),
        ];
        for change in changes {
            let mut other = head.clone();
            change(&mut other);
            assert!(!other.verify(&key.verifying_key()));
        }
        assert!(!head.verify(&SigningKey::from_bytes(&[5; 32]).verifying_key()));
    }
}
