//! A tenant's store: the write path (dedup → WAL → memtable), flush, compaction, recovery
//! and subject scans.
//!
//! Concurrency: appenders hold `append_lock` shared across "WAL append + memtable insert";
//! freezing the memtable takes it exclusively together with a WAL rotation, so every record
//! in a closed WAL file is in a frozen memtable or a segment, and truncating the WAL after
//! a flush can never drop an acknowledged event.

use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use steward_crypto::{Key256, Pseudonym, WrappedKey, hmac_sha256};
use steward_wal::{OsVfs, SharedVfs, Vfs, Wal, WalConfig};

use crate::catalog::{Catalog, SegmentMeta};
use crate::dedup::{DedupIndex, EventKey};
use crate::limits::{
    BATCH_EVENTS_MAX, FROZEN_MEMTABLES_MAX, MEMTABLE_BYTES_MAX, REWRITE_THREADS_MAX,
};
use crate::memtable::Memtable;
use crate::record::{EventRecord, NewEvent, WalBatch, decode_batch, encode_batch};
use crate::segment::{Packing, Segment, segment_key_context, sync_dir, write_segment};
use crate::{StoreError, compaction};

const META_FLUSHED_LSN: &str = "flushed_lsn";
const WAL_PLAIN: u8 = 0;
const WAL_SEALED: u8 = 1;
const SUBJECT_KEY_CACHE_MAX: usize = 100_000;
/// Where segment files the catalog does not list are moved at open (relative to the partition).
pub const QUARANTINE_SEGMENTS: &str = "quarantine/segments";

/// How a partition is stored.
#[derive(Clone, Debug)]
pub struct PartitionConfig {
    pub dir: PathBuf,
    pub tenant: String,
    /// Encrypt WAL payloads and segments with tenant-derived keys. Off only for forensic tests.
    pub encrypt_at_rest: bool,
    pub memtable_bytes_max: usize,
    pub wal: WalConfig,
    /// Threads an erasure or retention rewrite uses at most (one per core up to this).
    pub rewrite_threads_max: usize,
}

impl PartitionConfig {
    pub fn new(dir: PathBuf, tenant: String) -> PartitionConfig {
        PartitionConfig {
            dir,
            tenant,
            encrypt_at_rest: true,
            memtable_bytes_max: MEMTABLE_BYTES_MAX,
            wal: WalConfig::default(),
            rewrite_threads_max: REWRITE_THREADS_MAX,
        }
    }
}

/// Keys the partition needs, all derived from the tenant key.
pub struct PartitionKeys {
    pub tenant_key: Key256,
}

/// What happened to each event of an append, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// true: stored now; false: an event with the same id was already stored.
    pub stored: Vec<bool>,
    pub lsn: Option<u64>,
}

