//! The engine's error type; the server maps each variant to a status and a stable code once.

use steward_privacy::FieldError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// Authentication failed; `reason` is for logs only, never for the client.
    #[error("unauthenticated: {reason}")]
    Unauthenticated { reason: &'static str },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The tenant's stored state failed a check when the engine opened it (the server log
    /// names the file); the tenant refuses every request until an operator acts.
    #[error("tenant {tenant} is unavailable: its stored data failed an integrity check at start")]
    TenantUnavailable { tenant: String },
    #[error("{what} already exists")]
    Conflict { what: &'static str },
    /// The caller's input is wrong; `code` is stable, `field` names the offending input.
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: Option<String>,
        message: String,
    },
    #[error("invalid schema: {0}")]
    Schema(#[from] steward_privacy::SchemaError),
    #[error("properties do not match the schema")]
    Fields(Vec<FieldError>),
    #[error("data directory {path}: {reason}")]
    DataDir {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error(transparent)]
    Store(#[from] steward_store::StoreError),
    #[error(transparent)]
    Catalog(#[from] steward_store::CatalogError),
    #[error(transparent)]
    Crypto(#[from] steward_crypto::CryptoError),
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// The audit log could not record a decision: the request must fail closed.
    #[error("audit log: {0}")]
    Audit(String),
    /// A policy text was refused; nothing changed. Every problem, with position.
    #[error("invalid policies ({} problems)", .0.len())]
    Policies(Vec<steward_policy::PolicyDiagnostic>),
    /// Policies that should have validated did not (the shipped set, a stored version).
    #[error("policy engine: {0}")]
    Policy(String),
}

impl EngineError {
    pub(crate) fn invalid(
        code: &'static str,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> EngineError {
        EngineError::Invalid {
            code,
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// The stored file a store error shows to be damaged (a page failing its checksum or its
/// authentication tag, a malformed footer, a catalog entry that does not decode), or None for
/// errors that say nothing about the files (I/O, a poisoned log, limits). A damaged file is
/// reported and left as it is; it is never a reason to delete or rewrite anything.
pub fn damaged_file(error: &steward_store::StoreError) -> Option<&std::path::Path> {
    use steward_store::{CatalogError, StoreError};
    match error {
        StoreError::Corrupted { path, .. } => Some(path),
        // An I/O failure under the Parquet reader is not damage; anything else it reports
        // about a file Steward wrote itself is.
        StoreError::Parquet {
            source: parquet::errors::ParquetError::External(_),
            ..
        } => None,
        StoreError::Parquet { path, .. } => Some(path),
        StoreError::Catalog(
            CatalogError::Damaged { path, .. } | CatalogError::Corrupted { path, .. },
        ) => Some(path),
        _ => None,
    }
}

impl EngineError {
    /// See [`damaged_file`].
    pub fn damaged_file(&self) -> Option<&std::path::Path> {
        match self {
            EngineError::Store(e) => damaged_file(e),
            EngineError::Catalog(
                steward_store::CatalogError::Damaged { path, .. }
                | steward_store::CatalogError::Corrupted { path, .. },
            ) => Some(path),
            _ => None,
        }
    }
}
