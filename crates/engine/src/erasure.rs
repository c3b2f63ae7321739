//! Erasure requests (the right to be forgotten): received → shredded → hidden → purged →
//! derived → done, each state timestamped in the tenant catalog and recorded in its audit log.
//!
//! The request shreds and hides at once (the subject key is destroyed and a tombstone masks
//! its rows before the call returns); the purge runs in the background when the request's
//! deadline passes (`EngineConfig::erasure_purge_after_s`, or at once with `now`). A request
//! id is a keyed hash of the pseudonym, so asking twice for one subject finds the same
//! request. The pseudonym is kept in the request only until the purge; after it the request
//! names no one. Every step is idempotent, so a crash in any state resumes on restart.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;
use steward_audit::{AuditRecord, Decision};
use steward_crypto::Pseudonym;

use crate::ledger::{ErasedSubject, Hide, Prepared, TaskOp};
use crate::tenant::Tenant;
use crate::{Engine, EngineError};

const ERASURES: &str = "erasures";
const RECEIPTS: &str = "erasure_receipts";
/// Subjects in one batch request.
pub const ERASURE_BATCH_MAX: usize = 10_000;
/// How often the erasure gauges are recomputed (a scan of each tenant's requests).
const ERASURE_REPORT_INTERVAL_US: i64 = 10_000_000;
/// The audit principal of the steps the engine takes on its own.
const ERASURE_PRINCIPAL: &str = "steward:erasure";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureState {
    Received,
    Shredded,
    Hidden,
    Purged,
    Derived,
    Done,
}

impl ErasureState {
    pub fn as_str(self) -> &'static str {
        match self {
            ErasureState::Received => "received",
            ErasureState::Shredded => "shredded",
            ErasureState::Hidden => "hidden",
            ErasureState::Purged => "purged",
            ErasureState::Derived => "derived",
            ErasureState::Done => "done",
        }
    }
}

/// An erasure request as stored (and shown, less `subject`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRequest {
    pub id: String,
    pub state: ErasureState,
    pub history: Vec<(ErasureState, DateTime<Utc>)>,
    /// The store held nothing of the subject.
    pub no_data: bool,
    pub purge_after: DateTime<Utc>,
    pub rows_removed: u64,
    pub segments_rewritten: u64,
    pub files_removed: u64,
    /// Data sets and models handled.
    pub derived_artifacts: u64,
    /// Which, and what was done to each.
    #[serde(default)]
    pub derived: Vec<crate::DerivedArtifact>,
    /// `SHA-256(salt ‖ pseudonym)`; the salt went only to the requester.
    #[serde(default)]
    pub subject_hash: String,
    /// The salt, in the answer that filed the request only; never stored.
    #[serde(skip)]
    pub subject_salt: Option<String>,
    /// The pseudonym (hex) until the purge; `None` afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    /// The ledger holds one task per artifact kind for this request (filed in the commit
    /// that recorded it hidden); `derived` waits for all of them.
    #[serde(default)]
    pub tasks_filed: bool,
}

impl ErasureRequest {
    fn enter(&mut self, state: ErasureState) {
        self.state = state;
        self.history.push((state, Utc::now()));
    }

    /// Lists what one kind did for this request (the ledger acknowledging its task).
    pub(crate) fn record_derived(&mut self, done: &[crate::DerivedArtifact]) {
        for artifact in done {
            if !self.derived.contains(artifact) {
                self.derived.push(artifact.clone());
            }
        }
        self.derived_artifacts = self.derived.len() as u64;
    }
}

/// Writes one request in a catalog transaction.
pub(crate) fn put(
    txn: &mut steward_store::CatalogTxn<'_>,
    request: &ErasureRequest,
) -> Result<(), steward_store::CatalogError> {
    let value =
        serde_json::to_vec(request).map_err(|e| steward_store::CatalogError::Corrupted {
            path: "catalog.redb".into(),
            table: ERASURES.into(),
            reason: e.to_string(),
        })?;
    txn.put(ERASURES, request.id.as_bytes(), &value)
}

pub(crate) fn load(tenant: &Tenant, id: &str) -> Result<Option<ErasureRequest>, EngineError> {
    let Some(bytes) = tenant.partition().catalog().get(ERASURES, id.as_bytes())? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| EngineError::DataDir {
            path: "catalog.redb".into(),
            reason: format!("corrupted erasure request: {e}"),
        })
}