/// A timeline query for one subject.
#[derive(Clone, Debug)]
pub struct SubjectScan {
    pub subject: Pseudonym,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    pub types: Option<Vec<String>>,
    /// Resume strictly after this (time, seq) position.
    pub after: Option<(i64, u64)>,
    pub limit: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionStats {
    pub segments: u64,
    pub segment_bytes: u64,
    pub segment_rows: u64,
    pub memtable_events: u64,
    pub frozen_memtables: u64,
    pub wal_files: u64,
    /// Valid bytes across the WAL files (what a restart replays; flushed files go away).
    pub wal_bytes: u64,
    pub stored_events: u64,
}

pub(crate) struct State {
    pub(crate) active: Memtable,
    pub(crate) frozen: Vec<Arc<Memtable>>,
    pub(crate) segments: Vec<Arc<Segment>>,
}

pub(crate) struct PendingKey {
    pub(crate) wrapped: WrappedKey,
    durable: bool,
}

pub struct Partition {
    pub(crate) config: PartitionConfig,
    /// Every file operation of the partition (segments, catalog, WAL) goes through it.
    pub(crate) vfs: SharedVfs,
    pub(crate) tenant_key: Key256,
    pub(crate) wal_key: Key256,
    pub(crate) catalog: Catalog,
    pub(crate) wal: Wal,
    pub(crate) append_lock: RwLock<()>,
    pub(crate) state: RwLock<State>,
    dedup: Mutex<DedupIndex>,
    pub(crate) pending_keys: Mutex<HashMap<Pseudonym, PendingKey>>,
    pub(crate) key_cache: Mutex<HashMap<Pseudonym, Key256>>,
    flush_lock: Mutex<()>,
    /// Compaction runs apart from flushes: a long merge must never hold up a flush that
    /// appenders may be waiting for.
    pub(crate) compaction_lock: Mutex<()>,
    next_segment_id: AtomicU64,
    poisoned: AtomicBool,
    /// Erased subjects whose rows are hidden until purged: every row with seq <= the value.
    /// Shared with every read snapshot taken since the last change (copy on write).
    pub(crate) tombstones: RwLock<Arc<HashMap<Pseudonym, u64>>>,
    /// Keyed hashes of destroyed subject keys: a copy met in the WAL or a memtable is never
    /// installed again.
    pub(crate) destroyed: Mutex<std::collections::HashSet<[u8; 32]>>,
}

impl Partition {
    /// Opens or creates the partition in `config.dir`, replaying the WAL.
    pub fn open(config: PartitionConfig, keys: PartitionKeys) -> Result<Partition, StoreError> {
        Partition::open_in(config, keys, Arc::new(OsVfs))
    }

