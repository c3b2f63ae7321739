//! `steward-bench sql`: five analytics queries through Steward's SQL (steward-query) over
//! generated events, with the same rows written as plain Parquet for DuckDB
//! (`bench/sql_duckdb.py`; `bench/sql.sh` runs both and compares).
//!
//! Build (skipped when `--data` already holds a store built by this command): a tenant with
//! the five music schemas, `--events` generated events ingested in-process in batches of
//! 10 000 (one ingest thread; the main thread generates and writes Parquet), flushed and
//! compacted so every row sits in a segment. The Parquet copy holds what the `analytics`
//! purpose reads: one file per event type (`play.parquet`, ...), typed columns `event_id`,
//! `type`, `time` (timestamp µs UTC), `subject` (the pseudonym as Steward's SQL shows it:
//! lowercase hex) and the type's public fields (personal and free-text fields are left out:
//! analytics reads them as NULL); arrival (time) order, zstd level 1, dictionary encoding,
//! row groups of 122 880 rows (DuckDB's own row group size).
//!
//! Queries: purpose `analytics`, visible classes public and identifier (what the default
//! policies give analytics), one warm-up run then `--runs` timed runs per query. A run is
//! what a request costs: read guard, session (views over a fresh snapshot), planning, and
//! collecting every row. Prints one JSON line for the build and one per query (median and
//! every run in ms, the result's check: row count and per-column sums), and writes the
//! checks and the timeline subject to `PARQUET/steward.json`, against which the DuckDB
//! script checks its own results.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use arrow_array::builder::{Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float64Type, Int32Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::{Value, json};
use steward_engine::{Engine, EngineConfig, IngestOptions};
use steward_gen::{Event, Props};
use steward_privacy::PrivacyClass;
use steward_query::{QueryLimits, QueryOptions, Session};

use crate::Failed;
use crate::inproc::tenant_with_schemas;
use crate::stats::round3;

#[derive(clap::Args)]
pub struct SqlArgs {
    /// Events to generate and ingest.
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Timed runs per query (after one warm-up run).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Data directory. Default: a temporary one. If it holds a store this command built
    /// (its `bench-sql.json`), the build is skipped and the queries run on it.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where the Parquet copy (one file per event type) and `steward.json` go.
    #[arg(long)]
    parquet: PathBuf,
    /// Run only the queries whose name contains this (profiling).
    #[arg(long)]
    only: Option<String>,
    /// Also time this SQL the same way (repeatable; for attributing time: e.g. a scan
    /// without decoding, `SELECT count(*) FROM play`, against `SELECT count(genre) FROM play`).
    /// Not checked and not written to `steward.json`; without `--only`, only these run.
    #[arg(long)]
    adhoc: Vec<String>,
}

const TENANT: &str = "bench";
const PURPOSE: &str = "analytics";
const INGEST_BATCH: usize = 10_000;
/// Rows per Parquet row group (DuckDB's default row group size).
const PARQUET_ROW_GROUP: usize = 122_880;
/// Rows buffered per type before a batch goes to the Parquet writer.
const PARQUET_BATCH: usize = 16_384;
/// Written in the data directory once the store is built.
const BUILT_MARKER: &str = "bench-sql.json";

/// The five queries of issue 5, in Steward's views (`events` and one typed view per event
/// type). `bench/sql_duckdb.py` runs the same text over views of the same names on the
/// Parquet files. `{subject}` is the timeline's subject.
pub const QUERIES: [(&str, &str); 5] = [
    (
        "count_per_type_per_day",
        "SELECT type, date_trunc('day', time) AS day, count(*) AS events FROM events GROUP BY type, date_trunc('day', time) ORDER BY type, day",
    ),
    (
        "top_tracks_in_month",
        "SELECT track_id, count(*) AS plays FROM play WHERE time >= '2026-09-01T00:00:00Z' AND time < '2026-10-01T00:00:00Z' GROUP BY track_id ORDER BY plays DESC, track_id LIMIT 100",
    ),
    (
        "listeners_per_country",
        "SELECT s.country, count(DISTINCT p.subject) AS listeners FROM play p JOIN signup s ON p.subject = s.subject GROUP BY s.country ORDER BY s.country",
    ),
    (
        "subject_timeline",
        "SELECT time, type, event_id FROM events WHERE subject = '{subject}' ORDER BY time, event_id",
    ),
    (
        "skip_rate_per_genre",
        "WITH p AS (SELECT genre, count(*) AS plays FROM play GROUP BY genre), s AS (SELECT genre, count(*) AS skips FROM skip GROUP BY genre) \
         SELECT p.genre, CAST(s.skips AS DOUBLE) / (p.plays + s.skips) AS skip_rate FROM p JOIN s ON p.genre = s.genre ORDER BY p.genre",
    ),
];

