//! One open tenant: its secrets (unwrapped in memory), its event store and its schemas.

use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use steward_crypto::{MasterKey, Pseudonym, PseudonymKey};
use steward_privacy::{Schema, SchemaVersion, validate_event_type};
use steward_store::{Partition, PartitionConfig, PartitionKeys};

use crate::datadir::DataDir;
use crate::identity::TenantIdentity;
use crate::limits::EXTERNAL_ID_BYTES_MAX;
use crate::policies::TenantPolicies;
use crate::system::{TenantInfo, pseudonym_secret_context, tenant_key_context};
use crate::{EngineConfig, EngineError};

const SCHEMAS: &str = "schemas";
const SUPPRESSED: &str = "suppressed_subjects";

pub(crate) struct Tenant {
    info: TenantInfo,
    pseudonym_key: PseudonymKey,
    partition: Partition,
    audit: steward_audit::AuditLog,
    /// Every version of every event type, oldest first.
    schemas: RwLock<HashMap<String, Vec<Arc<SchemaVersion>>>>,
    policies: TenantPolicies,
    identity: TenantIdentity,
    /// Keys erasure request ids (a keyed hash of the pseudonym).
    erasure_key: steward_crypto::Key256,
    /// Keys PII tokens (`tokenize`): stable per tenant, unlinkable across tenants.
    pii_token_key: steward_crypto::Key256,
    erasure_lock: parking_lot::Mutex<()>,
    /// When the earliest open erasure is due (µs since the epoch; `i64::MAX`: none open).
    erasures_due_us: std::sync::atomic::AtomicI64,
    /// Keyed hashes of subjects whose future events are refused (erasure with block_future).
    suppressed: RwLock<std::collections::HashSet<[u8; 32]>>,
    /// Every consent decision, in memory (read guards take snapshots of it).
    consent: RwLock<crate::consent::ConsentIndex>,
    /// Open derived-artifact tasks and the subjects being erased.
    ledger: crate::ledger::LedgerState,
}

impl Tenant {
    pub fn open(
        config: &EngineConfig,
        dir: &DataDir,
        master: &MasterKey,
        info: TenantInfo,
    ) -> Result<Tenant, EngineError> {
        let tenant_key = master
            .key()
            .unwrap_key(&info.wrapped_key, &tenant_key_context(&info.id))?;
        let pseudonym_secret = master.key().unwrap_key(
            &info.wrapped_pseudonym_secret,
            &pseudonym_secret_context(&info.id),
        )?;
        let mut partition_config = PartitionConfig::new(dir.tenant_dir(&info.id), info.id.clone());
        partition_config.encrypt_at_rest = config.encrypt_at_rest;
        partition_config.memtable_bytes_max = config.memtable_bytes_max;
        let partition = Partition::open(partition_config, PartitionKeys { tenant_key })?;
        let mut schemas: HashMap<String, Vec<Arc<SchemaVersion>>> = HashMap::new();
        for (key, value) in partition.catalog().scan_prefix(SCHEMAS, b"")? {
            let version = decode_schema_entry(&key, &value)?;
            schemas
                .entry(version.event_type.clone())
                .or_default()
                .push(Arc::new(version));
        }
        for versions in schemas.values_mut() {
            versions.sort_by_key(|v| v.version);
        }
        // Reserved types (names no caller can register): their schemas are built in.
        for builtin in crate::exposures::builtin_schemas()? {
            schemas.insert(builtin.event_type.clone(), vec![builtin]);
        }
        let audit = steward_audit::AuditLog::open(
            &dir.tenant_dir(&info.id).join("audit"),
            steward_audit::AuditConfig::new(info.id.clone()),
        )
        .map_err(|e| EngineError::Audit(e.to_string()))?;
        let policies = TenantPolicies::load(partition.catalog())?;
        let consent = crate::consent::ConsentIndex::load(partition.catalog())?;
        let ledger = crate::ledger::LedgerState::load(partition.catalog())?;
        let identity = TenantIdentity::load(partition.catalog(), &info.id)?;
        let erasure_key = steward_crypto::Key256::from_bytes(steward_crypto::hmac_sha256(
            &pseudonym_secret,
            &[b"steward-erasure-id"],
        ));
        let mut suppressed = std::collections::HashSet::new();
        for (key, _) in partition.catalog().scan_prefix(SUPPRESSED, b"")? {
            if let Ok(k) = key.as_slice().try_into() {
                suppressed.insert(k);
            }
        }
        Ok(Tenant {
            info,
            pseudonym_key: PseudonymKey::new(&pseudonym_secret),
            partition,
            audit,
            schemas: RwLock::new(schemas),
            policies,
            identity,
            erasure_key,
            pii_token_key: steward_crypto::Key256::from_bytes(steward_crypto::hmac_sha256(
                &pseudonym_secret,
                &[b"steward-pii-token"],
            )),
            erasure_lock: parking_lot::Mutex::new(()),
            erasures_due_us: std::sync::atomic::AtomicI64::new(i64::MAX),
            suppressed: RwLock::new(suppressed),
            consent: RwLock::new(consent),
            ledger,
        })
    }

