//! steward-ml: recommendation models for Steward's personalization (DESIGN.md, phase 3) —
//! trainers, honest evaluation, and the model file. A pure library: no storage, HTTP or async;
//! the server wires it to data sets, the registry and serving.
//!
//! Main types, in the order a job uses them:
//! - [`IdMap`]: user pseudonyms and item ids to dense `u32` indices (deterministic order).
//! - [`Interactions`] (built by [`InteractionsBuilder`]): the user × item matrix, both
//!   orientations, bounded by [`MatrixLimits`]; [`estimate_bytes`] sizes a job before it runs.
//! - [`train`] with [`Params`] (ALS, BPR, item-kNN, popularity) and [`RunConfig`] (threads,
//!   seed) returns a [`Model`], reporting [`Progress`] to a callback that may stop it.
//! - [`Model`]: `recommend` (and `recommend_many`), `similar_items`, `score` (re-rank),
//!   `fold_in` (a user vector from interactions, with [`FoldIn`] prepared once per model),
//!   `remove_users`.
//! - [`eval`]: time / leave-last / random splits and full-catalogue recall, precision, NDCG,
//!   MAP and coverage at k, beside a popularity baseline.
//! - [`ModelFile`]: a model with its id maps as checksummed bytes (`to_bytes`/`from_bytes`).
//! - [`VectorIndex`] ([`AnnIndex`] and its [`F32Rows`]): approximate nearest-neighbour search
//!   (HNSW over int8 codes, exact re-scoring, filters, upsert, physical deletion), in [`ann`].
//!
//! Invariants: results depend on the data, parameters and seed, never on the thread count (same
//! bits at any thread count and vector width: see `kernels.rs`); everything is bounded (`limits.rs`);
//! a user's rows can be removed from a model and from its file, leaving no trace of their key or
//! vector in the bytes written.

pub mod ann;
mod error;
mod estimate;
mod format;
mod idmap;
mod kernels;
pub mod limits;
mod matrix;
mod model;
mod parallel;
mod params;
mod rng;
mod train;

pub mod eval;

pub use ann::{
    ANN_FORMAT_VERSION, AnnIndex, AnnMemory, AnnParams, F32Rows, FullVectors, FullVectorsMut, Hit,
    Metric, SearchPlan, VectorIndex, VectorIndexMemory,
};
pub use error::{
    AnnError, AnnFormatError, EvalError, FormatError, IdMapError, MatrixError, ModelError,
    ParamsError, TrainError,
};
pub use estimate::{MemoryEstimate, Shape, estimate_bytes};
pub use format::{FORMAT_VERSION, ModelFile};
pub use idmap::{IdMap, KeyBytes, UserKey};
pub use matrix::{Interactions, InteractionsBuilder, MatrixLimits, Row};
pub use model::{BPR_FOLD_IN_ALPHA, FoldIn, ItemFilter, Model, UserRef};
pub use params::{
    Algorithm, AlsParams, BprParams, Control, KnnParams, Negatives, Params, PopularityParams,
    Progress, RunConfig, Weighting,
};
pub use train::train;

/// The server shares models, files and matrices across request threads.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Model>();
    shareable::<ModelFile>();
    shareable::<Interactions>();
    shareable::<FoldIn>();
    shareable::<AnnIndex>();
    shareable::<VectorIndex>();
};
