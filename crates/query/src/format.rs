//! Result encodings, picked by the request's `Accept`: JSON (default), CSV, Arrow IPC stream,
//! Parquet. All four carry the same rows and column names; JSON and CSV write values with
//! Arrow's formatters so a value reads the same in both.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use serde_json::{Value, json};

use crate::error::QueryError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultFormat {
    Json,
    Csv,
    Arrow,
    Parquet,
}

impl ResultFormat {
    /// The format an `Accept` header asks for; `None` when it names none we write.
    pub fn from_accept(accept: Option<&str>) -> Option<ResultFormat> {
        let Some(accept) = accept else {
            return Some(ResultFormat::Json);
        };
        for part in accept.split(',') {
            let media = part
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            let format = match media.as_str() {
                "application/json" | "application/*" | "*/*" | "" => ResultFormat::Json,
                "text/csv" | "text/*" => ResultFormat::Csv,
                "application/vnd.apache.arrow.stream" => ResultFormat::Arrow,
                "application/vnd.apache.parquet" | "application/x-parquet" => ResultFormat::Parquet,
                _ => continue,
            };
            return Some(format);
        }
        None
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ResultFormat::Json => "application/json",
            ResultFormat::Csv => "text/csv; charset=utf-8",
            ResultFormat::Arrow => "application/vnd.apache.arrow.stream",
            ResultFormat::Parquet => "application/vnd.apache.parquet",
        }
    }
}

fn failed(e: impl std::fmt::Display) -> QueryError {
    QueryError::Internal(format!("encoding the result: {e}"))
}

/// Encodes a result. `extra` is merged into the JSON envelope (purpose, masked classes).
pub fn encode(
    format: ResultFormat,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    extra: &serde_json::Map<String, Value>,
) -> Result<Vec<u8>, QueryError> {
    match format {
        ResultFormat::Json => {
            let mut rows_buf = Vec::new();
            {
                let mut writer = datafusion::arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, datafusion::arrow::json::writer::JsonArray>(&mut rows_buf);
                for batch in batches {
                    writer.write(batch).map_err(failed)?;
                }
                writer.finish().map_err(failed)?;
            }
            if rows_buf.is_empty() {
                rows_buf.extend_from_slice(b"[]");
            }
            let columns: Vec<Value> = schema
                .fields()
                .iter()
                .map(|f| json!({"name": f.name(), "type": f.data_type().to_string()}))
                .collect();
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            let mut head = serde_json::Map::new();
            head.insert("columns".into(), Value::Array(columns));
            head.insert("row_count".into(), json!(rows));
            for (k, v) in extra {
                head.insert(k.clone(), v.clone());
            }
            // The envelope, with the rows array spliced in without re-parsing it.
            let mut out = serde_json::to_vec(&Value::Object(head)).map_err(failed)?;
            out.pop();
            out.extend_from_slice(b",\"rows\":");
            out.extend_from_slice(&rows_buf);
            out.push(b'}');
            Ok(out)
        }
        ResultFormat::Csv => {
            let mut out = Vec::new();
            {
                let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut out);
                if batches.is_empty() {
                    writer
                        .write(&RecordBatch::new_empty(schema.clone()))
                        .map_err(failed)?;
                }
                for batch in batches {
                    writer.write(batch).map_err(failed)?;
                }
            }
            Ok(out)
        }
        ResultFormat::Arrow => {
            let mut out = Vec::new();
            let mut writer =
                datafusion::arrow::ipc::writer::StreamWriter::try_new(&mut out, schema)
                    .map_err(failed)?;
            for batch in batches {
                writer.write(batch).map_err(failed)?;
            }
            writer.finish().map_err(failed)?;
            drop(writer);
            Ok(out)
        }
        ResultFormat::Parquet => {
            let mut out = Vec::new();
            let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, schema.clone(), None)
                .map_err(failed)?;
            for batch in batches {
                writer.write(batch).map_err(failed)?;
            }
            writer.close().map_err(failed)?;
            Ok(out)
        }
    }
}
