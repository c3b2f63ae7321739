//! OpenLineage run events for data set builds and model training (START, then COMPLETE with the
//! output's schema facet, or FAIL with an error facet), written to an NDJSON file sink and, when configured,
//! POSTed to an HTTP endpoint (Marquez and friends). A sink failure is logged, never fails a
//! build: lineage events describe work, they do not gate it. Events carry names and column
//! types, never rows or query literals.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use parking_lot::Mutex;
use serde_json::{Value, json};

pub const RUN_EVENT_SCHEMA_URL: &str =
    "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
pub const SCHEMA_FACET_URL: &str =
    "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
pub const ERROR_FACET_URL: &str = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
pub const PRODUCER: &str = concat!(
    "https://github.com/steward-dev/steward/tree/",
    env!("CARGO_PKG_VERSION")
);

/// Where events go.
pub struct LineageSink {
    file: Option<Mutex<PathBuf>>,
    url: Option<String>,
    agent: ureq::Agent,
}

impl LineageSink {
    pub fn new(file: Option<PathBuf>, url: Option<String>) -> LineageSink {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .into();
        LineageSink {
            file: file.map(Mutex::new),
            url,
            agent,
        }
    }

    pub fn none() -> LineageSink {
        LineageSink::new(None, None)
    }

    pub fn emit(&self, event: &Value) {
        let line = event.to_string();
        if let Some(path) = &self.file {
            let path = path.lock();
            let written = (|| -> std::io::Result<()> {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&*path)?;
                file.write_all(line.as_bytes())?;
                file.write_all(b"\n")?;
                file.sync_data()
            })();
            if let Err(error) = written {
                tracing::warn!(path = %path.display(), %error, "could not write an OpenLineage event");
            }
        }
        if let Some(url) = &self.url {
            match self
                .agent
                .post(url)
                .header("Content-Type", "application/json")
                .send(line.as_bytes())
            {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => {
                    tracing::warn!(%url, status = response.status().as_u16(), "OpenLineage endpoint refused an event")
                }
                Err(error) => tracing::warn!(%url, %error, "could not send an OpenLineage event"),
            }
        }
        metrics::counter!("steward_openlineage_events_total").increment(1);
    }
}

/// One run (a data set build, a training job) and the events that describe it.
pub struct RunEvent {
    run_id: String,
    namespace: String,
    job: String,
    /// What the run read: `events` for a build, a data set version for training.
    input: String,
    output: String,
}

/// A random UUID (version 4), lowercase and hyphenated.
fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = data_encoding::HEXLOWER.encode(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Int64 => "int64".into(),
        DataType::Int32 => "int32".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Float64 => "double".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        other => other.to_string().to_ascii_lowercase(),
    }
}

impl RunEvent {
    pub fn new(tenant: &str, job: &str, output: &str) -> RunEvent {
        RunEvent::with_input(tenant, job, "events", output)
    }

    /// A run that reads `input` (e.g. `datasets.plays/v3`) rather than the events.
    pub fn with_input(tenant: &str, job: &str, input: &str, output: &str) -> RunEvent {
        RunEvent {
            run_id: uuid_v4(),
            namespace: format!("steward://{tenant}"),
            job: job.to_owned(),
            input: input.to_owned(),
            output: output.to_owned(),
        }
    }

    fn event(&self, kind: &str, output: Value, run_facets: Option<Value>) -> Value {
        let mut run = json!({"runId": self.run_id});
        if let Some(facets) = run_facets {
            run["facets"] = facets;
        }
        json!({
            "eventType": kind,
            "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "run": run,
            "job": {"namespace": self.namespace, "name": self.job},
            "inputs": [{"namespace": self.namespace, "name": self.input}],
            "outputs": [output],
            "producer": PRODUCER,
            "schemaURL": RUN_EVENT_SCHEMA_URL,
        })
    }

    pub fn start(&self) -> Value {
        self.event(
            "START",
            json!({"namespace": self.namespace, "name": self.output}),
            None,
        )
    }

    pub fn complete(&self, schema: &SchemaRef) -> Value {
        let fields: Vec<Value> = schema
            .fields()
            .iter()
            .map(|f| json!({"name": f.name(), "type": type_name(f.data_type())}))
            .collect();
        let output = json!({
            "namespace": self.namespace,
            "name": self.output,
            "facets": {"schema": {"_producer": PRODUCER, "_schemaURL": SCHEMA_FACET_URL, "fields": fields}},
        });
        self.event("COMPLETE", output, None)
    }

    /// COMPLETE for an output without a tabular schema (a model file).
    pub fn complete_plain(&self) -> Value {
        self.event(
            "COMPLETE",
            json!({"namespace": self.namespace, "name": self.output}),
            None,
        )
    }

    pub fn fail(&self, code: &str) -> Value {
        let facets = json!({"errorMessage": {"_producer": PRODUCER, "_schemaURL": ERROR_FACET_URL, "message": code, "programmingLanguage": "rust"}});
        self.event(
            "FAIL",
            json!({"namespace": self.namespace, "name": self.output}),
            Some(facets),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_v4_uuids() {
        let id = uuid_v4();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
        assert_ne!(uuid_v4(), id);
    }
}
