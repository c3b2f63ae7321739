//! Every bound of the registry in one place, units last.

/// Bytes of a model or alias name (`[a-z][a-z0-9_-]*`).
pub const NAME_BYTES_MAX: usize = 64;
/// Training jobs running at once (each uses `ModelConfig::threads` threads).
pub const JOBS_MAX_DEFAULT: usize = 2;
/// Jobs waiting for a runner; one more is refused (503 `model_queue_full`).
pub const QUEUED_JOBS_MAX: usize = 32;
/// The memory one training job may be estimated to need (`--model-memory-budget-mb`).
pub const MEMORY_BUDGET_BYTES_DEFAULT: u64 = 2 << 30;
/// Decoded model files kept in memory for user-row reads.
pub const CACHED_MODELS_MAX: usize = 8;
/// Aliases of one model.
pub const ALIASES_MAX: usize = 64;
/// Alias moves remembered per model (the audit log keeps them all).
pub const ALIAS_HISTORY_MAX: usize = 256;
/// Cutoffs of one evaluation.
pub const EVAL_KS_MAX: usize = steward_ml::limits::KS_MAX;
/// A job's runner waits this long for work before it looks again.
pub const JOB_POLL_MS: u64 = 500;

const _: () = assert!(JOBS_MAX_DEFAULT >= 1 && QUEUED_JOBS_MAX >= JOBS_MAX_DEFAULT);
const _: () = assert!(
    NAME_BYTES_MAX <= 64,
    "names appear in catalog key names and audit records"
);

// ---- serving

/// Items one recommend, similar or popular call may ask for.
pub const SERVE_K_MAX: usize = 1_000;
/// Candidates of one re-rank call.
pub const RERANK_ITEMS_MAX: usize = 1_000;
/// Item ids one call may exclude.
pub const EXCLUDE_ITEMS_MAX: usize = 10_000;
/// Fallback models one call may name.
pub const FALLBACKS_MAX: usize = 4;
/// Recent events of a subject read per call (the timeline's page bound).
pub const RECENT_EVENTS_MAX: usize = 1_000;
/// How far back "recent" events reach.
pub const RECENT_WINDOW: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);
/// How long a subject's recent items and folded-in vector are reused: new events reach
/// answers within this.
pub const PERSONAL_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// Entries of each personal cache (recent items, folded vectors).
pub const PERSONAL_CACHE_ENTRIES_MAX: usize = 100_000;
/// Bytes of decoded model versions held for serving (`--serving-memory-mb`).
pub const SERVING_MEMORY_BYTES_DEFAULT: u64 = 1 << 30;

// ---- vector indexes

/// Indexes of one tenant.
pub const INDEXES_MAX: usize = 16;
/// Documents (vectors) of one index.
pub const INDEX_DOCUMENTS_MAX: usize = 2_000_000;
/// Source events read per page while following (each page is embedded in one batch).
pub const INDEX_FOLLOW_PAGE: usize = 64;
/// Items read per page of the catalog while syncing an items index.
pub const INDEX_ITEMS_PAGE: usize = 500;
/// How often the follower looks for new source rows.
pub const INDEX_FOLLOW_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);
/// A changed index is written to its sealed snapshot at most this often (erasures and
/// retention write at once).
pub const INDEX_SNAPSHOT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);
/// Hits of one search (`k`).
pub const SEARCH_K_MAX: usize = 100;
/// Width of the graph search (at least `k`).
pub const SEARCH_EF: usize = 96;
/// Bytes of one query text.
pub const QUERY_TEXT_BYTES_MAX: usize = 4_096;
/// Bytes of one passage returned by retrieve (longer texts are cut at a character boundary).
pub const PASSAGE_BYTES_MAX: usize = 2_000;
