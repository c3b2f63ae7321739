//! Every bound of the ML crate in one place, units last.
//!
//! Training jobs are sized by the registry with [`crate::estimate_bytes`] before they start;
//! these constants bound what a parameter or a file may ask for at all, so a damaged file or a
//! hostile request cannot make the library allocate or loop without limit.

/// Worker threads one training or evaluation run may use.
pub const THREADS_MAX: usize = 256;
/// Latent factors of an ALS or BPR model.
pub const FACTORS_MAX: u32 = 1024;
/// Iterations (ALS) or epochs (BPR) of one training run.
pub const ITERATIONS_MAX: u32 = 10_000;
/// Conjugate-gradient steps per row and half-iteration (ALS).
pub const CG_STEPS_MAX: u32 = 64;
/// Neighbours kept per item (item-kNN).
pub const NEIGHBOURS_MAX: u32 = 2_000;
/// Strata of the BPR schedule (user shards x item blocks), see `train/bpr.rs`.
pub const STRATA_MAX: u32 = 256;
/// The smallest average item block BPR aims for; fewer items than `strata * this` use fewer
/// strata so a negative sample has somewhere to come from.
pub const BPR_BLOCK_ITEMS_MIN: u32 = 64;
/// Draws of a negative item before a BPR sample is skipped (the user has the drawn items).
pub const NEGATIVE_DRAWS_MAX: u32 = 16;
/// Default bound on item-kNN work (sum over users of their row length squared), about a minute
/// on one core; callers raise it per job.
pub const KNN_WORK_MAX_DEFAULT: u64 = 50_000_000_000;
/// Largest `k` of one recommendation, similar-items or evaluation cutoff.
pub const K_MAX: usize = 10_000;
/// Interactions one fold-in accepts (`Model::fold_in`): its work is this times factors² / 2
/// multiply-adds plus factors³ / 6 for the factorization: at most 5.2 G + 0.18 G at 1024
/// factors (seconds), 20 M + 44 k at 64 (milliseconds).
pub const FOLD_IN_ITEMS_MAX: usize = 10_000;
/// Users of one `Model::recommend_many` call.
pub const BATCH_USERS_MAX: usize = 100_000;
/// Cutoffs in one evaluation.
pub const KS_MAX: usize = 32;
/// Bytes of one user key: a 32-byte pseudonym.
pub const USER_KEY_BYTES: usize = 32;
/// Bytes of one item key (an item id) in a model file.
pub const ITEM_KEY_BYTES_MAX: usize = 1024;
/// Default bounds of one interaction matrix; the registry configures its own.
pub const USERS_MAX_DEFAULT: u32 = 50_000_000;
pub const ITEMS_MAX_DEFAULT: u32 = 10_000_000;
pub const NNZ_MAX_DEFAULT: u64 = 1_000_000_000;
/// Rows handed to a worker at a time when solving or scoring rows in parallel.
pub const SOLVE_BLOCK_ROWS: usize = 64;
/// Partial Gram matrices summed in a fixed order, whatever the thread count: results do not
/// depend on how many threads ran (`train/als.rs`).
pub const GRAM_PARTS: usize = 32;
/// Items per progress report of item-kNN: the run reports (and may be cancelled) this often.
pub const KNN_ROUNDS: u32 = 16;
/// Users per evaluation block (the unit of work and of the ordered reduction).
pub const EVAL_BLOCK_USERS: usize = 256;

/// Dimensions of an approximate nearest-neighbour index (`ann`).
pub const ANN_DIM_MAX: usize = 4096;
/// Slots (live vectors, deleted ones awaiting consolidation, free ones) of one index.
pub const ANN_SLOTS_MAX: u32 = 1 << 28;
/// Links per node of the upper layers (layer 0 keeps twice as many).
pub const ANN_M_MIN: u32 = 2;
pub const ANN_M_MAX: u32 = 64;
/// Search width (`ef`, and `ef_construction`).
pub const ANN_EF_MAX: usize = 10_000;
/// Layers of the graph (levels are drawn below this).
pub const ANN_LEVELS_MAX: u8 = 16;
/// Deleted slots that trigger a consolidation (or a 32nd of the live count, if more).
pub const ANN_CONSOLIDATE_DELETED_MIN: usize = 64;
/// Slots sampled to estimate a filter's allowed share.
pub const ANN_FILTER_SAMPLE_SLOTS: usize = 1024;
/// A filtered search scans the allowed items exactly (filter first) when about this many or
/// fewer are allowed, or ...
pub const ANN_FILTER_SCAN_ITEMS: usize = 2_000;
/// ... when at most this share of the items is allowed; otherwise it filters during traversal.
pub const ANN_FILTER_SCAN_FRACTION: f64 = 0.03;

const _: () = assert!(ANN_M_MIN >= 2 && 2 * ANN_M_MAX <= u8::MAX as u32);
const _: () = assert!(ANN_LEVELS_MAX >= 1 && ANN_SLOTS_MAX < u32::MAX);
const _: () = assert!(ANN_DIM_MAX <= u32::MAX as usize && ANN_EF_MAX <= ANN_SLOTS_MAX as usize);
const _: () = assert!(USERS_MAX_DEFAULT < u32::MAX && ITEMS_MAX_DEFAULT < u32::MAX);
const _: () = assert!(ITEM_KEY_BYTES_MAX <= u16::MAX as usize);
const _: () = assert!(K_MAX <= u32::MAX as usize && NEIGHBOURS_MAX as usize <= K_MAX);
const _: () = assert!(STRATA_MAX >= 1 && GRAM_PARTS >= 1 && KNN_ROUNDS >= 1);
const _: () = assert!(FOLD_IN_ITEMS_MAX as u64 * (FACTORS_MAX as u64).pow(2) < 1 << 34);
