//! The embedded catalog (redb): segment list, subject keys, flushed position, and named
//! tables for the layers above (tenants, API keys, schemas).
//!
//! redb over SQLite: pure Rust (no C build, no second crypto or allocator), one file,
//! ACID with copy-on-write B-trees and fsync on commit, MVCC readers that never block the
//! writer. The scale-out catalog on PostgreSQL will sit behind the same operations.

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use steward_crypto::{Pseudonym, WrappedKey};
use steward_wal::{OsVfs, SharedVfs, VfsRandomFile};

use crate::catalog_backend::{BackendState, VfsBackend};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    #[error("catalog {path}: {source}")]
    Db {
        path: PathBuf,
        source: Box<redb::Error>,
    },
    #[error("catalog {path}: corrupted entry in {table}: {reason}")]
    Corrupted {
        path: PathBuf,
        table: String,
        reason: String,
    },
    /// The file failed its integrity check at open (a page or commit slot fails its checksum,
    /// or the newest commit of a file closed cleanly does). Nothing was changed: not the file,
    /// not the files it lists.
    #[error(
        "catalog {path} is damaged ({reason}); nothing was changed: stop the server, restore this file from a backup (segment and WAL files were left as they were) and restart"
    )]
    Damaged { path: PathBuf, reason: String },
}

/// A key and its value, as read from a named table.
pub type Entry = (Vec<u8>, Vec<u8>);

/// An immutable segment as the catalog lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentMeta {
    pub id: u64,
    pub rows: u64,
    pub bytes: u64,
    pub min_time_us: i64,
    pub max_time_us: i64,
    pub max_seq: u64,
    pub min_subject: Pseudonym,
    pub max_subject: Pseudonym,
    /// Compaction generation: 0 for a flushed memtable.
    pub level: u8,
    /// The segment's Parquet encryption key wrapped by the tenant key; None when stored
    /// without encryption at rest (forensic testing only).
    pub wrapped_key: Option<WrappedKey>,
}

impl SegmentMeta {
    pub fn file_name(&self) -> String {
        format!("{:016x}.parquet", self.id)
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.push(1u8);
        for v in [self.id, self.rows, self.bytes] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.min_time_us.to_le_bytes());
        out.extend_from_slice(&self.max_time_us.to_le_bytes());
        out.extend_from_slice(&self.max_seq.to_le_bytes());
        out.extend_from_slice(self.min_subject.as_bytes());
        out.extend_from_slice(self.max_subject.as_bytes());
        out.push(self.level);
        match &self.wrapped_key {
            Some(key) => {
                out.push(1);
                out.extend_from_slice(key.as_bytes());
            }
            None => out.push(0),
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<SegmentMeta, String> {
        let fixed = 1 + 8 * 6 + 64 + 2;
        if bytes.len() < fixed || bytes[0] != 1 {
            return Err("bad segment entry header".into());
        }
        let u = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
        let subject =
            |at: usize| Pseudonym::from_slice(&bytes[at..at + 32]).map_err(|e| e.to_string());
        let wrapped_key = match bytes[fixed - 1] {
            0 => None,
            1 => Some(WrappedKey::from_bytes(bytes[fixed..].to_vec()).map_err(|e| e.to_string())?),
            _ => return Err("bad key flag".into()),
        };
        Ok(SegmentMeta {
            id: u(1),
            rows: u(9),
            bytes: u(17),
            min_time_us: u(25) as i64,
            max_time_us: u(33) as i64,
            max_seq: u(41),
            min_subject: subject(49)?,
            max_subject: subject(81)?,
            level: bytes[113],
            wrapped_key,
        })
    }
}

const SEGMENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("segments");
const SUBJECT_KEYS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("subject_keys");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// An open catalog file.
pub struct Catalog {
    /// Behind a lock only so `compact` can take the database whole; every other use reads.
    db: parking_lot::RwLock<Database>,
    path: PathBuf,
    backend: Arc<BackendState>,
    /// Set for a file this open created: its directory is fsynced once its first bytes are.
    created_in: parking_lot::Mutex<Option<SharedVfs>>,
}

/// See [`Catalog::freeze`]; dropping it aborts the empty transaction.
pub struct CatalogFreeze<'a> {
    txn: Option<redb::WriteTransaction>,
    _db: parking_lot::RwLockReadGuard<'a, Database>,
}

