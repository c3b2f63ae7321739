//! The engine: one data directory's tenants, keys, schemas and event stores, and the
//! operations the server and CLI expose (ingest, resolve, timeline, administration).
//!
//! Main types: [`Engine`] (opened from a data directory through [`EngineBuilder`], which
//! registers the derived-artifact kinds before any background thread starts), [`ReadGuard`]
//! (the one implementation of a read's rules), [`ArtifactKind`] (what the ledger asks of
//! every kind of derived artifact), [`EngineConfig`], [`IngestReport`], [`TimelinePage`]. The
//! engine takes JSON *values* for event properties (schemas are about JSON), but knows nothing
//! of HTTP or wire envelopes: those live in `steward-server`.

mod access_request;
mod audit;
mod background;
pub mod backup;
mod builder;
mod config;
mod consent;
mod datadir;
mod derived;
mod erasure;
pub mod erasure_ledger;
mod error;
mod exposures;
mod follow;
mod forensics;
mod guard;
mod health;
mod identity;
mod ingest;
pub mod items;
pub mod ledger;
pub mod limits;
mod policies;
mod receipt;
mod replay;
mod reports;
mod retention;
mod rotate;
mod sealing;
mod system;
mod tar;
mod tenant;
mod tenant_files;
mod timeline;

pub use access_request::AccessArchive;
pub use audit::{AUDIT_HEAD_INTERVAL_MS, SYSTEM_LOG as SYSTEM_AUDIT_LOG};
pub use builder::EngineBuilder;
pub use config::EngineConfig;
pub use consent::{CONSENT_BATCH_MAX, Consent, ConsentChange, ConsentSource, ConsentView, Regime};
pub use datadir::{InitOutput, data_dir_in_use, init};
pub use derived::{DerivedArtifact, DerivedStep};
pub use erasure::{ErasureRequest, ErasureState};
pub use error::{EngineError, damaged_file};
pub use exposures::{EXPOSURE_TYPE, EXPOSURES_PER_CALL_MAX, Exposure};
pub use follow::{FollowPage, FollowedEvent};
pub use forensics::ForensicHit;
pub use guard::{
    Admitted, ArtifactFacts, ArtifactRefusal, ReadAccess, ReadGuard, ReadPurpose, SealedField,
    SubjectRefusal, subject_bit,
};
pub use identity::IdentityInfo;
pub use ingest::{EventError, EventOutcome, IngestOptions, IngestReport};
pub use ledger::{ArtifactKind, HeldArtifact, Hide, Outcome, Work};
pub use policies::PolicyVersion;
pub use receipt::{RECEIPT_FORMAT, ReceiptCheck, subject_hash, verify_receipt};
pub use replay::{RESTORE_PENDING_FILE, ReplayReport, TenantReplay, mark_restore_pending};
pub use reports::{Report, ReportFilter};
pub use rotate::rotate_master;
pub use steward_audit::{AuditRecord, Decision as AuditDecision, VerifyingKey};
pub use steward_crypto;
pub use steward_policy;
pub use system::{NewKey, TenantInfo};
pub use tenant_files::FileKey;
pub use timeline::{Cursor, TimelineEvent, TimelinePage, TimelineQuery};

use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// Tenants whose stored state failed to open (a damaged catalog, segment or WAL) → why.
    /// They answer `TenantUnavailable`; every other tenant serves.
    unavailable: RwLock<std::collections::BTreeMap<String, String>>,
    stopping: Arc<AtomicBool>,
    signing_key: steward_audit::SigningKey,
    /// Deployment-wide decisions (tenants created and listed by the operator).
    system_audit: steward_audit::AuditLog,
    /// When the last retention pass started (µs since the epoch).
    last_retention_us: std::sync::atomic::AtomicI64,
    background: parking_lot::Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// The derived-artifact kinds registered at open (fixed before any background thread).
    kinds: std::sync::OnceLock<Vec<Arc<dyn ledger::ArtifactKind>>>,
    /// Every kind the deployment ever registered: each gets a task per erasure.
    required_kinds: RwLock<Vec<String>>,
    ledger_signal: Arc<ledger::worker::Signal>,
    health: health::Health,
    /// Outside backups: what a restore must erase again.
    erasure_ledger: erasure_ledger::ErasureLedger,
    /// The replay a restored directory ran at this open.
    last_replay: parking_lot::Mutex<Option<ReplayReport>>,
}

impl Engine {
    /// Opens an initialized data directory with no derived-artifact kinds (tools, tests); see
    /// [`Engine::builder`] for a server.
    pub fn open(config: EngineConfig) -> Result<Arc<Engine>, EngineError> {
        Engine::builder(config).open()
    }

    /// A builder that registers artifact kinds before the background threads start.
    pub fn builder(config: EngineConfig) -> EngineBuilder {
        EngineBuilder::new(config)
    }

