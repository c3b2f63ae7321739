//! The engine's side of the audit trail: the deployment's head-signing key, recording a
//! decision in a tenant's log, heads and proofs, and subject references.
//!
//! Subject references are keyed by a key derived from the subject's data key, so they are
//! destroyed with it at erasure: before, a subject's records can be found; after, they still
//! verify but link to no one.

use std::path::Path;
use steward_audit::{
    AuditRecord, ConsistencyProof, InclusionProof, SignedHead, SigningKey, SubjectRef, TreeHead,
    VerifyingKey,
};
use steward_crypto::Pseudonym;

use crate::{Engine, EngineError};

/// The name of the deployment-wide log (`<data>/audit`) in its records and heads; tenant
/// ids cannot start with `_`, so it names no tenant.
pub const SYSTEM_LOG: &str = "_system";

/// Default milliseconds between signed tree heads of a log (when records were added);
/// `EngineConfig::audit_head_interval_ms`, `steward serve --audit-head-interval-ms`.
pub const AUDIT_HEAD_INTERVAL_MS: u64 = 10_000;

/// Loads the deployment's Ed25519 head-signing key (`audit-signing.key`, mode 0600), creating
/// it on first use.
pub(crate) fn load_or_create_signing_key(path: &Path) -> Result<SigningKey, EngineError> {
    let err = |reason: String| EngineError::DataDir {
        path: path.to_owned(),
        reason,
    };
    if let Ok(text) = std::fs::read_to_string(path) {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.trim().as_bytes())
            .map_err(|_| err("not 64 hex digits".into()))?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| err("not 32 bytes".into()))?;
        return Ok(SigningKey::from_bytes(&seed));
    }
    let key = steward_crypto::Key256::random();
    let signing = SigningKey::from_bytes(key.expose());
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| err(e.to_string()))?;
    file.write_all(format!("{}\n", data_encoding::HEXLOWER.encode(key.expose())).as_bytes())
        .map_err(|e| err(e.to_string()))?;
    file.sync_all().map_err(|e| err(e.to_string()))?;
    Ok(signing)
}

impl Engine {
    /// Records a decision in the tenant's log: durably (returns after fsync) for mutating
    /// requests, batched (durable within the log's flush bound) for reads. An error means the
    /// request must not proceed or answer with data.
    pub fn audit(
        &self,
        tenant: &str,
        record: &AuditRecord,
        durable: bool,
    ) -> Result<u64, EngineError> {
        let tenant = self.tenant(tenant)?;
        let result = if durable {
            tenant.audit().append_durable(std::slice::from_ref(record))
        } else {
            tenant.audit().append_batched(record)
        };
        result.map_err(|e| {
            tracing::error!(tenant = tenant.id(), error = %e, "audit append failed; failing closed");
            EngineError::Audit(e.to_string())
        })
    }

    /// Records a deployment-wide decision (the operator's tenant administration) in the
    /// system log, like [`audit`](Self::audit).
    pub fn audit_system(&self, record: &AuditRecord, durable: bool) -> Result<u64, EngineError> {
        let result = if durable {
            self.system_audit
                .append_durable(std::slice::from_ref(record))
        } else {
            self.system_audit.append_batched(record)
        };
        result.map_err(|e| {
            tracing::error!(error = %e, "system audit append failed; failing closed");
            EngineError::Audit(e.to_string())
        })
    }

    /// The keyed audit reference of a subject, or None if the subject has no key (unknown or erased).
    pub fn subject_ref(
        &self,
        tenant: &str,
        subject: &Pseudonym,
    ) -> Result<Option<SubjectRef>, EngineError> {
        let tenant = self.tenant(tenant)?;
        let key = tenant.partition().subject_key(subject, false)?;
        Ok(key.map(|k| {
            steward_audit::subject_ref(&steward_audit::subject_ref_key(&k), subject.as_bytes())
        }))
    }

    pub fn audit_head(&self, tenant: &str) -> Result<(TreeHead, Option<SignedHead>), EngineError> {
        let tenant = self.tenant(tenant)?;
        Ok((tenant.audit().head(), tenant.audit().latest_signed_head()))
    }

    /// Signed heads of a tenant's log, oldest first, from index `start` (a monitor pins them).
    pub fn audit_heads(
        &self,
        tenant: &str,
        start: usize,
        limit: usize,
    ) -> Result<steward_audit::HeadsPage, EngineError> {
        let tenant = self.tenant(tenant)?;
        tenant
            .audit()
            .signed_heads_page(start, limit)
            .map_err(|e| EngineError::Audit(e.to_string()))
    }

    pub fn audit_inclusion(
        &self,
        tenant: &str,
        index: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, EngineError> {
        let tenant = self.tenant(tenant)?;
        tenant
            .audit()
            .prove_inclusion(index, tree_size)
            .map_err(|e| EngineError::invalid("invalid_proof_request", None, e.to_string()))
    }

    pub fn audit_consistency(
        &self,
        tenant: &str,
        from: u64,
        to: u64,
    ) -> Result<ConsistencyProof, EngineError> {
        let tenant = self.tenant(tenant)?;
        tenant
            .audit()
            .prove_consistency(from, to)
            .map_err(|e| EngineError::invalid("invalid_proof_request", None, e.to_string()))
    }

    /// The public key that verifies every signed tree head of this deployment.
    pub fn audit_public_key(&self) -> VerifyingKey {
        self.signing_key.verifying_key()
    }

    /// Signs a new head for every tenant whose log grew since its last head, at most every
    /// `interval` (called by the background thread, and at shutdown with a zero interval).
    pub(crate) fn sign_audit_heads(&self, interval: std::time::Duration) {
        for tenant in self.tenant_list() {
            if let Err(error) = tenant
                .audit()
                .flush()
                .and_then(|()| tenant.audit().maybe_sign(&self.signing_key, interval))
            {
                tracing::error!(tenant = tenant.id(), %error, "signing the audit head failed");
            }
        }
        if let Err(error) = self
            .system_audit
            .flush()
            .and_then(|()| self.system_audit.maybe_sign(&self.signing_key, interval))
        {
            tracing::error!(%error, "signing the system audit head failed");
        }
        // The longest any log's records have waited for a signed head (alerts: a signing
        // failure shows here before a verifier notices).
        let waited = self
            .tenant_list()
            .iter()
            .map(|t| t.audit().unsigned_for())
            .chain(std::iter::once(self.system_audit.unsigned_for()))
            .max()
            .unwrap_or_default();
        metrics::gauge!("steward_audit_unsigned_seconds").set(waited.as_secs_f64());
    }
}
