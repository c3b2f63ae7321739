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
use std::time::Instant;
use steward_audit::{AuditRecord, Decision};
use steward_crypto::Pseudonym;

use crate::tenant::Tenant;
use crate::{Engine, EngineError};

const ERASURES: &str = "erasures";
const RECEIPTS: &str = "erasure_receipts";
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
    /// Data sets and models handled (none exist yet: lineage comes with data sets).
    pub derived_artifacts: u64,
    /// `SHA-256(salt ‖ pseudonym)`; the salt went only to the requester.
    #[serde(default)]
    pub subject_hash: String,
    /// The salt, in the answer that filed the request only; never stored.
    #[serde(skip)]
    pub subject_salt: Option<String>,
    /// The pseudonym (hex) until the purge; `None` afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
}

impl ErasureRequest {
    fn enter(&mut self, state: ErasureState) {
        self.state = state;
        self.history.push((state, Utc::now()));
    }
}

fn load(tenant: &Tenant, id: &str) -> Result<Option<ErasureRequest>, EngineError> {
    let Some(bytes) = tenant.partition().catalog().get(ERASURES, id.as_bytes())? else { return Ok(None) };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| EngineError::DataDir { path: "catalog.redb".into(), reason: format!("corrupted erasure request: {e}") })
}

fn store(tenant: &Tenant, request: &ErasureRequest) -> Result<(), EngineError> {
    let value = serde_json::to_vec(request).map_err(|e| EngineError::DataDir { path: "catalog.redb".into(), reason: e.to_string() })?;
    tenant.partition().catalog().write(|txn| txn.put(ERASURES, request.id.as_bytes(), &value))?;
    Ok(())
}

impl Engine {
    /// Files (or finds) the erasure of the subject with this external id, and shreds and
    /// hides it before returning. `now` makes the purge due at once.
    /// With `block_future`, the subject's future events are refused (a suppression entry, a
    /// keyed hash of the pseudonym); otherwise new events start a new subject key.
    pub fn request_erasure(&self, tenant_id: &str, external_id: &str, now: bool, block_future: bool) -> Result<ErasureRequest, EngineError> {
        let tenant = self.tenant(tenant_id)?;
        let subject = tenant.pseudonym(external_id)?;
        let id = tenant.erasure_id(&subject);
        let _serialized = tenant.erasure_lock().lock();
        if block_future {
            tenant.suppress(&subject)?;
        }
        let request = match load(&tenant, &id)? {
            Some(mut existing) => {
                if now && existing.state < ErasureState::Purged && existing.purge_after > Utc::now() {
                    existing.purge_after = Utc::now();
                    store(&tenant, &existing)?;
                }
                existing
            }
            None => {
                let at = Utc::now();
                let salt = steward_crypto::Key256::random();
                let purge_after = if now { at } else { at + chrono::Duration::seconds(self.config.erasure_purge_after_s as i64) };
                let request = ErasureRequest {
                    id: id.clone(),
                    state: ErasureState::Received,
                    history: vec![(ErasureState::Received, at)],
                    no_data: false,
                    purge_after,
                    rows_removed: 0,
                    segments_rewritten: 0,
                    files_removed: 0,
                    derived_artifacts: 0,
                    subject_hash: crate::receipt::subject_hash(salt.expose(), subject.as_bytes()),
                    subject_salt: Some(data_encoding::HEXLOWER.encode(salt.expose())),
                    subject: Some(subject.to_hex()),
                };
                // The receipt of the request links to the subject while its key still exists.
                let reference = self.subject_ref(tenant_id, &subject)?;
                store(&tenant, &request)?;
                self.audit_step(&tenant, &request, reference)?;
                tenant.open_erasures().fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                request
            }
        };
        self.advance(&tenant, request, false)
    }

    /// The erasure request of a subject, if one was filed.
    pub fn erasure_for_subject(&self, tenant_id: &str, subject: &Pseudonym) -> Result<Option<ErasureRequest>, EngineError> {
        let tenant = self.tenant(tenant_id)?;
        load(&tenant, &tenant.erasure_id(subject))
    }

    pub fn erasure(&self, tenant_id: &str, id: &str) -> Result<ErasureRequest, EngineError> {
        let tenant = self.tenant(tenant_id)?;
        load(&tenant, id)?.ok_or(EngineError::NotFound { what: "erasure request" })
    }