    /// Loads the master key, checks it, opens every tenant (replaying WALs); no thread yet.
    pub(crate) fn open_quiet(config: EngineConfig) -> Result<Arc<Engine>, EngineError> {
        let dir = DataDir::lock(&config.data_dir)?;
        let system = SystemCatalog::open(&dir.system_catalog_path())?;
        rotate::finish_interrupted(
            &system,
            &dir.master_key_path(),
            &dir.path().join("master.key.new"),
        )?;
        let master = dir.load_master_key()?;
        system.check_master(&master)?;
        let signing_key = audit::load_or_create_signing_key(&dir.path().join("audit-signing.key"))?;
        let system_audit = steward_audit::AuditLog::open(
            &dir.path().join("audit"),
            steward_audit::AuditConfig::new(audit::SYSTEM_LOG.to_owned()),
        )
        .map_err(|e| EngineError::Audit(e.to_string()))?;
        let required_kinds = system.artifact_kinds()?;
        let erasure_ledger = erasure_ledger::ErasureLedger::new(config.erasure_ledger_path());
        let engine = Arc::new(Engine {
            config,
            dir,
            master,
            system,
            tenants: RwLock::new(HashMap::new()),
            unavailable: RwLock::new(std::collections::BTreeMap::new()),
            stopping: Arc::new(AtomicBool::new(false)),
            signing_key,
            system_audit,
            last_retention_us: std::sync::atomic::AtomicI64::new(0),
            background: parking_lot::Mutex::new(Vec::new()),
            kinds: std::sync::OnceLock::new(),
            required_kinds: RwLock::new(required_kinds),
            ledger_signal: Arc::new(ledger::worker::Signal::default()),
            health: health::Health::default(),
            erasure_ledger,
            last_replay: parking_lot::Mutex::new(None),
        });
        for info in engine.system.tenants()? {
            let id = info.id.clone();
            // One tenant's damaged state degrades that tenant, never the deployment.
            let tenant = match Tenant::open(&engine.config, &engine.dir, &engine.master, info) {
                Ok(tenant) => tenant,
                Err(error) => {
                    engine.mark_unavailable(&id, &error);
                    continue;
                }
            };
            if Engine::has_open_erasures(&tenant)? {
                tenant.erasures_due_us().store(i64::MIN, Ordering::SeqCst);
            }
            engine
                .tenants
                .write()
                .insert(tenant.id().to_owned(), Arc::new(tenant));
        }
        metrics::gauge!("steward_tenants_unavailable").set(engine.unavailable.read().len() as f64);
        Ok(engine)
    }

