//! `steward ingest FILE`: send NDJSON or CSV events in batches with a progress bar.
//!
//! Resumable two ways: a checkpoint file (`FILE.steward-checkpoint`) records the byte
//! offset of the last batch the server acknowledged, and event ids are idempotency keys,
//! so re-sending a batch that was in flight during a crash stores nothing twice.

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::Remote;
use crate::client::Client;
use crate::error::CliError;

const BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;

#[derive(clap::Args)]
pub struct IngestArgs {
    #[arg(long)]
    pub tenant: String,
    pub file: PathBuf,
    /// ndjson or csv (default: from the file extension).
    #[arg(long)]
    pub format: Option<String>,
    /// Events per request.
    #[arg(long, default_value_t = 5_000)]
    pub batch: usize,
    /// Ignore the checkpoint and start from the beginning.
    #[arg(long)]
    pub restart: bool,
    #[command(flatten)]
    pub remote: Remote,
}

/// Sends one batch of NDJSON lines ending at a byte offset of the input, and records the answer.
type SendBatch<'a> = dyn FnMut(&mut Vec<u8>, u64, &mut Totals) -> Result<(), CliError> + 'a;

#[derive(Default)]
struct Totals {
    accepted: u64,
    duplicates: u64,
    rejected: u64,
}

pub fn run(args: IngestArgs) -> Result<(), CliError> {
    if args.batch == 0 || args.batch > 10_000 {
        return Err(CliError::Usage("--batch must be 1 to 10000".into()));
    }
    let format = args.format.clone().unwrap_or_else(|| {
        if args
            .file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            "csv".into()
        } else {
            "ndjson".into()
        }
    });
    let checkpoint = checkpoint_path(&args.file);
    let file_len = std::fs::metadata(&args.file)
        .map_err(CliError::io(args.file.display()))?
        .len();
    let start = if args.restart {
        0
    } else {
        read_checkpoint(&checkpoint, &args.tenant, file_len)
    };
    let bar = ProgressBar::new(file_len);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(start);
    if start > 0 {
        bar.println(format!(
            "resuming at byte {start} (checkpoint {})",
            checkpoint.display()
        ));
    }
    let client = Client::new(&args.remote);
    let path = format!("/v1/tenants/{}/events", args.tenant);
    let mut totals = Totals::default();
    let send =
        |batch: &mut Vec<u8>, end_offset: u64, totals: &mut Totals| -> Result<(), CliError> {
            if batch.is_empty() {
                return Ok(());
            }
            let answer = client.post_ndjson(&path, batch)?;
            totals.accepted += answer["accepted"].as_u64().unwrap_or(0);
            totals.duplicates += answer["duplicates"].as_u64().unwrap_or(0);
            let rejected = answer["rejected_count"].as_u64().unwrap_or(0);
            totals.rejected += rejected;
            for item in answer["rejected"].as_array().into_iter().flatten().take(5) {
                bar.println(format!("rejected: {item}"));
            }
            batch.clear();
            write_checkpoint(&checkpoint, &args.tenant, file_len, end_offset)?;
            bar.set_position(end_offset);
            bar.set_message(format!(
                "{} stored, {} duplicates, {} rejected",
                totals.accepted, totals.duplicates, totals.rejected
            ));
            Ok(())
        };
    match format.as_str() {
        "ndjson" => {
            let mut file =
                std::fs::File::open(&args.file).map_err(CliError::io(args.file.display()))?;
            file.seek(SeekFrom::Start(start))
                .map_err(CliError::io(args.file.display()))?;
            let mut reader = BufReader::new(file);
            let mut offset = start;
            let mut batch = Vec::new();
            let mut count = 0;
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = reader
                    .read_until(b'\n', &mut line)
                    .map_err(CliError::io(args.file.display()))?;
                if n == 0 {
                    break;
                }
                offset += n as u64;
                if line.trim_ascii().is_empty() {
                    continue;
                }
                batch.extend_from_slice(line.trim_ascii_end());
                batch.push(b'\n');
                count += 1;
                if count >= args.batch || batch.len() >= BATCH_BYTES_MAX {
                    send(&mut batch, offset, &mut totals)?;
                    count = 0;
                }
            }
            send(&mut batch, offset, &mut totals)?;
        }
        "csv" => ingest_csv(
            &args,
            start,
            &mut |batch, end, t| send(batch, end, t),
            &mut totals,
        )?,
        other => {
            return Err(CliError::Usage(format!(
                "unknown format {other:?}: expected ndjson or csv"
            )));
        }
    }
    bar.finish();
    let _ = std::fs::remove_file(&checkpoint);
    println!(
        "{} stored, {} duplicates, {} rejected",
        totals.accepted, totals.duplicates, totals.rejected
    );
    if totals.rejected > 0 {
        return Err(CliError::Usage(format!(
            "{} events were rejected",
            totals.rejected
        )));
    }
    Ok(())
}

