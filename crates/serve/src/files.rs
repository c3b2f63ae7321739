//! A version's files: the sealed model file and the subjects bitmap.
//!
//! The model file is `ModelFile::to_bytes` inside a sealed file (`steward_crypto::sealed_file`,
//! the format of data set files, with the same key context so the forensic scan opens both):
//! its random key is wrapped under the tenant key and stored in the tenant catalog
//! (`derived_file_keys`, name `models/<name>/v<NNNNNN>/model-<NNNNNN>`) durably before the file
//! is written, and the header only names it. A rewrite (an erasure removing user rows) writes
//! the next file under a new key, then destroys the old key and removes the old file.
//!
//! `subjects.roaring` holds [`steward_engine::subject_bit`] of every user whose interactions
//! trained the version (all four algorithms: item-kNN and popularity hold no user rows, but
//! their item side was learned from those users).

use std::io::Write;
use std::path::{Path, PathBuf};

use roaring::RoaringTreemap;
use sha2::{Digest, Sha256};
use steward_crypto::Key256;
use steward_crypto::sealed_file::{
    SealedReader, SealedWriter, dataset_file_key_context, read_wrapped_key,
};
use steward_engine::{Engine, FileKey};

use crate::ServeError;

/// A sealed file's header names its key (in the tenant catalog) after this prefix.
const KEY_REFERENCE_PREFIX: &[u8] = b"ref:";
pub(crate) const BITMAP_FILE: &str = "subjects.roaring";

/// The catalog prefix of a version's file keys.
pub(crate) fn key_prefix(name: &str, version: u32) -> String {
    format!("models/{name}/v{version:06}/")
}

/// The name of a version's `index`th model file (without `.sealed`).
pub(crate) fn file_name(index: u32) -> String {
    format!("model-{index:06}")
}

/// The index of a model file name.
pub(crate) fn file_index(name: &str) -> u32 {
    name.strip_prefix("model-")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// Seals `bytes` into `dir/<file>.sealed` under a fresh key stored in the catalog first;
/// returns the plaintext's SHA-256.
pub(crate) fn write_model_file(
    engine: &Engine,
    tenant: &str,
    dir: &Path,
    name: &str,
    version: u32,
    file: &str,
    bytes: &[u8],
) -> Result<String, ServeError> {
    let path = dir.join(format!("{file}.sealed"));
    let key_name = format!("{}{file}", key_prefix(name, version));
    write_sealed(engine, tenant, &path, &key_name, bytes)
}

/// Seals `bytes` into `path` under a fresh random key, wrapped under the tenant key and stored
/// in the tenant catalog as `key_name` before the file is written (the file's header only
/// names it, so destroying the key makes every copy unreadable); returns the plaintext's
/// SHA-256. The file and its directory are synced.
pub(crate) fn write_sealed(
    engine: &Engine,
    tenant: &str,
    path: &Path,
    key_name: &str,
    bytes: &[u8],
) -> Result<String, ServeError> {
    let context = dataset_file_key_context(tenant);
    let key = Key256::random();
    let wrapped = engine.wrap_tenant_key(tenant, &key, &context)?;
    engine.put_file_keys(tenant, &[(key_name.to_owned(), wrapped)])?;
    let reference = [KEY_REFERENCE_PREFIX, key_name.as_bytes()].concat();
    let handle = std::fs::File::create(path).map_err(ServeError::io(path))?;
    let mut sealed = SealedWriter::new(handle, &key, &context, &reference)?;
    sealed.write_all(bytes).map_err(ServeError::io(path))?;
    let (handle, _) = sealed.finish()?;
    handle.sync_all().map_err(ServeError::io(path))?;
    steward_lineage::manifest::sync_parent(path)?;
    Ok(hex(&Sha256::digest(bytes)))
}

/// The plaintext of a version's model file. `Gone` (as `NotFound`) when its key was destroyed.
pub(crate) fn read_model_file(
    engine: &Engine,
    tenant: &str,
    dir: &Path,
    file: &str,
) -> Result<Vec<u8>, ServeError> {
    read_sealed(
        engine,
        tenant,
        &dir.join(format!("{file}.sealed")),
        "model file (its key was destroyed)",
    )
}

/// The plaintext of a file [`write_sealed`] wrote. `NotFound` (naming `what`) when its key
/// was destroyed.
pub(crate) fn read_sealed(
    engine: &Engine,
    tenant: &str,
    path: &Path,
    what: &'static str,
) -> Result<Vec<u8>, ServeError> {
    let path = path.to_owned();
    let header = read_wrapped_key(&path)?;
    let reference =
        header
            .strip_prefix(KEY_REFERENCE_PREFIX)
            .ok_or_else(|| ServeError::Corrupted {
                path: path.clone(),
                reason: "the header names no key".into(),
            })?;
    let key_name = std::str::from_utf8(reference).map_err(|_| ServeError::Corrupted {
        path: path.clone(),
        reason: "key name".into(),
    })?;
    let wrapped = match engine.file_key(tenant, key_name)? {
        FileKey::Live(wrapped) => wrapped,
        FileKey::Destroyed => return Err(ServeError::NotFound { what }),
        FileKey::Unknown => {
            return Err(ServeError::Corrupted {
                path,
                reason: "no key for this file in the tenant catalog".into(),
            });
        }
    };
    let context = dataset_file_key_context(tenant);
    let key = engine.unwrap_tenant_key(tenant, &wrapped, &context)?;
    let handle = std::fs::File::open(&path).map_err(ServeError::io(&path))?;
    Ok(SealedReader::open(handle, &key, &context)?.read_all()?)
}

/// Destroys a model file's key (unreadable from here on, copies included), removes the file
/// and forgets the key entry.
pub(crate) fn remove_model_file(
    engine: &Engine,
    tenant: &str,
    dir: &Path,
    name: &str,
    version: u32,
    file: &str,
) -> Result<u64, ServeError> {
    let key_name = format!("{}{file}", key_prefix(name, version));
    remove_sealed(
        engine,
        tenant,
        &dir.join(format!("{file}.sealed")),
        &key_name,
    )
}

/// Destroys a sealed file's key, removes the file (1 if it was there) and forgets the key.
pub(crate) fn remove_sealed(
    engine: &Engine,
    tenant: &str,
    path: &Path,
    key_name: &str,
) -> Result<u64, ServeError> {
    engine.destroy_file_keys(tenant, &[key_name.to_owned()])?;
    let removed = match std::fs::remove_file(path) {
        Ok(()) => 1,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => {
            return Err(ServeError::Io {
                path: path.to_owned(),
                source: e,
            });
        }
    };
    steward_lineage::manifest::sync_parent(path)?;
    engine.forget_file_keys(tenant, &[key_name.to_owned()])?;
    Ok(removed)
}

/// Removes every file of a version (model files, bitmap, temporaries) and its key entries
/// (destroyed first). Returns how many files went.
pub(crate) fn remove_version_files(
    engine: &Engine,
    tenant: &str,
    dir: &Path,
    name: &str,
    version: u32,
) -> Result<u64, ServeError> {
    let prefix = key_prefix(name, version);
    engine.destroy_file_keys(tenant, std::slice::from_ref(&prefix))?;
    let mut removed = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let file = entry.file_name();
            let Some(text) = file.to_str() else { continue };
            if text.ends_with(".sealed") || text == BITMAP_FILE || text.ends_with(".tmp") {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(ServeError::io(&path))?;
                removed += 1;
            }
        }
    }
    steward_lineage::manifest::sync_parent(&dir.join("manifest.json"))?;
    engine.forget_file_keys(tenant, &[prefix])?;
    Ok(removed)
}

