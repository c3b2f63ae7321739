//! Data sets and their versions, subject lineage, and OpenLineage run events.
//!
//! [`datasets::Datasets`] cuts versions with `steward-query`, stores them encrypted with a
//! manifest and a subject bitmap, serves them, answers "which versions hold this subject",
//! and acts on erasure and opt-out (successor versions, old files removed). [`links`] signs
//! short-lived download URLs; [`openlineage`] describes builds to the outside.

pub mod datasets;
pub mod error;
pub mod links;
pub mod manifest;
pub mod openlineage;

pub use datasets::{BuildRequest, DatasetConfig, Datasets, OnErasure};
pub use error::LineageError;
pub use manifest::{Manifest, VersionState};