    /// [`Partition::open`] on the file system `vfs` (tests: `steward_wal::sim::SimVfs`, which
    /// fails I/O after a countdown and rebuilds the files a crash leaves).
    pub fn open_in(
        config: PartitionConfig,
        keys: PartitionKeys,
        vfs: SharedVfs,
    ) -> Result<Partition, StoreError> {
        let dir = &config.dir;
        let segments_dir = dir.join("segments");
        vfs.create_dir_all(&segments_dir)
            .map_err(StoreError::io(&segments_dir))?;
        // The catalog's own writes (redb commits at open) wait until every check below passed:
        // a partition refused for a damaged file leaves every file, the catalog too, as it was.
        let catalog = Catalog::open_held(&vfs, &dir.join("catalog.redb"))?;
        let tenant_key = keys.tenant_key;
        let wal_key = Key256::from_bytes(hmac_sha256(&tenant_key, &[b"steward-wal-key"]));
        let dedup_key: [u8; 16] = hmac_sha256(&tenant_key, &[b"steward-dedup-key"])[..16]
            .try_into()
            .unwrap_or([0; 16]);
        let mut dedup = DedupIndex::new(dedup_key);

        let metas = catalog.segments()?;
        let flushed_lsn = match catalog.meta(META_FLUSHED_LSN)? {
            Some(bytes) => u64::from_le_bytes(bytes.as_slice().try_into().map_err(|_| {
                StoreError::Corrupted {
                    what: "catalog meta",
                    path: catalog.path().to_owned(),
                    reason: "flushed_lsn width".into(),
                }
            })?),
            None => 0,
        };
        // Nothing is moved or truncated before the catalog is proven intact (its open) and
        // consistent with the segment files.
        check_segments(&*vfs, &segments_dir, &metas, flushed_lsn, catalog.path())?;
        quarantine_orphans(&*vfs, dir, &segments_dir, &metas)?;
        let mut segments = Vec::with_capacity(metas.len());
        for meta in metas {
            let key = match &meta.wrapped_key {
                Some(w) => {
                    Some(tenant_key.unwrap_key(w, &segment_key_context(&config.tenant, meta.id))?)
                }
                None => None,
            };
            let segment = Segment::new(
                vfs.clone(),
                meta.clone(),
                segments_dir.join(meta.file_name()),
                key,
            );
            segment.read_event_keys(|k| {
                dedup.insert(k);
            })?;
            segments.push(Arc::new(segment));
        }
        let next_segment_id = segments.iter().map(|s| s.meta.id + 1).max().unwrap_or(1);

        let (tombstones, destroyed) = crate::erasure::load(&catalog)?;
        let mut active = Memtable::new();
        let mut pending = HashMap::new();
        let wal_dir = dir.join("wal");
        let (wal, recovery) = Wal::open_in(
            vfs.clone(),
            &wal_dir,
            config.wal.clone(),
            flushed_lsn,
            |lsn, payload| {
                let plain = open_wal_payload(&wal_key, &config.tenant, payload)
                    .map_err(steward_wal::ReplayError::new)?;
                let batch = decode_batch(&plain).map_err(|reason| {
                    steward_wal::ReplayError::new(format!("lsn {lsn}: {reason}"))
                })?;
                for (subject, wrapped) in batch.new_keys {
                    if destroyed.contains(&crate::erasure::key_fingerprint(&tenant_key, &wrapped)) {
                        continue;
                    }
                    active.new_keys.push((subject, wrapped.clone()));
                    pending.insert(
                        subject,
                        PendingKey {
                            wrapped,
                            durable: true,
                        },
                    );
                }
                for (index, event) in batch.events.into_iter().enumerate() {
                    let key = dedup.key_of(&event.event_id);
                    dedup.insert(key);
                    active.insert(
                        lsn,
                        EventRecord {
                            seq: EventRecord::seq_of(lsn, index),
                            event,
                        },
                        key,
                    );
                }
                Ok(())
            },
        )?;
        catalog.release()?;
        // A crash between a flush's catalog commit and its WAL truncation leaves closed files
        // whose records are all in segments: remove them now, not at the next flush.
        wal.truncate_through(flushed_lsn)?;
        if let Some(torn) = &recovery.torn_tail {
            let lsns = torn.lsns.map_or_else(
                || "none readable".to_owned(),
                |(first, last)| format!("{first}..={last}"),
            );
            tracing::warn!(tenant = %config.tenant, file = %torn.file.display(), offset = torn.offset, bytes = torn.bytes_truncated, lsns = %lsns, "truncated a torn WAL tail (a write cut short by a crash: never acknowledged)");
        }
        tracing::info!(tenant = %config.tenant, replayed = recovery.records_replayed, segments = segments.len(), "partition opened");
        let partition = Partition {
            vfs,
            tenant_key,
            wal_key,
            catalog,
            wal,
            append_lock: RwLock::new(()),
            state: RwLock::new(State {
                active,
                frozen: Vec::new(),
                segments,
            }),
            dedup: Mutex::new(dedup),
            pending_keys: Mutex::new(pending),
            key_cache: Mutex::new(HashMap::new()),
            flush_lock: Mutex::new(()),
            compaction_lock: Mutex::new(()),
            next_segment_id: AtomicU64::new(next_segment_id),
            poisoned: AtomicBool::new(false),
            tombstones: RwLock::new(Arc::new(tombstones)),
            destroyed: Mutex::new(destroyed),
            config,
        };
        partition.publish_gauges();
        Ok(partition)
    }

