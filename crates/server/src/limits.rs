//! Request bounds of the HTTP edge, units last.

/// Any JSON request body except ingest.
pub const JSON_BODY_BYTES_MAX: usize = 1024 * 1024;
/// A JSON (single event or array) ingest body.
pub const INGEST_JSON_BODY_BYTES_MAX: usize = 16 * 1024 * 1024;
/// An NDJSON ingest stream; it is processed in chunks, so this bounds time, not memory.
pub const INGEST_NDJSON_BODY_BYTES_MAX: u64 = 4 * 1024 * 1024 * 1024;
/// One NDJSON line (one event).
pub const NDJSON_LINE_BYTES_MAX: usize = 1024 * 1024;
/// Events handed to the engine at once from an NDJSON stream.
pub const NDJSON_CHUNK_EVENTS_MAX: usize = 4_096;
/// Bytes of NDJSON buffered before a chunk is handed to the engine.
pub const NDJSON_CHUNK_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Events in one JSON array request.
pub const INGEST_ARRAY_EVENTS_MAX: usize = steward_engine::limits::INGEST_BATCH_EVENTS_MAX;
/// Per-event errors listed in one response (the counts are always complete).
pub const REJECTED_LISTED_MAX: usize = 1_000;
/// Blocking engine calls in flight at once; more requests wait (bounded memory, fair fsync batching).
pub const ENGINE_CALLS_MAX: usize = 64;

const _: () = assert!(NDJSON_CHUNK_EVENTS_MAX <= steward_engine::limits::INGEST_BATCH_EVENTS_MAX);
const _: () = assert!(NDJSON_LINE_BYTES_MAX <= NDJSON_CHUNK_BYTES_MAX);