pub fn run(args: SqlArgs) -> Result<(), Failed> {
    if args.runs == 0 || args.events == 0 {
        return Err(Failed("--runs and --events must be positive".into()));
    }
    let temp = tempfile::Builder::new()
        .prefix("steward-bench-sql-")
        .tempdir()
        .map_err(Failed::io("temp dir"))?;
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| temp.path().join("data"));
    let built = read_marker(&data)?;
    if built.is_none() {
        steward_engine::init(&data).map_err(Failed::engine("init"))?;
    }
    let mut config = EngineConfig::new(&data);
    config.background = false;
    let engine = Engine::open(config).map_err(Failed::engine("open"))?;

    let marker = match built {
        Some(marker) => {
            if marker["events"].as_u64() != Some(args.events)
                || marker["seed"].as_u64() != Some(args.seed)
            {
                return Err(Failed(format!(
                    "{} holds a store of {} events (seed {}); asked for {} (seed {})",
                    data.display(),
                    marker["events"],
                    marker["seed"],
                    args.events,
                    args.seed
                )));
            }
            let mut marker = marker;
            marker["reused"] = true.into();
            marker
        }
        None => {
            let marker = build(&engine, &args)?;
            std::fs::write(data.join(BUILT_MARKER), marker.to_string())
                .map_err(Failed::io("write marker"))?;
            marker
        }
    };
    // The decoded row-group cache of steward-query (crates/query/src/cache.rs) outlives a
    // query: the warm-up fills it, so the timed runs read from it unless it is off (0).
    let mut marker = marker;
    marker["query_cache_mb"] = std::env::var("STEWARD_QUERY_CACHE_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(steward_query::cache::DEFAULT_BUDGET_MB as u64)
        .into();
    println!("{marker}");
    let subject = marker["subject"]
        .as_str()
        .ok_or_else(|| Failed("marker without subject".into()))?
        .to_owned();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failed::io("tokio runtime"))?;
    let limits = QueryLimits {
        timeout: steward_query::session::TIMEOUT_CEILING,
        memory_bytes: steward_query::session::MEMORY_CEILING,
        ..QueryLimits::default()
    };
    let mut checks = serde_json::Map::new();
    let adhoc: Vec<(String, String)> = args
        .adhoc
        .iter()
        .enumerate()
        .map(|(i, sql)| (format!("adhoc_{i}"), sql.clone()))
        .collect();
    let queries = QUERIES
        .iter()
        .map(|(name, template)| ((*name).to_owned(), (*template).to_owned()))
        .filter(|(name, _)| args.only.as_deref().is_none_or(|only| name.contains(only)));
    let queries: Vec<(String, String)> = if args.only.is_some() || adhoc.is_empty() {
        queries.chain(adhoc.clone()).collect()
    } else {
        adhoc.clone()
    };
    for (name, template) in &queries {
        let name = name.as_str();
        let sql = template.replace("{subject}", &subject);
        let run_once = || -> Result<(f64, f64, steward_query::QueryResult), Failed> {
            let started = Instant::now();
            let guard = engine
                .read_guard(
                    TENANT,
                    steward_engine::ReadAccess::declared(
                        PURPOSE,
                        vec![PrivacyClass::Public, PrivacyClass::Identifier],
                    ),
                )
                .map_err(Failed::engine("read guard"))?;
            let result = runtime.block_on(async {
                let session =
                    Session::open(Arc::new(guard), &limits, &QueryOptions::default()).await?;
                let opened = started.elapsed().as_secs_f64() * 1e3;
                let running = session.start(&sql).await?;
                Ok::<_, steward_query::QueryError>((opened, running.collect().await?))
            });
            let (opened, result) = result.map_err(|e| Failed(format!("{name}: {e}")))?;
            Ok((started.elapsed().as_secs_f64() * 1e3, opened, result))
        };
        let (_, _, warm) = run_once()?;
        let check = check_of(&warm.batches).map_err(|e| Failed(format!("{name}: {e}")))?;
        let mut times = Vec::with_capacity(args.runs);
        let mut opens = Vec::with_capacity(args.runs);
        let mut last = warm;
        for _ in 0..args.runs {
            let (ms, open_ms, result) = run_once()?;
            times.push(ms);
            opens.push(open_ms);
            let again = check_of(&result.batches).map_err(|e| Failed(format!("{name}: {e}")))?;
            if again != check {
                return Err(Failed(format!(
                    "{name}: MISMATCH between Steward runs: {again} vs {check}"
                )));
            }
            last = result;
        }
        println!(
            "{}",
            json!({
                "bench": if name.starts_with("adhoc_") { "sql_adhoc" } else { "sql" }, "engine": "steward", "query": name, "sql": sql, "events": args.events,
                "median_ms": round3(median(&times)), "runs_ms": times.iter().map(|t| round3(*t)).collect::<Vec<_>>(),
                "session_open_median_ms": round3(median(&opens)),
                "rows": last.rows, "rows_scanned": last.rows_scanned, "row_groups_read": last.row_groups_read, "segments_read": last.segments_read,
                "check": check,
            })
        );
        eprintln!(
            "sql: steward {name}: median {:.1} ms, {} rows",
            median(&times),
            last.rows
        );
        if !name.starts_with("adhoc_") {
            checks.insert(name.to_owned(), check);
        }
    }
    if checks.is_empty() {
        return Ok(());
    }
    let meta =
        json!({"events": args.events, "seed": args.seed, "subject": subject, "checks": checks});
    std::fs::write(args.parquet.join("steward.json"), meta.to_string())
        .map_err(Failed::io("write steward.json"))?;
    drop(engine);
    drop(temp);
    Ok(())
}

