//! Durable ledger tasks: one row per (kind, task) in the tenant catalog's `ledger_tasks`
//! table, written in the same commit as the change that caused it (an erasure recorded
//! hidden, a consent refused, a regime changed), deleted in the commit that acknowledges it.
//!
//! Key: `kind ‖ 0x00 ‖ id (u64 big-endian)`. Value: a JSON document (below). A task names
//! subjects by pseudonym until it is acknowledged; the catalog is then compacted so freed
//! pages keep none of them.

use serde::{Deserialize, Serialize};
use steward_crypto::Pseudonym;

pub(crate) const LEDGER_TASKS: &str = "ledger_tasks";
pub(crate) const LEDGER_META: &str = "ledger_meta";
pub(crate) const GENERATION_KEY: &[u8] = b"erasure_generation";

/// One subject of an erasure task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ErasedSubject {
    pub subject: String,
    /// The erasure request that filed it (its receipt lists what the kind did).
    pub erasure: String,
    pub generation: u64,
}

/// What a task asks of its kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum TaskOp {
    Erase {
        subjects: Vec<ErasedSubject>,
    },
    OptOut {
        purpose: String,
        subjects: Vec<String>,
    },
    Regime {
        purpose: String,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct TaskDoc {
    #[serde(flatten)]
    pub op: TaskOp,
    /// The tenant's ledger clock when the task was filed: work in flight that started before
    /// it (a build on an older snapshot) must be re-checked before the task is acknowledged.
    pub clock: u64,
    /// Not before this time (an erasure's purge deadline), µs since the epoch.
    pub due_at_us: i64,
}

pub(crate) fn key(kind: &str, id: u64) -> Vec<u8> {
    let mut k = kind.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// Splits a task key into its kind and id.
pub(crate) fn parse_key(key: &[u8]) -> Option<(String, u64)> {
    let split = key.iter().position(|&b| b == 0)?;
    let kind = std::str::from_utf8(&key[..split]).ok()?.to_owned();
    let id = u64::from_be_bytes(key.get(split + 1..)?.try_into().ok()?);
    Some((kind, id))
}

impl TaskOp {
    /// The pseudonyms an erase task names, with their erasure ids and generations.
    pub fn erased(&self) -> Vec<(Pseudonym, String, u64)> {
        match self {
            TaskOp::Erase { subjects } => subjects
                .iter()
                .filter_map(|s| {
                    Pseudonym::parse_hex(&s.subject)
                        .ok()
                        .map(|p| (p, s.erasure.clone(), s.generation))
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Tasks prepared outside a catalog transaction, written inside one, published after commit.
#[derive(Default)]
pub(crate) struct Prepared {
    pub rows: Vec<(Vec<u8>, Vec<u8>)>,
    pub tasks: Vec<(String, u64, TaskDoc)>,
    /// The new erasure generation, when this commit shreds.
    pub generation: Option<u64>,
}

impl Prepared {
    /// Writes the tasks (and the generation) in `txn`.
    pub fn write(
        &self,
        txn: &mut steward_store::CatalogTxn<'_>,
    ) -> Result<(), steward_store::CatalogError> {
        for (k, v) in &self.rows {
            txn.put(LEDGER_TASKS, k, v)?;
        }
        if let Some(generation) = self.generation {
            txn.put(LEDGER_META, GENERATION_KEY, &generation.to_be_bytes())?;
        }
        Ok(())
    }
}
