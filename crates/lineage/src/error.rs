//! Lineage errors with stable codes; the HTTP edge maps them once.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LineageError {
    #[error("{message}")]
    Invalid { code: &'static str, field: Option<&'static str>, message: String },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The version exists but its files are gone (erased, superseded) or not built yet.
    #[error("{message}")]
    Gone { message: String },
    #[error(transparent)]
    Query(#[from] steward_query::QueryError),
    #[error(transparent)]
    Engine(#[from] steward_engine::EngineError),
    #[error("i/o on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Corrupted { path: PathBuf, reason: String },
    #[error("crypto: {0}")]
    Crypto(#[from] steward_crypto::CryptoError),
    #[error("writing parquet: {0}")]
    Parquet(String),
}

impl LineageError {
    pub fn io(path: &Path) -> impl Fn(std::io::Error) -> LineageError + '_ {
        move |source| LineageError::Io { path: path.to_owned(), source }
    }

    pub fn invalid(code: &'static str, field: &'static str, message: impl Into<String>) -> LineageError {
        LineageError::Invalid { code, field: Some(field), message: message.into() }
    }
}
