//! Consent and opt-out: per subject and purpose, granted or denied, with its source and time
//! and an append-only history; per tenant, a regime for each purpose (opt-out: allowed until
//! denied, the default; opt-in: denied until granted).
//!
//! Enforcement is the read guard's ([`crate::ReadGuard`]): each guard holds a [`ConsentView`],
//! an immutable snapshot of one purpose's decisions taken from the tenant's in-memory index
//! (a persistent hash map, so a snapshot is O(1) and a change copies only a path). A change is
//! committed to the catalog, then published to the index, before the call that makes it
//! returns: a read that starts afterwards sees it. A refusal files ledger tasks in the same
//! commit, so data sets (and later models) of that purpose follow.
//!
//! Entries are keyed by pseudonym; an erasure deletes them with the subject's other data.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rpds::HashTrieMapSync;
use serde::{Deserialize, Serialize};
use steward_crypto::Pseudonym;

use crate::guard::subject_bit;
use crate::ledger::{Hide, Prepared, TaskOp};
use crate::tenant::Tenant;
use crate::{Engine, EngineError};

const CONSENTS: &str = "consents";
const CONSENT_HISTORY: &str = "consent_history";
const CONSENT_REGIMES: &str = "consent_regimes";
/// Decisions one batch may change.
pub const CONSENT_BATCH_MAX: usize = 10_000;

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

/// One change of a batch ([`Engine::set_consents`]).
#[derive(Clone, Debug)]
pub struct ConsentChange {
    pub subject: Pseudonym,
    pub purpose: String,
    pub granted: bool,
    pub source: ConsentSource,
    pub at: Option<DateTime<Utc>>,
}

/// One purpose's consent state as a read sees it: the regime's default and the decisions.
#[derive(Clone)]
pub struct ConsentView {
    default: bool,
    decisions: HashTrieMapSync<Pseudonym, bool>,
    /// Subjects who refuse although the regime allows (for the fast path).
    refusals: usize,
}

impl ConsentView {
    /// A view that admits everyone (an access request: consent does not apply).
    pub(crate) fn everyone() -> ConsentView {
        ConsentView {
            default: true,
            decisions: HashTrieMapSync::new_sync(),
            refusals: 0,
        }
    }

    /// Whether a read of this purpose may return rows of `subject`.
    pub fn admits(&self, subject: &Pseudonym) -> bool {
        self.decisions.get(subject).copied().unwrap_or(self.default)
    }

    /// Whether every subject is admitted (no refusal on record, and the regime admits).
    pub fn admits_all(&self) -> bool {
        self.default && self.refusals == 0
    }

    /// Whether every subject of an artifact bitmap (by [`subject_bit`]) is admitted.
    pub(crate) fn admits_all_of(&self, bits: &roaring::RoaringTreemap) -> bool {
        if bits.is_empty() {
            return true;
        }
        if self.default {
            // Opt-out regime: refused only by a refusal on record.
            return self.refusals == 0
                || !self
                    .decisions
                    .iter()
                    .any(|(s, granted)| !granted && bits.contains(subject_bit(s)));
        }
        // Opt-in regime: every held subject needs a grant on record.
        let mut granted = roaring::RoaringTreemap::new();
        for (s, g) in self.decisions.iter() {
            if *g && bits.contains(subject_bit(s)) {
                granted.insert(subject_bit(s));
            }
        }
        granted.len() == bits.len()
    }
}

/// A tenant's consent decisions in memory, one persistent map per purpose.
#[derive(Default)]
pub(crate) struct ConsentIndex {
    regimes: HashMap<String, Regime>,
    purposes: HashMap<String, (HashTrieMapSync<Pseudonym, bool>, usize)>,
}

impl ConsentIndex {
    pub fn load(catalog: &steward_store::Catalog) -> Result<ConsentIndex, EngineError> {
        let mut index = ConsentIndex::default();
        for (k, v) in catalog.scan_prefix(CONSENT_REGIMES, b"")? {
            let purpose = String::from_utf8(k).map_err(corrupted)?;
            index
                .regimes
                .insert(purpose, serde_json::from_slice(&v).map_err(corrupted)?);
        }
        for (k, v) in catalog.scan_prefix(CONSENTS, b"")? {
            let (subject, purpose) = split_key(&k)?;
            let consent: Consent = serde_json::from_slice(&v).map_err(corrupted)?;
            index.set(&subject, &purpose, consent.granted);
        }
        Ok(index)
    }

    fn set(&mut self, subject: &Pseudonym, purpose: &str, granted: bool) {
        let (map, refusals) = self
            .purposes
            .entry(purpose.to_owned())
            .or_insert_with(|| (HashTrieMapSync::new_sync(), 0));
        if map.get(subject) == Some(&false) {
            *refusals -= 1;
        }
        map.insert_mut(*subject, granted);
        if !granted {
            *refusals += 1;
        }
    }

    fn forget(&mut self, subject: &Pseudonym) {
        for (map, refusals) in self.purposes.values_mut() {
            if map.get(subject) == Some(&false) {
                *refusals -= 1;
            }
            map.remove_mut(subject);
        }
    }

