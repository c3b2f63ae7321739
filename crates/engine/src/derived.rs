//! The lineage interface: what erasure and opt-out ask of the artifacts derived from events
//! (data sets now, models later). The engine cannot depend on the crates that build them, so
//! they register a [`DerivedArtifacts`] hook at start; without one, nothing is derived.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use steward_crypto::Pseudonym;

use crate::Engine;

/// One derived artifact an erasure or opt-out acted on (listed in the receipt).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedArtifact {
    /// `"dataset"` (models later).
    pub kind: String,
    pub name: String,
    pub version: u32,
    /// `"rebuilt"` (a successor without the subject was built and this version's files
    /// removed) or `"marked"` (files removed, no successor, by the tenant's policy).
    pub action: String,
    pub successor: Option<u32>,
    pub files_removed: u64,
}

pub trait DerivedArtifacts: Send + Sync {
    /// The subjects are erased (their rows already hidden): every artifact holding any of them
    /// is handled before this returns, its old files physically removed. Idempotent.
    fn erase(&self, tenant: &str, subjects: &[Pseudonym]) -> Result<HashMap<Pseudonym, Vec<DerivedArtifact>>, String>;

    /// The subject refused `purpose`: artifacts of that purpose holding it are handled (in
    /// the background; old files go after the configured grace period).
    fn opted_out(&self, tenant: &str, subject: &Pseudonym, purpose: &str);
}

impl Engine {
    /// Registers the hook (once, at start; a later call replaces it).
    pub fn set_derived(&self, hook: Arc<dyn DerivedArtifacts>) {
        *self.derived.write() = Some(hook);
    }

    pub(crate) fn derived_hook(&self) -> Option<Arc<dyn DerivedArtifacts>> {
        self.derived.read().clone()
    }
}