/// Stores requests in one catalog commit (with ledger tasks, when given).
fn store(
    tenant: &Tenant,
    requests: &[&ErasureRequest],
    tasks: Option<&Prepared>,
) -> Result<(), EngineError> {
    tenant.partition().catalog().write(|txn| {
        for request in requests {
            put(txn, request)?;
        }
        match tasks {
            Some(prepared) => prepared.write(txn),
            None => Ok(()),
        }
    })?;
    Ok(())
}

fn subject_of(request: &ErasureRequest) -> Option<Pseudonym> {
    request
        .subject
        .as_deref()
        .and_then(|hex| Pseudonym::parse_hex(hex).ok())
}

impl Engine {
    /// Files (or finds) the erasure of the subject with this external id, and shreds and
    /// hides it before returning. `now` makes the purge due at once. With `block_future`, the
    /// subject's future events are refused (a suppression entry, a keyed hash of the
    /// pseudonym); otherwise new events start a new subject key.
    pub fn request_erasure(
        &self,
        tenant_id: &str,
        external_id: &str,
        now: bool,
        block_future: bool,
    ) -> Result<ErasureRequest, EngineError> {
        let mut requests =
            self.request_erasures(tenant_id, &[external_id.to_owned()], now, block_future)?;
        requests.pop().ok_or(EngineError::NotFound {
            what: "erasure request",
        })
    }

    /// [`request_erasure`](Self::request_erasure) for many subjects at once: one catalog
    /// commit per step and one durable audit append per step, whatever the count.
    pub fn request_erasures(
        &self,
        tenant_id: &str,
        external_ids: &[String],
        now: bool,
        block_future: bool,
    ) -> Result<Vec<ErasureRequest>, EngineError> {
        if external_ids.is_empty() || external_ids.len() > ERASURE_BATCH_MAX {
            return Err(EngineError::invalid(
                "invalid_batch",
                Some("external_ids"),
                format!("expected 1 to {ERASURE_BATCH_MAX} external ids"),
            ));
        }
        let tenant = self.tenant(tenant_id)?;
        let subjects: Vec<Pseudonym> = external_ids
            .iter()
            .map(|e| tenant.pseudonym(e))
            .collect::<Result<_, _>>()?;
        self.request_erasures_of(&tenant, &subjects, now, block_future)
    }