    /// Moves every open erasure of every tenant as far as it can go now (the background
    /// thread calls this; so does opening a data directory, to resume after a crash).
    pub fn advance_erasures(&self) {
        for tenant in self.tenant_list() {
            if tenant.open_erasures().load(std::sync::atomic::Ordering::SeqCst) == 0 {
                continue;
            }
            let open = match tenant.partition().catalog().scan_prefix(ERASURES, b"") {
                Ok(entries) => entries,
                Err(error) => {
                    tracing::error!(tenant = tenant.id(), %error, "reading erasure requests failed");
                    continue;
                }
            };
            let mut still_open = 0;
            for (_, value) in open {
                let Ok(request) = serde_json::from_slice::<ErasureRequest>(&value) else { continue };
                if request.state == ErasureState::Done {
                    continue;
                }
                let _serialized = tenant.erasure_lock().lock();
                match self.advance(&tenant, request, true) {
                    Ok(r) if r.state == ErasureState::Done => {}
                    Ok(_) => still_open += 1,
                    Err(error) => {
                        still_open += 1;
                        tracing::error!(tenant = tenant.id(), %error, "erasure step failed; retried later");
                    }
                }
            }
            tenant.open_erasures().store(still_open, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Runs the steps that are due; `purge` allows the (slow) purge step.
    fn advance(&self, tenant: &Tenant, mut request: ErasureRequest, purge: bool) -> Result<ErasureRequest, EngineError> {
        let subject = request.subject.as_deref().and_then(|hex| Pseudonym::parse_hex(hex).ok());
        if request.state < ErasureState::Hidden {
            let subject = subject.ok_or_else(|| EngineError::DataDir { path: "catalog.redb".into(), reason: "erasure request lost its subject before the purge".into() })?;
            let started = Instant::now();
            let shredded = tenant.partition().shred_subject(&subject)?;
            metrics::histogram!("steward_erasure_shred_seconds").record(started.elapsed().as_secs_f64());
            request.no_data = !shredded.had_key;
            if request.state < ErasureState::Shredded {
                request.enter(ErasureState::Shredded);
            }
            // One catalog commit made the key unreadable and the rows hidden; both states hold.
            request.enter(ErasureState::Hidden);
            store(tenant, &request)?;
            self.audit_step(tenant, &request, None)?;
        }
        if !purge || request.purge_after > Utc::now() {
            return Ok(request);
        }
        if request.state < ErasureState::Purged {
            if let Some(subject) = subject {
                Engine::forget_consents(tenant, &subject)?;
                let purged = tenant.partition().purge_subject(&subject)?;
                request.rows_removed += purged.rows_removed;
                request.segments_rewritten += purged.segments_rewritten;
                request.files_removed += purged.files_removed;
            }
            request.subject = None;
            request.enter(ErasureState::Purged);
            store(tenant, &request)?;
            // The request no longer names the subject: drop the freed pages that did.
            tenant.partition().catalog().compact()?;
            self.audit_step(tenant, &request, None)?;
        }
        if request.state < ErasureState::Derived {
            // No data sets or models exist yet; this is where lineage will be followed.
            request.enter(ErasureState::Derived);
            store(tenant, &request)?;
            self.audit_step(tenant, &request, None)?;
        }
        if request.state < ErasureState::Done {
            request.enter(ErasureState::Done);
            store(tenant, &request)?;
            let index = self.audit_step(tenant, &request, None)?;
            let proof = tenant.audit().prove_inclusion(index, index + 1).map_err(|e| EngineError::Audit(e.to_string()))?;
            let receipt = crate::receipt::build(&self.signing_key, tenant.id(), &request, &proof);
            let bytes = serde_json::to_vec(&receipt).map_err(|e| EngineError::Audit(e.to_string()))?;
            tenant.partition().catalog().write(|txn| txn.put(RECEIPTS, request.id.as_bytes(), &bytes))?;
            tracing::info!(tenant = tenant.id(), id = %request.id, rows = request.rows_removed, "erasure done");
        }
        Ok(request)
    }

    /// The signed receipt of a done erasure.
    pub fn erasure_receipt(&self, tenant_id: &str, id: &str) -> Result<serde_json::Value, EngineError> {
        let tenant = self.tenant(tenant_id)?;
        let bytes = tenant.partition().catalog().get(RECEIPTS, id.as_bytes())?.ok_or(EngineError::NotFound { what: "receipt (the erasure is not done)" })?;
        serde_json::from_slice(&bytes).map_err(|e| EngineError::DataDir { path: "catalog.redb".into(), reason: format!("corrupted receipt: {e}") })
    }

    fn audit_step(&self, tenant: &Tenant, request: &ErasureRequest, reference: Option<steward_audit::SubjectRef>) -> Result<u64, EngineError> {
        let record = AuditRecord {
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
        };
        self.audit(tenant.id(), &record, true)
    }

    /// Counts the open erasures of a tenant at open, so the background thread knows to look.
    pub(crate) fn count_open_erasures(tenant: &Tenant) -> Result<usize, EngineError> {
        let mut open = 0;
        for (_, value) in tenant.partition().catalog().scan_prefix(ERASURES, b"")? {
            if serde_json::from_slice::<ErasureRequest>(&value).is_ok_and(|r| r.state != ErasureState::Done) {
                open += 1;
            }
        }
        Ok(open)
    }
}
