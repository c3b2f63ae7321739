//! Forgetting a subject in one tenant's store: shred (destroy its key), hide (a tombstone
//! masks its rows from every scan), purge (rewrite every segment that held its rows without
//! them, drop the WAL files that held them; the caller then compacts the catalog).
//!
//! Shredding takes the append lock exclusively, so every event acknowledged before it has a
//! sequence number at or below the tombstone's cutoff and every later one above it: later
//! events (which start a new subject key) stay visible. A destroyed key's keyed fingerprint
//! is kept (never the key), so a copy of it still in the WAL or in a memtable is never
//! installed again, whether by a flush or by recovery after a crash.
//!
//! Each step is idempotent and durable before it returns, so an erasure interrupted by a
//! crash resumes by running the steps again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use steward_crypto::{Key256, Pseudonym, WrappedKey, hmac_sha256};

use crate::partition::Partition;
use crate::{Catalog, EventRecord, StoreError};

const TOMBSTONES: &str = "tombstones";
const DESTROYED_KEYS: &str = "destroyed_keys";

/// Each subject about to be shredded, with the fingerprints of the keys it is losing.
pub type ShredNote<'a> = dyn FnMut(&[(Pseudonym, Vec<[u8; 32]>)]) -> Result<(), StoreError> + 'a;

/// What shredding found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shredded {
    /// The subject had a key (stored or about to be): it had data here.
    pub had_key: bool,
    /// Rows with a sequence number at or below this are the erased subject's old rows.
    pub hidden_through_seq: u64,
}

/// What purging did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub rows_removed: u64,
    /// Rows removed per subject (for the receipts of a batch).
    pub rows_by_subject: HashMap<Pseudonym, u64>,
    /// Segments rewritten without the subject's rows (or dropped when nothing else was left).
    pub segments_rewritten: u64,
    /// Files deleted: old segments and WAL files.
    pub files_removed: u64,
}

pub(crate) fn key_fingerprint(tenant_key: &Key256, wrapped: &WrappedKey) -> [u8; 32] {
    hmac_sha256(tenant_key, &[b"steward-destroyed-key", wrapped.as_bytes()])
}

/// Erased subjects' cutoffs (tombstones) and destroyed keys' fingerprints.
pub(crate) type Erased = (HashMap<Pseudonym, u64>, HashSet<[u8; 32]>);

/// The tombstones and destroyed-key fingerprints stored in the catalog.
pub(crate) fn load(catalog: &Catalog) -> Result<Erased, StoreError> {
    let corrupted = |what: &'static str| StoreError::Corrupted {
        what,
        path: catalog.path().to_owned(),
        reason: "entry width".into(),
    };
    let mut tombstones = HashMap::new();
    for (key, value) in catalog.scan_prefix(TOMBSTONES, b"")? {
        let subject: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| corrupted("tombstone"))?;
        let cut: [u8; 8] = value
            .as_slice()
            .try_into()
            .map_err(|_| corrupted("tombstone"))?;
        tombstones.insert(Pseudonym::from_bytes(subject), u64::from_le_bytes(cut));
    }
    let mut destroyed = HashSet::new();
    for (key, _) in catalog.scan_prefix(DESTROYED_KEYS, b"")? {
        destroyed.insert(
            key.as_slice()
                .try_into()
                .map_err(|_| corrupted("destroyed key"))?,
        );
    }
    Ok((tombstones, destroyed))
}

impl Partition {
    /// Destroys the subject's key and hides its rows, durably, in one catalog commit. Called
    /// again (after a crash, or for a subject already shredded) it keeps the first cutoff.
    pub fn shred_subject(&self, subject: &Pseudonym) -> Result<Shredded, StoreError> {
        Ok(self.shred_subjects(std::slice::from_ref(subject))?[0])
    }

    /// [`shred_subject`](Self::shred_subject) for many subjects in one catalog commit (one
    /// fsync, whatever the count).
    pub fn shred_subjects(&self, subjects: &[Pseudonym]) -> Result<Vec<Shredded>, StoreError> {
        self.shred_subjects_noting(subjects, &mut |_| Ok(()))
    }

