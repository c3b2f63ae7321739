//! Master key rotation: re-wrap every tenant's keys under a new master key without
//! touching any data. Runs offline (it takes the data directory's lock).
//!
//! Crash safety: the new key is written to `master.key.new` first, then the catalog commit
//! switches the wrapped keys and fingerprint atomically, then the file is renamed over
//! `master.key`. On a crash between the commit and the rename, the next rotation or start
//! finds `master.key.new` matching the catalog and finishes the rename.

use std::path::Path;
use steward_crypto::{MASTER_KEY_ENV, MasterKey};

use crate::EngineError;
use crate::datadir::DataDir;
use crate::system::{SystemCatalog, TenantInfo, pseudonym_secret_context, tenant_key_context};

/// Rotates the master key of the directory; returns the new key's fingerprint.
pub fn rotate_master(data_dir: &Path) -> Result<String, EngineError> {
    if std::env::var_os(MASTER_KEY_ENV).is_some() {
        return Err(EngineError::invalid(
            "master_key_from_env",
            None,
            "the master key comes from STEWARD_MASTER_KEY; rotate it in your key manager",
        ));
    }
    let dir = DataDir::lock(data_dir)?;
    let err = |reason: String| EngineError::DataDir {
        path: data_dir.to_owned(),
        reason,
    };
    let current_path = dir.master_key_path();
    let new_path = data_dir.join("master.key.new");
    let system = SystemCatalog::open(&dir.system_catalog_path())?;
    finish_interrupted(&system, &current_path, &new_path)?;
    let old = MasterKey::load(&current_path)?;
    system.check_master(&old)?;
    let new = MasterKey::generate();
    if new_path.exists() {
        std::fs::remove_file(&new_path).map_err(|e| err(e.to_string()))?;
    }
    new.write_file(&new_path)?;
    let mut rewrapped = Vec::new();
    for info in system.tenants()? {
        let tenant_key = old
            .key()
            .unwrap_key(&info.wrapped_key, &tenant_key_context(&info.id))?;
        let secret = old.key().unwrap_key(
            &info.wrapped_pseudonym_secret,
            &pseudonym_secret_context(&info.id),
        )?;
        rewrapped.push(TenantInfo {
            wrapped_key: new.key().wrap(&tenant_key, &tenant_key_context(&info.id)),
            wrapped_pseudonym_secret: new.key().wrap(&secret, &pseudonym_secret_context(&info.id)),
            ..info
        });
    }
    system.set_master_fingerprint_and_tenants(&new, &rewrapped)?;
    std::fs::rename(&new_path, &current_path).map_err(|e| err(e.to_string()))?;
    std::fs::File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| err(e.to_string()))?;
    tracing::info!(tenants = rewrapped.len(), fingerprint = %new.fingerprint(), "master key rotated");
    Ok(new.fingerprint())
}

/// Completes a rotation that crashed after its catalog commit but before the key file rename.
pub(crate) fn finish_interrupted(
    system: &SystemCatalog,
    current: &Path,
    new: &Path,
) -> Result<(), EngineError> {
    if std::env::var_os(MASTER_KEY_ENV).is_some() || !new.exists() {
        return Ok(());
    }
    if let Ok(candidate) = MasterKey::load(new)
        && system.check_master(&candidate).is_ok()
    {
        std::fs::rename(new, current).map_err(|e| EngineError::DataDir {
            path: new.to_owned(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}
