//! The system catalog: master key fingerprint, operator key hash, tenants and API keys.
//!
//! Records are stored as small JSON documents through private serde structs, so the
//! on-disk shape is spelled out here and nowhere else.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;
use steward_access::{ApiKeyRecord, ApiKeySecret, RateLimit, Role, TokenKind};
use steward_crypto::{Key256, MasterKey, WrappedKey, constant_time_eq};
use steward_store::Catalog;

use crate::EngineError;
use crate::limits::{
    KEY_NAME_BYTES_MAX, KEY_PURPOSES_MAX, KEYS_PER_TENANT_MAX, TENANT_ID_BYTES_MAX, TENANTS_MAX,
};

const TENANTS: &str = "tenants";
const API_KEYS: &str = "api_keys";
const SYSTEM: &str = "system";
const ARTIFACT_KINDS: &str = "artifact_kinds";

/// A tenant as the system catalog knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantInfo {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub(crate) wrapped_key: WrappedKey,
    pub(crate) wrapped_pseudonym_secret: WrappedKey,
}

#[derive(Serialize, Deserialize)]
struct TenantDoc {
    id: String,
    created_at: DateTime<Utc>,
    wrapped_key: String,
    wrapped_pseudonym_secret: String,
}

#[derive(Serialize, Deserialize)]
struct KeyDoc {
    id: String,
    tenant: String,
    name: String,
    role: String,
    secret_hash: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    purposes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rate_limit: Option<(u32, u32)>,
}

/// What a new API key is to be: all but its secret.
#[derive(Clone, Debug)]
pub struct NewKey {
    pub name: String,
    pub role: Role,
    pub expires_at: Option<DateTime<Utc>>,
    /// Purposes it may read for; empty: any its role permits. Names as in the policies.
    pub purposes: Vec<String>,
    pub rate_limit: Option<RateLimit>,
}

impl NewKey {
    /// A key with a name and a role, no expiry, no purpose scope, the default rate limit.
    pub fn new(name: impl Into<String>, role: Role) -> NewKey {
        NewKey {
            name: name.into(),
            role,
            expires_at: None,
            purposes: Vec::new(),
            rate_limit: None,
        }
    }
}

const HEX: data_encoding::Encoding = data_encoding::HEXLOWER;

pub(crate) fn tenant_key_context(tenant: &str) -> Vec<u8> {
    steward_crypto::context(&[b"tenant-key", tenant.as_bytes()])
}

pub(crate) fn pseudonym_secret_context(tenant: &str) -> Vec<u8> {
    steward_crypto::context(&[b"pseudonym-secret", tenant.as_bytes()])
}

pub(crate) struct SystemCatalog {
    catalog: Catalog,
}

