//! Consent and opt-out: per subject and purpose, granted or denied, with its source and time
//! and an append-only history; per tenant, a regime for each purpose (opt-out: allowed until
//! denied, the default; opt-in: denied until granted).
//!
//! Enforcement is one function, [`Engine::consents_to`], which every read of event data asks
//! with the read's purpose before it returns a row of a subject (today the timeline; SQL,
//! data sets and serving are to call the same). A change is committed before the call that
//! makes it returns, so a read that starts afterwards sees it.
//!
//! Entries are keyed by pseudonym; an erasure deletes them with the subject's other data.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use steward_crypto::Pseudonym;

use crate::tenant::Tenant;
use crate::{Engine, EngineError};

const CONSENTS: &str = "consents";
const CONSENT_HISTORY: &str = "consent_history";
const CONSENT_REGIMES: &str = "consent_regimes";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    Api,
    Import,
    /// A Global Privacy Control signal from the subject's browser.
    Gpc,
}

impl ConsentSource {
    pub fn parse(text: &str) -> Option<ConsentSource> {
        match text {
            "api" => Some(ConsentSource::Api),
            "import" => Some(ConsentSource::Import),
            "gpc" => Some(ConsentSource::Gpc),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConsentSource::Api => "api",
            ConsentSource::Import => "import",
            ConsentSource::Gpc => "gpc",
        }
    }
}

/// How a purpose treats a subject who said nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// Allowed until the subject opts out (the default).
    OptOut,
    /// Denied until the subject opts in.
    OptIn,
}

/// One decision of a subject about a purpose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub purpose: String,
    pub granted: bool,
    pub source: ConsentSource,
    pub at: DateTime<Utc>,
}

/// The consent state of one purpose for a bulk read.
#[derive(Clone, Debug)]
pub struct ConsentFilter {
    default: bool,
    decisions: std::collections::HashMap<Pseudonym, bool>,
}

impl ConsentFilter {
    /// Whether the read may return rows of `subject`.
    pub fn admits(&self, subject: &Pseudonym) -> bool {
        self.decisions.get(subject).copied().unwrap_or(self.default)
    }

    /// Whether every subject is admitted (no refusal on record, and the regime admits).
    pub fn admits_all(&self) -> bool {
        self.default && self.decisions.values().all(|granted| *granted)
    }

    /// Subjects whose own decision refuses the purpose.
    pub fn refusing(&self) -> impl Iterator<Item = &Pseudonym> {
        self.decisions.iter().filter(|(_, granted)| !**granted).map(|(s, _)| s)
    }
}

fn regime_of(tenant: &Tenant, purpose: &str) -> Result<Regime, EngineError> {
    Ok(match tenant.partition().catalog().get(CONSENT_REGIMES, purpose.as_bytes())? {
        Some(v) => serde_json::from_slice(&v).map_err(corrupted)?,
        None => Regime::OptOut,
    })
}

fn key(subject: &Pseudonym, purpose: &str) -> Vec<u8> {
    let mut k = subject.as_bytes().to_vec();
    k.extend_from_slice(purpose.as_bytes());
    k
}

fn corrupted(e: impl std::fmt::Display) -> EngineError {
    EngineError::DataDir { path: "catalog.redb".into(), reason: format!("corrupted consent entry: {e}") }
}

fn check_purpose(purpose: &str) -> Result<(), EngineError> {
    steward_policy::Purpose::parse(purpose).map(|_| ()).map_err(|e| EngineError::invalid("invalid_purpose", Some("purpose"), e.to_string()))
}

impl Engine {
    /// Records a subject's decision about a purpose (appending it to the history) and makes
    /// it the one in force. Returns the decision stored.
    pub fn set_consent(&self, tenant: &str, subject: &Pseudonym, purpose: &str, granted: bool, source: ConsentSource, at: Option<DateTime<Utc>>) -> Result<Consent, EngineError> {
        check_purpose(purpose)?;
        let t = self.tenant(tenant)?;
        let consent = Consent { purpose: purpose.to_owned(), granted, source, at: at.unwrap_or_else(Utc::now) };
        let value = serde_json::to_vec(&consent).map_err(corrupted)?;
        let _serialized = t.erasure_lock().lock();
        t.partition().catalog().write(|txn| {
            // History keys end in a counter: subject | purpose | 0 | n (big-endian).
            let prefix = {
                let mut p = key(subject, purpose);
                p.push(0);
                p
            };
            let mut n: u64 = 0;
            while txn.get(CONSENT_HISTORY, &[prefix.as_slice(), &n.to_be_bytes()].concat())?.is_some() {
                n += 1;
            }
            txn.put(CONSENT_HISTORY, &[prefix.as_slice(), &n.to_be_bytes()].concat(), &value)?;
            txn.put(CONSENTS, &key(subject, purpose), &value)
        })?;
        drop(_serialized);
        if !granted && let Some(hook) = self.derived_hook() {
            // Data sets of this purpose that hold the subject get successors without it.
            hook.opted_out(tenant, subject, purpose);
        }
        Ok(consent)
    }

