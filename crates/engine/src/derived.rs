//! What an erasure or opt-out did to one derived artifact, as its receipt lists it. The
//! mechanism that gets it done is the ledger (`ledger/`).

use serde::{Deserialize, Serialize};

/// One derived artifact an erasure or opt-out acted on (listed in the receipt).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedArtifact {
    /// The artifact kind (`"dataset"`, `"model"`; indexes and exposures later).
    pub kind: String,
    pub name: String,
    pub version: u32,
    /// Data sets: `"rebuilt"` (a successor without the subject was built and this version's
    /// files removed) or `"marked"` (files removed, no successor, by the tenant's policy).
    /// Models: `"retrained"` (the user's row removed, a successor trained on the data set's
    /// successor, this version removed), `"removed"` (the user's row and then the version
    /// removed, no successor) or `"user_vector_removed"`.
    pub action: String,
    pub successor: Option<u32>,
    pub files_removed: u64,
    /// When the last step was done (RFC 3339); absent in receipts made before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Each step with its time, in order (models: user vector removed, retrained, removed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<DerivedStep>,
}

/// One step of what was done to a derived artifact.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedStep {
    pub action: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor: Option<u32>,
}
