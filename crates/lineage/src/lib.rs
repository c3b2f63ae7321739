//! Data sets and their versions, subject lineage, and OpenLineage run events.
//!
//! [`datasets::Datasets`] cuts versions with `steward-query` through a read guard, stores them
//! encrypted (file keys in the tenant catalog) with a manifest and a subject bitmap taken
//! from the scan, and answers "which versions hold this subject"; [`export`] reads versions
//! out through the guard of each request; [`kind`] is the data sets' side of the engine's
//! derived-artifact ledger (erasure, opt-out, regime changes, retention). [`links`] signs
//! short-lived download URLs; [`openlineage`] describes builds to the outside.

pub mod datasets;
pub mod error;
pub mod export;
pub mod kind;
pub mod links;
pub mod manifest;
pub mod openlineage;

pub use datasets::{BuildRequest, DatasetConfig, Datasets, OnErasure};
pub use error::LineageError;
pub use export::VersionBatches;
pub use kind::DatasetKind;
pub use manifest::{Manifest, VersionState};