/// CSV with a header: event_id, type, subject, time, and any other column as a property
/// (numbers and booleans typed, empty cells omitted).
fn ingest_csv(
    args: &IngestArgs,
    start: u64,
    send: &mut SendBatch<'_>,
    totals: &mut Totals,
) -> Result<(), CliError> {
    let file = std::fs::File::open(&args.file).map_err(CliError::io(args.file.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(file);
    let headers = reader
        .headers()
        .map_err(|e| CliError::Usage(format!("CSV header: {e}")))?
        .clone();
    for required in ["event_id", "type", "subject", "time"] {
        if !headers.iter().any(|h| h == required) {
            return Err(CliError::Usage(format!(
                "CSV header lacks the {required} column"
            )));
        }
    }
    let mut batch = Vec::new();
    let mut count = 0;
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader
            .read_record(&mut record)
            .map_err(|e| CliError::Usage(format!("CSV: {e}")))?;
        if !more {
            break;
        }
        let end = reader.position().byte();
        if end <= start {
            continue;
        }
        let mut event = Map::new();
        let mut properties = Map::new();
        for (name, cell) in headers.iter().zip(record.iter()) {
            match name {
                "event_id" | "type" | "subject" | "time" => {
                    event.insert(name.to_owned(), Value::String(cell.to_owned()));
                }
                _ if cell.is_empty() => {}
                _ => {
                    properties.insert(name.to_owned(), typed_cell(cell));
                }
            }
        }
        event.insert("properties".into(), Value::Object(properties));
        batch.extend_from_slice(Value::Object(event).to_string().as_bytes());
        batch.push(b'\n');
        count += 1;
        if count >= args.batch || batch.len() >= BATCH_BYTES_MAX {
            send(&mut batch, end, totals)?;
            count = 0;
        }
    }
    let end = reader.position().byte();
    send(&mut batch, end, totals)
}

fn typed_cell(cell: &str) -> Value {
    if let Ok(i) = cell.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = cell.parse::<f64>()
        && f.is_finite()
    {
        return Value::from(f);
    }
    match cell {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(cell.to_owned()),
    }
}

fn checkpoint_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".steward-checkpoint");
    PathBuf::from(name)
}

fn read_checkpoint(path: &Path, tenant: &str, file_len: u64) -> u64 {
    let mut text = String::new();
    let ok = std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .is_ok();
    let value: Value = if ok {
        serde_json::from_str(&text).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    if value["tenant"] == tenant && value["file_bytes"] == file_len {
        value["offset"].as_u64().unwrap_or(0).min(file_len)
    } else {
        0
    }
}

fn write_checkpoint(path: &Path, tenant: &str, file_len: u64, offset: u64) -> Result<(), CliError> {
    let text =
        serde_json::json!({"tenant": tenant, "file_bytes": file_len, "offset": offset}).to_string();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(CliError::io(tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(CliError::io(path.display()))
}
