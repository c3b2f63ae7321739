//! Errors of the store, with corruption kept apart from I/O.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupted {what} in {path}: {reason}")]
    Corrupted {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(transparent)]
    Wal(#[from] steward_wal::WalError),
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error("segment {path}: {source}")]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("crypto: {0}")]
    Crypto(#[from] steward_crypto::CryptoError),
    #[error("the store stopped accepting writes after an earlier I/O failure; restart to recover")]
    Poisoned,
    #[error("batch of {0} events exceeds the limit")]
    BatchTooLarge(usize),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }
}