fn read_marker(data: &Path) -> Result<Option<Value>, Failed> {
    match std::fs::read(data.join(BUILT_MARKER)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Failed(format!("{BUILT_MARKER}: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failed(format!("{BUILT_MARKER}: {e}"))),
    }
}

/// Builds the store and the Parquet copy; returns the build's JSON line.
fn build(engine: &Engine, args: &SqlArgs) -> Result<Value, Failed> {
    tenant_with_schemas(engine, TENANT)?;
    std::fs::create_dir_all(&args.parquet).map_err(Failed::io(args.parquet.display()))?;
    let started = Instant::now();
    let mut writers = TypeWriters::create(&args.parquet)?;
    let mut pseudonyms: HashMap<String, String> = HashMap::new();
    let mut per_subject: HashMap<String, u64> = HashMap::new();
    let (send, receive) = sync_channel::<Vec<Value>>(4);
    let accepted = std::thread::scope(|scope| -> Result<u64, Failed> {
        let ingester = scope.spawn(move || -> Result<u64, Failed> {
            let mut accepted = 0u64;
            for batch in receive {
                let report = engine
                    .ingest(TENANT, &batch, IngestOptions::default())
                    .map_err(Failed::engine("ingest"))?;
                if report.accepted() != batch.len() {
                    let first = report
                        .rejected()
                        .next()
                        .map(|(i, e)| format!("event {i}: {} {:?} {}", e.code, e.field, e.message));
                    return Err(Failed(format!(
                        "ingest accepted {} of {} (first rejection: {})",
                        report.accepted(),
                        batch.len(),
                        first.unwrap_or_default()
                    )));
                }
                accepted += batch.len() as u64;
            }
            Ok(accepted)
        });
        let produced = (|| -> Result<(), Failed> {
            let mut batch = Vec::with_capacity(INGEST_BATCH);
            for event in
                steward_gen::raw_events(&steward_gen::GenConfig::new(args.seed, args.events))
            {
                let hex = match pseudonyms.get(&event.subject) {
                    Some(hex) => hex.clone(),
                    None => {
                        let hex = engine
                            .resolve_subject(TENANT, &event.subject)
                            .map_err(Failed::engine("pseudonym"))?
                            .to_hex();
                        pseudonyms.insert(event.subject.clone(), hex.clone());
                        hex
                    }
                };
                *per_subject.entry(hex.clone()).or_default() += 1;
                writers.push(&event, &hex)?;
                batch.push(event.to_value());
                if batch.len() == INGEST_BATCH {
                    // A closed channel means the ingest thread failed; its error is reported below.
                    if send
                        .send(std::mem::replace(
                            &mut batch,
                            Vec::with_capacity(INGEST_BATCH),
                        ))
                        .is_err()
                    {
                        return Ok(());
                    }
                }
            }
            if !batch.is_empty() {
                let _ = send.send(batch);
            }
            Ok(())
        })();
        drop(send);
        let accepted = ingester
            .join()
            .map_err(|_| Failed("ingest thread panicked".into()))??;
        produced?;
        Ok(accepted)
    })?;
    if accepted != args.events {
        return Err(Failed(format!(
            "ingested {accepted} of {} events",
            args.events
        )));
    }
    let parquet_bytes = writers.finish()?;
    let ingested_s = started.elapsed().as_secs_f64();
    engine.flush_all().map_err(Failed::engine("flush"))?;
    engine.compact_all().map_err(Failed::engine("compact"))?;
    let build_s = started.elapsed().as_secs_f64();
    let stats = engine
        .tenant_stats(TENANT)
        .map_err(Failed::engine("stats"))?;
    let (subject, subject_events) = per_subject
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .ok_or_else(|| Failed("no subjects".into()))?;
    eprintln!(
        "sql: built {} events in {build_s:.1}s ({} segments, {:.0} MB; Parquet {:.0} MB)",
        args.events,
        stats.segments,
        stats.segment_bytes as f64 / 1e6,
        parquet_bytes as f64 / 1e6
    );
    Ok(json!({
        "bench": "sql_build", "events": args.events, "seed": args.seed, "subjects": pseudonyms.len(),
        "ingest_and_parquet_s": round3(ingested_s), "build_s": round3(build_s),
        "segments": stats.segments, "segment_bytes": stats.segment_bytes, "parquet_bytes": parquet_bytes,
        "parquet": "one file per type, zstd(1), dictionary, row groups of 122880, arrival order",
        "subject": subject, "subject_events": subject_events, "reused": false,
    }))
}

/// Median (the mean of the middle two for an even count, as Python's `statistics.median`).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// What both engines must agree on: the row count and, per column, the non-null count and
/// a sum (integers and timestamps in µs exactly, as a decimal string; floats as a number;
/// strings as their total length in bytes). `bench/sql_duckdb.py` computes the same.
pub fn check_of(batches: &[RecordBatch]) -> Result<Value, String> {
    let Some(first) = batches.first() else {
        return Ok(json!({"rows": 0, "columns": []}));
    };
    let schema = first.schema();
    let mut rows = 0usize;
    let mut columns = Vec::new();
    for (c, field) in schema.fields().iter().enumerate() {
        let mut ints: i128 = 0;
        let mut floats: f64 = 0.0;
        let mut non_null = 0usize;
        let mut kind = "int";
        for batch in batches {
            let array = batch.column(c);
            non_null += array.len() - array.null_count();
            match field.data_type() {
                DataType::Int64 => ints += sum_ints(array.as_primitive::<Int64Type>().iter(), 1),
                DataType::Int32 => ints += sum_ints(array.as_primitive::<Int32Type>().iter(), 1),
                DataType::UInt64 => ints += sum_ints(array.as_primitive::<UInt64Type>().iter(), 1),
                DataType::UInt32 => ints += sum_ints(array.as_primitive::<UInt32Type>().iter(), 1),
                DataType::Timestamp(TimeUnit::Second, _) => {
                    ints += sum_ints(
                        array.as_primitive::<TimestampSecondType>().iter(),
                        1_000_000,
                    )
                }
                DataType::Timestamp(TimeUnit::Millisecond, _) => {
                    ints += sum_ints(
                        array.as_primitive::<TimestampMillisecondType>().iter(),
                        1_000,
                    )
                }
                DataType::Timestamp(TimeUnit::Microsecond, _) => {
                    ints += sum_ints(array.as_primitive::<TimestampMicrosecondType>().iter(), 1)
                }
                DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                    ints += array
                        .as_primitive::<TimestampNanosecondType>()
                        .iter()
                        .flatten()
                        .map(|v| i128::from(v.div_euclid(1_000)))
                        .sum::<i128>()
                }
                DataType::Float64 => {
                    kind = "float";
                    floats += array
                        .as_primitive::<Float64Type>()
                        .iter()
                        .flatten()
                        .sum::<f64>();
                }
                DataType::Utf8 => {
                    kind = "str_bytes";
                    ints += array
                        .as_string::<i32>()
                        .iter()
                        .flatten()
                        .map(|s| s.len() as i128)
                        .sum::<i128>();
                }
                DataType::LargeUtf8 => {
                    kind = "str_bytes";
                    ints += array
                        .as_string::<i64>()
                        .iter()
                        .flatten()
                        .map(|s| s.len() as i128)
                        .sum::<i128>();
                }
                DataType::Utf8View => {
                    kind = "str_bytes";
                    ints += array
                        .as_string_view()
                        .iter()
                        .flatten()
                        .map(|s| s.len() as i128)
                        .sum::<i128>();
                }
                other => {
                    return Err(format!(
                        "no check for column {} of type {other}",
                        field.name()
                    ));
                }
            }
        }
        let sum = if kind == "float" {
            json!(floats)
        } else {
            json!(ints.to_string())
        };
        columns.push(json!({"name": field.name(), "kind": kind, "non_null": non_null, "sum": sum}));
    }
    for batch in batches {
        rows += batch.num_rows();
    }
    Ok(json!({"rows": rows, "columns": columns}))
}

fn sum_ints<T: Into<i128>>(values: impl Iterator<Item = Option<T>>, scale: i128) -> i128 {
    values.flatten().map(|v| v.into() * scale).sum()
}

/// A Parquet file per event type, fed row by row.
struct TypeWriters {
    signup: TypeWriter,
    play: TypeWriter,
    skip: TypeWriter,
    like: TypeWriter,
    search: TypeWriter,
}

impl TypeWriters {
    fn create(dir: &Path) -> Result<TypeWriters, Failed> {
        use ColumnKind::{Int, Str};
        let open = |name: &str, fields: &[(&str, ColumnKind)]| {
            TypeWriter::create(&dir.join(format!("{name}.parquet")), fields)
        };
        Ok(TypeWriters {
            signup: open(
                "signup",
                &[("country", Str), ("birth_year", Int), ("plan", Str)],
            )?,
            play: open(
                "play",
                &[
                    ("track_id", Str),
                    ("genre", Str),
                    ("ms_played", Int),
                    ("device", Str),
                ],
            )?,
            skip: open(
                "skip",
                &[
                    ("track_id", Str),
                    ("genre", Str),
                    ("ms_played", Int),
                    ("device", Str),
                ],
            )?,
            like: open("like", &[("track_id", Str), ("genre", Str)])?,
            search: open("search", &[("device", Str)])?,
        })
    }

    fn push(&mut self, event: &Event, subject_hex: &str) -> Result<(), Failed> {
        let time_us = event.time.saturating_mul(1_000_000);
        let id = event.event_id();
        let kind = event.kind().as_str();
        let (writer, values): (&mut TypeWriter, Vec<Cell>) = match &event.props {
            Props::Signup {
                country,
                birth_year,
                plan,
                ..
            } => (
                &mut self.signup,
                vec![
                    Cell::Str(country),
                    Cell::Int(i64::from(*birth_year)),
                    Cell::Str(plan),
                ],
            ),
            Props::Play {
                track,
                genre,
                ms_played,
                device,
                ..
            } => (
                &mut self.play,
                vec![
                    Cell::Track(*track),
                    Cell::Str(genre),
                    Cell::Int(i64::from(*ms_played)),
                    Cell::Str(device.as_str()),
                ],
            ),
            Props::Skip {
                track,
                genre,
                ms_played,
                device,
            } => (
                &mut self.skip,
                vec![
                    Cell::Track(*track),
                    Cell::Str(genre),
                    Cell::Int(i64::from(*ms_played)),
                    Cell::Str(device.as_str()),
                ],
            ),
            Props::Like { track, genre } => {
                (&mut self.like, vec![Cell::Track(*track), Cell::Str(genre)])
            }
            Props::Search { device, .. } => (&mut self.search, vec![Cell::Str(device.as_str())]),
        };
        writer.push(&id, kind, time_us, subject_hex, &values)
    }

    /// Closes every file; returns their total size in bytes.
    fn finish(self) -> Result<u64, Failed> {
        let mut bytes = 0;
        for writer in [self.signup, self.play, self.skip, self.like, self.search] {
            bytes += writer.finish()?;
        }
        Ok(bytes)
    }
}

#[derive(Clone, Copy)]
enum ColumnKind {
    Str,
    Int,
}

enum Cell<'a> {
    Str(&'a str),
    Int(i64),
    /// A track number, written as Steward stores it (`trk_{n}`).
    Track(u64),
}

enum Builder {
    Str(StringBuilder),
    Int(Int64Builder),
}

struct TypeWriter {
    path: PathBuf,
    schema: SchemaRef,
    event_id: StringBuilder,
    kind: StringBuilder,
    time: TimestampMicrosecondBuilder,
    subject: StringBuilder,
    fields: Vec<Builder>,
    rows: usize,
    writer: ArrowWriter<File>,
}

impl TypeWriter {
    fn create(path: &Path, fields: &[(&str, ColumnKind)]) -> Result<TypeWriter, Failed> {
        let mut schema_fields = vec![
            Field::new("event_id", DataType::Utf8, true),
            Field::new("type", DataType::Utf8, true),
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("subject", DataType::Utf8, true),
        ];
        let mut builders = Vec::new();
        for (name, kind) in fields {
            let (data_type, builder) = match kind {
                ColumnKind::Str => (DataType::Utf8, Builder::Str(StringBuilder::new())),
                ColumnKind::Int => (DataType::Int64, Builder::Int(Int64Builder::new())),
            };
            schema_fields.push(Field::new(*name, data_type, true));
            builders.push(builder);
        }
        let schema = Arc::new(Schema::new(schema_fields));
        let zstd = ZstdLevel::try_new(1).map_err(|e| Failed(format!("zstd level: {e}")))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(zstd))
            .set_max_row_group_row_count(Some(PARQUET_ROW_GROUP))
            .build();
        let file = File::create(path).map_err(Failed::io(path.display()))?;
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))
            .map_err(|e| Failed(format!("{}: {e}", path.display())))?;
        Ok(TypeWriter {
            path: path.to_owned(),
            schema,
            event_id: StringBuilder::new(),
            kind: StringBuilder::new(),
            time: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            subject: StringBuilder::new(),
            fields: builders,
            rows: 0,
            writer,
        })
    }

    fn push(
        &mut self,
        event_id: &str,
        kind: &str,
        time_us: i64,
        subject: &str,
        values: &[Cell],
    ) -> Result<(), Failed> {
        self.event_id.append_value(event_id);
        self.kind.append_value(kind);
        self.time.append_value(time_us);
        self.subject.append_value(subject);
        if values.len() != self.fields.len() {
            return Err(Failed(format!(
                "{}: {} values for {} columns",
                self.path.display(),
                values.len(),
                self.fields.len()
            )));
        }
        for (builder, value) in self.fields.iter_mut().zip(values) {
            match (builder, value) {
                (Builder::Str(b), Cell::Str(s)) => b.append_value(s),
                (Builder::Str(b), Cell::Track(n)) => b.append_value(format!("trk_{n}")),
                (Builder::Int(b), Cell::Int(v)) => b.append_value(*v),
                _ => {
                    return Err(Failed(format!(
                        "{}: a value of the wrong type",
                        self.path.display()
                    )));
                }
            }
        }
        self.rows += 1;
        if self.rows == PARQUET_BATCH {
            self.write_batch()?;
        }
        Ok(())
    }

    fn write_batch(&mut self) -> Result<(), Failed> {
        if self.rows == 0 {
            return Ok(());
        }
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.event_id.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.time.finish()),
            Arc::new(self.subject.finish()),
        ];
        for builder in &mut self.fields {
            columns.push(match builder {
                Builder::Str(b) => Arc::new(b.finish()),
                Builder::Int(b) => Arc::new(b.finish()),
            });
        }
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| Failed(format!("{}: {e}", self.path.display())))?;
        self.writer
            .write(&batch)
            .map_err(|e| Failed(format!("{}: {e}", self.path.display())))?;
        self.rows = 0;
        Ok(())
    }

    fn finish(mut self) -> Result<u64, Failed> {
        self.write_batch()?;
        self.writer
            .close()
            .map_err(|e| Failed(format!("{}: {e}", self.path.display())))?;
        Ok(std::fs::metadata(&self.path)
            .map_err(Failed::io(self.path.display()))?
            .len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_matches_python() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn check_sums_columns() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(arrow_array::Int64Array::from(vec![Some(1), None, Some(5)])),
                Arc::new(arrow_array::StringArray::from(vec!["ab", "c", "def"])),
            ],
        )
        .unwrap();
        let check = check_of(&[batch]).unwrap();
        assert_eq!(check["rows"], 3);
        assert_eq!(check["columns"][0]["sum"], "6");
        assert_eq!(check["columns"][0]["non_null"], 2);
        assert_eq!(check["columns"][1]["sum"], "6");
    }
}
