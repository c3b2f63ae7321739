//! The master key: the root of the hierarchy, from a 0600 key file or an environment variable.

use crate::{CryptoError, Key256, sha256};
use std::io::Write;
use std::path::Path;

/// Environment variable that, when set, supplies the master key (64 hex digits) instead of the file.
pub const MASTER_KEY_ENV: &str = "STEWARD_MASTER_KEY";

/// Wraps tenant keys; never wraps data directly, so rotating it re-wraps a handful of keys.
#[derive(Clone, Debug)]
pub struct MasterKey(Key256);

impl MasterKey {
    pub fn generate() -> MasterKey {
        MasterKey(Key256::random())
    }

    pub fn key(&self) -> &Key256 {
        &self.0
    }

    /// A short public fingerprint, stored in the catalog to detect a wrong key at start.
    pub fn fingerprint(&self) -> String {
        let digest = sha256(&[b"steward-master-fingerprint", self.0.expose()]);
        data_encoding::HEXLOWER.encode(&digest[..8])
    }

    pub fn from_hex(text: &str) -> Result<MasterKey, CryptoError> {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.trim().as_bytes())
            .map_err(|_| CryptoError::InvalidKey("master key must be 64 hex digits".into()))?;
        Ok(MasterKey(Key256::from_slice(&bytes)?))
    }

    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(self.0.expose())
    }

    /// Loads the key from [`MASTER_KEY_ENV`] if set, else from `path`.
    pub fn load(path: &Path) -> Result<MasterKey, CryptoError> {
        if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
            return MasterKey::from_hex(&text);
        }
        let text = std::fs::read_to_string(path).map_err(|source| CryptoError::KeyFile {
            path: path.to_owned(),
            source,
        })?;
        MasterKey::from_hex(&text)
    }

    /// Writes the key file with mode 0600, durably (file and directory fsynced).
    pub fn write_file(&self, path: &Path) -> Result<(), CryptoError> {
        let io = |source| CryptoError::KeyFile {
            path: path.to_owned(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        file.write_all(format!("{}\n", self.to_hex()).as_bytes())
            .map_err(io)?;
        file.sync_all().map_err(io)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trips_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let key = MasterKey::generate();
        key.write_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let loaded = MasterKey::from_hex(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(loaded.fingerprint(), key.fingerprint());
        assert!(
            key.write_file(&path).is_err(),
            "never overwrites an existing key"
        );
    }
}
