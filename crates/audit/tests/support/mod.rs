//! Shared helpers of the integration tests: sample records, a log with signed heads, and raw
//! access to the frames of `records.log` for tamper tests, written from `FORMAT.md` rather than
//! with the crate's own encoder so they double as a check of the documented format.
#![allow(dead_code)]

use std::ops::Range;
use std::path::Path;

use steward_audit::{AuditConfig, AuditLog, AuditRecord, Decision, Hash, SigningKey};

/// `records.log` and `heads.log` start with 8 magic bytes.
pub const FILE_HEADER_BYTES: usize = 8;
/// Frame prefix: u32 body length, u32 CRC-32C of the body (big-endian).
pub const FRAME_PREFIX_BYTES: usize = 8;

/// (body length, crc) of a frame prefix.
pub fn parse_prefix(prefix: &[u8; FRAME_PREFIX_BYTES]) -> (usize, u32) {
    let len = u32::from_be_bytes(prefix[..4].try_into().unwrap()) as usize;
    (len, u32::from_be_bytes(prefix[4..].try_into().unwrap()))
}

/// The chain link of the frame at `index`: the first 8 bytes of the previous leaf hash.
pub fn link(index: u64, previous_leaf_hash: &Hash) -> [u8; 8] {
    if index == 0 {
        [0; 8]
    } else {
        previous_leaf_hash[..8].try_into().unwrap()
    }
}

/// Appends a record frame: len, crc32c(body), body = index ‖ link ‖ leaf.
pub fn push_record_frame(out: &mut Vec<u8>, index: u64, link: &[u8; 8], leaf: &[u8]) {
    let mut body = index.to_be_bytes().to_vec();
    body.extend_from_slice(link);
    body.extend_from_slice(leaf);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    out.extend_from_slice(&body);
}

pub const TENANT: &str = "acme";

pub fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// A deterministic, varied record.
pub fn record(i: u64) -> AuditRecord {
    AuditRecord {
        time_us: 1_760_000_000_000_000 + i as i64,
        principal: if i.is_multiple_of(3) {
            "operator".into()
        } else {
            format!("key:k{}", i % 7)
        },
        action: [
            "events.read",
            "events.ingest",
            "schema.put",
            "timeline.read",
        ][(i % 4) as usize]
            .into(),
        purpose: i.is_multiple_of(2).then(|| "support".to_string()),
        resource: format!("tenant/{TENANT}/events"),
        subject_refs: (0..(i % 3)).map(|j| [(i + j) as u8; 32]).collect(),
        subject_count: i % 3 + if i.is_multiple_of(5) { 100 } else { 0 },
        decision: if i % 4 == 3 {
            Decision::Deny
        } else {
            Decision::Allow
        },
        policy_ids: (0..(i % 3)).map(|j| format!("policy.{j}")).collect(),
        request_id: format!("req-{i:08}"),
        result_rows: i * 10,
        statement: None,
    }
}

/// `record(i)`, with a normalized statement (a version 2 leaf) for every third index.
pub fn varied(i: u64) -> AuditRecord {
    let statement = i
        .is_multiple_of(3)
        .then(|| format!("SELECT count(*) FROM events_{} WHERE kind = ?", i % 5));
    AuditRecord {
        statement,
        ..record(i)
    }
}

/// A records file holding `leaves` (record bytes) with the indexes, links and CRCs a writer
/// would give them: what a forger who rewrites the file produces.
pub fn records_file(leaves: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"STWAUDR\x01".to_vec();
    let mut previous = [0u8; 32];
    for (index, leaf) in leaves.iter().enumerate() {
        push_record_frame(&mut out, index as u64, &link(index as u64, &previous), leaf);
        previous = steward_audit::leaf_hash(leaf);
    }
    out
}

/// Byte ranges of the head frames of a heads file, in file order.
pub fn head_frames(bytes: &[u8]) -> Vec<Range<usize>> {
    frames(bytes)
}

/// A log of `n` records appended one call per record, with a head signed at each size in
/// `heads_at` (and the log closed).
pub fn build_log(dir: &Path, n: u64, heads_at: &[u64]) {
    let log = AuditLog::open(dir, AuditConfig::new(TENANT)).unwrap();
    let key = key();
    for i in 0..n {
        if heads_at.contains(&i) {
            log.sign_head(&key).unwrap();
        }
        assert_eq!(log.append_durable(&[record(i)]).unwrap(), i);
    }
    if heads_at.contains(&n) {
        log.sign_head(&key).unwrap();
    }
}

/// Byte ranges of the frames of a records file, in file order.
pub fn frames(bytes: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut offset = FILE_HEADER_BYTES;
    while offset + FRAME_PREFIX_BYTES <= bytes.len() {
        let prefix: [u8; FRAME_PREFIX_BYTES] = bytes[offset..offset + FRAME_PREFIX_BYTES]
            .try_into()
            .unwrap();
        let (len, _) = parse_prefix(&prefix);
        let end = offset + FRAME_PREFIX_BYTES + len;
        assert!(end <= bytes.len());
        out.push(offset..end);
        offset = end;
    }
    out
}

/// Reassembles a records file from the header and the given frames.
pub fn assemble(bytes: &[u8], parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = bytes[..FILE_HEADER_BYTES].to_vec();
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

/// Every file under `dir`, recursively, as bytes.
pub fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
