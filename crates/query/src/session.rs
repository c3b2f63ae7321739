//! One SQL session per request: only this tenant's views, shaped for the request's purpose;
//! read-only statements; a memory pool of the request's size and no spilling (spill files
//! would put event data outside the data directory's encryption); a deadline checked by
//! every scan and by the collector.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures_util::StreamExt;
use steward_engine::{Admitted, ReadGuard};
use steward_store::ScanBounds;

use crate::error::QueryError;
use crate::memory::QueryMemory;
use crate::scan::{ScanContext, ViewTable};
use crate::views::{SUBJECTS_VIEW, events_view, offers_consents, typed_view};

/// Per-query bounds; the HTTP edge lets a caller lower them, never raise them.
#[derive(Clone, Debug)]
pub struct QueryLimits {
    pub max_rows: usize,
    pub max_bytes: usize,
    pub timeout: Duration,
    pub memory_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> QueryLimits {
        QueryLimits {
            max_rows: 100_000,
            max_bytes: 64 << 20,
            timeout: Duration::from_secs(30),
            memory_bytes: 512 << 20,
        }
    }
}

/// Hard ceilings on what a request may ask for.
pub const MAX_ROWS_CEILING: usize = 10_000_000;
pub const MAX_BYTES_CEILING: usize = 1 << 30;
pub const TIMEOUT_CEILING: Duration = Duration::from_secs(600);
pub const MEMORY_CEILING: usize = 4 << 30;
/// SQL text accepted.
pub const SQL_BYTES_MAX: usize = 64 * 1024;

/// What a query runs against, beyond its text.
#[derive(Clone, Debug, Default)]
pub struct QueryOptions {
    /// Read only rows acknowledged at or before this sequence number (rebuilding a data set).
    pub as_of_seq: Option<u64>,
    /// Record what the query's scans admitted: subjects and the oldest row per type (a data
    /// set's lineage and retention facts).
    pub track_subjects: bool,
}

/// A planned query whose rows are still to be pulled.
pub struct Running {
    pub stream: SendableRecordBatchStream,
    pub schema: SchemaRef,
    pub scan: Arc<ScanContext>,
    pub tables: Vec<String>,
    /// The query as the audit log records it (see [`crate::normalize`]).
    pub normalized: String,
    limits: QueryLimits,
}

/// A query's rows, collected within its limits.
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: u64,
    pub bytes: u64,
    pub snapshot_seq: u64,
    pub segments_read: u64,
    pub row_groups_read: u64,
    pub rows_scanned: u64,
}

impl Running {
    /// What the query's scans admitted (None unless tracked).
    pub fn admitted(&self) -> Option<Arc<Admitted>> {
        self.scan.admitted.clone()
    }

    pub fn map_error(&self, e: datafusion::common::DataFusionError) -> QueryError {
        QueryError::from_datafusion(
            e,
            &self.tables,
            self.limits.timeout.as_millis() as u64,
            self.limits.memory_bytes,
        )
    }

    /// Pulls every row, failing as soon as a limit is passed.
    pub async fn collect(mut self) -> Result<QueryResult, QueryError> {
        let mut batches = Vec::new();
        let (mut rows, mut bytes) = (0u64, 0u64);
        while let Some(batch) = self.stream.next().await {
            let batch = batch.map_err(|e| self.map_error(e))?;
            if Instant::now() > self.scan.deadline {
                return Err(QueryError::Timeout {
                    limit_ms: self.limits.timeout.as_millis() as u64,
                });
            }
            rows += batch.num_rows() as u64;
            bytes += batch.get_array_memory_size() as u64;
            if rows > self.limits.max_rows as u64 {
                return Err(QueryError::TooManyRows {
                    limit: self.limits.max_rows,
                });
            }
            if bytes > self.limits.max_bytes as u64 {
                return Err(QueryError::TooManyBytes {
                    limit: self.limits.max_bytes,
                });
            }
            if batch.num_rows() > 0 {
                batches.push(batch);
            }
        }
        Ok(QueryResult {
            schema: self.schema.clone(),
            batches,
            rows,
            bytes,
            snapshot_seq: self.scan.snapshot.max_seq,
            segments_read: self.scan.segments_read.lock().len() as u64,
            row_groups_read: self
                .scan
                .row_groups_read
                .load(std::sync::atomic::Ordering::Relaxed),
            rows_scanned: self
                .scan
                .rows_scanned
                .load(std::sync::atomic::Ordering::Relaxed),
        })
    }
}