    pub fn tenant(&self) -> &str {
        &self.config.tenant
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn subject_key_context(&self, subject: &Pseudonym) -> Vec<u8> {
        steward_crypto::context(&[
            b"subject",
            self.config.tenant.as_bytes(),
            subject.as_bytes(),
        ])
    }

    /// The data key of `subject`, created (not yet durable: it becomes durable with the
    /// first WAL batch that uses it) when `create` is set and the subject is new.
    pub fn subject_key(
        &self,
        subject: &Pseudonym,
        create: bool,
    ) -> Result<Option<Key256>, StoreError> {
        if let Some(key) = self.key_cache.lock().get(subject) {
            return Ok(Some(key.clone()));
        }
        let wrapped = {
            let mut pending = self.pending_keys.lock();
            if let Some(p) = pending.get(subject) {
                Some(p.wrapped.clone())
            } else if let Some(w) = self.catalog.subject_key(subject)? {
                Some(w)
            } else if create {
                let wrapped = self
                    .tenant_key
                    .wrap(&Key256::random(), &self.subject_key_context(subject));
                pending.insert(
                    *subject,
                    PendingKey {
                        wrapped: wrapped.clone(),
                        durable: false,
                    },
                );
                Some(wrapped)
            } else {
                None
            }
        };
        let Some(wrapped) = wrapped else {
            return Ok(None);
        };
        let key = self
            .tenant_key
            .unwrap_key(&wrapped, &self.subject_key_context(subject))?;
        let mut cache = self.key_cache.lock();
        if cache.len() >= SUBJECT_KEY_CACHE_MAX {
            cache.clear();
        }
        cache.insert(*subject, key.clone());
        Ok(Some(key))
    }

    /// Stores the events durably, skipping ids already stored; returns after fsync.
    pub fn append(&self, events: Vec<NewEvent>) -> Result<AppendOutcome, StoreError> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(StoreError::Poisoned);
        }
        if events.len() > BATCH_EVENTS_MAX {
            return Err(StoreError::BatchTooLarge(events.len()));
        }
        let mut stored = Vec::with_capacity(events.len());
        let mut keys = Vec::with_capacity(events.len());
        let mut fresh = Vec::with_capacity(events.len());
        {
            let mut dedup = self.dedup.lock();
            for event in events {
                let key = dedup.key_of(&event.event_id);
                let is_new = dedup.insert(key);
                stored.push(is_new);
                if is_new {
                    keys.push(key);
                    fresh.push(event);
                }
            }
        }
        if fresh.is_empty() {
            return Ok(AppendOutcome { stored, lsn: None });
        }
        let new_keys: Vec<(Pseudonym, WrappedKey)> = {
            let pending = self.pending_keys.lock();
            let mut seen = std::collections::HashSet::new();
            fresh
                .iter()
                .filter(|e| seen.insert(e.subject))
                .filter_map(|e| {
                    pending
                        .get(&e.subject)
                        .filter(|p| !p.durable)
                        .map(|p| (e.subject, p.wrapped.clone()))
                })
                .collect()
        };
        self.make_flush_room()?;
        let result = {
            let _shared = self.append_lock.read();
            // A subject shredded since its key was looked up: its key is not written again
            // (the events sealed under it stay unreadable). Checked under the append lock,
            // which shredding takes exclusively.
            let new_keys = {
                let destroyed = self.destroyed.lock();
                new_keys
                    .into_iter()
                    .filter(|(_, w)| {
                        destroyed.is_empty()
                            || !destroyed
                                .contains(&crate::erasure::key_fingerprint(&self.tenant_key, w))
                    })
                    .collect()
            };
            let batch = WalBatch {
                new_keys,
                events: fresh,
            };
            let payload = self.seal_wal_payload(&encode_batch(&batch));
            match self.wal.append(&payload).map(|lsn| (lsn, batch)) {
                Ok((lsn, batch)) => {
                    let mut state = self.state.write();
                    state.active.new_keys.extend(batch.new_keys.iter().cloned());
                    for (index, (event, key)) in
                        batch.events.into_iter().zip(keys.iter()).enumerate()
                    {
                        state.active.insert(
                            lsn,
                            EventRecord {
                                seq: EventRecord::seq_of(lsn, index),
                                event,
                            },
                            *key,
                        );
                    }
                    Ok((lsn, batch.new_keys))
                }
                Err(e) => Err(e),
            }
        };
        let (lsn, new_keys) = match result {
            Ok(pair) => pair,
            Err(e) => {
                self.poisoned.store(true, Ordering::SeqCst);
                let mut dedup = self.dedup.lock();
                for key in keys {
                    dedup.remove(key);
                }
                tracing::error!(tenant = %self.config.tenant, error = %e, "WAL append failed; partition poisoned");
                return Err(e.into());
            }
        };
        {
            let mut pending = self.pending_keys.lock();
            for (subject, wrapped) in &new_keys {
                if let Some(p) = pending.get_mut(subject).filter(|p| &p.wrapped == wrapped) {
                    p.durable = true;
                }
            }
        }
        if self.state.read().active.bytes() >= self.config.memtable_bytes_max {
            self.freeze()?;
        }
        Ok(AppendOutcome {
            stored,
            lsn: Some(lsn),
        })
    }

