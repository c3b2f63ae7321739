//! Registry errors with stable codes; the HTTP edge maps them once. No error carries a user's
//! key, an item id or a value from a request: codes, field names, counts and our own words.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The caller's request (400).
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: Option<&'static str>,
        message: String,
    },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The request conflicts with the version's state (409), e.g. an alias to a version that
    /// is not ready.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The job's memory estimate exceeds the deployment's budget (422).
    #[error(
        "the job is estimated to need {estimate_bytes} bytes, over this deployment's budget of {budget_bytes} bytes; use fewer factors or neighbours, or a smaller data set"
    )]
    OverBudget {
        estimate_bytes: u64,
        budget_bytes: u64,
    },
    /// Too many jobs are waiting (503).
    #[error("{queued} training jobs are already waiting; try again later")]
    QueueFull { queued: usize },
    /// Data set admission and reading (403 dataset_purpose_forbidden, 409 dataset_version_stale, ...).
    #[error(transparent)]
    Lineage(#[from] steward_lineage::LineageError),
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
    /// Training or evaluation failed for a reason of the data or parameters (the job fails
    /// with `code`).
    #[error("{message}")]
    Training { code: &'static str, message: String },
    /// The job was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// A service this one calls (a configured chat endpoint) failed or answered badly (502).
    #[error("{message}")]
    Upstream { code: &'static str, message: String },
    /// Too many calls of this kind are running; try again shortly (503).
    #[error("{message}")]
    Busy { code: &'static str, message: String },
}

impl ServeError {
    /// A stable code for manifests, logs and problem documents.
    pub fn code(&self) -> &'static str {
        match self {
            ServeError::Invalid { code, .. } => code,
            ServeError::NotFound { .. } => "not_found",
            ServeError::Conflict { code, .. } => code,
            ServeError::OverBudget { .. } => "model_memory_over_budget",
            ServeError::QueueFull { .. } => "model_queue_full",
            ServeError::Lineage(l) => l.code(),
            ServeError::Engine(_) => "engine_error",
            ServeError::Io { .. } => "io_error",
            ServeError::Corrupted { .. } => "corrupted",
            ServeError::Crypto(_) => "crypto_error",
            ServeError::Training { code, .. } => code,
            ServeError::Cancelled => "cancelled",
            ServeError::Upstream { code, .. } => code,
            ServeError::Busy { code, .. } => code,
        }
    }

    pub fn io(path: &Path) -> impl Fn(std::io::Error) -> ServeError + '_ {
        move |source| ServeError::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub fn invalid(
        code: &'static str,
        field: &'static str,
        message: impl Into<String>,
    ) -> ServeError {
        ServeError::Invalid {
            code,
            field: Some(field),
            message: message.into(),
        }
    }

    pub(crate) fn training(code: &'static str, message: impl std::fmt::Display) -> ServeError {
        ServeError::Training {
            code,
            message: message.to_string(),
        }
    }
}
