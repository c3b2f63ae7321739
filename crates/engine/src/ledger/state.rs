//! One tenant's ledger in memory: the open tasks (mirroring the catalog table), the subjects
//! whose erasure has derived work open (what read guards call "erasing"), the erasure
//! generation, and the tenant's ledger clock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use steward_crypto::Pseudonym;
use steward_store::Catalog;

use super::task::{
    self, ErasedSubject, GENERATION_KEY, LEDGER_META, LEDGER_TASKS, Prepared, TaskDoc, TaskOp,
};
use crate::EngineError;

/// An open task as the workers see it.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub doc: TaskDoc,
    /// Not before (µs): the due time, or a retry time after a wait or a failure.
    pub next_try_us: i64,
    pub failures: u32,
}

pub(crate) struct LedgerState {
    /// Subjects named by an open erase task → the generation of their erasure.
    erasing: RwLock<(Arc<HashMap<Pseudonym, u64>>, u64)>,
    pending: Mutex<BTreeMap<(String, u64), Pending>>,
    next_id: AtomicU64,
    clock: AtomicU64,
    /// Kinds a retention pass has yet to tell (not durable: the next pass sets it again).
    retention_due: Mutex<HashSet<String>>,
    /// Kinds a worker is processing for this tenant now.
    claimed: Mutex<HashSet<String>>,
    last_maintained: Mutex<HashMap<String, Instant>>,
}

fn corrupted(reason: impl std::fmt::Display) -> EngineError {
    EngineError::DataDir {
        path: "catalog.redb".into(),
        reason: format!("corrupted ledger task: {reason}"),
    }
}