/// A session over one snapshot of the reader's tenant, ready for one query.
pub struct Session {
    ctx: SessionContext,
    scan: Arc<ScanContext>,
    tables: Vec<String>,
    known: HashSet<String>,
    limits: QueryLimits,
}

impl Session {
    /// Registers the tenant's views for the guard's purpose over a fresh snapshot.
    pub async fn open(
        guard: Arc<ReadGuard>,
        limits: &QueryLimits,
        options: &QueryOptions,
    ) -> Result<Session, QueryError> {
        let deadline = Instant::now() + limits.timeout;
        let snapshot = Arc::new(guard.snapshot(&ScanBounds {
            max_seq: options.as_of_seq,
            ..ScanBounds::default()
        })?);
        let scan = Arc::new(ScanContext::new(
            guard.clone(),
            snapshot,
            deadline,
            options.track_subjects,
        ));
        let reader = guard;
        let internal = |e: datafusion::common::DataFusionError| QueryError::Internal(e.to_string());
        let pool: Arc<dyn MemoryPool> = Arc::new(QueryMemory::new(limits.memory_bytes));
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(pool.clone())
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()
            .map_err(internal)?;
        let partitions = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 16);
        let config = SessionConfig::new()
            .with_target_partitions(partitions)
            .with_information_schema(false)
            .with_default_catalog_and_schema("steward", "tenant");
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        crate::bounded::register(&ctx, &pool, limits.memory_bytes);
        let mut tables = vec!["events".to_owned()];
        ctx.register_table(
            "events",
            Arc::new(ViewTable::new(events_view(), scan.clone())),
        )
        .map_err(internal)?;
        for schema in reader.schemas() {
            let view = typed_view(&schema);
            if tables.contains(&view.name) || view.name == "subjects" || view.name == "consents" {
                continue;
            }
            let name = view.name.clone();
            tables.push(name.clone());
            ctx.register_table(name.as_str(), Arc::new(ViewTable::new(view, scan.clone())))
                .map_err(internal)?;
        }
        ctx.sql(&format!("CREATE VIEW subjects AS {SUBJECTS_VIEW}"))
            .await
            .map_err(internal)?;
        tables.push("subjects".into());
        if offers_consents(reader.visible()) {
            ctx.register_table(
                "consents",
                Arc::new(crate::consents::ConsentsTable::new(
                    reader.clone(),
                    scan.admitted.clone(),
                )),
            )
            .map_err(internal)?;
            tables.push("consents".into());
        }
        tables.sort();
        let known = known_words(&reader);
        Ok(Session {
            ctx,
            scan,
            tables,
            known,
            limits: limits.clone(),
        })
    }

    /// The query as the audit log may record it.
    pub fn normalize(&self, sql: &str) -> String {
        crate::normalize::normalize(sql, &|w| self.known.contains(w))
    }

    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    /// Plans `sql`; read-only statements only.
    pub async fn start(self, sql: &str) -> Result<Running, QueryError> {
        if sql.len() > SQL_BYTES_MAX {
            return Err(QueryError::InvalidRequest {
                field: "sql",
                message: format!("at most {SQL_BYTES_MAX} bytes of SQL"),
            });
        }
        if sql.trim().is_empty() {
            return Err(QueryError::InvalidRequest {
                field: "sql",
                message: "empty query".into(),
            });
        }
        crate::complexity::check_complexity(sql)?;
        check_read_only(sql)?;
        let limits = self.limits.clone();
        let tables = self.tables.clone();
        let options_sql = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let map = |e| {
            QueryError::from_datafusion(
                e,
                &tables,
                limits.timeout.as_millis() as u64,
                limits.memory_bytes,
            )
        };
        let frame = self
            .ctx
            .sql_with_options(sql, options_sql)
            .await
            .map_err(map)?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let stream = frame.execute_stream().await.map_err(map)?;
        let normalized = self.normalize(sql);
        Ok(Running {
            stream,
            schema,
            scan: self.scan,
            tables,
            normalized,
            limits,
        })
    }
}