    /// [`request_erasures`](Self::request_erasures) by pseudonym (the erasure ledger's replay
    /// finds subjects by their keys, not their external ids).
    pub(crate) fn request_erasures_of(
        &self,
        tenant: &Arc<Tenant>,
        subjects: &[Pseudonym],
        now: bool,
        block_future: bool,
    ) -> Result<Vec<ErasureRequest>, EngineError> {
        let tenant_id = tenant.id();
        let _serialized = tenant.erasure_lock().lock();
        if block_future {
            // Kept outside backups first, so a restore refuses the subject's events again.
            self.note_erasures(vec![crate::erasure_ledger::LedgerEntry {
                tenant: tenant_id.to_owned(),
                erasure: None,
                keys: Vec::new(),
                suppress: subjects
                    .iter()
                    .map(|s| data_encoding::HEXLOWER.encode(&tenant.suppression_key(s)))
                    .collect(),
                at: Utc::now().to_rfc3339(),
            }])?;
            tenant.suppress(subjects)?;
        }
        let at = Utc::now();
        let purge_after = if now {
            at
        } else {
            at + chrono::Duration::seconds(
                i64::try_from(self.config.erasure_purge_after_s).unwrap_or(i64::MAX / 2),
            )
        };
        let mut requests = Vec::with_capacity(subjects.len());
        let mut changed = Vec::new();
        let mut received = Vec::new();
        for subject in subjects {
            let id = tenant.erasure_id(subject);
            if requests.iter().any(|r: &ErasureRequest| r.id == id) {
                continue;
            }
            match load(tenant, &id)? {
                Some(mut existing) => {
                    if now && existing.state < ErasureState::Purged && existing.purge_after > at {
                        existing.purge_after = at;
                        changed.push(requests.len());
                    }
                    requests.push(existing);
                }
                None => {
                    let salt = steward_crypto::Key256::random();
                    let request = ErasureRequest {
                        id,
                        state: ErasureState::Received,
                        history: vec![(ErasureState::Received, at)],
                        no_data: false,
                        purge_after,
                        rows_removed: 0,
                        segments_rewritten: 0,
                        files_removed: 0,
                        derived_artifacts: 0,
                        derived: Vec::new(),
                        subject_hash: crate::receipt::subject_hash(
                            salt.expose(),
                            subject.as_bytes(),
                        ),
                        subject_salt: Some(data_encoding::HEXLOWER.encode(salt.expose())),
                        subject: Some(subject.to_hex()),
                        tasks_filed: false,
                    };
                    // The record of the request links to the subject while its key exists.
                    received.push(step_record(&request, self.subject_ref(tenant_id, subject)?));
                    changed.push(requests.len());
                    requests.push(request);
                }
            }
        }
        if !changed.is_empty() {
            store(
                tenant,
                &changed.iter().map(|&i| &requests[i]).collect::<Vec<_>>(),
                None,
            )?;
        }
        if now {
            // Asked again with `now`: derived work filed with a later deadline is due now too.
            let hastened: Vec<String> = changed
                .iter()
                .filter(|&&i| requests[i].tasks_filed)
                .map(|&i| requests[i].id.clone())
                .collect();
            if !hastened.is_empty() {
                self.hasten_tasks(tenant, &hastened, at.timestamp_micros())?;
            }
        }
        if !received.is_empty() {
            self.audit_many(tenant, &received)?;
        }
        if let Some(earliest) = changed
            .iter()
            .map(|&i| requests[i].purge_after.timestamp_micros())
            .min()
        {
            tenant
                .erasures_due_us()
                .fetch_min(earliest, std::sync::atomic::Ordering::SeqCst);
        }
        self.shred_and_hide(tenant, &mut requests)?;
        Ok(requests)
    }

    /// Destroys the keys and hides the rows of every request not yet hidden, in one store
    /// commit, then records shredded and hidden together with one ledger task per artifact
    /// kind (one catalog commit), and has every registered kind hide the subjects at once.
    /// Also files the tasks of requests hidden before the ledger existed (or a crash).
    fn shred_and_hide(
        &self,
        tenant: &Tenant,
        requests: &mut [ErasureRequest],
    ) -> Result<(), EngineError> {
        let pending: Vec<usize> = (0..requests.len())
            .filter(|&i| {
                requests[i].state < ErasureState::Hidden
                    || (!requests[i].tasks_filed
                        && requests[i].subject.is_some()
                        && requests[i].state < ErasureState::Derived)
            })
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let subjects: Vec<Pseudonym> = pending
            .iter()
            .map(|&i| {
                subject_of(&requests[i]).ok_or_else(|| EngineError::DataDir {
                    path: "catalog.redb".into(),
                    reason: "erasure request lost its subject before the purge".into(),
                })
            })
            .collect::<Result<_, _>>()?;
        let started = Instant::now();
        // Idempotent: a subject shredded before keeps its first cutoff. The keys about to be
        // destroyed go to the erasure ledger first (outside backups), while appends wait.
        let at = Utc::now().to_rfc3339();
        let shredded = tenant
            .partition()
            .shred_subjects_noting(&subjects, &mut |noted| {
                let entries = noted
                    .iter()
                    .filter(|(_, keys)| !keys.is_empty())
                    .map(|(subject, keys)| crate::erasure_ledger::LedgerEntry {
                        tenant: tenant.id().to_owned(),
                        erasure: Some(tenant.erasure_id(subject)),
                        keys: keys
                            .iter()
                            .map(|k| data_encoding::HEXLOWER.encode(k))
                            .collect(),
                        suppress: Vec::new(),
                        at: at.clone(),
                    })
                    .collect();
                self.note_erasures(entries)
                    .map_err(|e| steward_store::StoreError::Io {
                        path: self.erasure_ledger.path().to_owned(),
                        source: std::io::Error::other(e.to_string()),
                    })
            })?;
        metrics::histogram!("steward_erasure_shred_seconds")
            .record(started.elapsed().as_secs_f64());
        let mut prepared = Prepared::default();
        let generation = tenant.ledger_state().next_generation(&mut prepared);
        let kinds = self.ledger_kinds();
        if !kinds.is_empty() {
            // One task per kind for the whole batch, due with the purge.
            let due_at = pending
                .iter()
                .map(|&i| requests[i].purge_after.timestamp_micros())
                .min()
                .unwrap_or(0);
            let named = pending
                .iter()
                .zip(&subjects)
                .map(|(&i, s)| ErasedSubject::new(s, &requests[i].id, generation))
                .collect();
            tenant.ledger_state().prepare(
                &mut prepared,
                &kinds,
                TaskOp::Erase { subjects: named },
                due_at,
            )?;
        }
        let mut records = Vec::with_capacity(pending.len());
        for (&i, outcome) in pending.iter().zip(&shredded) {
            let request = &mut requests[i];
            if request.state < ErasureState::Hidden {
                request.no_data = !outcome.had_key;
                if request.state < ErasureState::Shredded {
                    request.enter(ErasureState::Shredded);
                }
                // One catalog commit made the key unreadable and the rows hidden: both states hold.
                request.enter(ErasureState::Hidden);
                records.push(step_record(request, None));
            }
            request.tasks_filed = true;
        }
        store(
            tenant,
            &pending.iter().map(|&i| &requests[i]).collect::<Vec<_>>(),
            Some(&prepared),
        )?;
        tenant.ledger_state().committed(prepared);
        self.ledger_hide(
            tenant.id(),
            &Hide::Erased {
                subjects: &subjects,
                generation,
            },
        );
        self.ledger_notify();
        if !records.is_empty() {
            self.audit_many(tenant, &records)?;
        }
        Ok(())
    }