    pub fn id(&self) -> &str {
        &self.info.id
    }

    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    pub fn audit(&self) -> &steward_audit::AuditLog {
        &self.audit
    }

    pub fn policies(&self) -> &TenantPolicies {
        &self.policies
    }

    pub fn identity(&self) -> &TenantIdentity {
        &self.identity
    }

    /// The id of the erasure request for a subject: stable, and naming no one to whoever
    /// lacks the tenant's secrets.
    pub fn erasure_id(&self, subject: &Pseudonym) -> String {
        data_encoding::HEXLOWER
            .encode(&steward_crypto::hmac_sha256(&self.erasure_key, &[subject.as_bytes()])[..16])
    }

    /// The suppression entry of a subject: a keyed hash, never the pseudonym itself.
    pub(crate) fn suppression_key(&self, subject: &Pseudonym) -> [u8; 32] {
        steward_crypto::hmac_sha256(&self.erasure_key, &[b"suppress", subject.as_bytes()])
    }

    /// Refuses the subjects' future events (durably, before returning).
    pub fn suppress(&self, subjects: &[Pseudonym]) -> Result<(), EngineError> {
        let keys: Vec<[u8; 32]> = subjects.iter().map(|s| self.suppression_key(s)).collect();
        self.partition.catalog().write(|txn| {
            for key in &keys {
                txn.put(SUPPRESSED, key, &[])?;
            }
            Ok(())
        })?;
        self.suppressed.write().extend(keys);
        Ok(())
    }

