//! steward-serve: the model registry (DESIGN.md, "Parts": serve), and models as a kind of
//! derived artifact in the engine's ledger.
//!
//! Main types:
//! - [`Registry`]: per tenant, named models with immutable versions, each trained from one
//!   data set version (read in-process as Arrow through the data set's own reader, admitted by
//!   the read guard like an export), evaluated against popularity, stored as an encrypted model
//!   file (a per-file key in the tenant catalog) with a manifest and a bitmap of the subjects
//!   that trained it; aliases (`production`, `candidate`, ...) name versions.
//! - [`TrainRequest`] and the job queue (`jobs.rs`): training runs in the background on a
//!   bounded number of threads, refused up front when its memory estimate is over budget,
//!   cancellable, and failed (`training_interrupted`) rather than resumed after a crash.
//! - [`ModelKind`]: the ledger's `model` kind. An erasure makes the subject's user vector
//!   unusable at once (every read of a user row asks the read guard; cached models drop the
//!   row), then physically rewrites every model file without the row, retrains the item side
//!   on the data set's successor, moves aliases to the retrained version, and removes the old
//!   versions, listing each step in the receipt.
//!
//! - [`Experiments`]: A/B experiments over serving: sticky keyed-hash assignment of consenting
//!   subjects, exposures stored as `_exposure` events, results analysed with `steward-stats`.
//!
//! Invariants: the registry implements no read rule of its own (the engine's [`ReadGuard`]
//! decides admission, consent and erasure); a model file is only ever written sealed, and a
//! rewrite destroys the old file's key; a version is never changed after it is ready except
//! to remove user rows or retire it.
//!
//! [`ReadGuard`]: steward_engine::ReadGuard

mod error;
pub mod experiments;
mod files;
pub mod filter;
pub mod indexes;
mod input;
mod jobs;
mod kind;
pub mod limits;
mod manifest;
mod registry;
mod serving;
mod spec;
mod train;

pub use error::ServeError;
pub use experiments::Experiments;
pub use files::open_model_file;
pub use filter::ItemFilter;
pub use indexes::{EmbedBatcher, IndexKind, Indexes};
pub use kind::ModelKind;
pub use manifest::{
    AliasEntry, Aliases, DatasetLineage, MetricsAtK, MetricsDoc, ModelManifest, ModelState,
    PhaseTimings, Progress,
};
pub use registry::{ModelConfig, ModelRef, ModelSummary, Registry, UserRow, alias_audit_record};
pub use serving::{NotPersonal, ServeCall, Served};
pub use spec::{
    Columns, EvaluationSpec, SplitKind, TrainRequest, params_from_json, params_to_json,
};
pub use steward_ml::Algorithm;
