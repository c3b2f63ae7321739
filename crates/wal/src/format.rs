//! On-disk format constants (documented in `format.md`) and the codec for WAL file names and file headers.
//!
//! Everything that fixes a byte on disk lives here so that a format change is one reviewable diff.

use crate::Lsn;

/// First 8 bytes of every WAL file; the trailing `\x01` is the major format generation.
pub const FILE_MAGIC: [u8; 8] = *b"STWAL\0\0\x01";
/// Format version written in the file header; readers refuse versions they do not know.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the file header: magic (8), version (4), reserved (4), first lsn (8), crc32c (4), padding (4).
pub const FILE_HEADER_BYTES: usize = 32;
/// Offset of the header crc, which covers every header byte before it.
pub const FILE_HEADER_CRC_OFFSET: usize = 24;

/// Frame magic, `u32` little endian; on disk the bytes read `FLAW`.
pub const FRAME_MAGIC: u32 = 0x5741_4C46;
/// Frame prefix that the crc does not cover: magic (4), body length (4), crc32c (4).
pub const FRAME_PREFIX_BYTES: usize = 12;
/// Start of the crc-covered body: first lsn (8), record count (4).
pub const FRAME_BODY_HEADER_BYTES: usize = 12;
/// Bytes in front of the first record of a frame.
pub const FRAME_HEADER_BYTES: usize = FRAME_PREFIX_BYTES + FRAME_BODY_HEADER_BYTES;
/// Each record is prefixed by its payload length (`u32` little endian).
pub const RECORD_HEADER_BYTES: usize = 4;
/// The body length field is a `u32`, which caps the crc-covered body of one frame.
pub const FRAME_BODY_BYTES_MAX: usize = u32::MAX as usize;
/// Largest possible encoded frame (prefix plus the largest body).
pub const FRAME_BYTES_MAX: usize = FRAME_PREFIX_BYTES + FRAME_BODY_BYTES_MAX;

/// Extension of WAL files; anything else in the directory is ignored.
pub const FILE_EXTENSION: &str = "wal";
/// File names are the first lsn zero-padded to this many digits so that names sort like lsns.
pub const FILE_NAME_DIGITS: usize = 20;

/// Name of the file whose first record has `first_lsn`.
pub fn file_name(first_lsn: Lsn) -> String {
    format!("{first_lsn:020}.{FILE_EXTENSION}")
}

/// Parses a WAL file name back into its first lsn; `None` for names that are not WAL files.
pub fn parse_file_name(name: &str) -> Option<Lsn> {
    let digits = name.strip_suffix(FILE_EXTENSION)?.strip_suffix('.')?;
    if digits.len() != FILE_NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Encodes the header of a file whose first record will have `first_lsn`.
pub fn encode_file_header(first_lsn: Lsn) -> [u8; FILE_HEADER_BYTES] {
    let mut header = [0u8; FILE_HEADER_BYTES];
    header[0..8].copy_from_slice(&FILE_MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    // 12..16 reserved, zero.
    header[16..24].copy_from_slice(&first_lsn.to_le_bytes());
    let crc = crc32c::crc32c(&header[..FILE_HEADER_CRC_OFFSET]);
    header[24..28].copy_from_slice(&crc.to_le_bytes());
    // 28..32 padding, zero.
    header
}

/// Decodes a file header and returns its first lsn, or a human-readable reason why it is invalid.
pub fn decode_file_header(bytes: &[u8]) -> Result<Lsn, String> {
    if bytes.len() < FILE_HEADER_BYTES {
        return Err(format!(
            "file header needs {FILE_HEADER_BYTES} bytes, file has {}",
            bytes.len()
        ));
    }
    if bytes[0..8] != FILE_MAGIC {
        return Err("bad file magic".to_owned());
    }
    let stored_crc = read_u32(bytes, 24);
    let computed_crc = crc32c::crc32c(&bytes[..FILE_HEADER_CRC_OFFSET]);
    if stored_crc != computed_crc {
        return Err(format!(
            "file header checksum mismatch (stored {stored_crc:#010x}, computed {computed_crc:#010x})"
        ));
    }
    let version = read_u32(bytes, 8);
    if version != FORMAT_VERSION {
        return Err(format!("unsupported format version {version}"));
    }
    let first_lsn = read_u64(bytes, 16);
    if first_lsn == 0 {
        return Err("file header first lsn is 0".to_owned());
    }
    Ok(first_lsn)
}

/// Reads a little-endian `u32` at `at`; callers have checked that the bytes exist.
pub(crate) fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(raw)
}

/// Reads a little-endian `u64` at `at`; callers have checked that the bytes exist.
pub(crate) fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_and_sort_like_lsns() {
        assert_eq!(file_name(1), "00000000000000000001.wal");
        assert_eq!(parse_file_name(&file_name(1)), Some(1));
        assert_eq!(parse_file_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert!(file_name(9) < file_name(10));
        assert_eq!(parse_file_name("1.wal"), None);
        assert_eq!(parse_file_name("0000000000000000000a.wal"), None);
        assert_eq!(parse_file_name("00000000000000000001.wal.tmp"), None);
    }

    #[test]
    fn header_round_trips_and_detects_flips() {
        let header = encode_file_header(42);
        assert_eq!(decode_file_header(&header), Ok(42));
        for i in 0..FILE_HEADER_CRC_OFFSET + 4 {
            let mut bad = header;
            bad[i] ^= 0x10;
            assert!(decode_file_header(&bad).is_err(), "flip at {i} undetected");
        }
        assert!(decode_file_header(&header[..31]).is_err());
    }
}