    /// Restores suppression entries (a restore's erasure replay), durably.
    pub(crate) fn suppress_keys(&self, keys: &[[u8; 32]]) -> Result<(), EngineError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.partition.catalog().write(|txn| {
            for key in keys {
                txn.put(SUPPRESSED, key, &[])?;
            }
            Ok(())
        })?;
        self.suppressed.write().extend(keys.iter().copied());
        Ok(())
    }

    pub fn is_suppressed(&self, subject: &Pseudonym) -> bool {
        let suppressed = self.suppressed.read();
        !suppressed.is_empty() && suppressed.contains(&self.suppression_key(subject))
    }

    pub fn consent_index(&self) -> &RwLock<crate::consent::ConsentIndex> {
        &self.consent
    }

    pub fn ledger_state(&self) -> &crate::ledger::LedgerState {
        &self.ledger
    }

    pub fn pii_token_key(&self) -> &steward_crypto::Key256 {
        &self.pii_token_key
    }

    pub fn erasure_lock(&self) -> &parking_lot::Mutex<()> {
        &self.erasure_lock
    }

    pub fn erasures_due_us(&self) -> &std::sync::atomic::AtomicI64 {
        &self.erasures_due_us
    }

    pub fn pseudonym(&self, external_id: &str) -> Result<Pseudonym, EngineError> {
        validate_external_id(external_id, "external_id")?;
        Ok(self.pseudonym_key.derive(external_id))
    }

    pub fn pseudonym_unchecked(&self, external_id: &str) -> Pseudonym {
        self.pseudonym_key.derive(external_id)
    }

    pub fn put_schema(
        &self,
        event_type: &str,
        document: &serde_json::Value,
    ) -> Result<Arc<SchemaVersion>, EngineError> {
        let schema = if event_type == crate::items::ITEM_SCHEMA {
            let schema = Schema::from_json(document)?;
            crate::items::check_item_schema(&schema)?;
            schema
        } else {
            validate_event_type(event_type).map_err(|e| {
                EngineError::invalid("invalid_event_type", Some("event_type"), e.to_string())
            })?;
            Schema::from_json(document)?
        };
        let mut schemas = self.schemas.write();
        let versions = schemas.entry(event_type.to_owned()).or_default();
        if let Some(latest) = versions.last().filter(|v| v.schema == schema) {
            return Ok(latest.clone());
        }
        let version = versions.last().map_or(1, |v| v.version + 1);
        let entry = Arc::new(SchemaVersion {
            event_type: event_type.to_owned(),
            version,
            schema,
        });
        let key = schema_key(event_type, version);
        let value = serde_json::to_vec(&entry.schema.to_json()).unwrap_or_default();
        self.partition
            .catalog()
            .write(|txn| txn.put(SCHEMAS, &key, &value))?;
        versions.push(entry.clone());
        tracing::info!(tenant = %self.info.id, event_type, version, "schema stored");
        Ok(entry)
    }

    pub fn schema(
        &self,
        event_type: &str,
        version: Option<u32>,
    ) -> Result<Arc<SchemaVersion>, EngineError> {
        let schemas = self.schemas.read();
        let versions = schemas
            .get(event_type)
            .ok_or(EngineError::NotFound { what: "schema" })?;
        let found = match version {
            Some(v) => versions.iter().find(|s| s.version == v),
            None => versions.last(),
        };
        found.cloned().ok_or(EngineError::NotFound {
            what: "schema version",
        })
    }

    /// Every version of an event type's schema, oldest first.
    pub fn schema_versions(&self, event_type: &str) -> Vec<Arc<SchemaVersion>> {
        self.schemas
            .read()
            .get(event_type)
            .cloned()
            .unwrap_or_default()
    }

    /// The retention of an event type (its latest schema's), in seconds.
    pub fn retention_s(&self, event_type: &str) -> Option<u64> {
        self.schemas
            .read()
            .get(event_type)
            .and_then(|v| v.last())
            .and_then(|s| s.schema.retention_seconds())
    }

    pub fn latest_schemas(&self) -> Vec<Arc<SchemaVersion>> {
        let mut out: Vec<_> = self
            .schemas
            .read()
            .values()
            .filter_map(|v| v.last().cloned())
            .collect();
        out.sort_by(|a, b| a.event_type.cmp(&b.event_type));
        out
    }
}

pub(crate) fn validate_external_id(external_id: &str, field: &str) -> Result<(), EngineError> {
    if external_id.is_empty() || external_id.len() > EXTERNAL_ID_BYTES_MAX {
        return Err(EngineError::invalid(
            "invalid_subject",
            Some(field),
            format!("expected a string of 1 to {EXTERNAL_ID_BYTES_MAX} bytes"),
        ));
    }
    Ok(())
}

fn schema_key(event_type: &str, version: u32) -> Vec<u8> {
    let mut key = event_type.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

fn decode_schema_entry(key: &[u8], value: &[u8]) -> Result<SchemaVersion, EngineError> {
    let corrupted = |reason: String| EngineError::DataDir {
        path: "catalog.redb".into(),
        reason: format!("corrupted schema entry: {reason}"),
    };
    let split = key
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| corrupted("key".into()))?;
    let event_type =
        String::from_utf8(key[..split].to_vec()).map_err(|e| corrupted(e.to_string()))?;
    let version = u32::from_be_bytes(
        key[split + 1..]
            .try_into()
            .map_err(|_| corrupted("version".into()))?,
    );
    let document: serde_json::Value =
        serde_json::from_slice(value).map_err(|e| corrupted(e.to_string()))?;
    let schema = Schema::from_json(&document).map_err(|e| corrupted(e.to_string()))?;
    Ok(SchemaVersion {
        event_type,
        version,
        schema,
    })
}