impl LedgerState {
    pub fn load(catalog: &Catalog) -> Result<LedgerState, EngineError> {
        let mut pending = BTreeMap::new();
        let mut next_id = 1;
        let mut clock = 1;
        for (k, v) in catalog.scan_prefix(LEDGER_TASKS, b"")? {
            let (kind, id) = task::parse_key(&k).ok_or_else(|| corrupted("key"))?;
            let doc: TaskDoc = serde_json::from_slice(&v).map_err(corrupted)?;
            next_id = next_id.max(id + 1);
            clock = clock.max(doc.clock + 1);
            pending.insert(
                (kind, id),
                Pending {
                    next_try_us: doc.due_at_us,
                    doc,
                    failures: 0,
                },
            );
        }
        let generation = match catalog.get(LEDGER_META, GENERATION_KEY)? {
            Some(bytes) => u64::from_be_bytes(
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupted("generation width"))?,
            ),
            None => 0,
        };
        let state = LedgerState {
            erasing: RwLock::new((Arc::new(HashMap::new()), generation)),
            pending: Mutex::new(pending),
            next_id: AtomicU64::new(next_id),
            clock: AtomicU64::new(clock),
            retention_due: Mutex::new(HashSet::new()),
            claimed: Mutex::new(HashSet::new()),
            last_maintained: Mutex::new(HashMap::new()),
        };
        state.rebuild_erasing();
        Ok(state)
    }

    /// The erasing set and the current erasure generation (one consistent pair).
    pub fn erasing(&self) -> (Arc<HashMap<Pseudonym, u64>>, u64) {
        let guard = self.erasing.read();
        (guard.0.clone(), guard.1)
    }

    fn rebuild_erasing(&self) {
        let mut map = HashMap::new();
        for pending in self.pending.lock().values() {
            for (subject, _, generation) in pending.doc.op.erased() {
                let entry = map.entry(subject).or_insert(generation);
                *entry = (*entry).max(generation);
            }
        }
        let mut erasing = self.erasing.write();
        erasing.0 = Arc::new(map);
    }

    /// Prepares one task per kind for `op`, due at `due_at_us`.
    pub fn prepare(
        &self,
        prepared: &mut Prepared,
        kinds: &[String],
        op: TaskOp,
        due_at_us: i64,
    ) -> Result<(), EngineError> {
        let clock = self.clock.fetch_add(1, Ordering::SeqCst);
        for kind in kinds {
            let id = self.next_id.fetch_add(1, Ordering::SeqCst);
            let doc = TaskDoc {
                op: op.clone(),
                clock,
                due_at_us,
            };
            let value = serde_json::to_vec(&doc).map_err(corrupted)?;
            prepared.rows.push((task::key(kind, id), value));
            prepared.tasks.push((kind.clone(), id, doc));
        }
        Ok(())
    }

    /// The next erasure generation, for a commit that shreds.
    pub fn next_generation(&self, prepared: &mut Prepared) -> u64 {
        let next = prepared.generation.unwrap_or_else(|| self.erasing.read().1) + 1;
        prepared.generation = Some(next);
        next
    }

    /// Publishes what a committed [`Prepared`] wrote.
    pub fn committed(&self, prepared: Prepared) {
        let mut erased = Vec::new();
        {
            let mut pending = self.pending.lock();
            for (kind, id, doc) in prepared.tasks {
                erased.extend(doc.op.erased());
                pending.insert(
                    (kind, id),
                    Pending {
                        next_try_us: doc.due_at_us,
                        doc,
                        failures: 0,
                    },
                );
            }
        }
        let mut erasing = self.erasing.write();
        if let Some(generation) = prepared.generation {
            erasing.1 = erasing.1.max(generation);
        }
        if !erased.is_empty() {
            let map = Arc::make_mut(&mut erasing.0);
            for (subject, _, generation) in erased {
                let entry = map.entry(subject).or_insert(generation);
                *entry = (*entry).max(generation);
            }
        }
    }

    /// Forgets acknowledged tasks (after their deletion committed).
    pub fn acknowledged(&self, keys: &[(String, u64)]) {
        {
            let mut pending = self.pending.lock();
            for key in keys {
                pending.remove(key);
            }
        }
        self.rebuild_erasing();
    }

    /// Replaces a task's document (after a commit that rewrote it).
    pub fn rewritten(&self, key: &(String, u64), doc: TaskDoc) {
        if let Some(p) = self.pending.lock().get_mut(key) {
            p.doc = doc;
        }
    }

    /// Open tasks of `kind` due now, oldest first.
    pub fn due(&self, kind: &str, now_us: i64) -> Vec<((String, u64), TaskDoc)> {
        self.pending
            .lock()
            .iter()
            .filter(|((k, _), p)| k == kind && p.next_try_us <= now_us)
            .map(|(key, p)| (key.clone(), p.doc.clone()))
            .collect()
    }

    /// Every open task (the erasure state machine and the purge read these).
    pub fn all(&self) -> Vec<((String, u64), TaskDoc)> {
        self.pending
            .lock()
            .iter()
            .map(|(k, p)| (k.clone(), p.doc.clone()))
            .collect()
    }

    /// Open tasks naming an erasure request.
    pub fn open_for_erasure(&self, erasure: &str) -> usize {
        self.pending.lock().values().filter(|p| matches!(&p.doc.op, TaskOp::Erase { subjects } if subjects.iter().any(|s| s.erasure == erasure))).count()
    }

    /// Kinds named by open tasks (to report what an erasure waits for).
    pub fn kinds_waiting_for(&self, erasure: &str) -> Vec<String> {
        let mut kinds: Vec<String> = self
            .pending
            .lock()
            .iter()
            .filter(|(_, p)| matches!(&p.doc.op, TaskOp::Erase { subjects } if subjects.iter().any(|s| s.erasure == erasure)))
            .map(|((k, _), _)| k.clone())
            .collect();
        kinds.dedup();
        kinds
    }

    /// Postpones tasks after a wait or a failure.
    pub fn postpone(&self, keys: &[(String, u64)], until_us: i64, failed: bool) {
        let mut pending = self.pending.lock();
        for key in keys {
            if let Some(p) = pending.get_mut(key) {
                p.next_try_us = until_us;
                if failed {
                    p.failures = p.failures.saturating_add(1);
                }
            }
        }
    }

    pub fn failures(&self, key: &(String, u64)) -> u32 {
        self.pending.lock().get(key).map_or(0, |p| p.failures)
    }

    pub fn pending_count(&self) -> usize {
        self.pending.lock().len()
    }

    /// Claims `kind` for one worker; false if another holds it.
    pub fn claim(&self, kind: &str) -> bool {
        self.claimed.lock().insert(kind.to_owned())
    }

    pub fn release(&self, kind: &str) {
        self.claimed.lock().remove(kind);
    }

    pub fn set_retention_due(&self, kinds: &[String]) {
        self.retention_due.lock().extend(kinds.iter().cloned());
    }

    pub fn take_retention_due(&self, kind: &str) -> bool {
        self.retention_due.lock().remove(kind)
    }

    /// Whether `kind`'s upkeep is due (every `every`), marking it done now if so.
    pub fn maintenance_due(&self, kind: &str, every: std::time::Duration) -> bool {
        let mut last = self.last_maintained.lock();
        match last.get(kind) {
            Some(t) if t.elapsed() < every => false,
            _ => {
                last.insert(kind.to_owned(), Instant::now());
                true
            }
        }
    }
}

impl ErasedSubject {
    pub fn new(subject: &Pseudonym, erasure: &str, generation: u64) -> ErasedSubject {
        ErasedSubject {
            subject: subject.to_hex(),
            erasure: erasure.to_owned(),
            generation,
        }
    }
}
