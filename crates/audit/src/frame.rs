//! On-disk framing of `records.log` and `heads.log` (specified in `FORMAT.md`): magic bytes,
//! frame prefix (length, CRC-32C) and the record frame body (index, chain link, leaf).
//!
//! Every integer is big-endian. Everything that fixes a byte on disk lives here or in
//! `record.rs` / `head.rs`, so a format change is one reviewable diff.

use crate::hash::Hash;
use crate::limits::LEAF_BYTES_MAX;

/// First 8 bytes of `records.log`; the trailing byte is the format generation.
pub const RECORDS_MAGIC: [u8; 8] = *b"STWAUDR\x01";
/// First 8 bytes of `heads.log`.
pub const HEADS_MAGIC: [u8; 8] = *b"STWAUDH\x01";
/// Bytes of each file's header (the magic alone).
pub const FILE_HEADER_BYTES: usize = 8;
/// Frame prefix: body length (u32) and CRC-32C of the body (u32).
pub const FRAME_PREFIX_BYTES: usize = 8;
/// Start of a record frame body: the record's index (u64) and the chain link (8 bytes).
pub const RECORD_BODY_HEADER_BYTES: usize = 16;
/// Bytes of the chain link: a prefix of the previous record's leaf hash (zeros for record 0).
pub const LINK_BYTES: usize = 8;
/// Smallest and largest valid record frame body.
pub const RECORD_BODY_BYTES_MIN: usize = RECORD_BODY_HEADER_BYTES + 1;
pub const RECORD_BODY_BYTES_MAX: usize = RECORD_BODY_HEADER_BYTES + LEAF_BYTES_MAX;

/// File names inside a tenant's audit directory.
pub const RECORDS_FILE: &str = "records.log";
pub const HEADS_FILE: &str = "heads.log";

/// The link a record frame at `index` must carry, given the leaf hash of record `index - 1`.
pub fn link(index: u64, previous_leaf_hash: &Hash) -> [u8; LINK_BYTES] {
    let mut link = [0u8; LINK_BYTES];
    if index > 0 {
        link.copy_from_slice(&previous_leaf_hash[..LINK_BYTES]);
    }
    link
}

/// Appends one record frame to `out`.
pub fn push_record_frame(out: &mut Vec<u8>, index: u64, link: &[u8; LINK_BYTES], leaf: &[u8]) {
    debug_assert!(!leaf.is_empty() && leaf.len() <= LEAF_BYTES_MAX);
    let body_len = (RECORD_BODY_HEADER_BYTES + leaf.len()) as u32;
    let index = index.to_be_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&index), link), leaf);
    out.extend_from_slice(&body_len.to_be_bytes());
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&index);
    out.extend_from_slice(link);
    out.extend_from_slice(leaf);
}

/// Appends one frame around an arbitrary body (used for signed heads).
pub fn push_frame(out: &mut Vec<u8>, body: &[u8]) {
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(body).to_be_bytes());
    out.extend_from_slice(body);
}

/// Splits a frame prefix into (body length, crc).
pub fn parse_prefix(prefix: &[u8; FRAME_PREFIX_BYTES]) -> (usize, u32) {
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    let crc = u32::from_be_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
    (len, crc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_frame_layout() {
        let mut out = Vec::new();
        push_record_frame(&mut out, 5, &[9; LINK_BYTES], b"leaf");
        let prefix: [u8; 8] = out[..8].try_into().unwrap();
        let (len, crc) = parse_prefix(&prefix);
        assert_eq!(len, 16 + 4);
        assert_eq!(out.len(), 8 + len);
        assert_eq!(crc, crc32c::crc32c(&out[8..]));
        assert_eq!(&out[8..16], &5u64.to_be_bytes());
        assert_eq!(&out[16..24], &[9; 8]);
        assert_eq!(&out[24..], b"leaf");
        assert_eq!(link(0, &[1; 32]), [0; 8]);
        assert_eq!(link(1, &[1; 32]), [1; 8]);
    }
}
