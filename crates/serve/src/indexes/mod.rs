//! Vector indexes over tenant text (issue 13): one more derived artifact under the read guard
//! and the ledger.
//!
//! An index embeds the item catalog's text, or one text field of an event type, with the
//! deployment's embedding model (`steward-text`, all-MiniLM-L6-v2) into a [`VectorIndex`]
//! (`steward-ml`'s HNSW over int8 codes with exact re-scoring). Events are read the way every
//! read goes: through a [`ReadGuard`] for the index's purpose with the field classes that
//! purpose could see when the index was made, in acknowledgement order after a watermark
//! (`ReadGuard::events_since`), by a follower thread; items are synced when the catalog changes.
//!
//! Search asks the request's own guard about every candidate (consent, erasure, retention), so
//! an opt-out or an erasure removes a subject's hits from the moment its call returns. The index
//! holds no text: retrieve reads each hit's event again through the request's guard, which
//! masks what the purpose may not see. Erasure (the ledger's `index` kind) then removes the
//! subject's vectors physically and writes a new sealed snapshot, destroying the old file's key
//! before `done`; retention removes expired documents the same way.
//!
//! Files, per index, under `tenants/<t>/indexes/<name>/`: `definition.json` (no personal data),
//! `state.json` (the current snapshot's number, its watermark and size) and `index-<n>.sealed`
//! (documents with their subjects, and the vectors; key in the tenant catalog). A snapshot is
//! written whole, then `state.json` switched to it, then the old file's key destroyed and the
//! file removed, so a crash leaves the old or the new snapshot, and the follower re-reads the
//! source after the snapshot's watermark: no vector lost, none resurrected (an erasure task is
//! acknowledged only after the snapshot without the subject is in place).

mod answer;
mod backfill;
mod batch;
mod bm25;
mod dataset;
mod kind;
mod search;
mod spec;
mod state;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use steward_engine::{Engine, ReadAccess};
use steward_privacy::PrivacyClass;
use steward_text::{Embedder, Generator, RemoteChat};

pub use answer::{Answer, AnswerRequest};
pub use batch::{BatchError, EmbedBatcher};
pub use dataset::BuildProgress;
pub use kind::{INDEX_KIND, IndexKind};
pub use search::{Hit, Passage, SearchQuery};
pub use spec::{IndexDefinition, IndexPointer, IndexSource, TextColumns};
pub use steward_text::RemoteChatConfig;

use crate::ServeError;
use crate::files::{read_sealed, remove_sealed, write_sealed};
use crate::limits::{
    INDEX_DATASET_PASS_ROWS, INDEX_FOLLOW_INTERVAL, INDEX_FOLLOW_PAGE, INDEX_ITEMS_PAGE,
    INDEX_SNAPSHOT_INTERVAL, INDEXES_MAX,
};
use crate::registry::{now_rfc3339, valid_name};
use state::{Doc, IndexState, text_hash};

/// One loaded index.
pub(crate) struct Live {
    pub def: IndexDefinition,
    dir: PathBuf,
    pub state: RwLock<IndexState>,
    /// One writer at a time (the follower, an erasure, a retention pass), so a read of the
    /// source and the write of what it found are never split by an erasure.
    write: Mutex<()>,
    /// The current snapshot's number.
    file: Mutex<u32>,
    last_snapshot: Mutex<Instant>,
    /// The last follower error (shown by GET; cleared by the next good pass).
    pub error: Mutex<Option<String>>,
    dropped: AtomicBool,
    /// Where the build of a data set index reads next (kept between follower passes).
    cursor: Mutex<Option<dataset::Cursor>>,
}

/// A summary for GET and lists.
#[derive(Clone, Debug, serde::Serialize)]
pub struct IndexSummary {
    #[serde(flatten)]
    pub definition: IndexDefinition,
    pub documents: usize,
    pub watermark: u64,
    pub error: Option<String>,
    /// An index of a data set version: the version it holds and how far its build got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildProgress>,
}

