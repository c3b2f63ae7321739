//! A tenant's Cedar policies: every version kept in the tenant catalog, the newest in force.
//!
//! A new text is validated before anything is written; on any problem the previous version
//! stays in force and the caller gets every diagnostic (policy id, line, column). Version 0
//! is the shipped default set, in force until the tenant stores its own.

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};
use steward_policy::{DEFAULT_POLICIES, PolicyEngine};
use steward_store::Catalog;

use crate::EngineError;
use crate::limits::{POLICY_TEXT_BYTES_MAX, POLICY_VERSIONS_MAX};

const POLICIES: &str = "policies";

/// One stored version of a tenant's policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyVersion {
    /// 0 for the shipped default set.
    pub version: u32,
    pub text: String,
    pub created_at: Option<DateTime<Utc>>,
    /// The audit name of whoever stored it (`key:<id>`, `user:<sub>`, `operator`).
    pub created_by: Option<String>,
    pub policy_ids: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct PolicyDoc {
    text: String,
    created_at: DateTime<Utc>,
    created_by: String,
}

/// The default engine, built once per process (every tenant without its own set shares it).
pub(crate) fn default_engine() -> Result<Arc<PolicyEngine>, EngineError> {
    static DEFAULT: OnceLock<Arc<PolicyEngine>> = OnceLock::new();
    if let Some(engine) = DEFAULT.get() {
        return Ok(engine.clone());
    }
    let engine = Arc::new(
        PolicyEngine::new(None)
            .map_err(|e| EngineError::Policy(format!("default policies: {e}")))?,
    );
    Ok(DEFAULT.get_or_init(|| engine).clone())
}

/// The policies of one tenant: the engine in force and its version.
pub(crate) struct TenantPolicies {
    current: RwLock<(u32, Arc<PolicyEngine>)>,
}

impl TenantPolicies {
    /// Loads the newest stored version, or the default set.
    pub fn load(catalog: &Catalog) -> Result<TenantPolicies, EngineError> {
        let newest = catalog.scan_prefix(POLICIES, b"")?.into_iter().last();
        let current = match newest {
            None => (0, default_engine()?),
            Some((key, value)) => {
                let version = decode_version(&key)?;
                let doc: PolicyDoc =
                    serde_json::from_slice(&value).map_err(|e| corrupted(e.to_string()))?;
                let engine = PolicyEngine::new(Some(&doc.text)).map_err(|e| {
                    corrupted(format!("version {version} no longer validates: {e}"))
                })?;
                (version, Arc::new(engine))
            }
        };
        Ok(TenantPolicies {
            current: RwLock::new(current),
        })
    }

    pub fn engine(&self) -> Arc<PolicyEngine> {
        self.current.read().1.clone()
    }

    pub fn version(&self) -> u32 {
        self.current.read().0
    }

    /// Validates `text`, stores it as the next version and swaps it in. Writers are serialized,
    /// so versions are dense; readers keep the engine they hold until their request ends.
    pub fn put(
        &self,
        catalog: &Catalog,
        text: &str,
        by: &str,
    ) -> Result<PolicyVersion, EngineError> {
        if text.len() > POLICY_TEXT_BYTES_MAX {
            return Err(EngineError::Limit(format!(
                "policy text is at most {POLICY_TEXT_BYTES_MAX} bytes"
            )));
        }
        // Too deep or too long to parse safely: a 400 of its own, before Cedar sees the text.
        steward_policy::check_complexity(text).map_err(|e| EngineError::Invalid {
            code: "policy_too_complex",
            field: None,
            message: e.to_string(),
        })?;
        let validated = PolicyEngine::validate(text).map_err(EngineError::Policies)?;
        let policy_ids = validated.policy_ids().to_vec();
        let engine = PolicyEngine::from_validated(validated)
            .map_err(|e| EngineError::Policy(e.to_string()))?;
        let mut current = self.current.write();
        let version = current.0 + 1;
        if version as usize > POLICY_VERSIONS_MAX {
            return Err(EngineError::Limit(format!(
                "at most {POLICY_VERSIONS_MAX} policy versions per tenant"
            )));
        }
        let created_at = Utc::now();
        let doc = PolicyDoc {
            text: text.to_owned(),
            created_at,
            created_by: by.to_owned(),
        };
        let value = serde_json::to_vec(&doc).map_err(|e| EngineError::Policy(e.to_string()))?;
        catalog.write(|txn| txn.put(POLICIES, &version.to_be_bytes(), &value))?;
        *current = (version, Arc::new(engine));
        tracing::info!(version, by, "policies stored and in force");
        Ok(PolicyVersion {
            version,
            text: text.to_owned(),
            created_at: Some(created_at),
            created_by: Some(by.to_owned()),
            policy_ids,
        })
    }

    /// One version (`None`: the one in force).
    pub fn get(
        &self,
        catalog: &Catalog,
        version: Option<u32>,
    ) -> Result<PolicyVersion, EngineError> {
        let version = version.unwrap_or_else(|| self.version());
        if version == 0 {
            let engine = default_engine()?;
            return Ok(PolicyVersion {
                version: 0,
                text: DEFAULT_POLICIES.to_owned(),
                created_at: None,
                created_by: None,
                policy_ids: engine.policies().policy_ids().to_vec(),
            });
        }
        let value =
            catalog
                .get(POLICIES, &version.to_be_bytes())?
                .ok_or(EngineError::NotFound {
                    what: "policy version",
                })?;
        let doc: PolicyDoc =
            serde_json::from_slice(&value).map_err(|e| corrupted(e.to_string()))?;
        let policy_ids = PolicyEngine::validate(&doc.text)
            .map(|v| v.policy_ids().to_vec())
            .unwrap_or_default();
        Ok(PolicyVersion {
            version,
            text: doc.text,
            created_at: Some(doc.created_at),
            created_by: Some(doc.created_by),
            policy_ids,
        })
    }

    /// Every stored version's number, time and author (texts left out), oldest first.
    pub fn history(&self, catalog: &Catalog) -> Result<Vec<PolicyVersion>, EngineError> {
        let mut out = vec![PolicyVersion {
            version: 0,
            text: String::new(),
            created_at: None,
            created_by: None,
            policy_ids: Vec::new(),
        }];
        for (key, value) in catalog.scan_prefix(POLICIES, b"")? {
            let doc: PolicyDoc =
                serde_json::from_slice(&value).map_err(|e| corrupted(e.to_string()))?;
            out.push(PolicyVersion {
                version: decode_version(&key)?,
                text: String::new(),
                created_at: Some(doc.created_at),
                created_by: Some(doc.created_by),
                policy_ids: Vec::new(),
            });
        }
        Ok(out)
    }
}

fn decode_version(key: &[u8]) -> Result<u32, EngineError> {
    Ok(u32::from_be_bytes(
        key.try_into()
            .map_err(|_| corrupted("version key".into()))?,
    ))
}

fn corrupted(reason: String) -> EngineError {
    EngineError::DataDir {
        path: "catalog.redb".into(),
        reason: format!("corrupted policy entry: {reason}"),
    }
}
