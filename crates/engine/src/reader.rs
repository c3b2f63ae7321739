//! Bulk reads (SQL, data set builds): the read path's rules for many subjects at once.
//!
//! A [`TenantReader`] is made per request for one purpose and one set of visible field
//! classes. It hands out a consistent store snapshot and answers, per row, the same
//! questions the timeline asks: hidden by an erasure tombstone, refused by the subject's
//! consent for this purpose, past its type's retention, and which fields open.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use steward_crypto::{Key256, Pseudonym};
use steward_privacy::{PrivacyClass, SchemaVersion};
use steward_store::{Partition, ReadSnapshot, ScanBounds};

use crate::consent::{Consent, ConsentFilter};
use crate::tenant::Tenant;
use crate::{Engine, EngineError};

/// Keys cached per reader; beyond this the cache is cleared (memory stays bounded).
const KEY_CACHE_MAX: usize = 100_000;

/// One field of a sealed blob as a bulk read sees it.
pub struct SealedField {
    pub name: String,
    pub class: PrivacyClass,
    /// `None` when the class is not visible for the purpose, or the key is destroyed.
    pub value: Option<serde_json::Value>,
}

pub struct TenantReader {
    tenant: Arc<Tenant>,
    purpose: String,
    visible: Vec<PrivacyClass>,
    consent: ConsentFilter,
    now_us: i64,
    keys: Mutex<HashMap<Pseudonym, Option<Key256>>>,
}

impl Engine {
    /// A reader of `tenant` for `purpose`, seeing `visible` field classes in the clear.
    pub fn reader(&self, tenant: &str, purpose: &str, visible: Vec<PrivacyClass>) -> Result<TenantReader, EngineError> {
        let tenant = self.tenant(tenant)?;
        let consent = Engine::consent_filter(&tenant, purpose)?;
        Ok(TenantReader { tenant, purpose: purpose.to_owned(), visible, consent, now_us: chrono::Utc::now().timestamp_micros(), keys: Mutex::new(HashMap::new()) })
    }
}

impl TenantReader {
    pub fn tenant(&self) -> &str {
        self.tenant.id()
    }

    pub fn purpose(&self) -> &str {
        &self.purpose
    }

    pub fn visible(&self) -> &[PrivacyClass] {
        &self.visible
    }

    pub fn sees(&self, class: PrivacyClass) -> bool {
        self.visible.contains(&class)
    }

    pub fn partition(&self) -> &Partition {
        self.tenant.partition()
    }

    pub fn snapshot(&self, bounds: &ScanBounds) -> Result<ReadSnapshot, EngineError> {
        Ok(self.tenant.partition().read_snapshot(bounds)?)
    }

    /// The consent rule of this read's purpose.
    pub fn consent(&self) -> &ConsentFilter {
        &self.consent
    }

    /// Whether an event of this type and time is past its retention (unreadable before the
    /// purge removes it).
    pub fn expired(&self, event_type: &str, time_us: i64) -> bool {
        self.tenant.retention_s(event_type).is_some_and(|ttl| time_us.saturating_add((ttl as i64).saturating_mul(1_000_000)) <= self.now_us)
    }

    /// Whether any event type has a retention period (else rows need no retention check).
    pub fn has_retention(&self) -> bool {
        self.tenant.latest_schemas().iter().any(|s| s.schema.retention_seconds().is_some())
    }

    /// The oldest readable time of a type (None: kept forever).
    pub fn retention_cut_us(&self, event_type: &str) -> Option<i64> {
        self.tenant.retention_s(event_type).map(|ttl| self.now_us.saturating_sub((ttl as i64).saturating_mul(1_000_000)))
    }

    /// The latest schema of every event type.
    pub fn schemas(&self) -> Vec<Arc<SchemaVersion>> {
        self.tenant.latest_schemas()
    }

    pub fn schema(&self, event_type: &str, version: u32) -> Option<Arc<SchemaVersion>> {
        self.tenant.schema(event_type, Some(version)).ok()
    }

    /// The class a field stored in the clear reads as under the schema version it was written with.
    pub fn stored_class(&self, schema: Option<&SchemaVersion>, field: &str) -> PrivacyClass {
        crate::timeline::stored_class(schema.map(|s| &s.schema), field)
    }

    /// Opens a row's sealed fields; only fields of visible classes are decrypted.
    pub fn open_sealed(&self, subject: &Pseudonym, event_id: &str, sealed: &[u8]) -> Result<Vec<SealedField>, EngineError> {
        let any = PrivacyClass::ALL.into_iter().any(|c| c.is_sealed() && self.sees(c));
        let key = if any { self.key_of(subject)? } else { None };
        let fields = crate::sealing::open_fields(sealed, key.as_ref(), self.tenant.id(), subject, event_id)
            .map_err(|reason| EngineError::DataDir { path: self.tenant.partition().wal_dir(), reason })?;
        Ok(fields.into_iter().map(|f| SealedField { value: if self.sees(f.class) { f.value } else { None }, name: f.name, class: f.class }).collect())
    }

    fn key_of(&self, subject: &Pseudonym) -> Result<Option<Key256>, EngineError> {
        if let Some(key) = self.keys.lock().get(subject) {
            return Ok(key.clone());
        }
        let key = self.tenant.partition().subject_key(subject, false)?;
        let mut keys = self.keys.lock();
        if keys.len() >= KEY_CACHE_MAX {
            keys.clear();
        }
        keys.insert(*subject, key.clone());
        Ok(key)
    }

    /// Every consent in force (for the `consents` table).
    pub fn consents(&self) -> Result<Vec<(Pseudonym, Consent)>, EngineError> {
        Engine::all_consents(&self.tenant)
    }
}

impl Engine {
    /// The tenant's directory (derived artifacts such as data sets live under it).
    pub fn tenant_dir(&self, tenant: &str) -> Result<std::path::PathBuf, EngineError> {
        Ok(self.tenant(tenant)?.partition().dir().to_owned())
    }

    /// Wraps a derived file's key under the tenant key.
    pub fn wrap_tenant_key(&self, tenant: &str, key: &Key256, context: &[u8]) -> Result<steward_crypto::WrappedKey, EngineError> {
        Ok(self.tenant(tenant)?.partition().wrap_key(key, context))
    }

    pub fn unwrap_tenant_key(&self, tenant: &str, wrapped: &steward_crypto::WrappedKey, context: &[u8]) -> Result<Key256, EngineError> {
        Ok(self.tenant(tenant)?.partition().unwrap_key(wrapped, context)?)
    }

    /// A key derived from the tenant key for one use.
    pub fn tenant_derived_key(&self, tenant: &str, label: &[u8]) -> Result<Key256, EngineError> {
        Ok(self.tenant(tenant)?.partition().derived_key(label))
    }
}
