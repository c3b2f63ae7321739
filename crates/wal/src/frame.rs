//! Frame codec: encoding a group-commit frame of records and decoding/validating one from bytes.
//!
//! A frame is the unit of durability: one write followed by one fdatasync. Decoding distinguishes
//! errors that a crash mid-write can produce (incomplete, bad magic, bad checksum) from errors that
//! only corruption or a bug can produce (a frame whose checksum holds but whose contents do not parse).

use crate::Lsn;
use crate::format::{
    FRAME_BODY_BYTES_MAX, FRAME_BODY_HEADER_BYTES, FRAME_HEADER_BYTES, FRAME_MAGIC,
    FRAME_PREFIX_BYTES, RECORD_HEADER_BYTES, read_u32, read_u64,
};

/// Why bytes at some offset are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The buffer ends before the frame does (a write cut short by a crash, or a bad length field).
    #[error("incomplete frame: needs {needed} bytes, {available} available")]
    Incomplete { needed: usize, available: usize },
    /// The first four bytes are not the frame magic.
    #[error("bad frame magic {found:#010x}")]
    BadMagic { found: u32 },
    /// The body length field is smaller than the fixed body header.
    #[error("frame body length {body_bytes} is below the minimum")]
    BadLength { body_bytes: usize },
    /// The body does not match its crc32c.
    #[error("frame checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    BadChecksum { stored: u32, computed: u32 },
    /// The checksum holds but the contents are inconsistent: not something a torn write produces.
    #[error("malformed frame: {reason}")]
    Malformed { reason: String },
}

impl FrameError {
    /// Whether the checksum held; a frame whose crc checks counts as "a valid frame" when deciding
    /// whether a bad frame is a torn tail or corruption in the middle of the log.
    pub fn checksum_held(&self) -> bool {
        matches!(self, FrameError::Malformed { .. })
    }
}

/// A decoded frame borrowing its records from the input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Lsn of the first record.
    pub first_lsn: Lsn,
    /// Number of records, at least 1.
    pub count: u32,
    /// Total encoded size of the frame, prefix included: the offset of the next frame.
    pub encoded_bytes: usize,
    records: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Lsn of the last record.
    pub fn last_lsn(&self) -> Lsn {
        self.first_lsn + u64::from(self.count) - 1
    }

    /// The records with their lsns, in order.
    pub fn records(&self) -> Records<'a> {
        Records {
            next_lsn: self.first_lsn,
            remaining: self.count,
            bytes: self.records,
        }
    }
}

/// Iterator over the `(lsn, payload)` records of a validated frame.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    next_lsn: Lsn,
    remaining: u32,
    bytes: &'a [u8],
}