/// Every tenant's indexes, the embedding model and the follower.
pub struct Indexes {
    pub(crate) engine: Arc<Engine>,
    models_dir: PathBuf,
    /// Loaded at first use (a server that never embeds never pays for it); `Err` names the
    /// setup command.
    embedder: OnceLock<Result<Arc<EmbedBatcher>, String>>,
    generator: OnceLock<Result<Arc<Generator>, String>>,
    /// One generation at a time: each uses every core.
    generating: Mutex<()>,
    /// A configured OpenAI-compatible chat endpoint, used instead of the local model.
    remote: OnceLock<Arc<RemoteChat>>,
    /// Calls to it in flight (bounded by `REMOTE_CHATS_MAX`).
    remote_calls: AtomicUsize,
    live: Mutex<HashMap<(String, String), Arc<Live>>>,
    opened: Mutex<HashSet<String>>,
    items_dirty: Mutex<HashSet<String>>,
    /// Subjects (or everyone) to catch up on, by tenant and purpose (`backfill.rs`).
    pending: Mutex<backfill::PendingMap>,
    stop: AtomicBool,
    /// Data set versions, for indexes built from one (set once at start).
    datasets: OnceLock<Arc<steward_lineage::Datasets>>,
}

fn index_file(n: u32) -> String {
    format!("index-{n:06}.sealed")
}

fn key_name(index: &str, n: u32) -> String {
    format!("indexes/{index}/index-{n:06}")
}

impl Indexes {
    /// `models_dir` holds the embedding and generation models (`steward_text::models_dir()`);
    /// a call that needs a missing model answers 409 `embedding_model_missing` or
    /// `generation_model_missing`, naming the setup command.
    pub fn new(engine: Arc<Engine>, models_dir: PathBuf) -> Arc<Indexes> {
        Arc::new(Indexes {
            engine,
            models_dir,
            embedder: OnceLock::new(),
            generator: OnceLock::new(),
            generating: Mutex::new(()),
            remote: OnceLock::new(),
            remote_calls: AtomicUsize::new(0),
            live: Mutex::new(HashMap::new()),
            opened: Mutex::new(HashSet::new()),
            items_dirty: Mutex::new(HashSet::new()),
            pending: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            datasets: OnceLock::new(),
        })
    }

    /// The data sets service, for indexes of a data set version (without it, creating one
    /// answers 409 `datasets_unavailable`). Set once; a second call changes nothing.
    pub fn set_datasets(&self, datasets: Arc<steward_lineage::Datasets>) {
        let _ = self.datasets.set(datasets);
    }

    pub fn embedder(&self) -> Result<&Arc<EmbedBatcher>, ServeError> {
        self.embedder
            .get_or_init(|| {
                let dir = self.models_dir.join(steward_text::EMBED_MODEL_DIR);
                Embedder::load(&dir)
                    .map(|e| Arc::new(EmbedBatcher::new(Arc::new(e))))
                    .map_err(|e| {
                        tracing::warn!(error = %e, "embedding model not loaded");
                        e.to_string()
                    })
            })
            .as_ref()
            .map_err(|hint| ServeError::Conflict {
                code: "embedding_model_missing",
                message: hint.clone(),
            })
    }

    /// Answers are generated by this OpenAI-compatible chat endpoint from now on instead of the
    /// local model (set once, at start).
    pub fn use_remote_chat(&self, config: &RemoteChatConfig) -> Result<(), ServeError> {
        let chat = RemoteChat::new(config).map_err(|e| ServeError::Invalid {
            code: "chat_endpoint_invalid",
            field: Some("chat"),
            message: e.to_string(),
        })?;
        tracing::info!(
            model = chat.model_name(),
            "answers are generated by a chat endpoint"
        );
        self.remote
            .set(Arc::new(chat))
            .map_err(|_| ServeError::Conflict {
                code: "chat_endpoint_set",
                message: "a chat endpoint is already configured".into(),
            })
    }

    pub(crate) fn remote_chat(&self) -> Option<&Arc<RemoteChat>> {
        self.remote.get()
    }

    pub(crate) fn generator(&self) -> Result<&Arc<Generator>, ServeError> {
        self.generator
            .get_or_init(|| {
                let dir = self.models_dir.join(steward_text::GENERATE_MODEL_DIR);
                Generator::load(&dir).map(Arc::new).map_err(|e| {
                    tracing::warn!(error = %e, "generation model not loaded");
                    e.to_string()
                })
            })
            .as_ref()
            .map_err(|hint| ServeError::Conflict {
                code: "generation_model_missing",
                message: hint.clone(),
            })
    }

