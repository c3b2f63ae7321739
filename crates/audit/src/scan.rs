//! Reads `records.log` frame by frame and names the first bad record, for recovery, the offline
//! verifier and export alike.
//!
//! How a bad record is localized (also in `FORMAT.md`): each frame carries the index it was
//! written at and a link (8-byte prefix of the previous leaf hash), both under its CRC. Reading
//! at position `p`:
//! - a CRC or length failure is a flipped byte at `p`;
//! - a frame claiming a later index means records before it are gone (dropped, or moved later);
//! - a frame claiming an earlier index was moved here (reordered) or duplicated;
//! - a frame claiming `p - 1`, linking to record `p - 2` and differing from the frame at `p - 1`
//!   is the genuine record `p - 1`, so the frame at `p - 1` was inserted: `p - 1` is reported.
//!
//! This localizes edits made without rewriting the frames that follow. A forger who renumbers
//! and re-links everything after an edit passes these checks, but not the next signed head,
//! whose root only the deployment key can sign (see `verify.rs`).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use crate::error::Tamper;
use crate::frame::{
    FILE_HEADER_BYTES, FRAME_PREFIX_BYTES, LINK_BYTES, RECORD_BODY_BYTES_MAX,
    RECORD_BODY_BYTES_MIN, RECORD_BODY_HEADER_BYTES, RECORDS_MAGIC, link, parse_prefix,
};
use crate::hash::{Hash, leaf_hash};
use crate::limits::{SCAN_BUFFER_BYTES, TORN_TAIL_BYTES_MAX};
use crate::record::AuditRecord;

/// One good frame.
#[derive(Debug)]
pub(crate) struct Scanned<'a> {
    pub index: u64,
    pub leaf: &'a [u8],
    pub leaf_hash: Hash,
}

/// Why a scan stopped before the end of the file.
#[derive(Debug)]
pub(crate) enum ScanStop {
    /// The file ends inside a frame, or in zeros (a crash mid-write). `complete` is set when the
    /// last frame fits in the file but its CRC fails: a torn write to recovery, a flipped byte to
    /// the verifier. Either is damage unless the log is marked open (see `marker.rs`).
    Torn {
        index: u64,
        offset: u64,
        complete: bool,
    },
    /// A damaged or misplaced record with good frames (or other bytes) after it.
    Bad {
        index: u64,
        offset: u64,
        tamper: Tamper,
    },
    Io(io::Error),
}

/// Sequential reader of a records file.
pub(crate) struct Scanner {
    reader: BufReader<File>,
    /// File length when the scan started; a log appended to meanwhile is read up to here.
    file_len: u64,
    offset: u64,
    index: u64,
    /// Leaf hashes of records `index - 1` and `index - 2`.
    previous: [Hash; 2],
    previous_offset: u64,
    body: Vec<u8>,
    /// Whether to check that each leaf decodes as a canonical record.
    decode: bool,
}

/// The outcome of opening a records file for scanning.
pub(crate) enum Opened {
    Scanner(Box<Scanner>),
    /// The file is shorter than its header: created by a crash before the header was durable.
    NoHeader {
        len: u64,
    },
    /// The first bytes are not the records magic.
    NotAuditFile,
}

impl Scanner {
    pub fn open(path: &Path, decode: bool) -> io::Result<Opened> {
        let file = File::open(path)?;
        let file_len = file.metadata()?.len();
        if file_len < FILE_HEADER_BYTES as u64 {
            return Ok(Opened::NoHeader { len: file_len });
        }
        let mut reader = BufReader::with_capacity(SCAN_BUFFER_BYTES, file);
        let mut magic = [0u8; FILE_HEADER_BYTES];
        reader.read_exact(&mut magic)?;
        if magic != RECORDS_MAGIC {
            return Ok(Opened::NotAuditFile);
        }
        Ok(Opened::Scanner(Box::new(Scanner {
            reader,
            file_len,
            offset: FILE_HEADER_BYTES as u64,
            index: 0,
            previous: [[0; 32]; 2],
            previous_offset: 0,
            body: Vec::with_capacity(RECORD_BODY_BYTES_MAX),
            decode,
        })))
    }

