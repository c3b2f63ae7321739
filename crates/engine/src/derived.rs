//! What an erasure or opt-out did to one derived artifact, as its receipt lists it. The
//! mechanism that gets it done is the ledger (`ledger/`).

use serde::{Deserialize, Serialize};

/// One derived artifact an erasure or opt-out acted on (listed in the receipt).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedArtifact {
    /// The artifact kind (`"dataset"`; models, indexes and exposures later).
    pub kind: String,
    pub name: String,
    pub version: u32,
    /// `"rebuilt"` (a successor without the subject was built and this version's files
    /// removed) or `"marked"` (files removed, no successor, by the tenant's policy).
    pub action: String,
    pub successor: Option<u32>,
    pub files_removed: u64,
}