    pub fn view(&self, purpose: &str) -> ConsentView {
        let default =
            self.regimes.get(purpose).copied().unwrap_or(Regime::OptOut) == Regime::OptOut;
        match self.purposes.get(purpose) {
            Some((decisions, refusals)) => ConsentView {
                default,
                decisions: decisions.clone(),
                refusals: *refusals,
            },
            None => ConsentView {
                default,
                decisions: HashTrieMapSync::new_sync(),
                refusals: 0,
            },
        }
    }
}

fn key(subject: &Pseudonym, purpose: &str) -> Vec<u8> {
    let mut k = subject.as_bytes().to_vec();
    k.extend_from_slice(purpose.as_bytes());
    k
}

fn split_key(k: &[u8]) -> Result<(Pseudonym, String), EngineError> {
    let subject = Pseudonym::from_slice(k.get(..32).ok_or_else(|| corrupted("short key"))?)
        .map_err(|e| corrupted(e.to_string()))?;
    let purpose = String::from_utf8(k[32..].to_vec()).map_err(corrupted)?;
    Ok((subject, purpose))
}

fn corrupted(e: impl std::fmt::Display) -> EngineError {
    EngineError::DataDir {
        path: "catalog.redb".into(),
        reason: format!("corrupted consent entry: {e}"),
    }
}

fn check_purpose(purpose: &str) -> Result<(), EngineError> {
    steward_policy::Purpose::parse(purpose)
        .map(|_| ())
        .map_err(|e| EngineError::invalid("invalid_purpose", Some("purpose"), e.to_string()))
}

impl Tenant {
    /// The consent state of one purpose, as a read guard holds it.
    pub(crate) fn consent_view(&self, purpose: &str) -> ConsentView {
        self.consent_index().read().view(purpose)
    }
}

impl Engine {
    /// Whether a purpose name is well formed (what every consent change checks).
    pub fn check_purpose(&self, purpose: &str) -> Result<(), EngineError> {
        check_purpose(purpose)
    }

    /// Records a subject's decision about a purpose (appending it to the history) and makes
    /// it the one in force. Returns the decision stored.
    pub fn set_consent(
        &self,
        tenant: &str,
        subject: &Pseudonym,
        purpose: &str,
        granted: bool,
        source: ConsentSource,
        at: Option<DateTime<Utc>>,
    ) -> Result<Consent, EngineError> {
        let change = ConsentChange {
            subject: *subject,
            purpose: purpose.to_owned(),
            granted,
            source,
            at,
        };
        let mut out = self.set_consents(tenant, &[change])?;
        out.pop().ok_or(EngineError::NotFound { what: "consent" })
    }

    /// Records many decisions in one catalog commit, one index update and, for the refusals,
    /// one ledger task per purpose: an import of 10,000 opt-outs redoes each affected data set
    /// version once. Every change is checked before anything is written.
    pub fn set_consents(
        &self,
        tenant: &str,
        changes: &[ConsentChange],
    ) -> Result<Vec<Consent>, EngineError> {
        if changes.len() > CONSENT_BATCH_MAX {
            return Err(EngineError::invalid(
                "invalid_batch",
                None,
                format!("at most {CONSENT_BATCH_MAX} consent changes at once"),
            ));
        }
        for change in changes {
            check_purpose(&change.purpose)?;
        }
        let t = self.tenant(tenant)?;
        let now = Utc::now();
        let stored: Vec<Consent> = changes
            .iter()
            .map(|c| Consent {
                purpose: c.purpose.clone(),
                granted: c.granted,
                source: c.source,
                at: c.at.unwrap_or(now),
            })
            .collect();
        let values: Vec<Vec<u8>> = stored
            .iter()
            .map(|c| serde_json::to_vec(c).map_err(corrupted))
            .collect::<Result<_, _>>()?;
        // Refusals by purpose, for the ledger.
        let mut refusals: Vec<(String, Vec<Pseudonym>)> = Vec::new();
        for change in changes.iter().filter(|c| !c.granted) {
            match refusals.iter_mut().find(|(p, _)| *p == change.purpose) {
                Some((_, subjects)) if !subjects.contains(&change.subject) => {
                    subjects.push(change.subject)
                }
                Some(_) => {}
                None => refusals.push((change.purpose.clone(), vec![change.subject])),
            }
        }
        let _serialized = t.erasure_lock().lock();
        let mut prepared = Prepared::default();
        let kinds = self.ledger_kinds();
        if !kinds.is_empty() {
            for (purpose, subjects) in &refusals {
                let op = TaskOp::OptOut {
                    purpose: purpose.clone(),
                    subjects: subjects.iter().map(|s| s.to_hex()).collect(),
                };
                t.ledger_state()
                    .prepare(&mut prepared, &kinds, op, now.timestamp_micros())?;
            }
        }
        t.partition().catalog().write(|txn| {
            // History keys end in a counter: subject | purpose | 0 | n (big-endian).
            let mut next: HashMap<Vec<u8>, u64> = HashMap::new();
            for (change, value) in changes.iter().zip(&values) {
                let mut prefix = key(&change.subject, &change.purpose);
                prefix.push(0);
                let n = match next.get(&prefix) {
                    Some(n) => *n,
                    None => {
                        let mut n: u64 = 0;
                        while txn
                            .get(
                                CONSENT_HISTORY,
                                &[prefix.as_slice(), &n.to_be_bytes()].concat(),
                            )?
                            .is_some()
                        {
                            n += 1;
                        }
                        n
                    }
                };
                txn.put(
                    CONSENT_HISTORY,
                    &[prefix.as_slice(), &n.to_be_bytes()].concat(),
                    value,
                )?;
                next.insert(prefix, n + 1);
                txn.put(CONSENTS, &key(&change.subject, &change.purpose), value)?;
            }
            prepared.write(txn)
        })?;
        {
            let mut index = t.consent_index().write();
            for change in changes {
                index.set(&change.subject, &change.purpose, change.granted);
            }
        }
        t.ledger_state().committed(prepared);
        drop(_serialized);
        for (purpose, subjects) in &refusals {
            self.ledger_hide(tenant, &Hide::OptedOut { purpose, subjects });
        }
        if !refusals.is_empty() {
            self.ledger_notify();
        }
        Ok(stored)
    }

