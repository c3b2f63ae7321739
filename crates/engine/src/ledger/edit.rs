//! Edits of open tasks: when a subject is purged, opt-out tasks that still name it are
//! rewritten without it (its erase tasks cover every artifact), so no task keeps the pseudonym
//! of an erased subject; when an erasure is asked again with `now`, its tasks become due now.

use steward_crypto::Pseudonym;

use super::task::{self, LEDGER_TASKS, TaskOp};
use crate::tenant::Tenant;
use crate::{Engine, EngineError};

impl Engine {
    pub(crate) fn forget_in_tasks(
        &self,
        tenant: &Tenant,
        subjects: &[Pseudonym],
    ) -> Result<(), EngineError> {
        let hex: Vec<String> = subjects.iter().map(|s| s.to_hex()).collect();
        let mut rewrites = Vec::new();
        let mut deletes = Vec::new();
        for (key, mut doc) in tenant.ledger_state().all() {
            if let TaskOp::OptOut {
                subjects: named, ..
            } = &mut doc.op
            {
                let before = named.len();
                named.retain(|s| !hex.contains(s));
                if named.len() == before {
                    continue;
                }
                if named.is_empty() {
                    deletes.push(key);
                } else {
                    rewrites.push((key, doc));
                }
            }
        }
        if rewrites.is_empty() && deletes.is_empty() {
            return Ok(());
        }
        self.commit_task_edits(tenant, rewrites, deletes)
    }

    /// Makes the erase tasks of these requests due by `due_us` (an erasure asked again `now`).
    pub(crate) fn hasten_tasks(
        &self,
        tenant: &Tenant,
        erasures: &[String],
        due_us: i64,
    ) -> Result<(), EngineError> {
        let mut rewrites = Vec::new();
        for (key, mut doc) in tenant.ledger_state().all() {
            let names = matches!(&doc.op, TaskOp::Erase { subjects } if subjects.iter().any(|s| erasures.contains(&s.erasure)));
            if names && doc.due_at_us > due_us {
                doc.due_at_us = due_us;
                rewrites.push((key, doc));
            }
        }
        if rewrites.is_empty() {
            return Ok(());
        }
        let keys: Vec<(String, u64)> = rewrites.iter().map(|(k, _)| k.clone()).collect();
        self.commit_task_edits(tenant, rewrites, Vec::new())?;
        tenant.ledger_state().postpone(&keys, due_us, false);
        self.ledger_notify();
        Ok(())
    }

    fn commit_task_edits(
        &self,
        tenant: &Tenant,
        rewrites: Vec<((String, u64), super::task::TaskDoc)>,
        deletes: Vec<(String, u64)>,
    ) -> Result<(), EngineError> {
        if rewrites.is_empty() && deletes.is_empty() {
            return Ok(());
        }
        let values: Vec<Vec<u8>> = rewrites
            .iter()
            .map(|(_, doc)| {
                serde_json::to_vec(doc).map_err(|e| EngineError::DataDir {
                    path: "catalog.redb".into(),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        tenant.partition().catalog().write(|txn| {
            for ((key, _), value) in rewrites.iter().zip(&values) {
                txn.put(LEDGER_TASKS, &task::key(&key.0, key.1), value)?;
            }
            for key in &deletes {
                txn.delete(LEDGER_TASKS, &task::key(&key.0, key.1))?;
            }
            Ok(())
        })?;
        for (key, doc) in rewrites {
            tenant.ledger_state().rewritten(&key, doc);
        }
        tenant.ledger_state().acknowledged(&deletes);
        Ok(())
    }
}