    /// The erasure request of a subject, if one was filed.
    pub fn erasure_for_subject(
        &self,
        tenant_id: &str,
        subject: &Pseudonym,
    ) -> Result<Option<ErasureRequest>, EngineError> {
        let tenant = self.tenant(tenant_id)?;
        load(&tenant, &tenant.erasure_id(subject))
    }

    pub fn erasure(&self, tenant_id: &str, id: &str) -> Result<ErasureRequest, EngineError> {
        let tenant = self.tenant(tenant_id)?;
        load(&tenant, id)?.ok_or(EngineError::NotFound {
            what: "erasure request",
        })
    }

    /// The signed receipt of a done erasure.
    pub fn erasure_receipt(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<serde_json::Value, EngineError> {
        let tenant = self.tenant(tenant_id)?;
        let bytes = tenant
            .partition()
            .catalog()
            .get(RECEIPTS, id.as_bytes())?
            .ok_or(EngineError::NotFound {
                what: "receipt (the erasure is not done)",
            })?;
        serde_json::from_slice(&bytes).map_err(|e| EngineError::DataDir {
            path: "catalog.redb".into(),
            reason: format!("corrupted receipt: {e}"),
        })
    }

    /// Moves every open erasure of every tenant as far as it can go now: the background
    /// thread calls this, which also resumes erasures interrupted by a crash.
    pub fn advance_erasures(&self) {
        for tenant in self.tenant_list() {
            // Nothing is due before this time: the requests are not even read until then.
            if Utc::now().timestamp_micros()
                < tenant
                    .erasures_due_us()
                    .load(std::sync::atomic::Ordering::SeqCst)
            {
                continue;
            }
            let _serialized = tenant.erasure_lock().lock();
            match self.advance_tenant(&tenant) {
                Ok(next) => tenant
                    .erasures_due_us()
                    .store(next, std::sync::atomic::Ordering::SeqCst),
                Err(error) => {
                    tracing::error!(tenant = tenant.id(), %error, "erasure step failed; retried later")
                }
            }
        }
    }

    /// Sets the erasure gauges (at most every `ERASURE_REPORT_INTERVAL_US`): per tenant, the
    /// open requests by state and the age of the oldest one not `done` (alerts fire on it well
    /// before a legal deadline).
    pub fn report_erasures(&self) {
        static LAST_US: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
        let now = Utc::now();
        let now_us = now.timestamp_micros();
        let last = LAST_US.load(std::sync::atomic::Ordering::SeqCst);
        if now_us.saturating_sub(last) < ERASURE_REPORT_INTERVAL_US {
            return;
        }
        LAST_US.store(now_us, std::sync::atomic::Ordering::SeqCst);
        for tenant in self.tenant_list() {
            // The WAL grows between flushes: its size gauge is refreshed here too.
            tenant.partition().publish_gauges();
            let rows = match tenant.partition().catalog().scan_prefix(ERASURES, b"") {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::warn!(tenant = tenant.id(), %error, "erasure gauges not updated");
                    continue;
                }
            };
            let mut open = [0u64; 5];
            let mut oldest = 0f64;
            for (_, v) in rows {
                let Ok(r) = serde_json::from_slice::<ErasureRequest>(&v) else {
                    continue;
                };
                if r.state == ErasureState::Done {
                    continue;
                }
                open[(r.state as usize).min(4)] += 1;
                if let Some((_, at)) = r.history.first() {
                    let age = (now - *at).num_milliseconds().max(0) as f64 / 1e3;
                    oldest = oldest.max(age);
                }
            }
            for (i, state) in [
                ErasureState::Received,
                ErasureState::Shredded,
                ErasureState::Hidden,
                ErasureState::Purged,
                ErasureState::Derived,
            ]
            .iter()
            .enumerate()
            {
                metrics::gauge!("steward_erasures_open", "tenant" => tenant.id().to_owned(), "state" => state.as_str())
                    .set(open[i] as f64);
            }
            metrics::gauge!("steward_erasure_oldest_open_seconds", "tenant" => tenant.id().to_owned())
                .set(oldest);
        }
    }

