//! The data directory: its layout, its exclusive lock, and `init`.
//!
//! ```text
//! DIR/STEWARD            format marker
//! DIR/master.key         master key, mode 0600 (absent when STEWARD_MASTER_KEY supplies it)
//! DIR/system.redb        tenants, API key hashes, operator key hash
//! DIR/LOCK               held (flock) by the one process that has the directory open
//! DIR/tenants/{id}/      catalog.redb, wal/, segments/
//! ```

use std::fs::File;
use std::path::{Path, PathBuf};
use steward_access::{ApiKeySecret, TokenKind};
use steward_crypto::{MASTER_KEY_ENV, MasterKey};

use crate::EngineError;
use crate::system::SystemCatalog;

const MARKER: &str = "STEWARD";
const MARKER_TEXT: &str = "steward data directory, format 1\n";

/// An open, locked data directory.
pub(crate) struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    pub fn lock(path: &Path) -> Result<DataDir, EngineError> {
        let err = |reason: String| EngineError::DataDir {
            path: path.to_owned(),
            reason,
        };
        match std::fs::read_to_string(path.join(MARKER)) {
            Ok(text) if text == MARKER_TEXT => {}
            Ok(_) => return Err(err("unknown data directory format".into())),
            Err(_) => {
                return Err(err(
                    "not initialized: run `steward init --data DIR` first".into()
                ));
            }
        }
        let lock_path = path.join("LOCK");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| err(format!("LOCK: {e}")))?;
        if !try_flock(&lock) {
            return Err(err("in use by another steward process".into()));
        }
        Ok(DataDir {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn system_catalog_path(&self) -> PathBuf {
        self.path.join("system.redb")
    }

    pub fn tenant_dir(&self, tenant: &str) -> PathBuf {
        self.path.join("tenants").join(tenant)
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.path.join("master.key")
    }

    pub fn load_master_key(&self) -> Result<MasterKey, EngineError> {
        Ok(MasterKey::load(&self.master_key_path())?)
    }
}

/// Whether a process (a running server) holds the directory's lock now.
pub fn data_dir_in_use(path: &Path) -> bool {
    match File::options().write(true).open(path.join("LOCK")) {
        // Taking the lock and dropping the file releases it at once.
        Ok(file) => !try_flock(&file),
        Err(_) => false,
    }
}

#[cfg(unix)]
pub(crate) fn try_flock(file: &File) -> bool {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[cfg(not(unix))]
pub(crate) fn try_flock(_file: &File) -> bool {
    true
}

/// What `init` made; the operator key is shown here once.
#[derive(Debug)]
pub struct InitOutput {
    pub data_dir: PathBuf,
    pub operator_key: String,
    /// None when the master key came from the environment.
    pub master_key_file: Option<PathBuf>,
}

/// Creates a data directory with a master key and an operator key. Refuses an existing one.
pub fn init(path: &Path) -> Result<InitOutput, EngineError> {
    let err = |reason: String| EngineError::DataDir {
        path: path.to_owned(),
        reason,
    };
    if path.join(MARKER).exists() {
        return Err(err("already initialized".into()));
    }
    std::fs::create_dir_all(path).map_err(|e| err(e.to_string()))?;
    let (master, master_key_file) = if std::env::var_os(MASTER_KEY_ENV).is_some() {
        (MasterKey::load(&path.join("master.key"))?, None)
    } else {
        let master = MasterKey::generate();
        let file = path.join("master.key");
        master.write_file(&file)?;
        (master, Some(file))
    };
    std::fs::create_dir_all(path.join("tenants")).map_err(|e| err(e.to_string()))?;
    let system = SystemCatalog::open(&path.join("system.redb"))?;
    let operator = ApiKeySecret::generate(TokenKind::Operator);
    system.initialize(&master, &operator)?;
    let marker = path.join(MARKER);
    std::fs::write(&marker, MARKER_TEXT).map_err(|e| err(e.to_string()))?;
    File::open(&marker)
        .and_then(|f| f.sync_all())
        .map_err(|e| err(e.to_string()))?;
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| err(e.to_string()))?;
    Ok(InitOutput {
        data_dir: path.to_owned(),
        operator_key: operator.token(),
        master_key_file,
    })
}