    /// [`shred_subjects`](Self::shred_subjects), first handing `note` each subject about to be
    /// shredded with the fingerprints of the keys it is about to lose, while appends wait: no
    /// key can be made for it between the note and the commit. The engine writes these to the
    /// erasure ledger kept outside backups; an error from `note` shreds nothing.
    pub fn shred_subjects_noting(
        &self,
        subjects: &[Pseudonym],
        note: &mut ShredNote<'_>,
    ) -> Result<Vec<Shredded>, StoreError> {
        let _exclusive = self.append_lock.write();
        let cut = EventRecord::seq_of(self.wal.last_lsn() + 1, 0) - 1;
        let mut out = Vec::with_capacity(subjects.len());
        let mut fresh = Vec::new();
        let mut fingerprints = Vec::new();
        let mut noted = Vec::new();
        {
            let tombstones = self.tombstones.read();
            let pending = self.pending_keys.lock();
            for subject in subjects {
                if let Some(&earlier) = tombstones.get(subject) {
                    // Already shredded; a key made since belongs to new events and stays.
                    out.push(Shredded {
                        had_key: true,
                        hidden_through_seq: earlier,
                    });
                    continue;
                }
                let mut had_key = false;
                let mut own = Vec::new();
                if let Some(w) = self.catalog.subject_key(subject)? {
                    own.push(key_fingerprint(&self.tenant_key, &w));
                    had_key = true;
                }
                if let Some(p) = pending.get(subject) {
                    own.push(key_fingerprint(&self.tenant_key, &p.wrapped));
                    had_key = true;
                }
                fingerprints.extend_from_slice(&own);
                noted.push((*subject, own));
                fresh.push(*subject);
                out.push(Shredded {
                    had_key,
                    hidden_through_seq: cut,
                });
            }
        }
        if fresh.is_empty() {
            return Ok(out);
        }
        note(&noted)?;
        self.catalog.write(|txn| {
            for f in &fingerprints {
                txn.put(DESTROYED_KEYS, f, &[])?;
            }
            for subject in &fresh {
                txn.put(TOMBSTONES, subject.as_bytes(), &cut.to_le_bytes())?;
                txn.remove_subject_key(subject)?;
            }
            Ok(())
        })?;
        self.destroyed.lock().extend(fingerprints);
        {
            let mut pending = self.pending_keys.lock();
            let mut cache = self.key_cache.lock();
            let mut tombstones = self.tombstones.write();
            let tombstones = Arc::make_mut(&mut tombstones);
            for subject in &fresh {
                pending.remove(subject);
                cache.remove(subject);
                tombstones.insert(*subject, cut);
            }
        }
        metrics::counter!("steward_subjects_shredded_total", "tenant" => self.config.tenant.clone()).increment(fresh.len() as u64);
        Ok(out)
    }

    /// The subjects holding a key (stored, or made by events not yet flushed) whose
    /// fingerprint is in `fingerprints`: what a restore's erasure replay must erase again.
    pub fn subjects_with_key_fingerprints(
        &self,
        fingerprints: &HashSet<[u8; 32]>,
    ) -> Result<Vec<Pseudonym>, StoreError> {
        let mut out = HashSet::new();
        for (subject, wrapped) in self.catalog.subject_keys()? {
            if fingerprints.contains(&key_fingerprint(&self.tenant_key, &wrapped)) {
                out.insert(subject);
            }
        }
        for (subject, pending) in self.pending_keys.lock().iter() {
            if fingerprints.contains(&key_fingerprint(&self.tenant_key, &pending.wrapped)) {
                out.insert(*subject);
            }
        }
        let mut out: Vec<Pseudonym> = out.into_iter().collect();
        out.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        Ok(out)
    }

    /// The erased subjects whose rows are hidden until purged (rows with `seq <=` the value),
    /// as one immutable snapshot: readers hold it, a shred or purge replaces it.
    pub fn tombstones(&self) -> Arc<HashMap<Pseudonym, u64>> {
        self.tombstones.read().clone()
    }

    /// Whether the subject has a tombstone (shredded, not yet purged).
    pub fn is_hidden(&self, subject: &Pseudonym) -> bool {
        self.tombstones.read().contains_key(subject)
    }