    /// Returns when the next waiting request is due (µs; `i64::MAX` when none waits).
    fn advance_tenant(&self, tenant: &Tenant) -> Result<i64, EngineError> {
        let mut open: Vec<ErasureRequest> = tenant
            .partition()
            .catalog()
            .scan_prefix(ERASURES, b"")?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice::<ErasureRequest>(&v).ok())
            .filter(|r| r.state != ErasureState::Done)
            .collect();
        self.shred_and_hide(tenant, &mut open)?;
        let now = Utc::now();
        let (mut due, waiting): (Vec<ErasureRequest>, Vec<ErasureRequest>) =
            open.into_iter().partition(|r| r.purge_after <= now);
        let next_due = waiting
            .iter()
            .map(|r| r.purge_after.timestamp_micros())
            .min()
            .unwrap_or(i64::MAX);
        if due.is_empty() {
            return Ok(next_due);
        }
        // Purged: every row of every due subject out of every file, in one pass.
        let purging: Vec<usize> = (0..due.len())
            .filter(|&i| due[i].state < ErasureState::Purged)
            .collect();
        if !purging.is_empty() {
            let subjects: Vec<Pseudonym> = purging
                .iter()
                .filter_map(|&i| subject_of(&due[i]))
                .collect();
            Engine::forget_consents(tenant, &subjects)?;
            // Opt-out tasks still naming them are moot (the erase tasks cover them) and must
            // not keep the pseudonyms.
            self.forget_in_tasks(tenant, &subjects)?;
            let purged = tenant.partition().purge_subjects(&subjects)?;
            let mut records = Vec::with_capacity(purging.len());
            for &i in &purging {
                let request = &mut due[i];
                if let Some(subject) = subject_of(request) {
                    request.rows_removed +=
                        purged.rows_by_subject.get(&subject).copied().unwrap_or(0);
                }
                // Segments and files are shared by the subjects of one pass: each receipt
                // says what the pass that purged it rewrote and removed.
                request.segments_rewritten += purged.segments_rewritten;
                request.files_removed += purged.files_removed;
                request.subject = None;
                request.enter(ErasureState::Purged);
                records.push(step_record(request, None));
            }
            store(
                tenant,
                &purging.iter().map(|&i| &due[i]).collect::<Vec<_>>(),
                None,
            )?;
            // The requests no longer name the subjects: drop the freed pages that did.
            tenant.partition().catalog().compact()?;
            self.audit_many(tenant, &records)?;
        }
        let mut next_due = next_due;
        for (state, _) in [(ErasureState::Derived, ()), (ErasureState::Done, ())] {
            let stepping: Vec<usize> = (0..due.len())
                .filter(|&i| due[i].state < state)
                .filter(|&i| {
                    // Derived: every kind acknowledged its task (the ledger's workers did the
                    // work and listed it in the request).
                    let waiting = tenant.ledger_state().open_for_erasure(&due[i].id);
                    if waiting > 0 {
                        tracing::debug!(tenant = tenant.id(), erasure = due[i].id, kinds = ?tenant.ledger_state().kinds_waiting_for(&due[i].id), "erasure waits for derived artifacts");
                    }
                    waiting == 0
                })
                .collect();
            if stepping.len() < due.iter().filter(|r| r.state < state).count() {
                // Look again soon; the ledger also wakes this when it acknowledges.
                next_due = next_due.min(Utc::now().timestamp_micros() + 1_000_000);
            }
            if stepping.is_empty() {
                continue;
            }
            for &i in &stepping {
                // The latest derived list (the ledger wrote it into the stored request).
                if let Some(stored) = load(tenant, &due[i].id)? {
                    due[i].derived = stored.derived;
                    due[i].derived_artifacts = stored.derived_artifacts;
                }
                due[i].enter(state);
            }
            let records: Vec<AuditRecord> = stepping
                .iter()
                .map(|&i| step_record(&due[i], None))
                .collect();
            if state != ErasureState::Done {
                store(
                    tenant,
                    &stepping.iter().map(|&i| &due[i]).collect::<Vec<_>>(),
                    None,
                )?;
                self.audit_many(tenant, &records)?;
                continue;
            }
            // Done: the audit record first (the receipt proves its inclusion), then the state
            // and the receipt in one commit, so a request is never done without its receipt.
            // A crash in between re-records done at the next pass.
            let first = self.audit_many(tenant, &records)?;
            let mut receipts = Vec::with_capacity(stepping.len());
            for (k, &i) in stepping.iter().enumerate() {
                let index = first + k as u64;
                let proof = tenant
                    .audit()
                    .prove_inclusion(index, index + 1)
                    .map_err(|e| EngineError::Audit(e.to_string()))?;
                let receipt =
                    crate::receipt::build(&self.signing_key, tenant.id(), &due[i], &proof);
                receipts.push((
                    due[i].id.clone(),
                    serde_json::to_vec(&receipt).map_err(|e| EngineError::Audit(e.to_string()))?,
                ));
            }
            tenant.partition().catalog().write(|txn| {
                for &i in &stepping {
                    put(txn, &due[i])?;
                }
                for (id, bytes) in &receipts {
                    txn.put(RECEIPTS, id.as_bytes(), bytes)?;
                }
                Ok(())
            })?;
            tracing::info!(
                tenant = tenant.id(),
                requests = stepping.len(),
                "erasures done"
            );
        }
        Ok(next_due)
    }

    /// Appends the records of one step durably; returns the index of the first.
    fn audit_many(&self, tenant: &Tenant, records: &[AuditRecord]) -> Result<u64, EngineError> {
        tenant.audit().append_durable(records).map_err(|e| {
            tracing::error!(tenant = tenant.id(), error = %e, "audit append failed; the erasure step is retried");
            EngineError::Audit(e.to_string())
        })
    }

    /// Whether a tenant has erasures not done (at open: the background thread then resumes
    /// them at once).
    pub(crate) fn has_open_erasures(tenant: &Tenant) -> Result<bool, EngineError> {
        Ok(tenant
            .partition()
            .catalog()
            .scan_prefix(ERASURES, b"")?
            .iter()
            .any(|(_, value)| {
                serde_json::from_slice::<ErasureRequest>(value)
                    .is_ok_and(|r| r.state != ErasureState::Done)
            }))
    }
}

/// The audit record of a request entering its current state.
fn step_record(
    request: &ErasureRequest,
    reference: Option<steward_audit::SubjectRef>,
) -> AuditRecord {
    AuditRecord {
        time_us: Utc::now().timestamp_micros(),
        principal: ERASURE_PRINCIPAL.to_owned(),
        action: format!("erase.{}", request.state.as_str()),
        purpose: None,
        resource: format!("erasures/{}", request.id),
        subject_count: u64::from(reference.is_some()),
        subject_refs: reference.into_iter().collect(),
        decision: Decision::Allow,
        policy_ids: Vec::new(),
        request_id: request.id.clone(),
        result_rows: request.rows_removed,
        statement: None,
    }
}
