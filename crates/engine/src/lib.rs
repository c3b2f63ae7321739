//! The engine: one data directory's tenants, keys, schemas and event stores, and the
//! operations the server and CLI expose (ingest, resolve, timeline, administration).
//!
//! Main types: [`Engine`] (opened from a data directory), [`EngineConfig`], [`IngestReport`],
//! [`TimelinePage`]. The engine takes JSON *values* for event properties (schemas are about
//! JSON), but knows nothing of HTTP or wire envelopes: those live in `steward-server`.

mod access_request;
mod audit;
mod background;
mod config;
mod datadir;
mod derived;
mod consent;
mod erasure;
mod error;
mod forensics;
mod ingest;
mod identity;
mod policies;
mod reader;
mod receipt;
mod reports;
mod retention;
pub mod limits;
mod rotate;
mod sealing;
mod system;
mod tar;
mod tenant;
mod timeline;

pub use audit::{AUDIT_HEAD_INTERVAL_MS, SYSTEM_LOG as SYSTEM_AUDIT_LOG};
pub use access_request::AccessArchive;
pub use config::EngineConfig;
pub use steward_audit::{AuditRecord, Decision as AuditDecision, VerifyingKey};
pub use datadir::{init, InitOutput};
pub use derived::{DerivedArtifact, DerivedArtifacts};
pub use consent::{Consent, ConsentFilter, ConsentSource, Regime};
pub use reader::{SealedField, TenantReader};
pub use erasure::{ErasureRequest, ErasureState};
pub use error::EngineError;
pub use forensics::ForensicHit;
pub use ingest::{EventError, EventOutcome, IngestOptions, IngestReport};
pub use identity::IdentityInfo;
pub use policies::PolicyVersion;
pub use receipt::{subject_hash, verify_receipt, ReceiptCheck, RECEIPT_FORMAT};
pub use reports::{Report, ReportFilter};
pub use rotate::rotate_master;
pub use steward_policy;
pub use system::{NewKey, TenantInfo};
pub use timeline::{Cursor, TimelineEvent, TimelinePage, TimelineQuery};

use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use steward_access::{ApiKeyRecord, ApiKeySecret, Principal, TokenKind};
use steward_crypto::{MasterKey, Pseudonym};
use steward_privacy::SchemaVersion;

use crate::datadir::DataDir;
use crate::system::SystemCatalog;
use crate::tenant::Tenant;

/// An open data directory. Cheap to share (`Arc<Engine>`); every method is thread-safe and
/// blocking (the server calls the slow ones from a blocking pool).
pub struct Engine {
    config: EngineConfig,
    dir: DataDir,
    master: MasterKey,
    system: SystemCatalog,
    tenants: RwLock<HashMap<String, Arc<Tenant>>>,
    stopping: Arc<AtomicBool>,
    signing_key: steward_audit::SigningKey,
    /// Deployment-wide decisions (tenants created and listed by the operator).
    system_audit: steward_audit::AuditLog,
    /// When the last retention pass started (µs since the epoch).
    last_retention_us: std::sync::atomic::AtomicI64,
    background: parking_lot::Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Data sets (and later models) to follow on erasure and opt-out.
    derived: RwLock<Option<Arc<dyn derived::DerivedArtifacts>>>,
}

