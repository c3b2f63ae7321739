//! Lineage errors with stable codes; the HTTP edge maps them once.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LineageError {
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: Option<&'static str>,
        message: String,
    },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The version exists but its files are gone (erased, superseded) or not built yet.
    #[error("{message}")]
    Gone { message: String },
    /// The version may not be read now (a subject erased or refusing the purpose since it was
    /// cut, rows past retention); `successor` is the newest ready version, if any.
    #[error("{message}")]
    Stale {
        message: String,
        successor: Option<u32>,
    },
    /// The read's purpose may not see what the version holds.
    #[error("{message}")]
    Forbidden { message: String },
    #[error(transparent)]
    Query(#[from] steward_query::QueryError),
    #[error(transparent)]
    Engine(#[from] steward_engine::EngineError),
    #[error("i/o on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Corrupted { path: PathBuf, reason: String },
    #[error("crypto: {0}")]
    Crypto(#[from] steward_crypto::CryptoError),
    #[error("writing parquet: {0}")]
    Parquet(String),
}

impl From<steward_query::PoolError> for LineageError {
    fn from(error: steward_query::PoolError) -> LineageError {
        LineageError::Query(steward_query::QueryError::Pool(error))
    }
}

impl LineageError {
    /// A stable code for logs and manifests (the HTTP edge maps variants to statuses).
    pub fn code(&self) -> &'static str {
        match self {
            LineageError::Invalid { code, .. } => code,
            LineageError::NotFound { .. } => "not_found",
            LineageError::Gone { .. } => "dataset_version_gone",
            LineageError::Stale { .. } => "dataset_version_stale",
            LineageError::Forbidden { .. } => "dataset_purpose_forbidden",
            LineageError::Query(q) => q.code(),
            LineageError::Engine(_) => "engine_error",
            LineageError::Io { .. } => "io_error",
            LineageError::Corrupted { .. } => "corrupted",
            LineageError::Crypto(_) => "crypto_error",
            LineageError::Parquet(_) => "parquet_error",
        }
    }

    pub fn io(path: &Path) -> impl Fn(std::io::Error) -> LineageError + '_ {
        move |source| LineageError::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub fn invalid(
        code: &'static str,
        field: &'static str,
        message: impl Into<String>,
    ) -> LineageError {
        LineageError::Invalid {
            code,
            field: Some(field),
            message: message.into(),
        }
    }
}