impl<'a> Iterator for Records<'a> {
    type Item = (Lsn, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        // decode_frame validated the layout, so these slices are in bounds.
        let len = read_u32(self.bytes, 0) as usize;
        let payload = &self.bytes[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len];
        self.bytes = &self.bytes[RECORD_HEADER_BYTES + len..];
        let lsn = self.next_lsn;
        self.next_lsn += 1;
        self.remaining -= 1;
        Some((lsn, payload))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Records<'_> {}

/// Encoded size of `payloads` as records (length prefixes included), without the frame header.
pub fn encoded_records_bytes(payloads: &[&[u8]]) -> usize {
    payloads
        .iter()
        .map(|p| RECORD_HEADER_BYTES.saturating_add(p.len()))
        .fold(0usize, usize::saturating_add)
}

/// Encodes one frame holding `payloads` with consecutive lsns from `first_lsn`.
///
/// Panics if `payloads` is empty, a payload exceeds `u32::MAX` bytes or the frame exceeds the format
/// limit: the writer checks these before encoding, so reaching them is a bug.
pub fn encode_frame(first_lsn: Lsn, payloads: &[&[u8]]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(FRAME_HEADER_BYTES + encoded_records_bytes(payloads));
    start_frame(&mut buf);
    for payload in payloads {
        push_record(&mut buf, payload);
    }
    let count = u32::try_from(payloads.len()).unwrap_or(u32::MAX);
    finish_frame(&mut buf, first_lsn, count);
    buf
}

/// Resets `buf` to an empty frame: the header is reserved and filled in by [`finish_frame`], so
/// that records can be appended as writers arrive without copying them again.
pub(crate) fn start_frame(buf: &mut Vec<u8>) {
    buf.clear();
    buf.resize(FRAME_HEADER_BYTES, 0);
}

/// Appends one record to a frame under construction.
pub(crate) fn push_record(buf: &mut Vec<u8>, payload: &[u8]) {
    let len = u32::try_from(payload.len());
    assert!(len.is_ok(), "record payload exceeds u32::MAX bytes");
    buf.extend_from_slice(&len.unwrap_or(u32::MAX).to_le_bytes());
    buf.extend_from_slice(payload);
}

/// Fills in the header of a frame built with [`start_frame`] and [`push_record`].
pub(crate) fn finish_frame(buf: &mut [u8], first_lsn: Lsn, count: u32) {
    assert!(count > 0, "a frame holds at least one record");
    assert!(first_lsn > 0, "lsn 0 is never assigned");
    assert!(buf.len() >= FRAME_HEADER_BYTES);
    let body_bytes = buf.len() - FRAME_PREFIX_BYTES;
    assert!(
        body_bytes <= FRAME_BODY_BYTES_MAX,
        "frame body exceeds the u32 length field"
    );
    buf[FRAME_PREFIX_BYTES..FRAME_PREFIX_BYTES + 8].copy_from_slice(&first_lsn.to_le_bytes());
    buf[FRAME_PREFIX_BYTES + 8..FRAME_HEADER_BYTES].copy_from_slice(&count.to_le_bytes());
    let crc = crc32c::crc32c(&buf[FRAME_PREFIX_BYTES..]);
    buf[0..4].copy_from_slice(&FRAME_MAGIC.to_le_bytes());
    buf[4..8].copy_from_slice(&(body_bytes as u32).to_le_bytes());
    buf[8..12].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes and fully validates the frame at the start of `buf` (trailing bytes are ignored).
pub fn decode_frame(buf: &[u8]) -> Result<Frame<'_>, FrameError> {
    if buf.len() >= 4 {
        let found = read_u32(buf, 0);
        if found != FRAME_MAGIC {
            return Err(FrameError::BadMagic { found });
        }
    }
    if buf.len() < FRAME_PREFIX_BYTES {
        return Err(FrameError::Incomplete {
            needed: FRAME_PREFIX_BYTES,
            available: buf.len(),
        });
    }
    let body_bytes = read_u32(buf, 4) as usize;
    if body_bytes < FRAME_BODY_HEADER_BYTES {
        return Err(FrameError::BadLength { body_bytes });
    }
    let encoded_bytes = FRAME_PREFIX_BYTES + body_bytes;
    if buf.len() < encoded_bytes {
        return Err(FrameError::Incomplete {
            needed: encoded_bytes,
            available: buf.len(),
        });
    }
    let body = &buf[FRAME_PREFIX_BYTES..encoded_bytes];
    let stored = read_u32(buf, 8);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(FrameError::BadChecksum { stored, computed });
    }
    let first_lsn = read_u64(body, 0);
    let count = read_u32(body, 8);
    let malformed = |reason: String| Err(FrameError::Malformed { reason });
    if first_lsn == 0 {
        return malformed("first lsn is 0".to_owned());
    }
    if count == 0 {
        return malformed("record count is 0".to_owned());
    }
    if first_lsn.checked_add(u64::from(count)).is_none() {
        return malformed(format!("lsn range {first_lsn}+{count} overflows"));
    }
    let records = &body[FRAME_BODY_HEADER_BYTES..];
    let mut at = 0usize;
    for index in 0..count {
        if records.len() - at < RECORD_HEADER_BYTES {
            return malformed(format!("record {index} header runs past the frame body"));
        }
        let len = read_u32(records, at) as usize;
        at += RECORD_HEADER_BYTES;
        if records.len() - at < len {
            return malformed(format!(
                "record {index} of {len} bytes runs past the frame body"
            ));
        }
        at += len;
    }
    if at != records.len() {
        return malformed(format!(
            "{} trailing bytes after {count} records",
            records.len() - at
        ));
    }
    Ok(Frame {
        first_lsn,
        count,
        encoded_bytes,
        records,
    })
}

/// Offset (absolute, in `buf`) of the first position at or after `from` that starts with the frame
/// magic followed by a frame whose checksum holds. Used to tell a torn tail (nothing valid after
/// the bad frame) from corruption in the middle of the log.
pub fn find_checksummed_frame(buf: &[u8], from: usize) -> Option<usize> {
    let magic = FRAME_MAGIC.to_le_bytes();
    let mut at = from;
    while at + magic.len() <= buf.len() {
        let step = buf[at..].windows(magic.len()).position(|w| w == magic)?;
        at += step;
        match decode_frame(&buf[at..]) {
            Ok(_) => return Some(at),
            Err(e) if e.checksum_held() => return Some(at),
            Err(_) => at += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn payloads_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..20)
    }

    proptest! {
        #[test]
        fn frames_round_trip(first_lsn in 1u64..u64::MAX / 2, payloads in payloads_strategy()) {
            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let encoded = encode_frame(first_lsn, &refs);
            prop_assert_eq!(encoded.len(), FRAME_HEADER_BYTES + encoded_records_bytes(&refs));
            let frame = decode_frame(&encoded).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(frame.first_lsn, first_lsn);
            prop_assert_eq!(frame.count as usize, payloads.len());
            prop_assert_eq!(frame.encoded_bytes, encoded.len());
            let decoded: Vec<(Lsn, Vec<u8>)> =
                frame.records().map(|(lsn, p)| (lsn, p.to_vec())).collect();
            let expected: Vec<(Lsn, Vec<u8>)> =
                payloads.iter().cloned().enumerate().map(|(i, p)| (first_lsn + i as u64, p)).collect();
            prop_assert_eq!(decoded, expected);
        }

        #[test]
        fn frames_decode_with_trailing_bytes(payloads in payloads_strategy(), tail in prop::collection::vec(any::<u8>(), 0..64)) {
            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let mut encoded = encode_frame(7, &refs);
            let len = encoded.len();
            encoded.extend_from_slice(&tail);
            let frame = decode_frame(&encoded).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(frame.encoded_bytes, len);
        }

        #[test]
        fn any_single_bit_flip_is_detected(payloads in payloads_strategy(), pick in any::<prop::sample::Index>(), bit in 0u8..8) {
            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let mut encoded = encode_frame(1, &refs);
            let at = pick.index(encoded.len());
            encoded[at] ^= 1 << bit;
            prop_assert!(decode_frame(&encoded).is_err());
        }

        #[test]
        fn every_truncation_is_incomplete(payloads in payloads_strategy()) {
            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let encoded = encode_frame(3, &refs);
            for cut in 0..encoded.len() {
                let err = decode_frame(&encoded[..cut]);
                prop_assert!(matches!(err, Err(FrameError::Incomplete { .. })), "cut {} gave {:?}", cut, err);
            }
        }
    }

    #[test]
    fn checksummed_frame_is_found_after_garbage() {
        let frame = encode_frame(5, &[b"abc", b""]);
        let mut buf = vec![0u8; 10];
        buf.extend_from_slice(&FRAME_MAGIC.to_le_bytes());
        buf.extend_from_slice(&[1, 2, 3]);
        let at = buf.len();
        buf.extend_from_slice(&frame);
        assert_eq!(find_checksummed_frame(&buf, 0), Some(at));
        assert_eq!(find_checksummed_frame(&buf, at + 1), None);
        assert_eq!(find_checksummed_frame(&buf[..buf.len() - 1], 0), None);
    }

    #[test]
    fn malformed_frame_with_valid_checksum_is_reported_as_such() {
        let mut buf = Vec::new();
        start_frame(&mut buf);
        push_record(&mut buf, b"xy");
        // Claim two records while only one is present.
        finish_frame(&mut buf, 1, 2);
        let err = decode_frame(&buf).unwrap_err();
        assert!(err.checksum_held(), "{err:?}");
    }
}