    /// Bounds memory: while too many frozen memtables wait, the appender flushes one itself
    /// (so ingest never depends on the background thread keeping up, or running at all).
    fn make_flush_room(&self) -> Result<(), StoreError> {
        while self.state.read().frozen.len() >= FROZEN_MEMTABLES_MAX {
            self.flush_one()?;
        }
        Ok(())
    }

    fn seal_wal_payload(&self, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plain.len() + 1 + steward_crypto::SEAL_OVERHEAD_BYTES);
        if self.config.encrypt_at_rest {
            out.push(WAL_SEALED);
            steward_crypto::seal_into(
                &self.wal_key,
                &wal_context(&self.config.tenant),
                plain,
                &mut out,
            );
        } else {
            out.push(WAL_PLAIN);
            out.extend_from_slice(plain);
        }
        out
    }

    /// Turns the active memtable into a frozen one and starts a new WAL file. Returns false if empty.
    pub fn freeze(&self) -> Result<bool, StoreError> {
        let _exclusive = self.append_lock.write();
        let mut state = self.state.write();
        if state.active.is_empty() {
            return Ok(false);
        }
        let last_lsn = self.wal.rotate()?;
        let mut table = std::mem::take(&mut state.active);
        assert!(
            table.max_lsn <= last_lsn,
            "memtable holds records past the rotated WAL"
        );
        table.max_lsn = last_lsn;
        state.frozen.push(Arc::new(table));
        Ok(true)
    }

    /// Flushes every memtable and then deletes every WAL file whose records are all in
    /// segments, the current file included (a file recovered after a crash may hold only
    /// such records while the memtable is empty). Erasure relies on it.
    pub fn flush_and_drop_wal(&self) -> Result<(), StoreError> {
        self.flush()?;
        let flushed = match self.catalog.meta(META_FLUSHED_LSN)? {
            Some(bytes) => u64::from_le_bytes(bytes.as_slice().try_into().map_err(|_| {
                StoreError::Corrupted {
                    what: "catalog meta",
                    path: self.catalog.path().to_owned(),
                    reason: "flushed_lsn width".into(),
                }
            })?),
            None => 0,
        };
        {
            let _exclusive = self.append_lock.write();
            if self.state.read().active.is_empty() {
                self.wal.rotate()?;
            }
        }
        self.wal.truncate_through(flushed)?;
        Ok(())
    }

    /// True if the memtable is old enough or big enough to flush.
    pub fn needs_flush(&self, age: Duration) -> bool {
        let state = self.state.read();
        !state.frozen.is_empty()
            || (!state.active.is_empty() && state.active.created.elapsed() >= age)
    }

    /// The background flusher's step: writes the frozen memtables, and freezes the active one
    /// only when it has aged past `age`. Freezing a young active table here would stack a
    /// second frozen table behind a big one and make appenders wait (a measured 600 ms stall).
    pub fn flush_in_background(&self, age: Duration) -> Result<u64, StoreError> {
        let aged = {
            let state = self.state.read();
            !state.active.is_empty() && state.active.created.elapsed() >= age
        };
        if aged {
            self.freeze()?;
        }
        let mut flushed = 0;
        while self.flush_one()? {
            flushed += 1;
        }
        Ok(flushed)
    }

    /// Freezes the active memtable and writes every frozen memtable to a segment.
    pub fn flush(&self) -> Result<u64, StoreError> {
        self.freeze()?;
        let mut flushed = 0;
        while self.flush_one()? {
            flushed += 1;
        }
        Ok(flushed)
    }

    fn flush_one(&self) -> Result<bool, StoreError> {
        let _one_at_a_time = self.flush_lock.lock();
        let Some(table) = self.state.read().frozen.first().cloned() else {
            return Ok(false);
        };
        let rows = table.sorted_rows();
        // One segment per subject range (rows are sorted by subject, so each range is a run).
        let mut written = Vec::new();
        for run in rows.chunk_by(|a, b| {
            compaction::subject_range(&a.0.event.subject)
                == compaction::subject_range(&b.0.event.subject)
        }) {
            written.push(self.write_new_segment(run, 0)?);
        }
        self.catalog.write(|txn| {
            for segment in &written {
                txn.put_segment(&segment.meta)?;
            }
            let destroyed = self.destroyed.lock();
            for (subject, wrapped) in &table.new_keys {
                if !destroyed.contains(&crate::erasure::key_fingerprint(&self.tenant_key, wrapped))
                {
                    txn.put_subject_key(subject, wrapped)?;
                }
            }
            txn.put_meta(META_FLUSHED_LSN, &table.max_lsn.to_le_bytes())
        })?;
        {
            let mut state = self.state.write();
            assert!(
                state.frozen.first().is_some_and(|t| Arc::ptr_eq(t, &table)),
                "frozen memtables flush in order"
            );
            state.frozen.remove(0);
            state.segments.extend(written.into_iter().map(Arc::new));
        }
        {
            let mut pending = self.pending_keys.lock();
            for (subject, wrapped) in &table.new_keys {
                if pending
                    .get(subject)
                    .is_some_and(|p| &p.wrapped == wrapped && p.durable)
                {
                    pending.remove(subject);
                }
            }
        }
        self.wal.truncate_through(table.max_lsn)?;
        metrics::counter!("steward_flushes_total", "tenant" => self.config.tenant.clone())
            .increment(1);
        self.publish_gauges();
        Ok(true)
    }

    pub(crate) fn write_new_segment(
        &self,
        rows: &[&(EventRecord, EventKey)],
        level: u8,
    ) -> Result<Segment, StoreError> {
        let id = self.next_segment_id.fetch_add(1, Ordering::SeqCst);
        let (key, wrapped) = if self.config.encrypt_at_rest {
            let key = Key256::random();
            let wrapped = self
                .tenant_key
                .wrap(&key, &segment_key_context(&self.config.tenant, id));
            (Some(key), Some(wrapped))
        } else {
            (None, None)
        };
        let mut meta = SegmentMeta {
            id,
            rows: rows.len() as u64,
            bytes: 0,
            min_time_us: rows.iter().map(|r| r.0.event.time_us).min().unwrap_or(0),
            max_time_us: rows.iter().map(|r| r.0.event.time_us).max().unwrap_or(0),
            max_seq: rows.iter().map(|r| r.0.seq).max().unwrap_or(0),
            min_subject: rows
                .first()
                .map(|r| r.0.event.subject)
                .unwrap_or(Pseudonym::from_bytes([0; 32])),
            max_subject: rows
                .last()
                .map(|r| r.0.event.subject)
                .unwrap_or(Pseudonym::from_bytes([0; 32])),
            level,
            wrapped_key: wrapped,
        };
        let path = self.config.dir.join("segments").join(meta.file_name());
        let wrapped_bytes = meta.wrapped_key.as_ref().map(|w| w.as_bytes().to_vec());
        let packing = match (self.config.encrypt_at_rest, level) {
            (false, _) => Packing::Plain,
            (true, 0) => Packing::Fast,
            (true, _) => Packing::Tight,
        };
        meta.bytes = write_segment(
            &*self.vfs,
            &path,
            rows,
            key.as_ref().zip(wrapped_bytes.as_deref()),
            packing,
        )?;
        Ok(Segment::new(self.vfs.clone(), meta, path, key))
    }

    /// Merges small segments if enough exist; returns whether it did.
    pub fn compact_once(&self) -> Result<bool, StoreError> {
        let _one_at_a_time = self.compaction_lock.lock();
        let current: Vec<Arc<Segment>> = self.state.read().segments.clone();
        let metas: Vec<SegmentMeta> = current.iter().map(|s| s.meta.clone()).collect();
        let Some(ids) = compaction::pick_in_one_range(&metas) else {
            return Ok(false);
        };
        let inputs: Vec<Arc<Segment>> = current
            .into_iter()
            .filter(|s| ids.contains(&s.meta.id))
            .collect();
        let mut rows = Vec::new();
        for segment in &inputs {
            rows.extend(segment.read_all()?);
        }
        rows.sort_unstable_by(|a, b| {
            crate::segment::sort_key(&a.0).cmp(&crate::segment::sort_key(&b.0))
        });
        let level = inputs
            .iter()
            .map(|s| s.meta.level)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        let refs: Vec<&(EventRecord, EventKey)> = rows.iter().collect();
        let merged = self.write_new_segment(&refs, level)?;
        let input_rows: u64 = inputs.iter().map(|s| s.meta.rows).sum();
        assert_eq!(
            merged.meta.rows, input_rows,
            "compaction must keep every row"
        );
        self.catalog.write(|txn| {
            for segment in &inputs {
                txn.remove_segment(segment.meta.id)?;
            }
            txn.put_segment(&merged.meta)
        })?;
        {
            let mut state = self.state.write();
            state.segments.retain(|s| !ids.contains(&s.meta.id));
            state.segments.push(Arc::new(merged));
        }
        for segment in inputs {
            segment.retire();
        }
        metrics::counter!("steward_compactions_total", "tenant" => self.config.tenant.clone())
            .increment(1);
        self.publish_gauges();
        Ok(true)
    }

    pub fn stats(&self) -> PartitionStats {
        let wal_files = self.wal.files();
        let state = self.state.read();
        let segment_rows: u64 = state.segments.iter().map(|s| s.meta.rows).sum();
        let memtable_events =
            state.active.len() as u64 + state.frozen.iter().map(|t| t.len() as u64).sum::<u64>();
        PartitionStats {
            segments: state.segments.len() as u64,
            segment_bytes: state.segments.iter().map(|s| s.meta.bytes).sum(),
            segment_rows,
            memtable_events,
            frozen_memtables: state.frozen.len() as u64,
            wal_files: wal_files.len() as u64,
            wal_bytes: wal_files.iter().map(|f| f.bytes).sum(),
            stored_events: segment_rows + memtable_events,
        }
    }

    /// Sets the storage gauges (segments, WAL, stored events); also every 10 s by the engine.
    pub fn publish_gauges(&self) {
        let stats = self.stats();
        let tenant = self.config.tenant.clone();
        metrics::gauge!("steward_segments", "tenant" => tenant.clone()).set(stats.segments as f64);
        metrics::gauge!("steward_segment_bytes", "tenant" => tenant.clone())
            .set(stats.segment_bytes as f64);
        metrics::gauge!("steward_wal_bytes", "tenant" => tenant.clone())
            .set(stats.wal_bytes as f64);
        metrics::gauge!("steward_wal_files", "tenant" => tenant.clone())
            .set(stats.wal_files as f64);
        metrics::gauge!("steward_stored_events", "tenant" => tenant)
            .set(stats.stored_events as f64);
    }

    /// Wraps a derived file's key (a data set file) under the tenant key, bound to `context`.
    pub fn wrap_key(&self, key: &Key256, context: &[u8]) -> WrappedKey {
        self.tenant_key.wrap(key, context)
    }

    pub fn unwrap_key(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<Key256, StoreError> {
        Ok(self.tenant_key.unwrap_key(wrapped, context)?)
    }

    /// A key derived from the tenant key for one use (`label`), e.g. signing download links.
    pub fn derived_key(&self, label: &[u8]) -> Key256 {
        Key256::from_bytes(hmac_sha256(
            &self.tenant_key,
            &[b"steward-derived-key", label],
        ))
    }

    /// The partition's directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.config.dir
    }

    pub fn wal_dir(&self) -> PathBuf {
        self.config.dir.join("wal")
    }
}