impl Drop for CatalogFreeze<'_> {
    fn drop(&mut self) {
        if let Some(txn) = self.txn.take()
            && let Err(error) = txn.abort()
        {
            tracing::warn!(%error, "catalog: releasing a backup's hold failed");
        }
    }
}

/// A write transaction; committed durably by [`Catalog::write`] when the closure returns Ok.
pub struct CatalogTxn<'a> {
    txn: redb::WriteTransaction,
    path: &'a Path,
}

impl Catalog {
    /// Opens (creating if needed) the catalog after proving it intact: redb verifies the
    /// checksum of every page of the committed trees (a plain open trusts a cleanly closed
    /// file and may panic on a damaged one). A file closed cleanly whose newest commit fails its
    /// checksum is refused (`Damaged`) before redb's repair could fall back to the previous
    /// commit; after a crash ([`header_check`]) that fall-back is the normal recovery of a
    /// commit that never returned, and is logged.
    pub fn open(path: &Path) -> Result<Catalog, CatalogError> {
        Catalog::open_in(&(Arc::new(OsVfs) as SharedVfs), path)
    }

    /// [`Catalog::open`] on the file system `vfs` (tests: `steward_wal::sim`). A file it
    /// creates has its name made durable (its directory fsynced) before anything can refer to
    /// it: a catalog that vanished in a crash would leave every segment unlisted.
    pub fn open_in(vfs: &SharedVfs, path: &Path) -> Result<Catalog, CatalogError> {
        let catalog = Catalog::open_held(vfs, path)?;
        catalog.release()?;
        Ok(catalog)
    }