impl SystemCatalog {
    /// The catalog file itself (an online backup holds it still while copying it).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn open(path: &Path) -> Result<SystemCatalog, EngineError> {
        Ok(SystemCatalog {
            catalog: Catalog::open(path)?,
        })
    }

    pub fn initialize(
        &self,
        master: &MasterKey,
        operator: &ApiKeySecret,
    ) -> Result<(), EngineError> {
        debug_assert_eq!(operator.kind, TokenKind::Operator);
        self.catalog.write(|txn| {
            txn.put(
                SYSTEM,
                b"master_fingerprint",
                master.fingerprint().as_bytes(),
            )?;
            txn.put(SYSTEM, b"operator_key_id", operator.id.as_bytes())?;
            txn.put(SYSTEM, b"operator_key_hash", &operator.hash())
        })?;
        Ok(())
    }

    pub fn check_master(&self, master: &MasterKey) -> Result<(), EngineError> {
        let stored = self.catalog.get(SYSTEM, b"master_fingerprint")?;
        if stored.as_deref() != Some(master.fingerprint().as_bytes()) {
            return Err(EngineError::DataDir {
                path: self.catalog.path().to_owned(),
                reason: "the master key does not match this data directory".into(),
            });
        }
        Ok(())
    }

    pub fn set_master_fingerprint_and_tenants(
        &self,
        master: &MasterKey,
        tenants: &[TenantInfo],
    ) -> Result<(), EngineError> {
        self.catalog.write(|txn| {
            for info in tenants {
                txn.put(TENANTS, info.id.as_bytes(), &encode_tenant(info))?;
            }
            txn.put(
                SYSTEM,
                b"master_fingerprint",
                master.fingerprint().as_bytes(),
            )
        })?;
        Ok(())
    }

    pub fn operator_accepts(&self, secret: &ApiKeySecret) -> Result<bool, EngineError> {
        let id = self.catalog.get(SYSTEM, b"operator_key_id")?;
        let hash = self.catalog.get(SYSTEM, b"operator_key_hash")?;
        Ok(match (id, hash) {
            (Some(id), Some(hash)) => {
                id == secret.id.as_bytes() && constant_time_eq(&hash, &secret.hash())
            }
            _ => false,
        })
    }

    /// Every artifact kind the deployment ever registered (erasures wait for each).
    pub fn artifact_kinds(&self) -> Result<Vec<String>, EngineError> {
        self.catalog
            .scan_prefix(ARTIFACT_KINDS, b"")?
            .into_iter()
            .map(|(k, _)| String::from_utf8(k).map_err(|e| corrupted("artifact kind", e)))
            .collect()
    }

    /// Remembers kinds registered now.
    pub fn add_artifact_kinds(&self, kinds: &[&str]) -> Result<(), EngineError> {
        let known = self.artifact_kinds()?;
        if kinds.iter().all(|k| known.iter().any(|n| n == k)) {
            return Ok(());
        }
        self.catalog.write(|txn| {
            for kind in kinds {
                txn.put(ARTIFACT_KINDS, kind.as_bytes(), &[])?;
            }
            Ok(())
        })?;
        Ok(())
    }

    pub fn tenants(&self) -> Result<Vec<TenantInfo>, EngineError> {
        self.catalog
            .scan_prefix(TENANTS, b"")?
            .into_iter()
            .map(|(_, v)| decode_tenant(&v))
            .collect()
    }

    pub fn create_tenant(&self, id: &str, master: &MasterKey) -> Result<TenantInfo, EngineError> {
        validate_tenant_id(id)?;
        let info = TenantInfo {
            id: id.to_owned(),
            created_at: Utc::now(),
            wrapped_key: master
                .key()
                .wrap(&Key256::random(), &tenant_key_context(id)),
            wrapped_pseudonym_secret: master
                .key()
                .wrap(&Key256::random(), &pseudonym_secret_context(id)),
        };
        self.catalog.write(|txn| {
            if txn.get(TENANTS, id.as_bytes())?.is_some() {
                return Ok(Err(EngineError::Conflict { what: "tenant" }));
            }
            txn.put(TENANTS, id.as_bytes(), &encode_tenant(&info))?;
            Ok(Ok(()))
        })??;
        if self.tenants()?.len() > TENANTS_MAX {
            return Err(EngineError::Limit(format!("at most {TENANTS_MAX} tenants")));
        }
        Ok(info)
    }

    pub fn key(&self, id: &str) -> Result<Option<ApiKeyRecord>, EngineError> {
        self.catalog
            .get(API_KEYS, id.as_bytes())?
            .map(|v| decode_key(&v))
            .transpose()
    }

    pub fn keys_of(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>, EngineError> {
        let mut keys: Vec<ApiKeyRecord> = self
            .catalog
            .scan_prefix(API_KEYS, b"")?
            .into_iter()
            .map(|(_, v)| decode_key(&v))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|k| k.tenant == tenant)
            .collect();
        keys.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(keys)
    }

    pub fn create_key(
        &self,
        tenant: &str,
        new: NewKey,
    ) -> Result<(ApiKeyRecord, String), EngineError> {
        let NewKey {
            name,
            role,
            expires_at,
            purposes,
            rate_limit,
        } = new;
        let name = name.as_str();
        if purposes.len() > KEY_PURPOSES_MAX {
            return Err(EngineError::invalid(
                "invalid_purposes",
                Some("purposes"),
                format!("at most {KEY_PURPOSES_MAX} purposes"),
            ));
        }
        for purpose in &purposes {
            steward_policy::Purpose::parse(purpose).map_err(|e| {
                EngineError::invalid("invalid_purpose", Some("purposes"), e.to_string())
            })?;
        }
        let mut purposes = purposes;
        purposes.sort();
        purposes.dedup();
        if name.is_empty() || name.len() > KEY_NAME_BYTES_MAX || name.chars().any(char::is_control)
        {
            return Err(EngineError::invalid(
                "invalid_key_name",
                Some("name"),
                format!("expected 1 to {KEY_NAME_BYTES_MAX} bytes without control characters"),
            ));
        }
        let now = Utc::now();
        if expires_at.is_some_and(|at| at <= now) {
            return Err(EngineError::invalid(
                "invalid_expiry",
                Some("expires_at"),
                "expiry must be in the future",
            ));
        }
        if self.keys_of(tenant)?.len() >= KEYS_PER_TENANT_MAX {
            return Err(EngineError::Limit(format!(
                "at most {KEYS_PER_TENANT_MAX} keys per tenant"
            )));
        }
        let secret = ApiKeySecret::generate(TokenKind::Tenant);
        let record = ApiKeyRecord {
            id: secret.id.clone(),
            tenant: tenant.to_owned(),
            name: name.to_owned(),
            role,
            secret_hash: secret.hash(),
            created_at: now,
            expires_at,
            revoked_at: None,
            purposes,
            rate_limit,
        };
        self.catalog
            .write(|txn| txn.put(API_KEYS, record.id.as_bytes(), &encode_key(&record)))?;
        Ok((record, secret.token()))
    }

    pub fn revoke_key(&self, tenant: &str, id: &str) -> Result<ApiKeyRecord, EngineError> {
        let mut record = self
            .key(id)?
            .filter(|k| k.tenant == tenant)
            .ok_or(EngineError::NotFound { what: "key" })?;
        if record.revoked_at.is_none() {
            record.revoked_at = Some(Utc::now());
            self.catalog
                .write(|txn| txn.put(API_KEYS, record.id.as_bytes(), &encode_key(&record)))?;
        }
        Ok(record)
    }
}