    /// Where the next frame starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The file length when the scan started (the scan reads up to here).
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The next good frame, `None` at a clean end of file, or why the scan stops.
    pub fn next_frame(&mut self) -> Result<Option<Scanned<'_>>, ScanStop> {
        let remaining = self.file_len - self.offset;
        if remaining == 0 {
            return Ok(None);
        }
        if remaining < FRAME_PREFIX_BYTES as u64 {
            return Err(ScanStop::Torn {
                index: self.index,
                offset: self.offset,
                complete: false,
            });
        }
        let mut prefix = [0u8; FRAME_PREFIX_BYTES];
        self.reader.read_exact(&mut prefix).map_err(ScanStop::Io)?;
        let (len, crc) = parse_prefix(&prefix);
        if !(RECORD_BODY_BYTES_MIN..=RECORD_BODY_BYTES_MAX).contains(&len) {
            // Zeros are what a crash leaves when the file grew before its data reached the disk.
            return Err(self.bad_or_torn(
                prefix == [0; FRAME_PREFIX_BYTES],
                self.offset + FRAME_PREFIX_BYTES as u64,
            ));
        }
        let frame_end = self.offset + (FRAME_PREFIX_BYTES + len) as u64;
        if frame_end > self.file_len {
            return Err(self.bad_or_torn(true, self.offset + FRAME_PREFIX_BYTES as u64));
        }
        self.body.resize(len, 0);
        self.reader
            .read_exact(&mut self.body)
            .map_err(ScanStop::Io)?;
        if crc32c::crc32c(&self.body) != crc {
            return Err(self.bad_or_torn(false, frame_end));
        }
        let claimed = u64::from_be_bytes(self.body[..8].try_into().unwrap_or_default());
        let frame_link = &self.body[8..8 + LINK_BYTES];
        let leaf = &self.body[RECORD_BODY_HEADER_BYTES..];
        let hash = leaf_hash(leaf);
        if claimed != self.index || frame_link != link(self.index, &self.previous[0]) {
            return Err(self.misplaced(claimed, hash));
        }
        if self.decode && AuditRecord::check_leaf(leaf).is_err() {
            return Err(self.bad(self.index, self.offset, Tamper::Undecodable));
        }
        let index = self.index;
        self.previous = [hash, self.previous[0]];
        self.previous_offset = self.offset;
        self.offset = frame_end;
        self.index += 1;
        Ok(Some(Scanned {
            index,
            leaf: &self.body[RECORD_BODY_HEADER_BYTES..],
            leaf_hash: hash,
        }))
    }

    /// Classifies an intact frame that is not the record expected at this position.
    fn misplaced(&self, claimed: u64, hash: Hash) -> ScanStop {
        let p = self.index;
        let frame_link = &self.body[8..8 + LINK_BYTES];
        // The genuine record p - 1 found at p, after a different frame: that frame was inserted.
        if p >= 1
            && claimed == p - 1
            && frame_link == link(p - 1, &self.previous[1])
            && hash != self.previous[0]
        {
            return self.bad(p - 1, self.previous_offset, Tamper::Inserted);
        }
        let tamper = match claimed.cmp(&p) {
            std::cmp::Ordering::Greater => Tamper::Missing { claimed },
            std::cmp::Ordering::Less => Tamper::Moved { claimed },
            std::cmp::Ordering::Equal => Tamper::Chain,
        };
        self.bad(p, self.offset, tamper)
    }

    fn bad(&self, index: u64, offset: u64, tamper: Tamper) -> ScanStop {
        ScanStop::Bad {
            index,
            offset,
            tamper,
        }
    }

    /// A bad frame is a torn tail when no valid frame follows it (a crash cuts only the end of
    /// the last write); otherwise it is corruption. `incomplete` tells the verifier that the
    /// frame ends past the end of the file (or in zeros) rather than failing its CRC.
    /// `position` is where the reader stands.
    fn bad_or_torn(&mut self, incomplete: bool, position: u64) -> ScanStop {
        match self.valid_frame_follows(position) {
            Ok(true) => self.bad(self.index, self.offset, Tamper::Checksum),
            Ok(false) => ScanStop::Torn {
                index: self.index,
                offset: self.offset,
                complete: !incomplete,
            },
            Err(error) => ScanStop::Io(error),
        }
    }

    /// Whether a frame with a valid CRC and a later index starts anywhere between the reader's
    /// `position` and the end of the scan (the file length when it started, so that a frame
    /// being appended concurrently is never mistaken for one after a torn tail). Reads that
    /// rest, which after a real crash is at most one write; a rest larger than
    /// [`TORN_TAIL_BYTES_MAX`] is never a torn tail.
    fn valid_frame_follows(&mut self, position: u64) -> io::Result<bool> {
        let rest_len = self.file_len.saturating_sub(position);
        if rest_len > TORN_TAIL_BYTES_MAX as u64 {
            return Ok(true);
        }
        let mut rest = Vec::new();
        (&mut self.reader).take(rest_len).read_to_end(&mut rest)?;
        let max_index =
            self.index + 1 + (rest.len() / (FRAME_PREFIX_BYTES + RECORD_BODY_BYTES_MIN)) as u64;
        for start in 0..rest
            .len()
            .saturating_sub(FRAME_PREFIX_BYTES + RECORD_BODY_HEADER_BYTES)
        {
            let prefix: [u8; FRAME_PREFIX_BYTES] = rest[start..start + FRAME_PREFIX_BYTES]
                .try_into()
                .unwrap_or_default();
            let (len, crc) = parse_prefix(&prefix);
            let body_start = start + FRAME_PREFIX_BYTES;
            if !(RECORD_BODY_BYTES_MIN..=RECORD_BODY_BYTES_MAX).contains(&len)
                || body_start + len > rest.len()
            {
                continue;
            }
            let claimed = u64::from_be_bytes(
                rest[body_start..body_start + 8]
                    .try_into()
                    .unwrap_or_default(),
            );
            if claimed > self.index
                && claimed <= max_index
                && crc32c::crc32c(&rest[body_start..body_start + len]) == crc
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