    /// The subject's decisions in force, one per purpose it decided about.
    pub fn consents(&self, tenant: &str, subject: &Pseudonym) -> Result<Vec<Consent>, EngineError> {
        let t = self.tenant(tenant)?;
        t.partition().catalog().scan_prefix(CONSENTS, subject.as_bytes())?.into_iter().map(|(_, v)| serde_json::from_slice(&v).map_err(corrupted)).collect()
    }

    /// Every decision the subject ever made, oldest first per purpose.
    pub fn consent_history(&self, tenant: &str, subject: &Pseudonym) -> Result<Vec<Consent>, EngineError> {
        let t = self.tenant(tenant)?;
        t.partition().catalog().scan_prefix(CONSENT_HISTORY, subject.as_bytes())?.into_iter().map(|(_, v)| serde_json::from_slice(&v).map_err(corrupted)).collect()
    }

    pub fn set_consent_regime(&self, tenant: &str, purpose: &str, regime: Regime) -> Result<(), EngineError> {
        check_purpose(purpose)?;
        let t = self.tenant(tenant)?;
        let value = serde_json::to_vec(&regime).map_err(corrupted)?;
        t.partition().catalog().write(|txn| txn.put(CONSENT_REGIMES, purpose.as_bytes(), &value))?;
        Ok(())
    }

    /// Every purpose whose regime the tenant set (the others are opt-out).
    pub fn consent_regimes(&self, tenant: &str) -> Result<Vec<(String, Regime)>, EngineError> {
        let t = self.tenant(tenant)?;
        t.partition()
            .catalog()
            .scan_prefix(CONSENT_REGIMES, b"")?
            .into_iter()
            .map(|(k, v)| Ok((String::from_utf8(k).map_err(corrupted)?, serde_json::from_slice(&v).map_err(corrupted)?)))
            .collect()
    }

    /// Whether a read for `purpose` may return rows of `subject`: the subject's decision if
    /// it made one, else the purpose's regime. Point reads (the timeline) ask this; bulk reads
    /// load the same table once through [`Engine::consent_filter`].
    pub(crate) fn consents_to(&self, tenant: &Tenant, subject: &Pseudonym, purpose: &str) -> Result<bool, EngineError> {
        let catalog = tenant.partition().catalog();
        if let Some(v) = catalog.get(CONSENTS, &key(subject, purpose))? {
            let consent: Consent = serde_json::from_slice(&v).map_err(corrupted)?;
            return Ok(consent.granted);
        }
        Ok(regime_of(tenant, purpose)? == Regime::OptOut)
    }

    /// Every subject's decision about `purpose` and the purpose's regime, read once for a
    /// bulk read (SQL, a data set build): the same table and rule as [`Engine::consents_to`].
    pub(crate) fn consent_filter(tenant: &Tenant, purpose: &str) -> Result<ConsentFilter, EngineError> {
        let mut decisions = std::collections::HashMap::new();
        for (k, v) in tenant.partition().catalog().scan_prefix(CONSENTS, b"")? {
            if k.len() > 32 && &k[32..] == purpose.as_bytes() {
                let subject = Pseudonym::from_slice(&k[..32]).map_err(|e| corrupted(e.to_string()))?;
                let consent: Consent = serde_json::from_slice(&v).map_err(corrupted)?;
                decisions.insert(subject, consent.granted);
            }
        }
        Ok(ConsentFilter { default: regime_of(tenant, purpose)? == Regime::OptOut, decisions })
    }

    /// Every consent in force, for the `consents` SQL table.
    pub(crate) fn all_consents(tenant: &Tenant) -> Result<Vec<(Pseudonym, Consent)>, EngineError> {
        tenant
            .partition()
            .catalog()
            .scan_prefix(CONSENTS, b"")?
            .into_iter()
            .map(|(k, v)| {
                let subject = Pseudonym::from_slice(k.get(..32).unwrap_or_default()).map_err(|e| corrupted(e.to_string()))?;
                Ok((subject, serde_json::from_slice(&v).map_err(corrupted)?))
            })
            .collect()
    }

    /// Deletes every consent entry of the subjects (erasure), in one commit. Returns how many.
    pub(crate) fn forget_consents(tenant: &Tenant, subjects: &[Pseudonym]) -> Result<u64, EngineError> {
        let catalog = tenant.partition().catalog();
        let mut current = Vec::new();
        let mut history = Vec::new();
        for subject in subjects {
            current.extend(catalog.scan_prefix(CONSENTS, subject.as_bytes())?);
            history.extend(catalog.scan_prefix(CONSENT_HISTORY, subject.as_bytes())?);
        }
        let removed = (current.len() + history.len()) as u64;
        if removed > 0 {
            catalog.write(|txn| {
                for (k, _) in &current {
                    txn.delete(CONSENTS, k)?;
                }
                for (k, _) in &history {
                    txn.delete(CONSENT_HISTORY, k)?;
                }
                Ok(())
            })?;
        }
        Ok(removed)
    }
}