    /// [`Catalog::open_in`], holding every write redb makes in memory until [`Catalog::release`]
    /// (`catalog_backend.rs`): the caller checks what the catalog lists first, and a catalog
    /// dropped unreleased leaves its file exactly as it was.
    pub(crate) fn open_held(vfs: &SharedVfs, path: &Path) -> Result<Catalog, CatalogError> {
        let existed = match vfs.file_len(path) {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(db_err(path, redb::StorageError::Io(e))),
        };
        let file = vfs
            .open_random(path, true)
            .map_err(|e| db_err(path, redb::StorageError::Io(e)))?;
        let crashed = header_check(path, &*file)?;
        let fell_back = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut builder = Database::builder();
        builder.set_check_integrity_on_open(true);
        {
            let fell_back = fell_back.clone();
            builder.set_repair_callback(move |session| {
                // redb reports progress 0.3 only when the newest commit failed verification
                // and it is about to fall back to the previous one.
                if (session.progress() - 0.3).abs() < 0.05 {
                    fell_back.store(true, std::sync::atomic::Ordering::SeqCst);
                    if !crashed {
                        session.abort();
                    }
                }
            });
        }
        let backend =
            BackendState::new(file, true).map_err(|e| db_err(path, redb::StorageError::Io(e)))?;
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            builder.create_with_backend(VfsBackend(backend.clone()))
        }));
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(redb::DatabaseError::RepairAborted)) => {
                return Err(damaged(
                    path,
                    "its newest commit fails its checksum although the file was closed cleanly",
                ));
            }
            Ok(Err(redb::DatabaseError::Storage(redb::StorageError::Corrupted(reason)))) => {
                return Err(damaged(path, &reason));
            }
            Ok(Err(e)) => return Err(db_err(path, e)),
            Err(_) => return Err(damaged(path, "redb panicked reading it")),
        };
        if fell_back.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::warn!(file = %path.display(), "catalog: the commit in progress at the crash did not verify; recovered the previous commit");
        }
        let created_in = parking_lot::Mutex::new((!existed).then(|| vfs.clone()));
        let catalog = Catalog {
            db: parking_lot::RwLock::new(db),
            path: path.to_owned(),
            backend,
            created_in,
        };
        // Create the fixed tables so reads never meet a missing table.
        catalog.write(|txn| {
            txn.txn
                .open_table(SEGMENTS)
                .map_err(|e| db_err(txn.path, e))?;
            txn.txn
                .open_table(SUBJECT_KEYS)
                .map_err(|e| db_err(txn.path, e))?;
            txn.txn.open_table(META).map_err(|e| db_err(txn.path, e))?;
            Ok(())
        })?;
        Ok(catalog)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes what [`Catalog::open_held`] held back (in order, with its syncs) and passes every
    /// later write through; for a new file, then fsyncs its directory.
    pub(crate) fn release(&self) -> Result<(), CatalogError> {
        self.backend
            .release()
            .map_err(|e| db_err(&self.path, redb::StorageError::Io(e)))?;
        if let Some(vfs) = self.created_in.lock().take()
            && let Some(dir) = self.path.parent()
        {
            vfs.sync_dir(dir)
                .map_err(|e| db_err(&self.path, redb::StorageError::Io(e)))?;
        }
        Ok(())
    }

    /// Rewrites the file without its free pages, so bytes of deleted entries (an erased
    /// subject's pseudonym, its destroyed key) do not linger in unused pages. Waits for the
    /// transactions in flight; new ones wait for it.
    pub fn compact(&self) -> Result<(), CatalogError> {
        let mut db = self.db.write();
        db.compact().map_err(|e| db_err(&self.path, e))?;
        Ok(())
    }

    /// Runs `f` in one write transaction and commits it (fsync) if it returns Ok.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut CatalogTxn<'_>) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        let txn = self
            .db
            .read()
            .begin_write()
            .map_err(|e| db_err(&self.path, e))?;
        let mut wrapper = CatalogTxn {
            txn,
            path: &self.path,
        };
        let out = f(&mut wrapper)?;
        wrapper.txn.commit().map_err(|e| db_err(&self.path, e))?;
        Ok(out)
    }

    pub fn segments(&self) -> Result<Vec<SegmentMeta>, CatalogError> {
        let txn = self
            .db
            .read()
            .begin_read()
            .map_err(|e| db_err(&self.path, e))?;
        let table = txn
            .open_table(SEGMENTS)
            .map_err(|e| db_err(&self.path, e))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| db_err(&self.path, e))? {
            let (_, value) = entry.map_err(|e| db_err(&self.path, e))?;
            out.push(
                SegmentMeta::decode(value.value())
                    .map_err(|reason| self.corrupted("segments", reason))?,
            );
        }
        Ok(out)
    }

    pub fn subject_key(&self, subject: &Pseudonym) -> Result<Option<WrappedKey>, CatalogError> {
        let txn = self
            .db
            .read()
            .begin_read()
            .map_err(|e| db_err(&self.path, e))?;
        let table = txn
            .open_table(SUBJECT_KEYS)
            .map_err(|e| db_err(&self.path, e))?;
        let value = table
            .get(subject.as_bytes().as_slice())
            .map_err(|e| db_err(&self.path, e))?;
        value
            .map(|v| {
                WrappedKey::from_bytes(v.value().to_vec())
                    .map_err(|e| self.corrupted("subject_keys", e.to_string()))
            })
            .transpose()
    }

    /// Every stored subject key (a restore's erasure replay matches their fingerprints).
    pub fn subject_keys(&self) -> Result<Vec<(Pseudonym, WrappedKey)>, CatalogError> {
        let txn = self
            .db
            .read()
            .begin_read()
            .map_err(|e| db_err(&self.path, e))?;
        let table = txn
            .open_table(SUBJECT_KEYS)
            .map_err(|e| db_err(&self.path, e))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| db_err(&self.path, e))? {
            let (subject, wrapped) = entry.map_err(|e| db_err(&self.path, e))?;
            let subject = Pseudonym::from_slice(subject.value())
                .map_err(|e| self.corrupted("subject_keys", e.to_string()))?;
            let wrapped = WrappedKey::from_bytes(wrapped.value().to_vec())
                .map_err(|e| self.corrupted("subject_keys", e.to_string()))?;
            out.push((subject, wrapped));
        }
        Ok(out)
    }

    /// Holds the catalog still: new write transactions wait (reads go on) until the guard
    /// drops, and no compaction rewrites the file meanwhile. An online backup copies the file
    /// under it; an open, unused write transaction makes redb write nothing.
    pub fn freeze(&self) -> Result<CatalogFreeze<'_>, CatalogError> {
        let db = self.db.read();
        let txn = db.begin_write().map_err(|e| db_err(&self.path, e))?;
        Ok(CatalogFreeze {
            txn: Some(txn),
            _db: db,
        })
    }

    pub fn subject_count(&self) -> Result<u64, CatalogError> {
        let txn = self
            .db
            .read()
            .begin_read()
            .map_err(|e| db_err(&self.path, e))?;
        let table = txn
            .open_table(SUBJECT_KEYS)
            .map_err(|e| db_err(&self.path, e))?;
        table.len().map_err(|e| db_err(&self.path, e))
    }

    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, CatalogError> {
        let txn = self
            .db
            .read()
            .begin_read()
            .map_err(|e| db_err(&self.path, e))?;
        let table = txn.open_table(META).map_err(|e| db_err(&self.path, e))?;
        let value = table.get(key).map_err(|e| db_err(&self.path, e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    /// Reads one entry of a named table of the layers above; a missing table reads as empty.
    pub fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>, CatalogError> {
        let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(table);
        let txn = self
            .db
            .read()
            .begin_read()
            .map_err(|e| db_err(&self.path, e))?;
        let table = match txn.open_table(def) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(db_err(&self.path, e)),
        };
        let value = table.get(key).map_err(|e| db_err(&self.path, e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    /// Every entry of a named table, in key order, whose key starts with `prefix`.
    pub fn scan_prefix(&self, table: &str, prefix: &[u8]) -> Result<Vec<Entry>, CatalogError> {
        let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(table);
        let txn = self
            .db
            .read()
            .begin_read()
            .map_err(|e| db_err(&self.path, e))?;
        let table = match txn.open_table(def) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(db_err(&self.path, e)),
        };
        let mut out = Vec::new();
        for entry in table.range(prefix..).map_err(|e| db_err(&self.path, e))? {
            let (key, value) = entry.map_err(|e| db_err(&self.path, e))?;
            if !key.value().starts_with(prefix) {
                break;
            }
            out.push((key.value().to_vec(), value.value().to_vec()));
        }
        Ok(out)
    }

    /// At most `limit` entries of a named table in key order, strictly after `after` (a
    /// cursor), for paged listings that never load a whole table.
    pub fn scan_after(
        &self,
        table: &str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, CatalogError> {
        let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(table);
        let txn = self
            .db
            .read()
            .begin_read()
            .map_err(|e| db_err(&self.path, e))?;
        let table = match txn.open_table(def) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(db_err(&self.path, e)),
        };
        let range = match after {
            Some(after) => {
                table.range::<&[u8]>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            }
            None => table.range::<&[u8]>(..),
        };
        let mut out = Vec::new();
        for entry in range.map_err(|e| db_err(&self.path, e))?.take(limit) {
            let (key, value) = entry.map_err(|e| db_err(&self.path, e))?;
            out.push((key.value().to_vec(), value.value().to_vec()));
        }
        Ok(out)
    }

    /// How many entries a named table holds (0 when it does not exist).
    pub fn count(&self, table: &str) -> Result<u64, CatalogError> {
        let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(table);
        let txn = self
            .db
            .read()
            .begin_read()
            .map_err(|e| db_err(&self.path, e))?;
        match txn.open_table(def) {
            Ok(table) => table.len().map_err(|e| db_err(&self.path, e)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(db_err(&self.path, e)),
        }
    }

    fn corrupted(&self, table: &str, reason: String) -> CatalogError {
        CatalogError::Corrupted {
            path: self.path.clone(),
            table: table.to_owned(),
            reason,
        }
    }
}

impl CatalogTxn<'_> {
    pub fn put_segment(&mut self, meta: &SegmentMeta) -> Result<(), CatalogError> {
        let mut table = self
            .txn
            .open_table(SEGMENTS)
            .map_err(|e| db_err(self.path, e))?;
        table
            .insert(meta.id, meta.encode().as_slice())
            .map_err(|e| db_err(self.path, e))?;
        Ok(())
    }

    pub fn remove_segment(&mut self, id: u64) -> Result<(), CatalogError> {
        let mut table = self
            .txn
            .open_table(SEGMENTS)
            .map_err(|e| db_err(self.path, e))?;
        table.remove(id).map_err(|e| db_err(self.path, e))?;
        Ok(())
    }

    /// Stores a subject key unless one is already stored (replays may repeat a key).
    pub fn put_subject_key(
        &mut self,
        subject: &Pseudonym,
        key: &WrappedKey,
    ) -> Result<(), CatalogError> {
        let mut table = self
            .txn
            .open_table(SUBJECT_KEYS)
            .map_err(|e| db_err(self.path, e))?;
        let present = table
            .get(subject.as_bytes().as_slice())
            .map_err(|e| db_err(self.path, e))?
            .is_some();
        if !present {
            table
                .insert(subject.as_bytes().as_slice(), key.as_bytes())
                .map_err(|e| db_err(self.path, e))?;
        }
        Ok(())
    }

    /// Removes a subject's wrapped key (crypto-shredding); true if there was one.
    pub fn remove_subject_key(&mut self, subject: &Pseudonym) -> Result<bool, CatalogError> {
        let mut table = self
            .txn
            .open_table(SUBJECT_KEYS)
            .map_err(|e| db_err(self.path, e))?;
        let removed = table
            .remove(subject.as_bytes().as_slice())
            .map_err(|e| db_err(self.path, e))?
            .is_some();
        Ok(removed)
    }

    pub fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), CatalogError> {
        let mut table = self
            .txn
            .open_table(META)
            .map_err(|e| db_err(self.path, e))?;
        table.insert(key, value).map_err(|e| db_err(self.path, e))?;
        Ok(())
    }

    pub fn get(&mut self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>, CatalogError> {
        let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(table);
        let table = self.txn.open_table(def).map_err(|e| db_err(self.path, e))?;
        let value = table.get(key).map_err(|e| db_err(self.path, e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    pub fn put(&mut self, table: &str, key: &[u8], value: &[u8]) -> Result<(), CatalogError> {
        let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(table);
        let mut table = self.txn.open_table(def).map_err(|e| db_err(self.path, e))?;
        table.insert(key, value).map_err(|e| db_err(self.path, e))?;
        Ok(())
    }

    pub fn delete(&mut self, table: &str, key: &[u8]) -> Result<(), CatalogError> {
        let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(table);
        let mut table = self.txn.open_table(def).map_err(|e| db_err(self.path, e))?;
        table.remove(key).map_err(|e| db_err(self.path, e))?;
        Ok(())
    }
}

fn damaged(path: &Path, reason: &str) -> CatalogError {
    metrics::counter!("steward_catalog_damaged_total").increment(1);
    CatalogError::Damaged {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Bytes of redb's file header (magic, god byte, geometry, two 128-byte commit slots), and the
/// offsets this check reads (redb 4, `tree_store/page_store/header.rs`).
const REDB_HEADER_BYTES: usize = 320;
const REDB_GOD_BYTE: usize = 9;
const REDB_PRIMARY_BIT: u8 = 1;
const REDB_RECOVERY_REQUIRED: u8 = 2;
const REDB_SLOT_OFFSETS: [usize; 2] = [64, 192];
const REDB_SLOT_TRANSACTION_ID: usize = 104;

/// Steward's own check of the catalog header before redb opens it; returns whether redb may
/// fall back to the previous commit (the file was left by a crash).
///
/// redb's recovery flag says a crash left the file open. A header without it whose primary slot
/// holds an older transaction than the other slot is left by a crash too: redb, recovering from
/// an earlier crash, clears the flag durably before its repair commit, so a crash inside that
/// repair leaves either the previous commit as primary (the newest did not verify and redb fell
/// back to it) or a repair commit written to the other slot but not yet made primary. A flipped
/// primary bit reads the same, and is harmless: redb opens the newer slot when its checksum
/// holds, and the commit redb makes at every close records only its allocator state, so the
/// slot before it holds the same tables. In every such case redb tries the newer commit and may
/// fall back; on a file closed cleanly with its newest commit primary it may not (that commit
/// failing verification is damage).
fn header_check(path: &Path, file: &dyn VfsRandomFile) -> Result<bool, CatalogError> {
    let mut header = [0u8; REDB_HEADER_BYTES];
    let len = file
        .len()
        .map_err(|e| db_err(path, redb::StorageError::Io(e)))?;
    if len < REDB_HEADER_BYTES as u64 {
        // A new file (or one redb will refuse by itself).
        return Ok(false);
    }
    file.read_at(0, &mut header)
        .map_err(|e| db_err(path, redb::StorageError::Io(e)))?;
    let god = header[REDB_GOD_BYTE];
    let crashed = god & REDB_RECOVERY_REQUIRED != 0;
    let primary = usize::from(god & REDB_PRIMARY_BIT != 0);
    let txn = |slot: usize| {
        let at = REDB_SLOT_OFFSETS[slot] + REDB_SLOT_TRANSACTION_ID;
        u64::from_le_bytes(header[at..at + 8].try_into().unwrap_or([0; 8]))
    };
    if !crashed && txn(primary) < txn(1 - primary) {
        tracing::warn!(file = %path.display(), "catalog: the primary commit is older than the other slot (a crash inside redb's recovery); redb opens the newest commit that verifies");
        return Ok(true);
    }
    Ok(crashed)
}

fn db_err(path: &Path, e: impl Into<redb::Error>) -> CatalogError {
    CatalogError::Db {
        path: path.to_owned(),
        source: Box::new(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_crypto::Key256;

    #[test]
    fn segments_and_keys_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.redb");
        let meta = SegmentMeta {
            id: 7,
            rows: 10,
            bytes: 999,
            min_time_us: -5,
            max_time_us: 5,
            max_seq: 42,
            min_subject: Pseudonym::from_bytes([1; 32]),
            max_subject: Pseudonym::from_bytes([9; 32]),
            level: 1,
            wrapped_key: Some(Key256::random().wrap(&Key256::random(), b"x")),
        };
        {
            let catalog = Catalog::open(&path).unwrap();
            catalog
                .write(|txn| {
                    txn.put_segment(&meta)?;
                    txn.put_subject_key(&meta.min_subject, meta.wrapped_key.as_ref().unwrap())?;
                    txn.put("schemas", b"play/1", b"{}")?;
                    txn.put_meta("flushed_lsn", &3u64.to_le_bytes())
                })
                .unwrap();
        }
        let catalog = Catalog::open(&path).unwrap();
        assert_eq!(catalog.segments().unwrap(), vec![meta.clone()]);
        assert_eq!(
            catalog.subject_key(&meta.min_subject).unwrap(),
            meta.wrapped_key
        );
        assert_eq!(catalog.subject_key(&meta.max_subject).unwrap(), None);
        assert_eq!(catalog.scan_prefix("schemas", b"play/").unwrap().len(), 1);
        assert_eq!(catalog.get("nothing", b"x").unwrap(), None);
        assert_eq!(
            catalog.meta("flushed_lsn").unwrap(),
            Some(3u64.to_le_bytes().to_vec())
        );
    }
}