    /// Physically removes the shredded subject's old rows: flushes every memtable (so the WAL
    /// files that held them are deleted), rewrites each segment whose subject range covers it,
    /// drops the tombstone (the caller compacts the catalog). A no-op for a subject not shredded.
    pub fn purge_subject(&self, subject: &Pseudonym) -> Result<Purged, StoreError> {
        self.purge_subjects(std::slice::from_ref(subject))
    }

    /// [`purge_subject`](Self::purge_subject) for many subjects: one flush, one pass over the
    /// segments. The caller compacts the catalog (`catalog().compact()`) once it has dropped
    /// its own entries naming the subjects, so freed pages keep none of them; the engine does.
    pub fn purge_subjects(&self, subjects: &[Pseudonym]) -> Result<Purged, StoreError> {
        let cuts: HashMap<Pseudonym, u64> = {
            let tombstones = self.tombstones.read();
            subjects
                .iter()
                .filter_map(|s| tombstones.get(s).map(|c| (*s, *c)))
                .collect()
        };
        if cuts.is_empty() {
            return Ok(Purged::default());
        }
        let (lowest, highest) = (cuts.keys().min().copied(), cuts.keys().max().copied());
        let wal_files_before = self.wal.files().len() as u64;
        self.flush_and_drop_wal()?;
        let wal_files_removed = wal_files_before.saturating_sub(self.wal.files().len() as u64);
        let by_subject = parking_lot::Mutex::new(HashMap::new());
        let rewritten = self.rewrite_segments(
            |meta| {
                lowest.is_some_and(|l| l <= meta.max_subject)
                    && highest.is_some_and(|h| meta.min_subject <= h)
                    && (cuts.len() > 64
                        || cuts
                            .keys()
                            .any(|s| meta.min_subject <= *s && *s <= meta.max_subject))
            },
            |r| {
                let hit = cuts.get(&r.event.subject).is_some_and(|cut| r.seq <= *cut);
                if hit {
                    *by_subject.lock().entry(r.event.subject).or_insert(0) += 1;
                }
                hit
            },
        )?;
        let quarantined_removed = self.empty_quarantine()?;
        let out = Purged {
            rows_by_subject: by_subject.into_inner(),
            rows_removed: rewritten.rows_removed,
            segments_rewritten: rewritten.segments_rewritten,
            files_removed: wal_files_removed + rewritten.segments_rewritten + quarantined_removed,
        };
        self.catalog.write(|txn| {
            for subject in cuts.keys() {
                txn.delete(TOMBSTONES, subject.as_bytes())?;
            }
            Ok(())
        })?;
        {
            let mut tombstones = self.tombstones.write();
            let tombstones = Arc::make_mut(&mut tombstones);
            for subject in cuts.keys() {
                tombstones.remove(subject);
            }
        }
        metrics::counter!("steward_subjects_purged_total", "tenant" => self.config.tenant.clone())
            .increment(cuts.len() as u64);
        Ok(out)
    }
}

impl Partition {
    /// Removes the segment files quarantined at open (`QUARANTINE_SEGMENTS`): they may hold
    /// rows of the subjects being purged, and an erasure leaves nothing readable. They were
    /// moved there by an open whose catalog was proven intact, so their rows are in committed
    /// segments or the WAL (or were removed on purpose); an erasure is the one thing that
    /// deletes them.
    fn empty_quarantine(&self) -> Result<u64, StoreError> {
        let dir = self.config.dir.join(crate::partition::QUARANTINE_SEGMENTS);
        let entries = match self.vfs.list(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(StoreError::Io {
                    path: dir,
                    source: e,
                });
            }
        };
        let mut removed = 0;
        for (name, _) in entries {
            let path = dir.join(name);
            tracing::info!(tenant = %self.config.tenant, file = %path.display(), "erasure removes a quarantined segment file");
            self.vfs.remove(&path).map_err(StoreError::io(&path))?;
            removed += 1;
        }
        if removed > 0 {
            crate::segment::sync_dir(&*self.vfs, &dir.join("x"))?;
        }
        Ok(removed)
    }
}