fn validate_tenant_id(id: &str) -> Result<(), EngineError> {
    let ok = !id.is_empty()
        && id.len() <= TENANT_ID_BYTES_MAX
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && id.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(EngineError::invalid(
            "invalid_tenant_id",
            Some("id"),
            format!(
                "expected 1 to {TENANT_ID_BYTES_MAX} characters of a-z, 0-9 and '-', starting with a letter or digit"
            ),
        ))
    }
}

fn encode_tenant(info: &TenantInfo) -> Vec<u8> {
    let doc = TenantDoc {
        id: info.id.clone(),
        created_at: info.created_at,
        wrapped_key: HEX.encode(info.wrapped_key.as_bytes()),
        wrapped_pseudonym_secret: HEX.encode(info.wrapped_pseudonym_secret.as_bytes()),
    };
    serde_json::to_vec(&doc).unwrap_or_default()
}

fn corrupted(what: &str, reason: impl std::fmt::Display) -> EngineError {
    EngineError::DataDir {
        path: "system.redb".into(),
        reason: format!("corrupted {what} record: {reason}"),
    }
}

fn decode_tenant(bytes: &[u8]) -> Result<TenantInfo, EngineError> {
    let doc: TenantDoc = serde_json::from_slice(bytes).map_err(|e| corrupted("tenant", e))?;
    let wrapped = |hex: &str| -> Result<WrappedKey, EngineError> {
        let bytes = HEX
            .decode(hex.as_bytes())
            .map_err(|e| corrupted("tenant", e))?;
        Ok(WrappedKey::from_bytes(bytes)?)
    };
    Ok(TenantInfo {
        wrapped_key: wrapped(&doc.wrapped_key)?,
        wrapped_pseudonym_secret: wrapped(&doc.wrapped_pseudonym_secret)?,
        id: doc.id,
        created_at: doc.created_at,
    })
}

fn encode_key(record: &ApiKeyRecord) -> Vec<u8> {
    let doc = KeyDoc {
        id: record.id.clone(),
        tenant: record.tenant.clone(),
        name: record.name.clone(),
        role: record.role.as_str().to_owned(),
        secret_hash: HEX.encode(&record.secret_hash),
        created_at: record.created_at,
        expires_at: record.expires_at,
        revoked_at: record.revoked_at,
        purposes: record.purposes.clone(),
        rate_limit: record.rate_limit.map(|r| (r.per_second, r.burst)),
    };
    serde_json::to_vec(&doc).unwrap_or_default()
}

fn decode_key(bytes: &[u8]) -> Result<ApiKeyRecord, EngineError> {
    let doc: KeyDoc = serde_json::from_slice(bytes).map_err(|e| corrupted("key", e))?;
    let hash = HEX
        .decode(doc.secret_hash.as_bytes())
        .map_err(|e| corrupted("key", e))?;
    Ok(ApiKeyRecord {
        id: doc.id,
        tenant: doc.tenant,
        name: doc.name,
        role: Role::parse(&doc.role).map_err(|e| corrupted("key", e))?,
        secret_hash: hash
            .try_into()
            .map_err(|_| corrupted("key", "hash width"))?,
        created_at: doc.created_at,
        expires_at: doc.expires_at,
        revoked_at: doc.revoked_at,
        purposes: doc.purposes,
        rate_limit: doc
            .rate_limit
            .map(|(per_second, burst)| RateLimit::new(per_second, burst))
            .transpose()
            .map_err(|e| corrupted("key", e))?,
    })
}