fn wal_context(tenant: &str) -> Vec<u8> {
    steward_crypto::context(&[b"wal", tenant.as_bytes()])
}

pub(crate) fn open_wal_payload(
    wal_key: &Key256,
    tenant: &str,
    payload: &[u8],
) -> Result<Vec<u8>, String> {
    match payload.split_first() {
        Some((&WAL_PLAIN, rest)) => Ok(rest.to_vec()),
        Some((&WAL_SEALED, rest)) => {
            steward_crypto::open(wal_key, &wal_context(tenant), rest).map_err(|e| e.to_string())
        }
        _ => Err("unknown WAL payload marker".into()),
    }
}

/// Steward's consistency checks between the catalog (proven intact by `Catalog::open`) and
/// the segment files, before anything is moved: every listed segment is there with the size
/// the catalog recorded, and no segment holds an lsn the catalog says is not yet flushed.
fn check_segments(
    vfs: &dyn Vfs,
    dir: &Path,
    metas: &[SegmentMeta],
    flushed_lsn: u64,
    catalog: &Path,
) -> Result<(), StoreError> {
    for meta in metas {
        let path = dir.join(meta.file_name());
        let len = match vfs.file_len(&path) {
            Ok(len) => len,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Corrupted { what: "segment", path, reason: "the catalog lists this segment but the file is missing; restore it from a backup".into() });
            }
            Err(e) => return Err(StoreError::Io { path, source: e }),
        };
        if len != meta.bytes {
            return Err(StoreError::Corrupted {
                what: "segment",
                path,
                reason: format!(
                    "the catalog recorded {} bytes, the file has {len}; restore it from a backup",
                    meta.bytes
                ),
            });
        }
        let lsn = meta.max_seq >> 20;
        if lsn > flushed_lsn {
            return Err(StoreError::Corrupted {
                what: "catalog",
                path: catalog.to_owned(),
                reason: format!(
                    "segment {} holds lsn {lsn} but the catalog says only lsns up to {flushed_lsn} were flushed",
                    meta.id
                ),
            });
        }
    }
    Ok(())
}