impl Engine {
    /// Opens an initialized data directory: loads the master key, checks it, opens every tenant
    /// (replaying WALs) and starts background flush and compaction.
    pub fn open(config: EngineConfig) -> Result<Arc<Engine>, EngineError> {
        let dir = DataDir::lock(&config.data_dir)?;
        let system = SystemCatalog::open(&dir.system_catalog_path())?;
        rotate::finish_interrupted(&system, &dir.master_key_path(), &dir.path().join("master.key.new"))?;
        let master = dir.load_master_key()?;
        system.check_master(&master)?;
        let signing_key = audit::load_or_create_signing_key(&dir.path().join("audit-signing.key"))?;
        let system_audit = steward_audit::AuditLog::open(&dir.path().join("audit"), steward_audit::AuditConfig::new(audit::SYSTEM_LOG.to_owned()))
            .map_err(|e| EngineError::Audit(e.to_string()))?;
        let engine = Arc::new(Engine {
            config,
            dir,
            master,
            system,
            tenants: RwLock::new(HashMap::new()),
            stopping: Arc::new(AtomicBool::new(false)),
            signing_key,
            system_audit,
            last_retention_us: std::sync::atomic::AtomicI64::new(0),
            background: parking_lot::Mutex::new(Vec::new()),
            derived: RwLock::new(None),
        });
        for info in engine.system.tenants()? {
            let tenant = Tenant::open(&engine.config, &engine.dir, &engine.master, info)?;
            if Engine::has_open_erasures(&tenant)? {
                tenant.erasures_due_us().store(i64::MIN, Ordering::SeqCst);
            }
            engine.tenants.write().insert(tenant.id().to_owned(), Arc::new(tenant));
        }
        if engine.config.background {
            let handles = background::spawn(Arc::downgrade(&engine), engine.stopping.clone(), engine.config.flush_interval_ms, engine.config.audit_head_interval_ms);
            *engine.background.lock() = handles;
        }
        Ok(engine)
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Stops background work and flushes every memtable to a segment.
    pub fn shutdown(&self) -> Result<(), EngineError> {
        self.stopping.store(true, Ordering::SeqCst);
        for handle in std::mem::take(&mut *self.background.lock()) {
            let _ = handle.join();
        }
        self.sign_audit_heads(std::time::Duration::ZERO);
        self.flush_all()
    }

    pub fn flush_all(&self) -> Result<(), EngineError> {
        for tenant in self.tenant_list() {
            tenant.partition().flush()?;
        }
        Ok(())
    }

    /// Runs compaction until nothing is left to merge (tests and operators).
    pub fn compact_all(&self) -> Result<u64, EngineError> {
        let mut runs = 0;
        for tenant in self.tenant_list() {
            while tenant.partition().compact_once()? {
                runs += 1;
            }
        }
        Ok(runs)
    }

    fn tenant_list(&self) -> Vec<Arc<Tenant>> {
        self.tenants.read().values().cloned().collect()
    }

    pub(crate) fn tenant(&self, id: &str) -> Result<Arc<Tenant>, EngineError> {
        self.tenants.read().get(id).cloned().ok_or(EngineError::NotFound { what: "tenant" })
    }

    /// Checks a bearer token for a request about `tenant` (a JWT is checked against that
    /// tenant's issuer); errors are deliberately uninformative to the caller.
    pub fn authenticate_for(&self, token: &str, tenant: Option<&str>) -> Result<Principal, EngineError> {
        if steward_access::looks_like_jwt(token) {
            return self.authenticate_user(token, tenant);
        }
        self.authenticate(token)
    }

    /// Checks an API key; errors are deliberately uninformative to the caller.
    pub fn authenticate(&self, token: &str) -> Result<Principal, EngineError> {
        let secret = ApiKeySecret::parse(token).map_err(|_| EngineError::Unauthenticated { reason: "malformed token" })?;
        match secret.kind {
            TokenKind::Operator => {
                if self.system.operator_accepts(&secret)? {
                    Ok(Principal::Operator)
                } else {
                    Err(EngineError::Unauthenticated { reason: "unknown operator key" })
                }
            }
            TokenKind::Tenant => {
                let record = self.system.key(&secret.id)?.ok_or(EngineError::Unauthenticated { reason: "unknown key id" })?;
                if !record.accepts(&secret, chrono::Utc::now()) {
                    return Err(EngineError::Unauthenticated { reason: "wrong secret, revoked or expired" });
                }
                Ok(Principal::Key { tenant: record.tenant, key_id: record.id, role: record.role, purposes: record.purposes, rate_limit: record.rate_limit })
            }
        }
    }

    /// The principal of a live key of `tenant`, without its secret: a signed download link
    /// acts for the key that made it, and stops working when that key is revoked or expires.
    pub fn key_principal(&self, tenant: &str, key_id: &str) -> Result<Principal, EngineError> {
        let record = self.system.key(key_id)?.ok_or(EngineError::Unauthenticated { reason: "unknown key id" })?;
        if record.tenant != tenant || !record.is_live(chrono::Utc::now()) {
            return Err(EngineError::Unauthenticated { reason: "link of a revoked, expired or foreign key" });
        }
        Ok(Principal::Key { tenant: record.tenant, key_id: record.id, role: record.role, purposes: record.purposes, rate_limit: record.rate_limit })
    }

    pub fn create_tenant(&self, id: &str) -> Result<TenantInfo, EngineError> {
        let info = self.system.create_tenant(id, &self.master)?;
        let tenant = Tenant::open(&self.config, &self.dir, &self.master, info.clone())?;
        self.tenants.write().insert(id.to_owned(), Arc::new(tenant));
        tracing::info!(tenant = id, "tenant created");
        Ok(info)
    }

    pub fn list_tenants(&self) -> Result<Vec<TenantInfo>, EngineError> {
        self.system.tenants()
    }

    /// Creates an API key; the token is returned once and only its hash is kept.
    pub fn create_key(&self, tenant: &str, new: NewKey) -> Result<(ApiKeyRecord, String), EngineError> {
        self.tenant(tenant)?;
        self.system.create_key(tenant, new)
    }

    pub fn list_keys(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>, EngineError> {
        self.tenant(tenant)?;
        self.system.keys_of(tenant)
    }

    pub fn revoke_key(&self, tenant: &str, key_id: &str) -> Result<ApiKeyRecord, EngineError> {
        self.tenant(tenant)?;
        self.system.revoke_key(tenant, key_id)
    }

    /// Stores a new version of an event type's schema (unchanged documents keep their version).
    pub fn put_schema(&self, tenant: &str, event_type: &str, document: &serde_json::Value) -> Result<Arc<SchemaVersion>, EngineError> {
        self.tenant(tenant)?.put_schema(event_type, document)
    }

    pub fn get_schema(&self, tenant: &str, event_type: &str, version: Option<u32>) -> Result<Arc<SchemaVersion>, EngineError> {
        self.tenant(tenant)?.schema(event_type, version)
    }

    pub fn list_schemas(&self, tenant: &str) -> Result<Vec<Arc<SchemaVersion>>, EngineError> {
        Ok(self.tenant(tenant)?.latest_schemas())
    }

    /// Applies a PII action to a text as ingest would (tokens under the tenant's key).
    pub fn pii_apply(&self, tenant: &str, text: &str, findings: &[steward_privacy::pii::PiiFinding], action: steward_privacy::pii::PiiAction) -> Result<String, EngineError> {
        let tenant = self.tenant(tenant)?;
        Ok(steward_privacy::pii::apply(text, findings, action, &|entity, value| steward_privacy::pii::hmac_token(tenant.pii_token_key(), entity, value)))
    }

    pub fn resolve_subject(&self, tenant: &str, external_id: &str) -> Result<Pseudonym, EngineError> {
        self.tenant(tenant)?.pseudonym(external_id)
    }

    pub fn ingest(&self, tenant: &str, events: &[serde_json::Value], options: IngestOptions) -> Result<IngestReport, EngineError> {
        ingest::ingest(&*self.tenant(tenant)?, events, options)
    }

    /// A subject's events for the query's purpose: none if the subject withholds consent
    /// for it, and only the field classes the query may see.
    pub fn timeline(&self, tenant: &str, query: &TimelineQuery) -> Result<TimelinePage, EngineError> {
        let tenant = self.tenant(tenant)?;
        if let Some(purpose) = &query.purpose
            && !self.consents_to(&tenant, &query.subject, purpose)?
        {
            return Ok(TimelinePage { events: Vec::new(), next_cursor: None });
        }
        timeline::read(&tenant, query)
    }

    pub fn tenant_stats(&self, tenant: &str) -> Result<steward_store::PartitionStats, EngineError> {
        Ok(self.tenant(tenant)?.partition().stats())
    }

    /// The policy engine in force for a tenant, and its version.
    pub fn policy_engine(&self, tenant: &str) -> Result<(u32, Arc<steward_policy::PolicyEngine>), EngineError> {
        let tenant = self.tenant(tenant)?;
        let policies = tenant.policies();
        Ok((policies.version(), policies.engine()))
    }

    /// The shipped default policies (for requests about no existing tenant: the guardrails
    /// refuse them the same way whichever tenant set is asked).
    pub fn default_policy_engine(&self) -> Result<Arc<steward_policy::PolicyEngine>, EngineError> {
        policies::default_engine()
    }

    /// Validates and stores a tenant's new policy text; on any problem nothing changes and
    /// the error lists every diagnostic.
    pub fn put_policies(&self, tenant: &str, text: &str, by: &str) -> Result<PolicyVersion, EngineError> {
        let tenant = self.tenant(tenant)?;
        tenant.policies().put(tenant.partition().catalog(), text, by)
    }

    /// One version of a tenant's policies (`None`: the one in force).
    pub fn policies(&self, tenant: &str, version: Option<u32>) -> Result<PolicyVersion, EngineError> {
        let tenant = self.tenant(tenant)?;
        tenant.policies().get(tenant.partition().catalog(), version)
    }

    /// Every version of a tenant's policies, without texts.
    pub fn policy_history(&self, tenant: &str) -> Result<Vec<PolicyVersion>, EngineError> {
        let tenant = self.tenant(tenant)?;
        tenant.policies().history(tenant.partition().catalog())
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
    }
}
