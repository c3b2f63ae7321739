//! Query errors with stable codes; the HTTP edge maps each to a status once.

use datafusion::arrow::error::ArrowError;
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
    TooComplex {
        reason: String,
        line: u64,
        column: u64,
    },
    #[error("the result has more than {limit} rows; add a LIMIT or aggregate further")]
    TooManyRows { limit: usize },
    #[error("the result is larger than {limit} bytes; select fewer columns or rows")]
    TooManyBytes { limit: usize },
    #[error("the query ran longer than its limit of {limit_ms} ms")]
    Timeout { limit_ms: u64 },
    #[error("the query needed more than its memory limit of {limit} bytes: {message}")]
    Memory { limit: usize, message: String },
    /// A function asked for more output than the query may hold (`repeat`, `lpad`, ...).
    #[error(transparent)]
    ResourceLimit(#[from] crate::bounded::OutputTooLarge),
    /// Every query together is at the deployment's query memory; this one may be retried.
    #[error("the queries running now hold all the query memory of this deployment; retry later")]
    MemoryBusy,
    /// A value the query computed is outside what an operator or function accepts
    /// (division by zero, overflow, a cast, a date out of range, a bad argument). The user's
    /// data or arguments, not a bug; the message names the kind, never the value.
    #[error("the query failed on a value: {what}")]
    Evaluation { what: &'static str },
    #[error("invalid request: {message}")]
    InvalidRequest {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Engine(#[from] steward_engine::EngineError),
    /// The heavy-work pool is full or the job failed.
    #[error(transparent)]
    Pool(#[from] crate::pool::PoolError),
    /// A stored file the scan read failed its integrity check (`file` is for the log only).
    #[error("a stored file failed its integrity check: {file}: {reason}")]
    Damaged {
        file: std::path::PathBuf,
        reason: String,
    },
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
            QueryError::ResourceLimit(_) => "query_resource_limit",
            QueryError::MemoryBusy => "query_memory_busy",
            QueryError::Evaluation { .. } => "query_value_error",
            QueryError::InvalidRequest { .. } => "invalid_request",
            QueryError::Engine(_) => "engine_error",
            QueryError::Pool(crate::pool::PoolError::Busy { .. }) => "busy",
            QueryError::Pool(_) => "query_failed",
            QueryError::Damaged { .. } => "storage_damaged",
            QueryError::Internal(_) => "query_failed",
        }
    }

    /// Maps a DataFusion error: the caller's mistakes apart from the engine's failures.
    pub fn from_datafusion(
        error: DataFusionError,
        tables: &[String],
        limit_ms: u64,
        memory: usize,
    ) -> QueryError {
        if let Some(too_large) = find_in_chain::<crate::bounded::OutputTooLarge>(&error) {
            return QueryError::ResourceLimit(crate::bounded::OutputTooLarge {
                function: too_large.function,
                limit_bytes: too_large.limit_bytes,
            });
        }
        if let Some(store) = find_in_chain::<steward_store::StoreError>(&error)
            && let Some(file) = steward_engine::damaged_file(store)
        {
            return QueryError::Damaged {
                file: file.to_owned(),
                reason: store.to_string(),
            };
        }
        if let Some(engine) = find_in_chain::<steward_engine::EngineError>(&error)
            && let Some(file) = engine.damaged_file()
        {
            return QueryError::Damaged {
                file: file.to_owned(),
                reason: engine.to_string(),
            };
        }
        let root = error.find_root();
        match root {
            DataFusionError::SQL(e, _) => QueryError::InvalidSql {
                message: e.to_string(),
            },
            DataFusionError::Plan(m)
                if m.contains("not found") && m.to_ascii_lowercase().contains("table") =>
            {
                QueryError::UnknownTable {
                    message: m.clone(),
                    tables: tables.join(", "),
                }
            }
            DataFusionError::Plan(m)
                if m.contains("not supported")
                    || m.contains("DDL not supported")
                    || m.contains("DML not supported")
                    || m.contains("Statement not supported") =>
            {
                QueryError::NotAllowed { message: m.clone() }
            }
            DataFusionError::Plan(m) | DataFusionError::NotImplemented(m) => {
                QueryError::InvalidSql { message: m.clone() }
            }
            DataFusionError::SchemaError(e, _) => QueryError::InvalidSql {
                message: e.to_string(),
            },
            DataFusionError::ResourcesExhausted(m) if m.starts_with("query_timeout") => {
                QueryError::Timeout { limit_ms }
            }
            DataFusionError::ResourcesExhausted(m)
                if m.starts_with(crate::memory::TOTAL_EXHAUSTED_PREFIX) =>
            {
                QueryError::MemoryBusy
            }
            DataFusionError::ResourcesExhausted(m) => QueryError::Memory {
                limit: memory,
                message: m.clone(),
            },
            // DataFusion's functions and operators report bad values as execution errors; its
            // bugs are `Internal`, and this crate's scans fail with `External` or `Internal`.
            DataFusionError::Execution(m) => QueryError::Evaluation { what: classify(m) },
            DataFusionError::ArrowError(e, _) => match e.as_ref() {
                ArrowError::DivideByZero => QueryError::Evaluation {
                    what: DIVISION_BY_ZERO,
                },
                ArrowError::ArithmeticOverflow(_)
                | ArrowError::OffsetOverflowError(_)
                | ArrowError::DictionaryKeyOverflowError
                | ArrowError::RunEndIndexOverflowError => QueryError::Evaluation { what: OVERFLOW },
                ArrowError::CastError(m)
                | ArrowError::ParseError(m)
                | ArrowError::ComputeError(m)
                | ArrowError::InvalidArgumentError(m) => {
                    QueryError::Evaluation { what: classify(m) }
                }
                other => QueryError::Internal(other.to_string()),
            },
            other => QueryError::Internal(other.to_string()),
        }
    }
}

const DIVISION_BY_ZERO: &str = "division by zero";
const OVERFLOW: &str = "a number outside the range of its type (overflow)";

/// What kind of bad value an execution error is about, from DataFusion's or arrow's wording
/// (which often quotes the value, so it is never passed on).
fn classify(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.contains("divide by zero") || m.contains("division by zero") {
        DIVISION_BY_ZERO
    } else if m.contains("overflow") {
        OVERFLOW
    } else if m.contains("date_bin") || m.contains("interval") || m.contains("stride") {
        "an interval a date/time function does not accept (zero, negative or too large)"
    } else if m.contains("timestamp")
        || m.contains("date")
        || m.contains("month")
        || m.contains("day value")
        || m.contains("time")
    {
        "a date or time outside the supported range, or text that is not one"
    } else if m.contains("cast") || m.contains("parse") || m.contains("cannot convert") {
        "a value that cannot be converted to the type asked for"
    } else if m.contains("unicode") || m.contains("utf") || m.contains("character") {
        "a character code that is not a valid Unicode scalar value"
    } else if m.contains("regex") || m.contains("pattern") {
        "a regular expression that does not compile"
    } else {
        "an argument a function does not accept"
    }
}

/// The first error of type `T` in `error`'s chain of sources.
fn find_in_chain<T: std::error::Error + 'static>(error: &DataFusionError) -> Option<&T> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(DataFusionError::External(inner)) = e.downcast_ref::<DataFusionError>()
            && let Some(found) = inner.downcast_ref::<T>()
        {
            return Some(found);
        }
        current = e.source();
    }
    None
}