    /// The subject's decisions in force, one per purpose it decided about.
    pub fn consents(&self, tenant: &str, subject: &Pseudonym) -> Result<Vec<Consent>, EngineError> {
        let t = self.tenant(tenant)?;
        t.partition()
            .catalog()
            .scan_prefix(CONSENTS, subject.as_bytes())?
            .into_iter()
            .map(|(_, v)| serde_json::from_slice(&v).map_err(corrupted))
            .collect()
    }

    /// Every decision the subject ever made, oldest first per purpose.
    pub fn consent_history(
        &self,
        tenant: &str,
        subject: &Pseudonym,
    ) -> Result<Vec<Consent>, EngineError> {
        let t = self.tenant(tenant)?;
        t.partition()
            .catalog()
            .scan_prefix(CONSENT_HISTORY, subject.as_bytes())?
            .into_iter()
            .map(|(_, v)| serde_json::from_slice(&v).map_err(corrupted))
            .collect()
    }

    /// Sets a purpose's regime. Moving to opt-in refuses everyone without a grant: a ledger
    /// task has every kind re-check the purpose's artifacts.
    pub fn set_consent_regime(
        &self,
        tenant: &str,
        purpose: &str,
        regime: Regime,
    ) -> Result<(), EngineError> {
        check_purpose(purpose)?;
        let t = self.tenant(tenant)?;
        let value = serde_json::to_vec(&regime).map_err(corrupted)?;
        let _serialized = t.erasure_lock().lock();
        let mut prepared = Prepared::default();
        let kinds = self.ledger_kinds();
        if regime == Regime::OptIn && !kinds.is_empty() {
            t.ledger_state().prepare(
                &mut prepared,
                &kinds,
                TaskOp::Regime {
                    purpose: purpose.to_owned(),
                },
                Utc::now().timestamp_micros(),
            )?;
        }
        t.partition().catalog().write(|txn| {
            txn.put(CONSENT_REGIMES, purpose.as_bytes(), &value)?;
            prepared.write(txn)
        })?;
        t.consent_index()
            .write()
            .regimes
            .insert(purpose.to_owned(), regime);
        t.ledger_state().committed(prepared);
        drop(_serialized);
        self.ledger_notify();
        Ok(())
    }

    /// Every purpose whose regime the tenant set (the others are opt-out).
    pub fn consent_regimes(&self, tenant: &str) -> Result<Vec<(String, Regime)>, EngineError> {
        let t = self.tenant(tenant)?;
        t.partition()
            .catalog()
            .scan_prefix(CONSENT_REGIMES, b"")?
            .into_iter()
            .map(|(k, v)| {
                Ok((
                    String::from_utf8(k).map_err(corrupted)?,
                    serde_json::from_slice(&v).map_err(corrupted)?,
                ))
            })
            .collect()
    }

    /// Every consent in force, for the `consents` SQL table (the guard filters it).
    pub(crate) fn all_consents(tenant: &Tenant) -> Result<Vec<(Pseudonym, Consent)>, EngineError> {
        tenant
            .partition()
            .catalog()
            .scan_prefix(CONSENTS, b"")?
            .into_iter()
            .map(|(k, v)| {
                Ok((
                    split_key(&k)?.0,
                    serde_json::from_slice(&v).map_err(corrupted)?,
                ))
            })
            .collect()
    }

    /// Deletes every consent entry of the subjects (erasure), in one commit. Returns how many.
    pub(crate) fn forget_consents(
        tenant: &Tenant,
        subjects: &[Pseudonym],
    ) -> Result<u64, EngineError> {
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
        let mut index = tenant.consent_index().write();
        for subject in subjects {
            index.forget(subject);
        }
        Ok(removed)
    }
}