    /// Starts the follower thread (it stops when the last handle goes or at [`Indexes::stop`]).
    pub fn start(self: &Arc<Indexes>) {
        let weak: Weak<Indexes> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("index-follower".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(INDEX_FOLLOW_INTERVAL);
                    let Some(indexes) = weak.upgrade() else {
                        return;
                    };
                    if indexes.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    indexes.follow_all();
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the index follower");
        }
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stops the follower and writes every changed index's snapshot (a restart then reads the
    /// source only after it).
    pub fn shutdown(&self) {
        self.stop();
        let all: Vec<((String, String), Arc<Live>)> = self
            .live
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for ((tenant, _), live) in all {
            let _write = live.write.lock();
            if live.state.read().changed
                && let Err(e) = self.snapshot(&tenant, &live)
            {
                tracing::error!(tenant = %tenant, index = %live.def.name, error = %e, "index snapshot at shutdown failed");
            }
        }
    }

    fn dir(&self, tenant: &str) -> Result<PathBuf, ServeError> {
        Ok(self.engine.tenant_dir(tenant)?.join("indexes"))
    }

    /// Loads a tenant's indexes once per process.
    pub(crate) fn ensure_open(&self, tenant: &str) -> Result<(), ServeError> {
        if self.opened.lock().contains(tenant) {
            return Ok(());
        }
        let root = self.dir(tenant)?;
        let mut names = Vec::new();
        match std::fs::read_dir(&root) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    if let Some(name) = entry.file_name().to_str()
                        && valid_name(name, "name").is_ok()
                        && entry.path().join("definition.json").is_file()
                    {
                        names.push(name.to_owned());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ServeError::Io {
                    path: root,
                    source: e,
                });
            }
        }
        for name in names {
            let live = self.load(tenant, &root.join(&name))?;
            if matches!(live.def.source, IndexSource::Events { .. }) {
                // Consent grants seen just before a stop are not lost: once per start, the
                // follower catches up on whatever the purpose may read and the index lacks.
                self.regime_changed(tenant, &live.def.purpose);
            }
            self.live.lock().insert((tenant.to_owned(), name), live);
        }
        self.items_dirty.lock().insert(tenant.to_owned());
        self.opened.lock().insert(tenant.to_owned());
        Ok(())
    }

    /// One index from its files. A snapshot that does not open (damaged, or its key destroyed)
    /// is reported and the index starts empty: it is derived, and the follower reads the source
    /// again from the start through the guard.
    fn load(&self, tenant: &str, dir: &std::path::Path) -> Result<Arc<Live>, ServeError> {
        let def = IndexDefinition::read(&dir.join("definition.json"))?;
        let pointer = IndexPointer::read(&dir.join("state.json"))?;
        let mut state = IndexState::new(def.dim)?;
        if pointer.file > 0 {
            let path = dir.join(index_file(pointer.file));
            match read_sealed(&self.engine, tenant, &path, "index snapshot")
                .map_err(|e| e.to_string())
                .and_then(|bytes| IndexState::decode(&bytes, def.dim))
            {
                Ok(s) => state = s,
                Err(reason) => {
                    tracing::error!(tenant, index = %def.name, %reason, "index snapshot unreadable; rebuilding from the source");
                    metrics::counter!("steward_index_snapshots_unreadable_total").increment(1);
                }
            }
        }
        // Snapshots other than the current one are leftovers of a crash between writing a
        // snapshot and removing the old one: their keys go first, then the files.
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let file = entry.file_name();
                let Some(text) = file.to_str() else { continue };
                if let Some(n) = text
                    .strip_prefix("index-")
                    .and_then(|t| t.strip_suffix(".sealed"))
                    .and_then(|t| t.parse::<u32>().ok())
                    && n != pointer.file
                {
                    remove_sealed(&self.engine, tenant, &entry.path(), &key_name(&def.name, n))?;
                }
            }
        }
        Ok(Arc::new(Live {
            def,
            dir: dir.to_owned(),
            state: RwLock::new(state),
            write: Mutex::new(()),
            file: Mutex::new(pointer.file),
            last_snapshot: Mutex::new(Instant::now()),
            error: Mutex::new(None),
            dropped: AtomicBool::new(false),
            cursor: Mutex::new(None),
        }))
    }

    pub(crate) fn get_live(&self, tenant: &str, name: &str) -> Result<Arc<Live>, ServeError> {
        valid_name(name, "name")?;
        self.ensure_open(tenant)?;
        self.live
            .lock()
            .get(&(tenant.to_owned(), name.to_owned()))
            .cloned()
            .ok_or(ServeError::NotFound { what: "index" })
    }

    pub(crate) fn tenant_indexes(&self, tenant: &str) -> Result<Vec<Arc<Live>>, ServeError> {
        self.ensure_open(tenant)?;
        let mut out: Vec<Arc<Live>> = self
            .live
            .lock()
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, l)| l.clone())
            .collect();
        out.sort_by(|a, b| a.def.name.cmp(&b.def.name));
        Ok(out)
    }

    /// Creates an index. `visible` is what the purpose may see (decided at the edge); the
    /// source field's class must be among them (403 `index_purpose_forbidden`); a data set
    /// version must be readable for the purpose and cut for it, with the columns named
    /// (`dataset.rs`).
    pub fn create(
        &self,
        tenant: &str,
        name: &str,
        source: IndexSource,
        purpose: &str,
        visible: &[PrivacyClass],
    ) -> Result<IndexSummary, ServeError> {
        valid_name(name, "name")?;
        let embedder = self.embedder()?;
        self.ensure_open(tenant)?;
        if let IndexSource::Events { event_type, field } = &source {
            let guard = self
                .engine
                .read_guard(tenant, ReadAccess::declared(purpose, visible.to_vec()))?;
            let schema = guard
                .schemas()
                .into_iter()
                .find(|s| &s.event_type == event_type)
                .ok_or_else(|| {
                    ServeError::invalid(
                        "unknown_event_type",
                        "source.event_type",
                        "no schema for this event type",
                    )
                })?;
            if schema.schema.field(field).is_none() {
                return Err(ServeError::invalid(
                    "unknown_field",
                    "source.field",
                    "the event type's schema has no such field",
                ));
            }
            // The class the field is stored as (free text cleaned by a PII action reads as public).
            let class = guard.stored_class(Some(schema.as_ref()), field);
            if !guard.sees(class) {
                return Err(ServeError::Conflict {
                    code: "index_purpose_forbidden",
                    message: format!(
                        "the purpose may not read the field's class ({})",
                        class.as_str()
                    ),
                });
            }
        }
        if let IndexSource::Dataset {
            dataset,
            version,
            columns,
        } = &source
        {
            let guard = self
                .engine
                .read_guard(tenant, ReadAccess::declared(purpose, visible.to_vec()))?;
            self.check_dataset_source(&guard, dataset, *version, columns)?;
        }
        let root = self.dir(tenant)?;
        let dir = root.join(name);
        {
            let live = self.live.lock();
            if live.contains_key(&(tenant.to_owned(), name.to_owned())) {
                return Err(ServeError::Conflict {
                    code: "index_exists",
                    message: "an index of this name exists".into(),
                });
            }
            if live.keys().filter(|(t, _)| t == tenant).count() >= INDEXES_MAX {
                return Err(ServeError::Conflict {
                    code: "index_limit",
                    message: format!("a tenant has at most {INDEXES_MAX} indexes"),
                });
            }
        }
        std::fs::create_dir_all(&dir).map_err(ServeError::io(&dir))?;
        let def = IndexDefinition {
            name: name.to_owned(),
            source,
            purpose: purpose.to_owned(),
            visible: visible.iter().map(|c| c.as_str().to_owned()).collect(),
            model: embedder.model_name().to_owned(),
            dim: embedder.dim(),
            created_at: now_rfc3339(),
        };
        let bytes = serde_json::to_vec_pretty(&def).unwrap_or_default();
        steward_lineage::manifest::write_atomically(&dir.join("definition.json"), &bytes)?;
        let live = Arc::new(Live {
            def: def.clone(),
            dir,
            state: RwLock::new(IndexState::new(def.dim)?),
            write: Mutex::new(()),
            file: Mutex::new(0),
            last_snapshot: Mutex::new(Instant::now()),
            error: Mutex::new(None),
            dropped: AtomicBool::new(false),
            cursor: Mutex::new(None),
        });
        self.live
            .lock()
            .insert((tenant.to_owned(), name.to_owned()), live.clone());
        if def.source == IndexSource::Items {
            self.items_dirty.lock().insert(tenant.to_owned());
        }
        Ok(summary(&live))
    }

    pub fn list(&self, tenant: &str) -> Result<Vec<IndexSummary>, ServeError> {
        Ok(self
            .tenant_indexes(tenant)?
            .iter()
            .map(|l| summary(l))
            .collect())
    }

    pub fn get(&self, tenant: &str, name: &str) -> Result<IndexSummary, ServeError> {
        Ok(summary(self.get_live(tenant, name)?.as_ref()))
    }

    /// Drops an index: its snapshot's key is destroyed, then its files removed.
    pub fn delete(&self, tenant: &str, name: &str) -> Result<(), ServeError> {
        let live = self.get_live(tenant, name)?;
        let _write = live.write.lock();
        live.dropped.store(true, Ordering::SeqCst);
        let n = *live.file.lock();
        if n > 0 {
            remove_sealed(
                &self.engine,
                tenant,
                &live.dir.join(index_file(n)),
                &key_name(name, n),
            )?;
        }
        std::fs::remove_dir_all(&live.dir).map_err(ServeError::io(&live.dir))?;
        self.live
            .lock()
            .remove(&(tenant.to_owned(), name.to_owned()));
        Ok(())
    }

    /// The catalog changed: items indexes re-sync at the follower's next pass.
    pub fn items_changed(&self, tenant: &str) {
        self.items_dirty.lock().insert(tenant.to_owned());
    }

    fn follow_all(&self) {
        let all: Vec<((String, String), Arc<Live>)> = self
            .live
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.run_backfills();
        let dirty: HashSet<String> = std::mem::take(&mut *self.items_dirty.lock());
        for ((tenant, _), live) in all {
            let result = match &live.def.source {
                IndexSource::Events { .. } => self.follow_events(&tenant, &live),
                IndexSource::Items if dirty.contains(&tenant) => self.sync_items(&tenant, &live),
                IndexSource::Items => Ok(0),
                IndexSource::Dataset { .. } => {
                    self.follow_dataset(&tenant, &live, INDEX_DATASET_PASS_ROWS)
                }
            };
            match result {
                Ok(_) => *live.error.lock() = None,
                Err(e) => {
                    if matches!(&live.def.source, IndexSource::Items) {
                        self.items_dirty.lock().insert(tenant.clone());
                    }
                    tracing::warn!(tenant = %tenant, index = %live.def.name, code = e.code(), error = %e, "index follower");
                    *live.error.lock() = Some(e.code().to_owned());
                }
            }
            let due = live.state.read().changed
                && live.last_snapshot.lock().elapsed() >= INDEX_SNAPSHOT_INTERVAL;
            if due && let Err(e) = self.snapshot(&tenant, &live) {
                tracing::error!(tenant = %tenant, index = %live.def.name, error = %e, "index snapshot failed");
            }
        }
    }

    /// Brings an index up to date now (tests and the refresh endpoint): follows the source and
    /// writes the snapshot if anything changed. Returns the documents added or replaced.
    pub fn refresh(&self, tenant: &str, name: &str) -> Result<usize, ServeError> {
        let live = self.get_live(tenant, name)?;
        self.run_backfills();
        let n = match &live.def.source {
            IndexSource::Events { .. } => self.follow_events(tenant, &live)?,
            IndexSource::Items => self.sync_items(tenant, &live)?,
            IndexSource::Dataset { .. } => self.finish_dataset(tenant, &live)?,
        };
        if live.state.read().changed {
            self.snapshot(tenant, &live)?;
        }
        Ok(n)
    }

    fn follower_access(def: &IndexDefinition) -> ReadAccess {
        ReadAccess::declared(def.purpose.clone(), def.visible_classes())
    }

    /// Reads the source's events after the watermark through a guard for the index's purpose,
    /// embeds their text field and adds them.
    fn follow_events(&self, tenant: &str, live: &Live) -> Result<usize, ServeError> {
        let IndexSource::Events { event_type, field } = &live.def.source else {
            return Ok(0);
        };
        let _write = live.write.lock();
        if live.dropped.load(Ordering::SeqCst) {
            return Ok(0);
        }
        let guard = self
            .engine
            .read_guard(tenant, Self::follower_access(&live.def))?;
        let upto = guard.settled_seq();
        let mut after = live.state.read().watermark;
        if upto <= after {
            return Ok(0);
        }
        let embedder = self.embedder()?;
        let mut added = 0;
        loop {
            let page = guard.events_since(event_type, after, upto, INDEX_FOLLOW_PAGE)?;
            let mut docs = Vec::new();
            let mut texts = Vec::new();
            for e in &page.events {
                if let Some((doc, text)) = event_doc(e, field) {
                    docs.push(doc);
                    texts.push(text);
                }
            }
            let vectors = embed(embedder, texts)?;
            {
                let mut state = live.state.write();
                for (doc, vector) in docs.into_iter().zip(vectors) {
                    state.upsert(doc, &vector)?;
                    added += 1;
                }
                match (page.more, page.events.last()) {
                    (true, Some(last)) => {
                        after = last.seq;
                        state.watermark = after;
                    }
                    _ => {
                        state.watermark = upto;
                        state.changed = true;
                        break;
                    }
                }
            }
        }
        metrics::counter!("steward_index_documents_added_total").increment(added as u64);
        Ok(added)
    }

    /// Brings an items index in line with the catalog: new or changed texts embedded, items
    /// gone or without text removed.
    fn sync_items(&self, tenant: &str, live: &Live) -> Result<usize, ServeError> {
        let _write = live.write.lock();
        if live.dropped.load(Ordering::SeqCst) {
            return Ok(0);
        }
        let embedder = self.embedder()?;
        let mut seen = HashSet::new();
        let mut cursor: Option<String> = None;
        let mut added = 0;
        loop {
            let page = self
                .engine
                .items_page(tenant, cursor.as_deref(), INDEX_ITEMS_PAGE)?;
            let mut docs = Vec::new();
            let mut texts = Vec::new();
            {
                let state = live.state.read();
                for item in &page.items {
                    let Some(text) = item.text.as_deref().filter(|t| !t.trim().is_empty()) else {
                        continue;
                    };
                    let text = cut(text, steward_text::limits::EMBED_TEXT_BYTES_MAX);
                    seen.insert(item.id.clone());
                    let hash = text_hash(text);
                    let same = state
                        .by_key
                        .get(&item.id)
                        .and_then(|id| state.docs.get(id))
                        .is_some_and(|d| d.hash == hash);
                    if !same {
                        let (terms, length) = bm25::terms(text);
                        docs.push(Doc {
                            key: item.id.clone(),
                            subject: None,
                            seq: 0,
                            time_us: item.updated_at.timestamp_micros(),
                            hash,
                            terms,
                            length,
                            text: None,
                        });
                        texts.push(text.to_owned());
                    }
                }
            }
            for (docs, texts) in chunks(docs, texts, 64) {
                let vectors = embed(embedder, texts)?;
                let mut state = live.state.write();
                for (doc, vector) in docs.into_iter().zip(vectors) {
                    state.upsert(doc, &vector)?;
                    added += 1;
                }
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut state = live.state.write();
        state.remove_where(|d| !seen.contains(&d.key));
        Ok(added)
    }

    /// Writes the index's state to a new sealed snapshot, switches `state.json` to it, then
    /// destroys the old snapshot's key and removes its file. Returns files removed.
    pub(crate) fn snapshot(&self, tenant: &str, live: &Live) -> Result<u64, ServeError> {
        if live.dropped.load(Ordering::SeqCst) {
            return Ok(0);
        }
        // The file lock first: snapshots are encoded in the order they are written, so an
        // older state can never be written after a newer one (an erasure's).
        let mut file = live.file.lock();
        let (bytes, watermark, documents) = {
            let mut state = live.state.write();
            let bytes = state.encode();
            state.changed = false;
            (bytes, state.watermark, state.len() as u64)
        };
        let old = *file;
        let next = old + 1;
        let result = (|| {
            write_sealed(
                &self.engine,
                tenant,
                &live.dir.join(index_file(next)),
                &key_name(&live.def.name, next),
                &bytes,
            )?;
            let pointer = IndexPointer {
                file: next,
                watermark,
                documents,
                updated_at: Some(now_rfc3339()),
            };
            let text = serde_json::to_vec_pretty(&pointer).unwrap_or_default();
            steward_lineage::manifest::write_atomically(&live.dir.join("state.json"), &text)?;
            Ok::<(), ServeError>(())
        })();
        if let Err(e) = result {
            live.state.write().changed = true;
            return Err(e);
        }
        *file = next;
        *live.last_snapshot.lock() = Instant::now();
        let removed = if old > 0 {
            remove_sealed(
                &self.engine,
                tenant,
                &live.dir.join(index_file(old)),
                &key_name(&live.def.name, old),
            )?
        } else {
            0
        };
        Ok(removed)
    }
}

fn summary(live: &Live) -> IndexSummary {
    let state = live.state.read();
    IndexSummary {
        definition: live.def.clone(),
        documents: state.len(),
        watermark: state.watermark,
        error: live.error.lock().clone(),
        build: {
            drop(state);
            Indexes::build_progress(live)
        },
    }
}

/// The document and the text to embed of a followed event, when its field holds text. A text
/// over the embedder's byte bound is embedded from its start (only its first 256 tokens count).
pub(crate) fn event_doc(e: &steward_engine::FollowedEvent, field: &str) -> Option<(Doc, String)> {
    let Some(Value::String(text)) = e.properties.get(field) else {
        return None;
    };
    if text.trim().is_empty() {
        return None;
    }
    let text = cut(text, steward_text::limits::EMBED_TEXT_BYTES_MAX);
    let (terms, length) = bm25::terms(text);
    let doc = Doc {
        key: e.event_id.clone(),
        subject: Some(e.subject),
        seq: e.seq,
        time_us: e.time_us,
        hash: text_hash(text),
        terms,
        length,
        text: None,
    };
    Some((doc, text.to_owned()))
}

/// `text` cut to at most `max` bytes at a character boundary.
pub(crate) fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn chunks(docs: Vec<Doc>, texts: Vec<String>, n: usize) -> Vec<(Vec<Doc>, Vec<String>)> {
    let mut out = Vec::new();
    let mut docs = docs.into_iter();
    let mut texts = texts.into_iter();
    loop {
        let d: Vec<Doc> = docs.by_ref().take(n).collect();
        if d.is_empty() {
            return out;
        }
        let t: Vec<String> = texts.by_ref().take(d.len()).collect();
        out.push((d, t));
    }
}

pub(crate) fn embed(
    batcher: &EmbedBatcher,
    texts: Vec<String>,
) -> Result<Vec<Vec<f32>>, ServeError> {
    batcher.embed(texts).map_err(|e| match e {
        BatchError::Busy => ServeError::Conflict {
            code: "embedding_busy",
            message: "too many texts are waiting to be embedded; try again shortly".into(),
        },
        BatchError::Input(e) => ServeError::Invalid {
            code: "embedding_input_invalid",
            field: Some("texts"),
            message: e.to_string(),
        },
        BatchError::Failed(reason) => ServeError::Training {
            code: "embedding_failed",
            message: reason,
        },
    })
}

/// `POST .../embeddings`: the texts' vectors, batched with every other caller's.
pub fn embed_texts(
    indexes: &Indexes,
    texts: Vec<String>,
) -> Result<(&'static str, usize, Vec<Vec<f32>>), ServeError> {
    let embedder = indexes.embedder()?;
    let vectors = embed(embedder, texts)?;
    Ok((embedder.model_name(), embedder.dim(), vectors))
}

/// The models directory when the deployment names none: `$STEWARD_MODELS`, else `models`.
pub fn default_models_dir() -> PathBuf {
    steward_text::models_dir()
}
