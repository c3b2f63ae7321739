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