    /// Fixes the registered kinds (remembering them in the system catalog), then starts the
    /// background threads: flush, compaction and erasures, and the ledger's workers.
    pub(crate) fn start(
        self: &Arc<Engine>,
        kinds: Vec<Arc<dyn ledger::ArtifactKind>>,
    ) -> Result<(), EngineError> {
        let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
        if !names.is_empty() {
            self.system.add_artifact_kinds(&names)?;
            *self.required_kinds.write() = self.system.artifact_kinds()?;
        }
        let missing: Vec<String> = self
            .required_kinds
            .read()
            .iter()
            .filter(|k| !names.contains(&k.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() && self.config.background {
            tracing::warn!(
                ?missing,
                "artifact kinds this deployment registered before are not registered now: erasures wait for them"
            );
        }
        let _ = self.kinds.set(kinds);
        if self.config.background {
            let mut handles = background::spawn(
                Arc::downgrade(self),
                self.stopping.clone(),
                self.config.flush_interval_ms,
                self.config.audit_head_interval_ms,
            );
            handles.extend(ledger::worker::spawn(
                Arc::downgrade(self),
                self.stopping.clone(),
                self.ledger_signal.clone(),
            ));
            *self.background.lock() = handles;
        }
        Ok(())
    }

    /// The kinds registered in this process.
    pub(crate) fn registered_kinds(&self) -> Vec<Arc<dyn ledger::ArtifactKind>> {
        self.kinds.get().cloned().unwrap_or_default()
    }

    /// Names of every kind that gets a task (registered now or ever).
    pub(crate) fn ledger_kinds(&self) -> Vec<String> {
        self.required_kinds.read().clone()
    }

    /// Wakes the ledger's workers (tasks were filed).
    pub(crate) fn ledger_notify(&self) {
        self.ledger_signal.notify();
    }

    pub(crate) fn health(&self) -> &health::Health {
        &self.health
    }

    /// Background workers whose last round panicked (empty: healthy). `/readyz` fails while
    /// any is listed.
    pub fn failing_workers(&self) -> Vec<String> {
        self.health.failing()
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Ledger tasks not yet acknowledged, per tenant (operators, tests).
    pub fn ledger_pending(&self, tenant: &str) -> Result<usize, EngineError> {
        Ok(self.tenant(tenant)?.ledger_state().pending_count())
    }

    /// Runs the ledger's work once on the calling thread (tests without background threads).
    pub fn run_ledger_once(&self) -> bool {
        self.ledger_round()
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Stops background work and flushes every memtable to a segment.
    pub fn shutdown(&self) -> Result<(), EngineError> {
        self.stopping.store(true, Ordering::SeqCst);
        self.ledger_signal.notify();
        for handle in std::mem::take(&mut *self.background.lock()) {
            let _ = handle.join();
        }
        // A clean close signs a head over every record and marks each log closed, so a damaged
        // final head or record is tampering, not a torn write (`steward audit verify`).
        for tenant in self.tenant_list() {
            if let Err(error) = tenant.audit().close(&self.signing_key) {
                tracing::error!(tenant = tenant.id(), %error, "closing the audit log failed; it stays marked open");
            }
        }
        if let Err(error) = self.system_audit.close(&self.signing_key) {
            tracing::error!(%error, "closing the system audit log failed; it stays marked open");
        }
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
        if let Some(tenant) = self.tenants.read().get(id) {
            return Ok(tenant.clone());
        }
        if self.unavailable.read().contains_key(id) {
            return Err(EngineError::TenantUnavailable {
                tenant: id.to_owned(),
            });
        }
        Err(EngineError::NotFound { what: "tenant" })
    }

    /// Tenants that failed to open at start, with the reason (file and damage, for operators).
    pub fn unavailable_tenants(&self) -> Vec<(String, String)> {
        self.unavailable
            .read()
            .iter()
            .map(|(t, r)| (t.clone(), r.clone()))
            .collect()
    }

    /// Whether `tenant` failed to open at start and refuses every request.
    pub fn is_tenant_unavailable(&self, tenant: &str) -> bool {
        self.unavailable.read().contains_key(tenant)
    }

    fn mark_unavailable(&self, tenant: &str, error: &EngineError) {
        let reason = error.to_string();
        tracing::error!(
            tenant,
            error = %reason,
            "tenant NOT opened: its stored state failed a check; it answers 503 tenant_unavailable while every other tenant serves. \
             Nothing was deleted or changed. To recover: stop the server, restore the file named above from a backup \
             (or move it aside if you accept losing what it holds), then restart"
        );
        metrics::counter!("steward_tenant_open_failures_total", "tenant" => tenant.to_owned())
            .increment(1);
        let mut unavailable = self.unavailable.write();
        unavailable.insert(tenant.to_owned(), reason);
        metrics::gauge!("steward_tenants_unavailable").set(unavailable.len() as f64);
    }

    /// Checks a bearer token for a request about `tenant` (a JWT is checked against that
    /// tenant's issuer); errors are deliberately uninformative to the caller.
    pub fn authenticate_for(
        &self,
        token: &str,
        tenant: Option<&str>,
    ) -> Result<Principal, EngineError> {
        if steward_access::looks_like_jwt(token) {
            return self.authenticate_user(token, tenant);
        }
        self.authenticate(token)
    }

    /// Checks an API key; errors are deliberately uninformative to the caller.
    pub fn authenticate(&self, token: &str) -> Result<Principal, EngineError> {
        let secret = ApiKeySecret::parse(token).map_err(|_| EngineError::Unauthenticated {
            reason: "malformed token",
        })?;
        match secret.kind {
            TokenKind::Operator => {
                if self.system.operator_accepts(&secret)? {
                    Ok(Principal::Operator)
                } else {
                    Err(EngineError::Unauthenticated {
                        reason: "unknown operator key",
                    })
                }
            }
            TokenKind::Tenant => {
                let record = self
                    .system
                    .key(&secret.id)?
                    .ok_or(EngineError::Unauthenticated {
                        reason: "unknown key id",
                    })?;
                if !record.accepts(&secret, chrono::Utc::now()) {
                    return Err(EngineError::Unauthenticated {
                        reason: "wrong secret, revoked or expired",
                    });
                }
                Ok(Principal::Key {
                    tenant: record.tenant,
                    key_id: record.id,
                    role: record.role,
                    purposes: record.purposes,
                    rate_limit: record.rate_limit,
                })
            }
        }
    }

    /// The principal of a live key of `tenant`, without its secret: a signed download link
    /// acts for the key that made it, and stops working when that key is revoked or expires.
    pub fn key_principal(&self, tenant: &str, key_id: &str) -> Result<Principal, EngineError> {
        let record = self
            .system
            .key(key_id)?
            .ok_or(EngineError::Unauthenticated {
                reason: "unknown key id",
            })?;
        if record.tenant != tenant || !record.is_live(chrono::Utc::now()) {
            return Err(EngineError::Unauthenticated {
                reason: "link of a revoked, expired or foreign key",
            });
        }
        Ok(Principal::Key {
            tenant: record.tenant,
            key_id: record.id,
            role: record.role,
            purposes: record.purposes,
            rate_limit: record.rate_limit,
        })
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
    pub fn create_key(
        &self,
        tenant: &str,
        new: NewKey,
    ) -> Result<(ApiKeyRecord, String), EngineError> {
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
    pub fn put_schema(
        &self,
        tenant: &str,
        event_type: &str,
        document: &serde_json::Value,
    ) -> Result<Arc<SchemaVersion>, EngineError> {
        self.tenant(tenant)?.put_schema(event_type, document)
    }

    /// Inserts or replaces items `(id, {"properties", "text"})` in one durable commit.
    pub fn upsert_items(
        &self,
        tenant: &str,
        entries: Vec<(String, serde_json::Value)>,
    ) -> Result<items::ItemsReport, EngineError> {
        self.tenant(tenant)?.upsert_items(entries)
    }

    pub fn item(&self, tenant: &str, id: &str) -> Result<items::Item, EngineError> {
        self.tenant(tenant)?.item(id)
    }

    pub fn delete_item(&self, tenant: &str, id: &str) -> Result<bool, EngineError> {
        self.tenant(tenant)?.delete_item(id)
    }

    pub fn items_page(
        &self,
        tenant: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<items::ItemsPage, EngineError> {
        if limit == 0 || limit > limits::ITEMS_PAGE_MAX {
            return Err(EngineError::invalid(
                "invalid_limit",
                Some("limit"),
                format!("expected 1 to {}", limits::ITEMS_PAGE_MAX),
            ));
        }
        self.tenant(tenant)?.items_page(cursor, limit)
    }

    pub fn item_count(&self, tenant: &str) -> Result<u64, EngineError> {
        self.tenant(tenant)?.item_count()
    }

    pub fn get_schema(
        &self,
        tenant: &str,
        event_type: &str,
        version: Option<u32>,
    ) -> Result<Arc<SchemaVersion>, EngineError> {
        self.tenant(tenant)?.schema(event_type, version)
    }

    pub fn list_schemas(&self, tenant: &str) -> Result<Vec<Arc<SchemaVersion>>, EngineError> {
        Ok(self.tenant(tenant)?.latest_schemas())
    }

    /// Applies a PII action to a text as ingest would (tokens under the tenant's key).
    pub fn pii_apply(
        &self,
        tenant: &str,
        text: &str,
        findings: &[steward_privacy::pii::PiiFinding],
        action: steward_privacy::pii::PiiAction,
    ) -> Result<String, EngineError> {
        let tenant = self.tenant(tenant)?;
        Ok(steward_privacy::pii::apply(
            text,
            findings,
            action,
            &|entity, value| {
                steward_privacy::pii::hmac_token(tenant.pii_token_key(), entity, value)
            },
        ))
    }

    pub fn resolve_subject(
        &self,
        tenant: &str,
        external_id: &str,
    ) -> Result<Pseudonym, EngineError> {
        self.tenant(tenant)?.pseudonym(external_id)
    }

    pub fn ingest(
        &self,
        tenant: &str,
        events: &[serde_json::Value],
        options: IngestOptions,
    ) -> Result<IngestReport, EngineError> {
        let started = std::time::Instant::now();
        let report = ingest::ingest(&*self.tenant(tenant)?, events, options);
        // From the call to the durable acknowledgement (WAL fsync included), per call.
        metrics::histogram!("steward_ingest_ack_seconds").record(started.elapsed().as_secs_f64());
        report
    }

    /// One page of a subject's events as the guard's read may see them: none if the subject
    /// withholds consent for its purpose, only rows its rules admit, only visible fields.
    pub fn timeline(
        &self,
        guard: &ReadGuard,
        query: &TimelineQuery,
    ) -> Result<TimelinePage, EngineError> {
        timeline::read(guard, query)
    }

    pub fn tenant_stats(&self, tenant: &str) -> Result<steward_store::PartitionStats, EngineError> {
        Ok(self.tenant(tenant)?.partition().stats())
    }

    /// The policy engine in force for a tenant, and its version.
    pub fn policy_engine(
        &self,
        tenant: &str,
    ) -> Result<(u32, Arc<steward_policy::PolicyEngine>), EngineError> {
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
    pub fn put_policies(
        &self,
        tenant: &str,
        text: &str,
        by: &str,
    ) -> Result<PolicyVersion, EngineError> {
        let tenant = self.tenant(tenant)?;
        tenant
            .policies()
            .put(tenant.partition().catalog(), text, by)
    }

    /// One version of a tenant's policies (`None`: the one in force).
    pub fn policies(
        &self,
        tenant: &str,
        version: Option<u32>,
    ) -> Result<PolicyVersion, EngineError> {
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
