//! Query errors with stable codes; the HTTP edge maps each to a status once.

use datafusion::common::DataFusionError;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The text is not SQL DataFusion can parse or plan (unknown column, bad syntax, types).
    #[error("{message}")]
    InvalidSql { message: String },
    /// DDL, DML, COPY or SET: a session only reads.
    #[error("only queries are allowed here: {message}")]
    NotAllowed { message: String },
    /// A table this tenant does not have (another tenant's tables are never visible).
    #[error("{message}; this session's tables: {tables}")]
    UnknownTable { message: String, tables: String },
    /// Nested or chained past the bounds of `limits.rs`: refused before parsing.
    #[error("the query is too complex to plan: {reason} (line {line}, column {column})")]
    TooComplex { reason: String, line: u64, column: u64 },
    #[error("the result has more than {limit} rows; add a LIMIT or aggregate further")]
    TooManyRows { limit: usize },
    #[error("the result is larger than {limit} bytes; select fewer columns or rows")]
    TooManyBytes { limit: usize },
    #[error("the query ran longer than its limit of {limit_ms} ms")]
    Timeout { limit_ms: u64 },
    #[error("the query needed more than its memory limit of {limit} bytes: {message}")]
    Memory { limit: usize, message: String },
    #[error("invalid request: {message}")]
    InvalidRequest { field: &'static str, message: String },
    #[error(transparent)]
    Engine(#[from] steward_engine::EngineError),
    /// The heavy-work pool is full or the job failed.
    #[error(transparent)]
    Pool(#[from] crate::pool::PoolError),
    #[error("query failed: {0}")]
    Internal(String),
}

impl QueryError {
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::InvalidSql { .. } => "invalid_sql",
            QueryError::NotAllowed { .. } => "statement_not_allowed",
            QueryError::UnknownTable { .. } => "unknown_table",
            QueryError::TooComplex { .. } => "query_too_complex",
            QueryError::TooManyRows { .. } => "result_rows_exceeded",
            QueryError::TooManyBytes { .. } => "result_bytes_exceeded",
            QueryError::Timeout { .. } => "query_timeout",
            QueryError::Memory { .. } => "query_memory_exceeded",
            QueryError::InvalidRequest { .. } => "invalid_request",
            QueryError::Engine(_) => "engine_error",
            QueryError::Pool(crate::pool::PoolError::Busy { .. }) => "busy",
            QueryError::Pool(_) => "query_failed",
            QueryError::Internal(_) => "query_failed",
        }
    }

    /// Maps a DataFusion error: the caller's mistakes apart from the engine's failures.
    pub fn from_datafusion(error: DataFusionError, tables: &[String], limit_ms: u64, memory: usize) -> QueryError {
        let root = error.find_root();
        match root {
            DataFusionError::SQL(e, _) => QueryError::InvalidSql { message: e.to_string() },
            DataFusionError::Plan(m) if m.contains("not found") && m.to_ascii_lowercase().contains("table") => {
                QueryError::UnknownTable { message: m.clone(), tables: tables.join(", ") }
            }
            DataFusionError::Plan(m) if m.contains("not supported") || m.contains("DDL not supported") || m.contains("DML not supported") || m.contains("Statement not supported") => {
                QueryError::NotAllowed { message: m.clone() }
            }
            DataFusionError::Plan(m) | DataFusionError::NotImplemented(m) => QueryError::InvalidSql { message: m.clone() },
            DataFusionError::SchemaError(e, _) => QueryError::InvalidSql { message: e.to_string() },
            DataFusionError::ResourcesExhausted(m) if m.starts_with("query_timeout") => QueryError::Timeout { limit_ms },
            DataFusionError::ResourcesExhausted(m) => QueryError::Memory { limit: memory, message: m.clone() },
            DataFusionError::Execution(m) if m.contains("Cast error") || m.contains("Arrow error") || m.contains("Divide by zero") => QueryError::InvalidSql { message: m.clone() },
            DataFusionError::ArrowError(e, _) => QueryError::InvalidSql { message: e.to_string() },
            other => QueryError::Internal(other.to_string()),
        }
    }
}
