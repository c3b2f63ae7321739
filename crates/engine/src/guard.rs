//! The read guard: the one place the rules of a read live. Every read of event-derived data
//! (timeline, SQL, data set builds and exports, access requests, and later serving, search and
//! experiments) is made through a [`ReadGuard`], made once per request from an instant of the
//! tenant: the purpose's field visibility, a consent view, erasure tombstones, the erasures
//! whose derived work is still open, and retention. Nothing else decides these rules.
//!
//! Forms: a point form ([`ReadGuard::admits`], [`ReadGuard::project`]) for timelines and
//! access requests; a columnar form ([`ReadGuard::admit_batch`]) over segment batches for SQL
//! and data set builds; an artifact form ([`ReadGuard::admits_artifact`]) for exports of
//! derived files, which hold rows of many subjects cut at an earlier instant.
//!
//! Consent and tombstone checks are O(1) per subject: the guard holds immutable snapshots
//! (a persistent map of the purpose's decisions, the tombstone map), never a table scan.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::{
    Array, BooleanArray, FixedSizeBinaryArray, RecordBatch, StringArray, TimestampMicrosecondArray,
    UInt64Array,
};
use parking_lot::Mutex;
use roaring::RoaringTreemap;
use serde_json::{Map, Value};
use steward_crypto::{Key256, Pseudonym};
use steward_privacy::{PrivacyClass, SchemaVersion};
use steward_store::{EventRecord, ReadSnapshot, ScanBounds};

use crate::consent::ConsentView;
use crate::sealing::open_fields;
use crate::tenant::Tenant;
use crate::{Engine, EngineError};

/// Keys cached per guard; beyond this the cache is cleared (memory stays bounded).
const KEY_CACHE_MAX: usize = 100_000;

/// What a read is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadPurpose {
    /// A purpose the caller declared and the policies decided on (`analytics`, ...): its
    /// consent applies and only its visible classes open.
    Declared(String),
    /// The subject's own access request (GDPR art. 15): every class opens and consent does
    /// not apply (a person may always see what is held about them); erasure and retention do.
    SubjectAccess,
}

impl ReadPurpose {
    pub fn name(&self) -> &str {
        match self {
            ReadPurpose::Declared(p) => p,
            ReadPurpose::SubjectAccess => "subject_access",
        }
    }
}

/// What the edge decided about a read: its purpose and the field classes seen in the clear.
#[derive(Clone, Debug)]
pub struct ReadAccess {
    purpose: ReadPurpose,
    visible: Vec<PrivacyClass>,
}

impl ReadAccess {
    /// A read for a declared purpose, seeing `visible` classes in the clear (as the policies
    /// decided for the caller).
    pub fn declared(purpose: impl Into<String>, visible: Vec<PrivacyClass>) -> ReadAccess {
        ReadAccess {
            purpose: ReadPurpose::Declared(purpose.into()),
            visible,
        }
    }

    /// The subject's own access request: every class.
    pub fn subject_access() -> ReadAccess {
        ReadAccess {
            purpose: ReadPurpose::SubjectAccess,
            visible: PrivacyClass::ALL.to_vec(),
        }
    }

    pub fn purpose(&self) -> &ReadPurpose {
        &self.purpose
    }

    pub fn visible(&self) -> &[PrivacyClass] {
        &self.visible
    }
}

/// One field of a sealed blob as a read sees it.
pub struct SealedField {
    pub name: String,
    pub class: PrivacyClass,
    /// `None` when the class is not visible for the purpose, or the key is destroyed.
    pub value: Option<Value>,
}

/// What a derived artifact (a data set version) holds, for the artifact form of the guard.
pub struct ArtifactFacts<'a> {
    /// The subjects it holds, by [`subject_bit`] (a superset is fine).
    pub subjects: &'a RoaringTreemap,
    /// Field classes its files hold in the clear.
    pub classes: &'a [PrivacyClass],
    /// The erasure generation of the guard that cut it: an erasure of a later generation
    /// reaches it, an earlier one was already applied when it was cut.
    pub generation: u64,
    /// The oldest row of each event type it holds (µs).
    pub oldest_by_type: &'a HashMap<String, i64>,
}

