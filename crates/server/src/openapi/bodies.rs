//! The document's request bodies, success answers and query parameters, by the names the
//! route table uses (`RouteSpec::body`, `ok`, `query`): each with its media types.

use serde_json::{Map, Value, json};

use super::schemas::schema_ref;

const NDJSON: &str = "application/x-ndjson";

fn json_body(schema: &str) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema_ref(schema)}}})
}

fn ndjson_schema(line: &str) -> Value {
    json!({"type": "string", "description": format!("Newline-delimited JSON: one {line} object a line")})
}

/// Every request body, by name.
pub fn request_bodies() -> Map<String, Value> {
    let mut out = Map::new();
    for name in [
        "CreateTenant",
        "CreateKey",
        "Identity",
        "PolicyCheck",
        "PiiScan",
        "SchemaDocument",
        "Item",
        "Resolve",
        "Consent",
        "Regime",
        "Erase",
        "EraseBatch",
        "Sql",
        "CreateDataset",
        "Links",
        "Recommend",
        "Rerank",
        "Similar",
        "Popular",
        "Embed",
        "CreateIndex",
        "Search",
        "Retrieve",
        "Answer",
        "CreateExperiment",
        "StopExperiment",
        "CreateModel",
        "Empty",
        "Alias",
    ] {
        out.insert(name.to_owned(), json_body(name));
    }
    out.insert(
        "Policies".into(),
        json!({"required": true, "content": {"text/plain": {"schema": {"type": "string", "description": "Cedar policy text (UTF-8)"}}}}),
    );
    out.insert(
        "Events".into(),
        json!({"required": true, "description": "One event, a JSON array of at most 10,000 (16 MiB), or an NDJSON stream (4 GiB, lines of at most 1 MiB)", "content": {
            "application/json": {"schema": schema_ref("Events")},
            NDJSON: {"schema": ndjson_schema("Event")},
        }}),
    );
    out.insert(
        "ItemEntries".into(),
        json!({"required": true, "description": "At most 10,000 items and 16 MiB", "content": {
            "application/json": {"schema": schema_ref("ItemEntries")},
            NDJSON: {"schema": ndjson_schema("ItemEntry")},
        }}),
    );
    out.insert(
        "ConsentImport".into(),
        json!({"required": true, "description": "At most 10,000 lines", "content": {
            NDJSON: {"schema": ndjson_schema("ConsentImportLine")},
        }}),
    );
    out
}

fn json_answer(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema_ref(schema)}}})
}

fn binary(description: &str, media: &[&str]) -> Value {
    let content: Map<String, Value> = media
        .iter()
        .map(|m| {
            let schema = if m.starts_with("text/") {
                json!({"type": "string"})
            } else {
                json!({"type": "string", "format": "binary"})
            };
            ((*m).to_owned(), json!({ "schema": schema }))
        })
        .collect();
    json!({"description": description, "content": content})
}

