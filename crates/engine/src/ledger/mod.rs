//! The derived-artifact ledger: every kind of artifact derived from events (data set
//! versions now; models, vector indexes and experiment exposures later) registers here, and
//! erasure, opt-out, consent-regime changes and retention reach every kind through it.
//!
//! On an erasure the ledger (1) calls each registered kind's synchronous [`ArtifactKind::hide`]
//! before the request answers, and (2) stores one durable task per required kind in the
//! tenant catalog, in the commit that records the request hidden. The erasure reaches
//! `derived` only when every kind has acknowledged its task. Tasks survive crashes; a bounded
//! pool of worker threads ([`worker`]) runs them off the compaction thread and off the erasure
//! lock, coalescing what is due (10,000 opt-outs of one import become one task, and one
//! rebuild per affected artifact).
//!
//! Kinds register through [`crate::EngineBuilder`] before any background thread starts, and
//! the deployment remembers every kind it ever registered: an engine opened without one of
//! them still files tasks for it, and those erasures wait (visibly) instead of skipping it.

mod edit;
mod state;
pub(crate) mod task;
pub(crate) mod worker;

use std::collections::HashMap;

use steward_crypto::Pseudonym;

pub(crate) use state::LedgerState;
pub(crate) use task::{ErasedSubject, Prepared, TaskOp};

use crate::DerivedArtifact;

/// What an erasure or opt-out asks a kind to hide at once (in memory, before the call that
/// caused it returns); the durable removal follows as [`Work`].
#[derive(Clone, Debug)]
pub enum Hide<'a> {
    /// Erased subjects, with the erasure generation of their shred.
    Erased {
        subjects: &'a [Pseudonym],
        generation: u64,
    },
    /// Subjects who refused a purpose.
    OptedOut {
        purpose: &'a str,
        subjects: &'a [Pseudonym],
    },
}

/// Durable work for one kind in one tenant: every due task of one sort, coalesced.
#[derive(Clone, Debug)]
pub enum Work {
    /// Remove these erased subjects (each with its erasure generation) from every stored
    /// artifact of the kind.
    Erase { subjects: Vec<(Pseudonym, u64)> },
    /// These subjects refused `purpose`: artifacts of that purpose that hold them are redone.
    OptOut {
        purpose: String,
        subjects: Vec<Pseudonym>,
    },
    /// The purpose's consent regime changed: artifacts of it are checked against the new rule.
    RegimeChanged { purpose: String },
    /// Rows passed their retention: artifacts that hold expired rows are redone.
    Retention,
}

/// An artifact that holds a subject, as lineage and access requests list it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HeldArtifact {
    pub kind: String,
    pub name: String,
    pub version: u32,
    pub state: String,
    pub purpose: String,
    pub built_at: String,
}

/// How a kind answered a [`Work`].
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Done: the artifacts acted on, by the subject they were acted on for (for receipts).
    Done {
        artifacts: HashMap<Pseudonym, Vec<DerivedArtifact>>,
    },
    /// Not yet (e.g. a build that started before the task is still running and must be
    /// re-checked when it completes); retried after a short wait.
    Wait { reason: String },
}

impl Outcome {
    pub fn done() -> Outcome {
        Outcome::Done {
            artifacts: HashMap::new(),
        }
    }
}

/// One kind of derived artifact.
pub trait ArtifactKind: Send + Sync {
    /// A stable name (`dataset`, `model`, ...): stored in tasks and receipts.
    fn name(&self) -> &'static str;

    /// Hides the subjects from every artifact of this kind at once (serving, exports). Called
    /// before the erasure or consent call returns; must be fast. An error is logged and the
    /// durable task still runs.
    fn hide(&self, tenant: &str, hide: &Hide<'_>) -> Result<(), String>;

    /// Does durable work. Idempotent: after a crash the same work may come again.
    fn process(&self, tenant: &str, work: &Work) -> Result<Outcome, String>;

    /// The artifacts of this kind that hold the subject (lineage, access requests).
    fn holding(&self, _tenant: &str, _subject: &Pseudonym) -> Result<Vec<HeldArtifact>, String> {
        Ok(Vec::new())
    }

    /// Periodic upkeep of one tenant (resuming interrupted builds, removing files whose grace
    /// period ended). Runs on the ledger's workers.
    fn maintain(&self, _tenant: &str) -> Result<(), String> {
        Ok(())
    }
}

impl crate::Engine {
    /// Every derived artifact of every registered kind that holds the subject.
    pub fn subject_lineage(
        &self,
        tenant: &str,
        subject: &Pseudonym,
    ) -> Result<Vec<HeldArtifact>, crate::EngineError> {
        self.tenant(tenant)?;
        let mut out = Vec::new();
        for kind in self.registered_kinds() {
            out.extend(kind.holding(tenant, subject).map_err(|reason| {
                crate::EngineError::DataDir {
                    path: self.data_dir().to_owned(),
                    reason: format!("{} lineage: {reason}", kind.name()),
                }
            })?);
        }
        Ok(out)
    }
}