/// Why an artifact may not be read for this guard's purpose now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArtifactRefusal {
    /// It holds field classes the purpose may not see in the clear.
    Classes(Vec<PrivacyClass>),
    /// It holds a subject erased since it was cut.
    Erased,
    /// It holds a subject whose consent now refuses the purpose.
    Consent,
    /// It holds rows past their type's retention.
    Expired,
}

/// Why a read serves nothing personal for a subject (serving answers name it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectRefusal {
    Erased,
    OptedOut,
}

impl SubjectRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectRefusal::Erased => "erased",
            SubjectRefusal::OptedOut => "opted_out",
        }
    }
}

/// A subject's entry in artifact bitmaps: the pseudonym's first 8 bytes. A collision can only
/// make a subject seem held by an artifact that does not hold it (a needless refusal or
/// rebuild), never hide one that does.
pub fn subject_bit(subject: &Pseudonym) -> u64 {
    let b = subject.as_bytes();
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// What a bulk read admitted: its subjects and the oldest row per type (a data set's lineage
/// and retention facts). Filled by [`ReadGuard::admit_batch`].
#[derive(Default)]
pub struct Admitted {
    inner: Mutex<AdmittedInner>,
}

#[derive(Default)]
struct AdmittedInner {
    subjects: HashSet<Pseudonym>,
    oldest_by_type: HashMap<String, i64>,
    classes: HashSet<PrivacyClass>,
}

impl Admitted {
    /// Records field classes a scan may put in its output in the clear.
    pub fn add_classes(&self, classes: impl IntoIterator<Item = PrivacyClass>) {
        self.inner.lock().classes.extend(classes);
    }

    /// Classes the query read in the clear (public included when any field was read).
    pub fn classes(&self) -> Vec<PrivacyClass> {
        let inner = self.inner.lock();
        PrivacyClass::ALL
            .into_iter()
            .filter(|c| inner.classes.contains(c))
            .collect()
    }

    /// Records subjects seen outside the event scan (the `consents` table names subjects).
    pub fn add_subjects(&self, subjects: impl IntoIterator<Item = Pseudonym>) {
        self.inner.lock().subjects.extend(subjects);
    }

    pub fn subjects(&self) -> HashSet<Pseudonym> {
        self.inner.lock().subjects.clone()
    }

    pub fn oldest_by_type(&self) -> HashMap<String, i64> {
        self.inner.lock().oldest_by_type.clone()
    }
}

/// The rules of one read, fixed at the instant it was made.
pub struct ReadGuard {
    tenant: Arc<Tenant>,
    access: ReadAccess,
    consent: ConsentView,
    tombstones: Arc<HashMap<Pseudonym, u64>>,
    /// Subjects whose erasure has derived work open: pseudonym → its erasure generation.
    erasing: Arc<HashMap<Pseudonym, u64>>,
    generation: u64,
    /// Oldest readable time per event type with a retention (µs).
    retention_cuts: HashMap<String, i64>,
    now_us: i64,
    keys: Mutex<HashMap<Pseudonym, Option<Key256>>>,
}

impl Engine {
    /// The guard of one read of `tenant`, as the edge decided it.
    pub fn read_guard(&self, tenant: &str, access: ReadAccess) -> Result<ReadGuard, EngineError> {
        let tenant = self.tenant(tenant)?;
        ReadGuard::new(tenant, access)
    }
}

impl ReadGuard {
    pub(crate) fn new(tenant: Arc<Tenant>, access: ReadAccess) -> Result<ReadGuard, EngineError> {
        let now_us = chrono::Utc::now().timestamp_micros();
        let consent = match &access.purpose {
            ReadPurpose::Declared(purpose) => tenant.consent_view(purpose),
            ReadPurpose::SubjectAccess => ConsentView::everyone(),
        };
        // Erasing before tombstones: a subject leaves `erasing` only after its tombstone is
        // long gone, so reading in this order never misses both.
        let (erasing, generation) = tenant.ledger_state().erasing();
        let tombstones = tenant.partition().tombstones();
        let retention_cuts = tenant
            .latest_schemas()
            .iter()
            .filter_map(|s| {
                s.schema.retention_seconds().map(|ttl| {
                    (
                        s.event_type.clone(),
                        now_us.saturating_sub((ttl as i64).saturating_mul(1_000_000)),
                    )
                })
            })
            .collect();
        Ok(ReadGuard {
            tenant,
            access,
            consent,
            tombstones,
            erasing,
            generation,
            retention_cuts,
            now_us,
            keys: Mutex::new(HashMap::new()),
        })
    }

    pub fn tenant(&self) -> &str {
        self.tenant.id()
    }

    pub(crate) fn partition(&self) -> &steward_store::Partition {
        self.tenant.partition()
    }

    pub fn purpose(&self) -> &ReadPurpose {
        &self.access.purpose
    }

    /// The declared purpose's name (`subject_access` for an access request).
    pub fn purpose_name(&self) -> &str {
        self.access.purpose.name()
    }

    pub fn visible(&self) -> &[PrivacyClass] {
        &self.access.visible
    }

    pub fn sees(&self, class: PrivacyClass) -> bool {
        self.access.visible.contains(&class)
    }

    /// The erasure generation this guard saw (recorded by what it cuts).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn now_us(&self) -> i64 {
        self.now_us
    }

    // ---- point form ---------------------------------------------------------------------

    /// Whether the subject's consent admits this read (every row of the subject).
    pub fn admits_subject(&self, subject: &Pseudonym) -> bool {
        self.consent.admits(subject)
    }

    /// Whether anything derived from the subject (a model's user vector, a recommendation made
    /// from it) may be used for this purpose now: its consent admits the purpose and no erasure
    /// of it is shredded or in progress. An erased subject fails this from the moment its shred
    /// commits until every derived artifact kind has removed it, and is gone after.
    pub fn serves_subject(&self, subject: &Pseudonym) -> bool {
        self.consent.admits(subject) && !self.erasing(subject)
    }

    /// Why the guard serves nothing personal for this subject, if it does not: an erasure
    /// (from the moment its call returned) comes before a refused purpose.
    pub fn subject_refusal(&self, subject: &Pseudonym) -> Option<SubjectRefusal> {
        if self.erasing(subject) {
            Some(SubjectRefusal::Erased)
        } else if !self.consent.admits(subject) {
            Some(SubjectRefusal::OptedOut)
        } else {
            None
        }
    }

    /// Whether a row may be returned: consent, erasure tombstone, retention.
    pub fn admits(&self, subject: &Pseudonym, seq: u64, event_type: &str, time_us: i64) -> bool {
        self.consent.admits(subject)
            && !self.hidden(subject, seq)
            && !self.expired(event_type, time_us)
    }

    /// Whether an erasure hides this row (shredded, not yet purged).
    pub fn hidden(&self, subject: &Pseudonym, seq: u64) -> bool {
        !self.tombstones.is_empty() && self.tombstones.get(subject).is_some_and(|&cut| seq <= cut)
    }

    /// Whether the subject has an erasure in progress (shredded, derived work not done).
    pub fn erasing(&self, subject: &Pseudonym) -> bool {
        self.tombstones.contains_key(subject) || self.erasing.contains_key(subject)
    }

    /// Whether a row of this type and time is past its retention (unreadable before the purge
    /// removes it).
    pub fn expired(&self, event_type: &str, time_us: i64) -> bool {
        !self.retention_cuts.is_empty()
            && self
                .retention_cuts
                .get(event_type)
                .is_some_and(|&cut| time_us <= cut)
    }

    /// The newest expired time of a type (None: kept forever).
    pub fn retention_cut_us(&self, event_type: &str) -> Option<i64> {
        self.retention_cuts.get(event_type).copied()
    }

    pub fn has_retention(&self) -> bool {
        !self.retention_cuts.is_empty()
    }

    /// The admit rule as the store's subject scan takes it.
    pub fn point_rule(&self) -> impl Fn(&Pseudonym, u64, &str, i64) -> bool + Sync + '_ {
        move |subject, seq, event_type, time_us| self.admits(subject, seq, event_type, time_us)
    }

    /// A row's properties as this read may see them: clear fields by the class of the schema
    /// version it was written under, sealed fields opened only for visible classes.
    pub fn project(&self, record: &EventRecord) -> Result<Map<String, Value>, EngineError> {
        let e = &record.event;
        let mut properties: Map<String, Value> =
            serde_json::from_slice(&e.public).map_err(|err| EngineError::DataDir {
                path: self.tenant.partition().wal_dir(),
                reason: format!("stored public fields are not JSON: {err}"),
            })?;
        // Stored in the clear are public fields and identifiers (already pseudonyms); the
        // schema version the event was written under says which is which.
        if !(self.sees(PrivacyClass::Public) && self.sees(PrivacyClass::Identifier)) {
            let schema = self.schema(&e.event_type, e.schema_version);
            for (name, value) in properties.iter_mut() {
                if !self.sees(self.stored_class(schema.as_deref(), name)) {
                    *value = Value::Null;
                }
            }
        }
        for field in self.open_sealed(&e.subject, &e.event_id, &e.sealed)? {
            properties.insert(field.name, field.value.unwrap_or(Value::Null));
        }
        Ok(properties)
    }

    /// Opens a row's sealed fields; only fields of visible classes are decrypted.
    pub fn open_sealed(
        &self,
        subject: &Pseudonym,
        event_id: &str,
        sealed: &[u8],
    ) -> Result<Vec<SealedField>, EngineError> {
        if sealed.is_empty() {
            return Ok(Vec::new());
        }
        let any = PrivacyClass::ALL
            .into_iter()
            .any(|c| c.is_sealed() && self.sees(c));
        let key = if any { self.key_of(subject)? } else { None };
        let fields = open_fields(sealed, key.as_ref(), self.tenant.id(), subject, event_id)
            .map_err(|reason| EngineError::DataDir {
                path: self.tenant.partition().wal_dir(),
                reason,
            })?;
        Ok(fields
            .into_iter()
            .map(|f| SealedField {
                value: if self.sees(f.class) { f.value } else { None },
                name: f.name,
                class: f.class,
            })
            .collect())
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

    /// The class a field stored in the clear reads as under the schema version it was written with.
    pub fn stored_class(&self, schema: Option<&SchemaVersion>, field: &str) -> PrivacyClass {
        crate::timeline::stored_class(schema.map(|s| &s.schema), field)
    }

    pub fn schema(&self, event_type: &str, version: u32) -> Option<Arc<SchemaVersion>> {
        self.tenant.schema(event_type, Some(version)).ok()
    }

    /// Every version of an event type's schema, oldest first.
    pub fn schema_versions(&self, event_type: &str) -> Vec<Arc<SchemaVersion>> {
        self.tenant.schema_versions(event_type)
    }

    /// The latest schema of every event type.
    pub fn schemas(&self) -> Vec<Arc<SchemaVersion>> {
        self.tenant.latest_schemas()
    }

    // ---- columnar form ------------------------------------------------------------------

    /// A consistent snapshot of the tenant's store for a bulk read.
    pub fn snapshot(&self, bounds: &ScanBounds) -> Result<ReadSnapshot, EngineError> {
        Ok(self.tenant.partition().read_snapshot(bounds)?)
    }

    /// The rows of a segment batch (columns `subject`, `seq`, `time`, `type`) this read may
    /// see, within `bounds`. The snapshot's tombstones (newer than or equal to the guard's)
    /// hide erased rows. `admitted` records what passed, for lineage.
    pub fn admit_batch(
        &self,
        raw: &RecordBatch,
        snapshot: &ReadSnapshot,
        bounds: &ScanBounds,
        admitted: Option<&Admitted>,
    ) -> Result<BooleanArray, EngineError> {
        let seqs = column::<UInt64Array>(raw, "seq")?;
        let times = column::<TimestampMicrosecondArray>(raw, "time")?;
        let types = column::<StringArray>(raw, "type")?;
        let (from, to, max_seq) = (
            bounds.from_us.unwrap_or(i64::MIN),
            bounds.to_us.unwrap_or(i64::MAX),
            bounds.max_seq.unwrap_or(u64::MAX),
        );
        let tombstones = &snapshot.tombstones;
        // The common case: no per-subject rule (no tombstone, nobody refusing, no subject
        // bound, no retention, no lineage) leaves time, seq and type, in one tight pass.
        if tombstones.is_empty()
            && self.consent.admits_all()
            && bounds.subject.is_none()
            && admitted.is_none()
            && self.retention_cuts.is_empty()
        {
            let one_type = match bounds.types.as_deref() {
                None => None,
                Some([t]) => Some(t.as_str()),
                Some(_) => return self.admit_rows(raw, snapshot, bounds, admitted),
            };
            let (times, seqs) = (times.values(), seqs.values());
            let buffer = arrow_buffer::BooleanBuffer::collect_bool(raw.num_rows(), |i| {
                times[i] >= from
                    && times[i] < to
                    && seqs[i] <= max_seq
                    && one_type.is_none_or(|t| types.value(i) == t)
            });
            return Ok(BooleanArray::new(buffer, None));
        }
        self.admit_rows(raw, snapshot, bounds, admitted)
    }

    fn admit_rows(
        &self,
        raw: &RecordBatch,
        snapshot: &ReadSnapshot,
        bounds: &ScanBounds,
        admitted: Option<&Admitted>,
    ) -> Result<BooleanArray, EngineError> {
        let subjects = column::<FixedSizeBinaryArray>(raw, "subject")?;
        let seqs = column::<UInt64Array>(raw, "seq")?;
        let times = column::<TimestampMicrosecondArray>(raw, "time")?;
        let types = column::<StringArray>(raw, "type")?;
        let tombstones = &snapshot.tombstones;
        let mut keep = Vec::with_capacity(raw.num_rows());
        let mut last: Option<(&[u8], bool, Option<u64>)> = None;
        // Per event type: whether the bounds admit it, and its retention cut. Few types, so a
        // short list beats hashing every row's type; skipped when no rule reads the type.
        let type_rules =
            bounds.types.is_some() || !self.retention_cuts.is_empty() || admitted.is_some();
        let mut per_type: Vec<(&str, bool, Option<i64>, i64)> = Vec::new();
        let mut tracked: Vec<Pseudonym> = Vec::new();
        let mut last_tracked: Option<&[u8]> = None;
        for i in 0..raw.num_rows() {
            let subject_bytes = subjects.value(i);
            let (consents, cut) = match last {
                Some((s, a, c)) if s == subject_bytes => (a, c),
                _ => {
                    let subject = Pseudonym::from_slice(subject_bytes)
                        .map_err(|e| corrupted(e.to_string()))?;
                    let consents = self.consent.admits(&subject)
                        && bounds.subject.is_none_or(|s| s == subject);
                    let cut = if tombstones.is_empty() {
                        None
                    } else {
                        tombstones.get(&subject).copied()
                    };
                    last = Some((subject_bytes, consents, cut));
                    (consents, cut)
                }
            };
            let seq = seqs.value(i);
            let time = times.value(i);
            let (type_ok, retention_cut, slot) = if type_rules {
                let event_type = types.value(i);
                match per_type.iter().position(|(t, _, _, _)| *t == event_type) {
                    Some(k) => (per_type[k].1, per_type[k].2, Some(k)),
                    None => {
                        let ok = bounds
                            .types
                            .as_ref()
                            .is_none_or(|ts| ts.iter().any(|t| t == event_type));
                        let c = self.retention_cut_us(event_type);
                        per_type.push((event_type, ok, c, i64::MAX));
                        (ok, c, Some(per_type.len() - 1))
                    }
                }
            } else {
                (true, None, None)
            };
            let ok = consents
                && type_ok
                && cut.is_none_or(|c| seq > c)
                && bounds.max_seq.is_none_or(|m| seq <= m)
                && bounds.from_us.is_none_or(|f| time >= f)
                && bounds.to_us.is_none_or(|t| time < t)
                && retention_cut.is_none_or(|c| time > c);
            if ok && admitted.is_some() {
                if let Some(k) = slot {
                    per_type[k].3 = per_type[k].3.min(time);
                }
                if last_tracked != Some(subject_bytes) {
                    last_tracked = Some(subject_bytes);
                    tracked.push(
                        Pseudonym::from_slice(subject_bytes)
                            .map_err(|e| corrupted(e.to_string()))?,
                    );
                }
            }
            keep.push(ok);
        }
        if let Some(admitted) = admitted {
            let mut inner = admitted.inner.lock();
            inner.subjects.extend(tracked);
            for (t, _, _, oldest) in per_type.iter().filter(|p| p.3 != i64::MAX) {
                let entry = inner
                    .oldest_by_type
                    .entry((*t).to_owned())
                    .or_insert(i64::MAX);
                *entry = (*entry).min(*oldest);
            }
        }
        Ok(BooleanArray::from(keep))
    }

    /// Every consent in force of subjects this read may still name (not being erased), for
    /// the `consents` table.
    pub fn consents(&self) -> Result<Vec<(Pseudonym, crate::Consent)>, EngineError> {
        Ok(Engine::all_consents(&self.tenant)?
            .into_iter()
            .filter(|(s, _)| !self.erasing(s))
            .collect())
    }

    // ---- artifact form ------------------------------------------------------------------

    /// Whether a derived artifact may be read for this guard's purpose now: it holds no class
    /// the purpose may not see, no subject erased since it was cut, no subject whose consent
    /// refuses the purpose, no row past retention.
    pub fn admits_artifact(&self, facts: &ArtifactFacts<'_>) -> Result<(), ArtifactRefusal> {
        let hidden: Vec<PrivacyClass> = facts
            .classes
            .iter()
            .copied()
            .filter(|c| !self.sees(*c))
            .collect();
        if !hidden.is_empty() {
            return Err(ArtifactRefusal::Classes(hidden));
        }
        // Erasures of a later generation than the cut (tombstones not yet in the ledger's
        // set count as the newest).
        let erased_since =
            self.erasing
                .iter()
                .any(|(s, &g)| g > facts.generation && facts.subjects.contains(subject_bit(s)))
                || self.tombstones.keys().any(|s| {
                    !self.erasing.contains_key(s) && facts.subjects.contains(subject_bit(s))
                });
        if erased_since {
            return Err(ArtifactRefusal::Erased);
        }
        if !self.consent.admits_all_of(facts.subjects) {
            return Err(ArtifactRefusal::Consent);
        }
        if facts
            .oldest_by_type
            .iter()
            .any(|(t, &oldest)| self.expired(t, oldest))
        {
            return Err(ArtifactRefusal::Expired);
        }
        Ok(())
    }
}

fn corrupted(reason: String) -> EngineError {
    EngineError::DataDir {
        path: "segment".into(),
        reason,
    }
}

fn column<'a, T: 'static>(raw: &'a RecordBatch, name: &str) -> Result<&'a T, EngineError> {
    raw.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| corrupted(format!("segment column {name} missing or of another type")))
}