pub(crate) fn write_bitmap(dir: &Path, bitmap: &RoaringTreemap) -> Result<(), ServeError> {
    let path = dir.join(BITMAP_FILE);
    let mut bytes = Vec::new();
    bitmap
        .serialize_into(&mut bytes)
        .map_err(ServeError::io(&path))?;
    Ok(steward_lineage::manifest::write_atomically(&path, &bytes)?)
}

/// The subjects bitmap of a version (`None` once its files are removed).
pub(crate) fn read_bitmap(dir: &Path) -> Result<Option<RoaringTreemap>, ServeError> {
    let path: PathBuf = dir.join(BITMAP_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(RoaringTreemap::deserialize_from(&bytes[..]).map_err(
            |e| ServeError::Corrupted {
                path,
                reason: e.to_string(),
            },
        )?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ServeError::Io { path, source: e }),
    }
}

/// A version's manifest and decoded model file, read with the engine alone (offline tools:
/// `steward forensics model-row`). Names are checked before any file-system access.
pub fn open_model_file(
    engine: &Engine,
    tenant: &str,
    name: &str,
    version: u32,
) -> Result<(crate::ModelManifest, steward_ml::ModelFile), ServeError> {
    crate::registry::valid_name(name, "name")?;
    let dir = engine
        .tenant_dir(tenant)?
        .join("models")
        .join(name)
        .join(format!("v{version:06}"));
    let manifest = crate::ModelManifest::read(&dir.join("manifest.json"))?;
    let file = manifest
        .file
        .clone()
        .ok_or(ServeError::NotFound { what: "model file" })?;
    let bytes = read_model_file(engine, tenant, &dir, &file)?;
    let model = steward_ml::ModelFile::from_bytes(&bytes).map_err(|e| ServeError::Corrupted {
        path: dir.join(format!("{file}.sealed")),
        reason: e.to_string(),
    })?;
    Ok((manifest, model))
}
