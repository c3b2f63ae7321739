//! Every bound of the audit log in one place, units last.

/// Longest free string in a record (principal, action, purpose, resource, policy id, request id)
/// and longest tenant id; short on purpose, since these name things and never carry content.
pub const STRING_BYTES_MAX: usize = 256;
/// Longest statement (the normalized text of a SQL query, literals replaced by `?`) in a
/// record; long enough for a generated query, short enough to keep a leaf small.
pub const STATEMENT_BYTES_MAX: usize = 4096;
/// Subjects named one by one in a record; a request touching more records only their count, so
/// one bulk export does not make an audit record as large as the export.
pub const SUBJECT_REFS_MAX: usize = 16;
/// Deciding policy ids in one record.
pub const POLICY_IDS_MAX: usize = 32;
/// Largest encoded leaf (a version 2 record, every field at its bound, statement included),
/// which bounds a frame and what a reader will allocate for a length it has not yet checked.
pub const LEAF_BYTES_MAX: usize = 1
    + 8
    + 3 * (2 + STRING_BYTES_MAX)
    + (1 + 2 + STRING_BYTES_MAX)
    + 1
    + 8
    + (1 + 32 * SUBJECT_REFS_MAX)
    + (1 + POLICY_IDS_MAX * (2 + STRING_BYTES_MAX))
    + (2 + STRING_BYTES_MAX)
    + 8
    + (2 + STATEMENT_BYTES_MAX);
/// Default bound on how long a batched (read) record may wait before the flusher makes it
/// durable; the response of the read it records may already have gone out.
pub const READ_FLUSH_MS: u64 = 50;
/// Default bound on batched records waiting for the flusher; beyond it `append_batched` fails
/// (the caller fails closed) instead of buffering without limit while the disk is stuck.
pub const BATCHED_RECORDS_MAX: usize = 65_536;
/// Batched records that make the flusher write at once rather than wait out `READ_FLUSH_MS`.
pub const BATCHED_FLUSH_EARLY_RECORDS: usize = 4_096;
/// The in-memory tree keeps complete subtree hashes from this level up (subtrees of
/// 2^level leaves) besides the leaf hashes: 32 B per record for the leaves plus about
/// 32 / 2^(level-1) B per record for the cached levels (4 B at level 4). Proofs recompute the
/// at most 2^level - 1 hashes below it.
pub const CACHE_LEVEL_MIN: u32 = 4;
/// Largest single write of records: the leader of a group commit takes at most this much, a
/// durable appender waits for room beyond it, and one `append_durable` call may not exceed it.
/// Keeps every write (and so any torn tail) well under `TORN_TAIL_BYTES_MAX`.
pub const COMMIT_BYTES_MAX: usize = 16 << 20;
/// A bad frame followed by more than this many bytes is corruption, never a torn tail: a crash
/// cuts only the last write, and group commit writes far less at once. Also bounds what recovery
/// reads into memory while looking for a valid frame after a bad one.
pub const TORN_TAIL_BYTES_MAX: usize = 64 << 20;
/// Most signed heads one `AuditLog::signed_heads_page` returns (about 150 B each on disk).
pub const HEADS_PAGE_MAX: usize = 1_000;
/// Read buffer of the records file scanner (recovery, verify, export).
pub const SCAN_BUFFER_BYTES: usize = 1 << 20;

const _: () = assert!(
    LEAF_BYTES_MAX == 14_185,
    "FORMAT.md states the largest leaf"
);
const _: () = assert!(STRING_BYTES_MAX <= u16::MAX as usize);
const _: () = assert!(STATEMENT_BYTES_MAX <= u16::MAX as usize);
const _: () = assert!(SUBJECT_REFS_MAX <= u8::MAX as usize);
const _: () = assert!(POLICY_IDS_MAX <= u8::MAX as usize);
const _: () = assert!(BATCHED_FLUSH_EARLY_RECORDS <= BATCHED_RECORDS_MAX);
const _: () = assert!(COMMIT_BYTES_MAX * 2 <= TORN_TAIL_BYTES_MAX);
const _: () = assert!(COMMIT_BYTES_MAX >= LEAF_BYTES_MAX * 64);
const _: () = assert!(CACHE_LEVEL_MIN >= 1 && CACHE_LEVEL_MIN < 16);