/// Every success answer, by name.
pub fn responses() -> Map<String, Value> {
    let mut out = Map::new();
    let schemas = [
        ("Health", "Alive"),
        ("Ready", "Ready"),
        ("Document", "The document"),
        ("Tenants", "The tenants"),
        (
            "TenantCreated",
            "The tenant and its first admin key (secret shown once)",
        ),
        ("Key", "The key"),
        ("Keys", "The tenant's keys"),
        ("IdentityInfo", "The issuer configuration"),
        ("PolicyVersion", "A policy version with its text"),
        ("PolicyVersions", "Every policy version"),
        ("Decision", "The decision and the deciding policies"),
        ("PiiFindings", "Findings and the text after the action"),
        ("SchemaVersion", "The schema version"),
        ("SchemaVersions", "The latest schema of every event type"),
        ("ItemRecord", "The item"),
        ("ItemPage", "A page of items"),
        ("ItemsReport", "Counts and the refused entries"),
        ("Subject", "The subject's pseudonym"),
        ("Timeline", "A page of the timeline"),
        ("Consents", "Consents in force, their history, the regimes"),
        ("ConsentRecord", "The decision in force"),
        ("ConsentImport", "Counts and the refused lines"),
        ("Regimes", "Regime per purpose"),
        ("RegimeSet", "The regime"),
        ("Erasure", "The erasure request"),
        ("Erasures", "One request per subject"),
        ("Receipt", "The signed receipt"),
        ("AuditHead", "Current size and root, latest signed head"),
        ("AuditHeads", "A page of signed heads"),
        ("InclusionProof", "The inclusion proof"),
        ("ConsistencyProof", "The consistency proof"),
        ("Manifest", "The manifest"),
        (
            "DatasetBuilding",
            "With background: the build started; poll the version",
        ),
        ("Datasets", "Data sets and their latest versions"),
        ("DatasetVersions", "Every version's manifest"),
        ("DatasetDiff", "The difference"),
        ("SignedLinks", "Signed URLs"),
        ("Served", "Items and scores"),
        ("Embeddings", "The vectors"),
        ("Index", "The index"),
        ("Indexes", "The indexes"),
        ("Hits", "Hits"),
        ("Passages", "Passages"),
        ("Experiment", "The experiment"),
        ("Experiments", "The experiments"),
        ("ExperimentResults", "Results per arm"),
        ("TrainingStarted", "The job is queued"),
        ("Models", "The models"),
        ("Model", "The model's versions and aliases"),
        ("ModelVersion", "The version"),
        ("Cancelled", "The version's state"),
        ("AliasMoved", "The alias and both versions"),
        (
            "Lineage",
            "Data set and model versions that hold the subject",
        ),
        ("Whoami", "The caller"),
    ];
    for (schema, description) in schemas {
        out.insert(schema.to_owned(), json_answer(description, schema));
    }
    out.insert(
        "IngestReport".into(),
        json!({"description": "Counts, and the refused events by index (422 instead when all_or_nothing refused the array)", "content": {"application/json": {"schema": schema_ref("IngestReport")}}}),
    );

    out.insert(
        "SqlResult".into(),
        json!({"description": "The rows, in the format Accept names", "content": {
            "application/json": {"schema": schema_ref("SqlResult")},
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.arrow.stream": {"schema": {"type": "string", "format": "binary"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        }}),
    );
    out.insert(
        "Report".into(),
        json!({"description": "The records (JSON, or CSV with ?format=csv)", "content": {
            "application/json": {"schema": schema_ref("Report")},
            "text/csv": {"schema": {"type": "string"}},
        }}),
    );
    out.insert(
        "AnswerResult".into(),
        json!({"description": "The answer; with stream, server-sent events token ({text}), then done (the answer) or error (a problem)", "content": {
            "application/json": {"schema": schema_ref("AnswerResult")},
            "text/event-stream": {"schema": {"type": "string"}},
        }}),
    );
    out.insert(
        "Backup".into(),
        binary(
            "The sealed backup, streamed as it is made",
            &["application/octet-stream"],
        ),
    );
    out.insert(
        "Metrics".into(),
        binary("Prometheus text format", &["text/plain"]),
    );
    out.insert(
        "Tar".into(),
        binary(
            "A tar archive of everything held about the subject",
            &["application/x-tar"],
        ),
    );
    out.insert(
        "Parquet".into(),
        binary(
            "The file, decrypted (206 for a Range request)",
            &["application/vnd.apache.parquet"],
        ),
    );
    out.insert(
        "Arrow".into(),
        binary(
            "An Arrow IPC stream, batch by batch",
            &["application/vnd.apache.arrow.stream"],
        ),
    );
    out.insert(
        "Backup".into(),
        binary(
            "The backup file, sealed under the master key, streamed as it is made",
            &["application/octet-stream"],
        ),
    );
    out.insert("Html".into(), binary("The page", &["text/html"]));
    out.insert("Css".into(), binary("The style sheet", &["text/css"]));
    out.insert("Js".into(), binary("The module", &["text/javascript"]));
    out.insert("Svg".into(), binary("The icon", &["image/svg+xml"]));
    out.insert("NoContent".into(), json!({"description": "Done"}));
    out
}

fn query(name: &str, required: bool, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": required, "schema": schema, "description": description})
}

/// Every query (and header) parameter, by key (several keys may share a parameter name).
pub fn parameters() -> Map<String, Value> {
    let u32_ = json!({"type": "integer", "minimum": 0, "maximum": u32::MAX});
    let u64_ = json!({"type": "integer", "minimum": 0});
    let time = json!({"type": "string", "format": "date-time"});
    let purposes = steward_engine::steward_policy::BUILTIN_PURPOSES;
    let purpose = json!({"type": "string", "examples": purposes});
    let entries = [
        (
            "purpose",
            query(
                "purpose",
                false,
                purpose.clone(),
                "The purpose this read is for (a default applies where the route has one)",
            ),
        ),
        (
            "purpose_required",
            query("purpose", true, purpose, "The purpose this read is for"),
        ),
        (
            "version",
            query(
                "version",
                false,
                u32_.clone(),
                "An older version (default: the latest)",
            ),
        ),
        (
            "cursor",
            query(
                "cursor",
                false,
                json!({"type": "string"}),
                "From the previous page's next_cursor",
            ),
        ),
        (
            "items_limit",
            query(
                "limit",
                false,
                json!({"type": "integer", "minimum": 0, "default": 100}),
                "Items per page (at most 1,000)",
            ),
        ),
        (
            "all_or_nothing",
            query(
                "all_or_nothing",
                false,
                json!({"type": "boolean", "default": false}),
                "JSON arrays only: store every event or none (422)",
            ),
        ),
        (
            "timeline_limit",
            query(
                "limit",
                false,
                json!({"type": "integer", "minimum": 0, "default": 100}),
                "Events per page",
            ),
        ),
        ("from_time", query("from", false, time.clone(), "RFC 3339")),
        ("to_time", query("to", false, time, "RFC 3339")),
        (
            "type",
            query(
                "type",
                false,
                json!({"type": "string"}),
                "Event types, comma-separated",
            ),
        ),
        (
            "heads_start",
            query("start", false, u64_.clone(), "The first head's position"),
        ),
        (
            "heads_limit",
            query(
                "limit",
                false,
                json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
                "Heads per page",
            ),
        ),
        (
            "index",
            query("index", true, u64_.clone(), "The record's index"),
        ),
        (
            "size",
            query(
                "size",
                false,
                u64_.clone(),
                "The tree size (default: the current)",
            ),
        ),
        (
            "from_size",
            query("from", true, u64_.clone(), "The older tree size"),
        ),
        (
            "to_size",
            query("to", true, u64_.clone(), "The newer tree size"),
        ),
        (
            "from_version",
            query("from", true, u32_.clone(), "The older version"),
        ),
        ("to_version", query("to", true, u32_, "The newer version")),
        (
            "principal",
            query(
                "principal",
                false,
                json!({"type": "string"}),
                "key:<id>, user:<sub> or operator",
            ),
        ),
        (
            "principal_required",
            query(
                "principal",
                true,
                json!({"type": "string", "minLength": 1}),
                "key:<id>, user:<sub> or operator",
            ),
        ),
        (
            "format",
            query(
                "format",
                false,
                json!({"type": "string", "enum": ["json", "csv"], "default": "json"}),
                "The answer's format",
            ),
        ),
        (
            "after_index",
            query(
                "after_index",
                false,
                u64_,
                "From the previous page's next_after_index",
            ),
        ),
        (
            "report_limit",
            query(
                "limit",
                false,
                json!({"type": "integer", "minimum": 0, "default": 1000}),
                "Records per page",
            ),
        ),
        (
            "expires",
            query(
                "expires",
                false,
                json!({"type": "integer"}),
                "Signed link: expiry (Unix seconds)",
            ),
        ),
        (
            "key_id",
            query(
                "key_id",
                false,
                json!({"type": "string"}),
                "Signed link: the key it acts for",
            ),
        ),
        (
            "sig",
            query(
                "sig",
                false,
                json!({"type": "string"}),
                "Signed link: the signature",
            ),
        ),
        (
            "range",
            json!({"name": "Range", "in": "header", "required": false, "schema": {"type": "string"}, "description": "One range: bytes=a-b, bytes=a- or bytes=-n (answered 206; 416 when unsatisfiable)"}),
        ),
    ];
    entries
        .into_iter()
        .map(|(key, parameter)| (key.to_owned(), parameter))
        .collect()
}
