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

/// Default: a new connection, or a request's first byte, must be followed by the complete
/// request head within this.
pub const HEADER_READ_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Default: a keep-alive connection with no request in progress is closed after this.
pub const IDLE_TIMEOUT_MS_DEFAULT: u64 = 60_000;
/// Default: the time a request body may keep the server waiting before each
/// [`BODY_PROGRESS_BYTES`] arrive (and before it ends). Time the server spends on its own work
/// between reads does not count.
pub const BODY_READ_TIMEOUT_MS_DEFAULT: u64 = 30_000;
/// Every this many bytes of a request body, its waiting time starts again: a body must arrive
/// at 64 KiB per [`BODY_READ_TIMEOUT_MS_DEFAULT`] at least (about 2 KiB/s by default).
pub const BODY_PROGRESS_BYTES: u64 = 64 * 1024;
/// Default cap on connections open at once (lowered further by the descriptor budget).
pub const CONNECTIONS_MAX_DEFAULT: usize = 4_096;
/// Default descriptors kept free for storage (WAL rotation, segments, catalogs, audit logs,
/// data set files) beyond those open when the server starts.
pub const FDS_RESERVED_DEFAULT: usize = 1_024;
/// Connections over the cap that are answered 503 at once; beyond this they are closed unanswered.
pub const REFUSALS_IN_FLIGHT_MAX: usize = 32;
/// How long answering a refused connection may take (write the 503, wait for the client's close).
pub const REFUSAL_MS_MAX: u64 = 1_000;
/// After an accept error (EMFILE and the like), wait this long before accepting again.
pub const ACCEPT_ERROR_BACKOFF_MS: u64 = 50;
/// At shutdown, requests in flight get this long to finish before the server flushes anyway.
pub const SHUTDOWN_DRAIN_MS_MAX: u64 = 30_000;
/// The fewest connections served when the descriptor limit cannot also hold the reserve.
pub const CONNECTIONS_MIN: usize = 1;

const _: () = assert!(REFUSAL_MS_MAX < HEADER_READ_TIMEOUT_MS_DEFAULT);
const _: () = assert!(HEADER_READ_TIMEOUT_MS_DEFAULT <= IDLE_TIMEOUT_MS_DEFAULT);
const _: () = assert!(REFUSALS_IN_FLIGHT_MAX < FDS_RESERVED_DEFAULT);

/// The bounds on connections, configurable per deployment (`steward serve --header-read-timeout-ms`
/// and the like); the defaults are the constants above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_read_timeout: std::time::Duration,
    pub idle_timeout: std::time::Duration,
    pub body_read_timeout: std::time::Duration,
    /// Connections open at once, before the descriptor budget lowers it.
    pub connections_max: usize,
    /// Descriptors left free for storage beyond those open at startup.
    pub fds_reserved: usize,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        use std::time::Duration;
        ConnectionLimits {
            header_read_timeout: Duration::from_millis(HEADER_READ_TIMEOUT_MS_DEFAULT),
            idle_timeout: Duration::from_millis(IDLE_TIMEOUT_MS_DEFAULT),
            body_read_timeout: Duration::from_millis(BODY_READ_TIMEOUT_MS_DEFAULT),
            connections_max: CONNECTIONS_MAX_DEFAULT,
            fds_reserved: FDS_RESERVED_DEFAULT,
        }
    }
}

/// A bulk item upsert body (buffered: it is one commit of at most 10,000 items).
pub const ITEMS_BODY_BYTES_MAX: usize = 16 * 1024 * 1024;
