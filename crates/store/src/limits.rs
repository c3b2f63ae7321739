//! Every bound of the store in one place, units last.

/// Memtable size that triggers a flush to a segment.
pub const MEMTABLE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Frozen memtables waiting for flush before appenders are made to wait (backpressure).
pub const FROZEN_MEMTABLES_MAX: usize = 2;
/// A non-empty memtable older than this is flushed even if small.
pub const FLUSH_INTERVAL_MS: u64 = 30_000;
/// Rows per Parquet row group; the unit of pruning by subject and time statistics.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;
/// Segments smaller than this are candidates for compaction.
pub const COMPACTION_SEGMENT_BYTES_MIN: u64 = 16 * 1024 * 1024;
/// Compaction starts when at least this many small segments exist.
pub const COMPACTION_TRIGGER_SEGMENTS: usize = 4;
/// Bytes of segments merged in one compaction. Compaction decodes its inputs in memory, so
/// this bounds its memory (about 4x this after decompression).
pub const COMPACTION_INPUT_BYTES_MAX: u64 = 128 * 1024 * 1024;
/// Events in one WAL batch; index within the batch is packed into the low bits of `seq`.
pub const BATCH_EVENTS_MAX: usize = 1 << SEQ_INDEX_BITS;
/// Bits of `seq` that hold the index within a WAL batch.
pub const SEQ_INDEX_BITS: u32 = 20;
pub const EVENT_ID_BYTES_MAX: usize = 256;
pub const EVENT_TYPE_BYTES_MAX: usize = 64;
/// Bytes of a segment being written that are buffered before they reach the file.
pub const SEGMENT_WRITE_BUFFER_BYTES: usize = 256 * 1024;
/// Threads one segment rewrite (erasure, retention) uses at most.
pub const REWRITE_THREADS_MAX: usize = 8;
/// Events one subject scan returns.
pub const SCAN_EVENTS_MAX: usize = 10_000;

const _: () = assert!(FROZEN_MEMTABLES_MAX >= 1);
const _: () = assert!(
    COMPACTION_INPUT_BYTES_MAX >= COMPACTION_SEGMENT_BYTES_MIN * COMPACTION_TRIGGER_SEGMENTS as u64
);
const _: () = assert!(EVENT_ID_BYTES_MAX <= u16::MAX as usize);
const _: () = assert!(EVENT_TYPE_BYTES_MAX <= u16::MAX as usize);