/// One statement, and a query: anything else is refused before planning, so the answer
/// names the rule rather than whatever planning a write would have tripped on.
pub fn check_read_only(sql: &str) -> Result<(), QueryError> {
    use datafusion::sql::sqlparser::ast::Statement;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    // Text sqlparser cannot parse is left to DataFusion's parser, which words the error.
    let Ok(statements) = Parser::parse_sql(&GenericDialect {}, sql) else {
        return Ok(());
    };
    match statements.as_slice() {
        [Statement::Query(_)] => Ok(()),
        [Statement::Explain { statement, .. }]
            if matches!(statement.as_ref(), Statement::Query(_)) =>
        {
            Ok(())
        }
        [] => Err(QueryError::InvalidRequest {
            field: "sql",
            message: "empty query".into(),
        }),
        [_] => Err(QueryError::NotAllowed {
            message: "a session only reads: SELECT (or WITH ... SELECT, EXPLAIN SELECT)".into(),
        }),
        _ => Err(QueryError::NotAllowed {
            message: "one statement per request".into(),
        }),
    }
}

/// The words a normalized query may keep: the tenant's table and column names for the
/// reader's purpose and DataFusion's function names. Needs no snapshot, so a caller that only
/// audits a statement (a data set cut) can normalize without opening a session.
pub fn known_words(reader: &ReadGuard) -> HashSet<String> {
    static FUNCTIONS: std::sync::OnceLock<HashSet<String>> = std::sync::OnceLock::new();
    let functions = FUNCTIONS.get_or_init(|| {
        let state = SessionContext::new().state();
        let mut names: HashSet<String> = state.scalar_functions().keys().cloned().collect();
        names.extend(state.aggregate_functions().keys().cloned());
        names.extend(state.window_functions().keys().cloned());
        names
    });
    let mut known = functions.clone();
    let mut views = vec![events_view()];
    views.extend(reader.schemas().iter().map(|s| typed_view(s)));
    for view in &views {
        known.insert(view.name.clone());
        known.extend(view.columns.iter().map(|c| c.name.to_ascii_lowercase()));
    }
    known.extend(["subjects", "first_seen", "last_seen", "events"].map(String::from));
    if offers_consents(reader.visible()) {
        known.extend(["consents", "purpose", "granted", "source", "at"].map(String::from));
    }
    known
}

/// The query as the audit log may record it, for `reader`'s tenant and purpose.
pub fn normalize_for(reader: &ReadGuard, sql: &str) -> String {
    let known = known_words(reader);
    crate::normalize::normalize(sql, &|w| known.contains(w))
}

/// Opens a session and plans `sql` in it.
pub async fn start(
    reader: Arc<ReadGuard>,
    sql: &str,
    limits: &QueryLimits,
    options: &QueryOptions,
) -> Result<Running, QueryError> {
    Session::open(reader, limits, options)
        .await?
        .start(sql)
        .await
}

/// Plans and collects in one call.
pub async fn run(
    reader: Arc<ReadGuard>,
    sql: &str,
    limits: &QueryLimits,
    options: &QueryOptions,
) -> Result<QueryResult, QueryError> {
    start(reader, sql, limits, options).await?.collect().await
}
