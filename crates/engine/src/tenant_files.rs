//! What the layers that derive files from events (data sets, later models and indexes) need
//! of a tenant: its directory, keys wrapped under the tenant key, keys derived from it, and a
//! table of its catalog for the wrapped keys of derived files (destroying an entry makes the
//! file unreadable at once, backups of the file included).

use steward_crypto::{Key256, WrappedKey};

use crate::{Engine, EngineError};

/// Wrapped keys of derived files, by the file's path under the tenant directory.
const DERIVED_FILE_KEYS: &str = "derived_file_keys";

impl Engine {
    /// The tenant's directory (derived artifacts such as data sets live under it).
    pub fn tenant_dir(&self, tenant: &str) -> Result<std::path::PathBuf, EngineError> {
        Ok(self.tenant(tenant)?.partition().dir().to_owned())
    }

    /// Wraps a derived file's key under the tenant key.
    pub fn wrap_tenant_key(
        &self,
        tenant: &str,
        key: &Key256,
        context: &[u8],
    ) -> Result<WrappedKey, EngineError> {
        Ok(self.tenant(tenant)?.partition().wrap_key(key, context))
    }

    pub fn unwrap_tenant_key(
        &self,
        tenant: &str,
        wrapped: &WrappedKey,
        context: &[u8],
    ) -> Result<Key256, EngineError> {
        Ok(self
            .tenant(tenant)?
            .partition()
            .unwrap_key(wrapped, context)?)
    }

    /// A key derived from the tenant key for one use.
    pub fn tenant_derived_key(&self, tenant: &str, label: &[u8]) -> Result<Key256, EngineError> {
        Ok(self.tenant(tenant)?.partition().derived_key(label))
    }

    /// Stores the wrapped keys of derived files (durably, before the files are used).
    pub fn put_file_keys(
        &self,
        tenant: &str,
        keys: &[(String, WrappedKey)],
    ) -> Result<(), EngineError> {
        let t = self.tenant(tenant)?;
        t.partition().catalog().write(|txn| {
            for (name, wrapped) in keys {
                txn.put(DERIVED_FILE_KEYS, name.as_bytes(), wrapped.as_bytes())?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// The key of a derived file.
    pub fn file_key(&self, tenant: &str, name: &str) -> Result<FileKey, EngineError> {
        let t = self.tenant(tenant)?;
        Ok(
            match t
                .partition()
                .catalog()
                .get(DERIVED_FILE_KEYS, name.as_bytes())?
            {
                Some(bytes) if bytes.is_empty() => FileKey::Destroyed,
                Some(bytes) => FileKey::Live(WrappedKey::from_bytes(bytes)?),
                None => FileKey::Unknown,
            },
        )
    }

    /// Destroys the keys of derived files whose names start with any of `prefixes`, in one
    /// commit: from its return the files are unreadable by anyone, the master key's holder
    /// included (the entry stays, empty, until the file is removed, so a scan can tell a
    /// shredded file from a foreign one). Returns how many keys were destroyed.
    pub fn destroy_file_keys(&self, tenant: &str, prefixes: &[String]) -> Result<u64, EngineError> {
        self.rewrite_file_keys(tenant, prefixes, true)
    }

    /// Forgets the key entries of derived files that were removed.
    pub fn forget_file_keys(&self, tenant: &str, prefixes: &[String]) -> Result<u64, EngineError> {
        self.rewrite_file_keys(tenant, prefixes, false)
    }

    fn rewrite_file_keys(
        &self,
        tenant: &str,
        prefixes: &[String],
        keep_marker: bool,
    ) -> Result<u64, EngineError> {
        let t = self.tenant(tenant)?;
        let catalog = t.partition().catalog();
        let mut doomed = Vec::new();
        for prefix in prefixes {
            doomed.extend(
                catalog
                    .scan_prefix(DERIVED_FILE_KEYS, prefix.as_bytes())?
                    .into_iter()
                    .filter(|(_, v)| !keep_marker || !v.is_empty())
                    .map(|(k, _)| k),
            );
        }
        if doomed.is_empty() {
            return Ok(0);
        }
        catalog.write(|txn| {
            for k in &doomed {
                if keep_marker {
                    txn.put(DERIVED_FILE_KEYS, k, &[])?;
                } else {
                    txn.delete(DERIVED_FILE_KEYS, k)?;
                }
            }
            Ok(())
        })?;
        Ok(doomed.len() as u64)
    }
}

/// Where a derived file's key stands.
#[derive(Clone, Debug)]
pub enum FileKey {
    Live(WrappedKey),
    /// Destroyed by an erasure: nobody can read the file.
    Destroyed,
    /// No such file in this tenant.
    Unknown,
}