/// Moves segment files the catalog does not list into `quarantine/segments/` of the
/// partition: leftovers of a crash between writing a segment and committing it, or between a
/// compaction commit and the old files' removal. Runs only on a catalog `Catalog::open`
/// proved intact, and never deletes: a file wrongly taken for an orphan can be put back.
/// The quarantine directory is fsynced before the segment directory, so a crash between the
/// two leaves a moved file under both names, never under none. Returns how many files were moved.
fn quarantine_orphans(
    vfs: &dyn Vfs,
    partition_dir: &Path,
    dir: &Path,
    metas: &[SegmentMeta],
) -> Result<usize, StoreError> {
    let listed: std::collections::HashSet<String> = metas.iter().map(|m| m.file_name()).collect();
    let quarantine = partition_dir.join(QUARANTINE_SEGMENTS);
    let mut moved = 0;
    let mut taken: Option<std::collections::HashSet<String>> = None;
    for (name, _) in vfs.list(dir).map_err(StoreError::io(dir))? {
        if listed.contains(&name) {
            continue;
        }
        let taken = match &mut taken {
            Some(taken) => taken,
            None => {
                vfs.create_dir_all(&quarantine)
                    .map_err(StoreError::io(&quarantine))?;
                let names = vfs.list(&quarantine).map_err(StoreError::io(&quarantine))?;
                taken.insert(names.into_iter().map(|(n, _)| n).collect())
            }
        };
        let mut target = name.clone();
        let mut n = 1;
        while taken.contains(&target) {
            target = format!("{name}.{n}");
            n += 1;
        }
        let (from, to) = (dir.join(&name), quarantine.join(&target));
        tracing::warn!(file = %from.display(), to = %to.display(), "segment file not in the catalog moved to quarantine (a crash leftover; delete the quarantine folder once the tenant's data is checked)");
        vfs.rename(&from, &to).map_err(StoreError::io(&from))?;
        taken.insert(target);
        moved += 1;
    }
    if moved > 0 {
        sync_dir(vfs, &quarantine.join("x"))?;
        sync_dir(vfs, &dir.join("x"))?;
        metrics::counter!("steward_segments_quarantined_total").increment(moved as u64);
    }
    Ok(moved)
}
