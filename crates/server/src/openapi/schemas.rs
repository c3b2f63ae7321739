//! The document's `components/schemas`: the JSON shapes of request bodies (as the handlers
//! deserialize them: required fields, enums, bounds, `additionalProperties: false` where the
//! handler refuses unknown fields) and of answers (their top level, open to additions).

use serde_json::{Map, Value, json};
use steward_engine::limits::{
    EVENT_ID_BYTES_MAX, EXTERNAL_ID_BYTES_MAX, INGEST_BATCH_EVENTS_MAX, ITEMS_BULK_MAX,
};

/// A reference to a component schema.
pub fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A request body the handler deserializes with `deny_unknown_fields`.
fn closed(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties, "additionalProperties": false})
}

/// An answer: its top-level fields; later versions may add fields.
fn open(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

fn string() -> Value {
    json!({"type": "string"})
}

fn nullable(kind: &str) -> Value {
    json!({"type": [kind, "null"]})
}

fn array_of(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

fn u32_() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": u32::MAX})
}

fn u64_() -> Value {
    json!({"type": "integer", "minimum": 0})
}

fn purpose() -> Value {
    json!({"type": "string", "pattern": "^[a-z][a-z0-9_]{0,31}$", "description": "A purpose name: one of the six built in or one the tenant's policies name", "examples": steward_engine::steward_policy::BUILTIN_PURPOSES})
}

/// A data set, model or experiment name: `[a-z][a-z0-9_-]*`, at most 64 bytes.
fn name() -> Value {
    json!({"type": "string", "pattern": "^[a-z][a-z0-9_-]*$", "maxLength": 64})
}

/// An event type: `[a-z][a-z0-9_]*`, at most 64 bytes.
fn event_type() -> Value {
    json!({"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "maxLength": 64})
}

fn external_id() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": EXTERNAL_ID_BYTES_MAX, "description": format!("The subject's id in the caller's systems (1 to {EXTERNAL_ID_BYTES_MAX} bytes)")})
}

fn k() -> Value {
    json!({"type": "integer", "minimum": 0})
}

/// `filter` of serving and search calls: `{property: value | {in|ne|exists|gt|gte|lt|lte}}`.
fn item_filter() -> Value {
    json!({"type": "object", "description": "Item properties: {property: value | {in: [..]} | {ne: v} | {exists: bool} | {gt|gte|lt|lte: number}}"})
}

/// The problem document every error answers with (RFC 9457).
fn problem() -> Value {
    json!({
        "type": "object",
        "required": ["type", "title", "status", "code"],
        "properties": {
            "type": {"type": "string", "description": "https://steward.dev/problems/<code>"},
            "title": string(),
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "code": {"type": "string", "description": "Stable; clients match on it. Each operation's responses list the codes it answers with"},
            "detail": {"type": "string", "description": "Human-readable; never repeats a submitted value"},
            "field": {"type": "string", "description": "The dotted path of the field at fault"},
            "errors": {"type": "array", "items": {"type": "object"}, "description": "Every error when there are several (schema fields, policy diagnostics)"},
        },
    })
}

fn event() -> Value {
    closed(
        &["event_id", "type", "subject", "time"],
        json!({
            "event_id": {"type": "string", "minLength": 1, "maxLength": EVENT_ID_BYTES_MAX, "description": "Idempotency key: an id already stored is a duplicate"},
            "type": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "maxLength": 64, "description": "An event type with a registered schema"},
            "subject": external_id(),
            "time": {"type": "string", "format": "date-time"},
            "properties": {"type": ["object", "null"], "description": "Validated against the event type's schema"},
        }),
    )
}

fn item_entry(id_required: bool) -> Value {
    let required: &[&str] = if id_required { &["item_id"] } else { &[] };
    closed(
        required,
        json!({
            "item_id": {"type": "string", "description": "In PUT, must equal the path's item_id when given"},
            "properties": {"type": "object", "description": "Public values; follow the _items schema when there is one"},
            "text": {"type": "string", "description": "Text an items index embeds"},
        }),
    )
}

fn key() -> Value {
    open(
        &["id", "name", "role", "created_at", "purposes"],
        json!({
            "id": string(),
            "name": string(),
            "role": {"type": "string", "enum": ["admin", "writer", "reader", "privacy_officer"]},
            "created_at": {"type": "string", "format": "date-time"},
            "expires_at": nullable("string"),
            "revoked_at": nullable("string"),
            "purposes": array_of(string()),
            "rate_limit": {"type": ["object", "null"]},
            "secret": {"type": "string", "description": "stw_k_<id>_<secret>: shown once, when the key is made"},
        }),
    )
}

fn served() -> Value {
    open(
        &["items", "personalized", "purpose"],
        json!({
            "items": array_of(open(&["item"], json!({"item": string(), "score": nullable("number")}))),
            "model": {"type": ["object", "null"]},
            "personalized": {"type": "boolean"},
            "purpose": string(),
            "reason": {"type": "string", "enum": ["opted_out", "erased", "unknown_subject", "no_model", "model_not_personalized", "control_arm", "unknown_item"]},
            "folded_in": {"type": "boolean"},
            "unknown": array_of(string()),
            "experiment": string(),
            "arm": string(),
            "exposed": {"type": "boolean"},
        }),
    )
}

fn subject_call(extra: Value) -> Value {
    let mut properties = json!({
        "model": {"type": "string", "description": "name, name@alias or name@vN"},
        "experiment": {"type": "string", "description": "Instead of model: the experiment's arm names the model"},
        "subject": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "A pseudonym from subjects/resolve (or external_id, not both)"},
        "external_id": external_id(),
        "purpose": purpose(),
    });
    if let (Some(map), Value::Object(more)) = (properties.as_object_mut(), extra) {
        map.extend(more);
    }
    properties
}

/// Every component schema, by name.
pub fn schemas() -> Map<String, Value> {
    let time = json!({"type": "string", "format": "date-time"});
    let list = |name: &str, items: Value| open(&[name], json!({ name: array_of(items) }));
    let entries: Vec<(&str, Value)> = vec![
        ("Problem", problem()),
        // Requests.
        (
            "CreateTenant",
            closed(
                &["id"],
                json!({"id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$", "maxLength": steward_engine::limits::TENANT_ID_BYTES_MAX, "description": "The tenant id"}}),
            ),
        ),
        (
            "CreateKey",
            closed(
                &["name", "role"],
                json!({
                    "name": {"type": "string", "minLength": 1, "maxLength": steward_engine::limits::KEY_NAME_BYTES_MAX, "description": "Without control characters"},
                    "role": {"type": "string", "enum": ["admin", "writer", "reader", "privacy_officer"]},
                    "expires_at": {"type": "string", "format": "date-time", "description": "In the future"},
                    "purposes": {"type": "array", "maxItems": steward_engine::limits::KEY_PURPOSES_MAX, "items": purpose(), "description": "Purposes the key may read for; empty: any its role permits"},
                    "rate_limit": closed(&["per_second", "burst"], json!({"per_second": u32_(), "burst": u32_()})),
                }),
            ),
        ),
        (
            "Identity",
            closed(
                &["issuer", "audience", "jwks"],
                json!({
                    "issuer": string(),
                    "audience": string(),
                    "jwks": {"type": "object", "description": "The JWKS document (RFC 7517)"},
                    "tenant_claim": {"type": "string", "description": "The claim that must carry this tenant's id; required when another tenant trusts the issuer"},
                }),
            ),
        ),
        (
            "PolicyCheck",
            closed(
                &["action"],
                json!({
                    "key_id": string(),
                    "role": {"type": "string", "enum": ["admin", "writer", "reader", "privacy_officer"]},
                    "purposes": array_of(string()),
                    "action": {"type": "string", "description": "A Cedar action of the policy schema"},
                    "resource": closed(&["kind"], json!({
                        "kind": {"type": "string", "enum": ["Tenant", "Subject", "EventType", "Dataset", "Model", "PolicySet", "AuditLog"]},
                        "id": string(),
                    })),
                    "purpose": purpose(),
                    "source_ip": {"type": "string", "description": "An IPv4 or IPv6 address"},
                    "time": {"type": "integer", "description": "Unix seconds; default now"},
                    "policies": {"type": "string", "description": "A draft policy text to check instead of the set in force"},
                }),
            ),
        ),
        (
            "PiiScan",
            closed(
                &["text"],
                json!({
                    "text": {"type": "string", "maxLength": steward_privacy::limits::PII_SCAN_BYTES_MAX, "description": "At most 1 MiB (413 beyond)"},
                    "action": {"type": "string", "enum": ["redact", "mask", "tokenize", "seal"], "default": "redact"},
                }),
            ),
        ),
        (
            "SchemaDocument",
            closed(
                &["fields"],
                json!({
                    "fields": {"type": "object", "description": "Field name to {type, class, required?, description?, pii?, and the type's options}", "additionalProperties": {"type": "object"}},
                    "allow_unknown_fields": {"type": "boolean"},
                    "description": string(),
                    "retention": {"type": "string", "pattern": "^[0-9]+[smhd]$", "description": "\"30d\", \"12h\", \"90m\" or \"45s\", at most 100 years"},
                    "unknown_fields_pii": {"type": "string", "enum": ["redact", "mask", "tokenize", "seal"]},
                }),
            ),
        ),
        ("Item", item_entry(false)),
        ("ItemEntry", item_entry(true)),
        (
            "ItemEntries",
            json!({"type": "array", "maxItems": ITEMS_BULK_MAX, "items": schema_ref("ItemEntry")}),
        ),
        ("Event", event()),
        (
            "Events",
            json!({"oneOf": [schema_ref("Event"), {"type": "array", "maxItems": INGEST_BATCH_EVENTS_MAX, "items": schema_ref("Event")}]}),
        ),
        (
            "Resolve",
            closed(&["external_id"], json!({"external_id": external_id()})),
        ),
        (
            "Consent",
            closed(
                &["granted"],
                json!({
                    "granted": {"type": "boolean"},
                    "source": {"type": "string", "enum": ["api", "gpc", "import"], "default": "api"},
                }),
            ),
        ),
        (
            "ConsentImportLine",
            closed(
                &["external_id", "purpose", "granted"],
                json!({
                    "external_id": external_id(),
                    "purpose": purpose(),
                    "granted": {"type": "boolean"},
                    "source": {"type": "string", "enum": ["api", "gpc", "import"], "default": "import"},
                    "at": time,
                }),
            ),
        ),
        (
            "Regime",
            closed(
                &["regime"],
                json!({"regime": {"type": "string", "enum": ["opt_in", "opt_out"]}}),
            ),
        ),
        (
            "Erase",
            closed(
                &["external_id"],
                json!({
                    "external_id": external_id(),
                    "now": {"type": "boolean", "default": false, "description": "Purge at once instead of at the deadline"},
                    "block_future": {"type": "boolean", "default": false, "description": "Refuse the subject's future events"},
                }),
            ),
        ),
        (
            "EraseBatch",
            closed(
                &["external_ids"],
                json!({
                    "external_ids": {"type": "array", "maxItems": 10_000, "items": external_id()},
                    "now": {"type": "boolean", "default": false},
                    "block_future": {"type": "boolean", "default": false},
                }),
            ),
        ),
        (
            "Sql",
            closed(
                &["sql"],
                json!({
                    "sql": {"type": "string", "description": "One read-only SELECT"},
                    "purpose": purpose(),
                    "max_rows": {"type": "integer", "minimum": 1, "maximum": steward_query::session::MAX_ROWS_CEILING},
                    "max_bytes": {"type": "integer", "minimum": 1, "maximum": steward_query::session::MAX_BYTES_CEILING},
                    "timeout_ms": {"type": "integer", "minimum": 1, "maximum": steward_query::session::TIMEOUT_CEILING.as_millis() as u64},
                }),
            ),
        ),
        (
            "CreateDataset",
            closed(
                &["name", "sql"],
                json!({
                    "name": name(),
                    "sql": string(),
                    "purpose": purpose(),
                    "background": {"type": "boolean", "default": false, "description": "Answer 202 at once and build in the background"},
                }),
            ),
        ),
        (
            "Links",
            closed(
                &[],
                json!({"ttl_s": {"type": "integer", "minimum": 1, "maximum": steward_lineage::links::LINK_TTL_MAX_S, "default": 900}}),
            ),
        ),
        (
            "Recommend",
            closed(
                &[],
                subject_call(json!({
                    "k": k(),
                    "exclude_seen": {"type": "boolean", "default": true},
                    "exclude_items": array_of(string()),
                    "filter": item_filter(),
                    "fallback": {"type": "array", "items": string(), "description": "Models to try in order when the first cannot answer"},
                })),
            ),
        ),
        (
            "Rerank",
            closed(
                &["items"],
                subject_call(json!({"items": array_of(string())})),
            ),
        ),
        (
            "Similar",
            closed(
                &["model"],
                json!({"model": string(), "k": k(), "filter": item_filter(), "purpose": purpose()}),
            ),
        ),
        (
            "Popular",
            closed(
                &["model"],
                json!({"model": string(), "k": k(), "filter": item_filter(), "exclude_items": array_of(string()), "purpose": purpose()}),
            ),
        ),
        (
            "Embed",
            closed(
                &["texts"],
                json!({
                    "texts": {"type": "array", "minItems": 1, "maxItems": 1024, "items": {"type": "string", "description": "At most 64 KiB"}},
                    "purpose": purpose(),
                }),
            ),
        ),
        (
            "CreateIndex",
            closed(
                &["name", "source"],
                json!({
                    "name": string(),
                    "source": {"oneOf": [
                        closed(&["items"], json!({"items": {"const": "text"}})),
                        closed(&["event_type", "field"], json!({"event_type": event_type(), "field": {"type": "string", "pattern": "^[a-z_][a-z0-9_]*$", "maxLength": 64}})),
                        closed(&["dataset", "columns"], json!({
                            "dataset": closed(&["name", "version"], json!({"name": {"type": "string", "minLength": 1}, "version": {"oneOf": [u32_(), {"const": "latest"}]}})),
                            "columns": closed(&["text"], json!({
                                "text": {"type": "string", "minLength": 1, "maxLength": 128},
                                "id": {"type": "string", "minLength": 1, "maxLength": 128},
                                "subject": {"type": "string", "minLength": 1, "maxLength": 128},
                                "time": {"type": "string", "minLength": 1, "maxLength": 128},
                            })),
                        })),
                    ]},
                    "purpose": purpose(),
                }),
            ),
        ),
        (
            "Search",
            closed(
                &[],
                json!({
                    "query": string(),
                    "vector": {"type": "array", "items": {"type": "number"}, "description": "384 numbers (instead of query)"},
                    "k": {"type": "integer", "minimum": 0, "default": 5, "description": "At most 100"},
                    "filter": item_filter(),
                    "from": time,
                    "to": time,
                    "hybrid": {"type": "boolean", "default": false},
                    "purpose": purpose(),
                }),
            ),
        ),
        (
            "Retrieve",
            closed(
                &["question"],
                json!({"question": string(), "k": k(), "purpose": purpose()}),
            ),
        ),
        (
            "Answer",
            closed(
                &["question"],
                json!({
                    "question": string(),
                    "k": k(),
                    "stream": {"type": "boolean", "default": false, "description": "Answer as server-sent events"},
                    "max_tokens": {"type": "integer", "minimum": 0, "default": 200, "description": "At most 512"},
                    "purpose": purpose(),
                }),
            ),
        ),
        (
            "CreateExperiment",
            closed(
                &["name", "arms", "outcome"],
                json!({
                    "name": name(),
                    "arms": array_of(closed(&["name"], json!({
                        "name": string(),
                        "model": {"type": "string", "description": "name, name@alias or name@vN (or control: true)"},
                        "control": {"type": "boolean", "default": false},
                        "weight": {"type": "integer", "minimum": 0, "maximum": u32::MAX, "default": 1},
                    }))),
                    "outcome": schema_ref("ExperimentMetric"),
                    "guardrail": schema_ref("ExperimentMetric"),
                    "purpose": purpose(),
                    "alpha": {"type": "number", "default": 0.05},
                    "effect_sd": {"type": "number"},
                }),
            ),
        ),
        (
            "ExperimentMetric",
            closed(
                &["event_type", "window"],
                json!({
                    "event_type": event_type(),
                    "window": {"oneOf": [u64_(), {"type": "string", "description": "30m, 2h, 7d or seconds"}]},
                    "value": {"type": "string", "description": "A numeric field"},
                    "better": {"type": "string", "enum": ["higher", "lower"]},
                }),
            ),
        ),
        (
            "StopExperiment",
            closed(
                &[],
                json!({"conclusion": {"type": "string", "description": "The arm everyone gets; default the baseline"}}),
            ),
        ),
        (
            "CreateModel",
            closed(
                &["name", "algorithm", "dataset", "columns"],
                json!({
                    "name": name(),
                    "algorithm": {"type": "string", "enum": ["als", "bpr", "item_knn", "popularity"]},
                    "dataset": closed(&["name", "version"], json!({"name": name(), "version": {"oneOf": [u64_(), {"const": "latest"}]}})),
                    "columns": closed(&["user", "item"], json!({"user": string(), "item": string(), "weight": string(), "time": string()})),
                    "params": {"type": "object", "description": "The algorithm's parameters"},
                    "evaluation": closed(&["split", "k"], json!({
                        "split": {"type": "string", "enum": ["time", "leave_last", "random"]},
                        "holdout": {"type": "number"},
                        "k": array_of(json!({"type": "integer", "minimum": 0})),
                        "seed": u64_(),
                    })),
                    "seed": u64_(),
                    "purpose": purpose(),
                }),
            ),
        ),
        ("Empty", closed(&[], json!({}))),
        ("Alias", closed(&["version"], json!({"version": u32_()}))),
        // Answers.
        ("Health", open(&["status"], json!({"status": string()}))),
        (
            "Ready",
            open(
                &["status"],
                json!({"status": string(), "detail": string(), "unavailable_tenants": array_of(string())}),
            ),
        ),
        (
            "Tenant",
            open(
                &["id", "created_at"],
                json!({"id": string(), "created_at": time}),
            ),
        ),
        (
            "TenantCreated",
            open(
                &["id", "created_at", "admin_key"],
                json!({"id": string(), "created_at": time, "admin_key": schema_ref("Key")}),
            ),
        ),
        ("Tenants", list("tenants", schema_ref("Tenant"))),
        ("Key", key()),
        ("Keys", list("keys", schema_ref("Key"))),
        (
            "IdentityInfo",
            open(
                &["configured"],
                json!({"configured": {"type": "boolean"}, "issuer": string(), "audience": string(), "tenant_claim": nullable("string"), "jwks": {}}),
            ),
        ),
        (
            "PolicyVersion",
            open(
                &["version", "default"],
                json!({
                    "version": u32_(), "created_at": nullable("string"), "created_by": nullable("string"), "default": {"type": "boolean"},
                    "text": string(), "policy_ids": array_of(string()),
                }),
            ),
        ),
        (
            "PolicyVersions",
            list("versions", schema_ref("PolicyVersion")),
        ),
        (
            "Decision",
            open(
                &["decision", "policy_ids"],
                json!({"decision": {"type": "string", "enum": ["allow", "deny"]}, "policy_ids": array_of(string()), "errors": {"type": "array", "items": {}}, "field_classes": {"type": "array", "items": {"type": "object"}}}),
            ),
        ),
        (
            "PiiFindings",
            open(
                &["findings", "action", "result"],
                json!({"findings": {"type": "array", "items": {"type": "object"}}, "action": string(), "result": string()}),
            ),
        ),
        (
            "SchemaVersion",
            open(
                &["event_type", "version", "schema"],
                json!({"event_type": string(), "version": u32_(), "schema": {"type": "object"}}),
            ),
        ),
        (
            "SchemaVersions",
            list("schemas", schema_ref("SchemaVersion")),
        ),
        (
            "ItemRecord",
            open(
                &["item_id", "properties", "updated_at", "revision"],
                json!({"item_id": string(), "properties": {"type": "object"}, "updated_at": time, "revision": u64_(), "text": string()}),
            ),
        ),
        (
            "ItemPage",
            open(
                &["items", "next_cursor", "total"],
                json!({"items": array_of(schema_ref("ItemRecord")), "next_cursor": nullable("string"), "total": u64_()}),
            ),
        ),
        (
            "ItemsReport",
            open(
                &["upserted", "unchanged", "rejected"],
                json!({"upserted": u64_(), "unchanged": u64_(), "rejected": array_of(schema_ref("Rejection"))}),
            ),
        ),
        (
            "Rejection",
            open(
                &["index", "code"],
                json!({"index": u64_(), "code": string(), "field": nullable("string"), "message": string(), "errors": {"type": "array", "items": {"type": "object"}}}),
            ),
        ),
        (
            "IngestReport",
            open(
                &["accepted", "duplicates", "rejected_count", "rejected"],
                json!({
                    "accepted": u64_(), "duplicates": u64_(), "rejected_count": u64_(),
                    "rejected": {"type": "array", "maxItems": crate::limits::REJECTED_LISTED_MAX, "items": schema_ref("Rejection"), "description": "The first 1,000 refused events, by index (an NDJSON line number)"},
                }),
            ),
        ),
        (
            "Subject",
            open(
                &["subject"],
                json!({"subject": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}),
            ),
        ),
        (
            "Timeline",
            open(
                &["subject", "purpose", "events", "next_cursor"],
                json!({
                    "subject": string(), "purpose": string(), "decided_by": array_of(string()),
                    "visible_classes": array_of(string()), "masked_classes": array_of(string()),
                    "events": array_of(open(&["event_id", "type", "time"], json!({"event_id": string(), "type": string(), "time": string(), "schema_version": u32_(), "properties": {"type": "object"}}))),
                    "next_cursor": nullable("string"),
                }),
            ),
        ),
        (
            "ConsentRecord",
            open(
                &["purpose", "granted", "source", "at"],
                json!({"purpose": string(), "granted": {"type": "boolean"}, "source": string(), "at": time}),
            ),
        ),
        (
            "Consents",
            open(
                &["consents", "history", "regimes"],
                json!({"consents": array_of(schema_ref("ConsentRecord")), "history": array_of(schema_ref("ConsentRecord")), "regimes": {"type": "object"}}),
            ),
        ),
        (
            "ConsentImport",
            open(
                &["accepted", "rejected_count", "rejected"],
                json!({"accepted": u64_(), "rejected_count": u64_(), "rejected": array_of(schema_ref("Rejection"))}),
            ),
        ),
        (
            "Regimes",
            open(
                &["default", "regimes"],
                json!({"default": string(), "regimes": {"type": "object", "additionalProperties": {"type": "string", "enum": ["opt_in", "opt_out"]}}}),
            ),
        ),
        (
            "RegimeSet",
            open(
                &["purpose", "regime"],
                json!({"purpose": string(), "regime": string()}),
            ),
        ),
        (
            "Erasure",
            open(
                &["id", "state"],
                json!({"id": string(), "state": {"type": "string", "enum": ["received", "shredded", "hidden", "purged", "derived", "done"]}, "history": {"type": "array", "items": {"type": "object"}}, "subject_hash": string(), "subject_salt": string()}),
            ),
        ),
        ("Erasures", list("requests", schema_ref("Erasure"))),
        (
            "Receipt",
            json!({"type": "object", "description": "The signed receipt (verify offline: steward receipt verify)"}),
        ),
        (
            "AuditHead",
            open(
                &["size", "root", "public_key"],
                json!({"size": u64_(), "root": string(), "signed": {"type": ["object", "null"]}, "public_key": string()}),
            ),
        ),
        (
            "AuditHeads",
            open(
                &["start", "total", "heads", "public_key"],
                json!({"start": u64_(), "total": u64_(), "next_start": nullable("integer"), "heads": {"type": "array", "items": {"type": "object"}}, "public_key": string()}),
            ),
        ),
        (
            "InclusionProof",
            open(
                &["index", "tree_size", "leaf_hash", "path", "root"],
                json!({"index": u64_(), "tree_size": u64_(), "leaf_hash": string(), "path": array_of(string()), "root": string()}),
            ),
        ),
        (
            "ConsistencyProof",
            open(
                &["from", "to", "root_from", "root_to", "path"],
                json!({"from": u64_(), "to": u64_(), "root_from": string(), "root_to": string(), "path": array_of(string())}),
            ),
        ),
        (
            "Report",
            open(
                &["subject_known", "scanned", "truncated", "records"],
                json!({"subject_known": {"type": ["boolean", "null"]}, "scanned": u64_(), "truncated": {"type": "boolean"}, "next_after_index": nullable("integer"), "records": {"type": "array", "items": {"type": "object"}}}),
            ),
        ),
        (
            "SqlResult",
            open(
                &["columns", "rows", "row_count", "purpose"],
                json!({
                    "columns": {"type": "array", "items": {}},
                    "rows": {"type": "array", "items": {}},
                    "row_count": u64_(),
                    "purpose": string(),
                    "decided_by": array_of(string()),
                    "visible_classes": array_of(string()),
                    "masked_classes": array_of(string()),
                    "stats": {"type": "object"},
                }),
            ),
        ),
        (
            "Manifest",
            open(
                &["name", "version", "state"],
                json!({
                    "name": string(),
                    "version": u32_(),
                    "state": string(),
                    "rows": u64_(),
                    "bytes": u64_(),
                    "content_sha256": {"type": ["string", "null"]},
                    "files": {"type": "array", "items": {"type": "object"}},
                    "purpose": string(),
                    "progress": {"type": "object", "description": "While it builds"},
                }),
            ),
        ),
        (
            "DatasetBuilding",
            open(
                &["name", "state"],
                json!({"name": string(), "state": {"const": "building"}}),
            ),
        ),
        (
            "Datasets",
            list(
                "datasets",
                open(
                    &["name"],
                    json!({"name": string(), "latest_version": nullable("integer"), "versions": u64_(), "latest_state": nullable("string")}),
                ),
            ),
        ),
        ("DatasetVersions", list("versions", schema_ref("Manifest"))),
        (
            "DatasetDiff",
            open(
                &[
                    "name",
                    "from",
                    "to",
                    "rows_added",
                    "rows_removed",
                    "subjects_added",
                    "subjects_removed",
                ],
                json!({"name": string(), "from": u32_(), "to": u32_(), "rows_added": u64_(), "rows_removed": u64_(), "subjects_added": u64_(), "subjects_removed": u64_()}),
            ),
        ),
        (
            "SignedLinks",
            open(
                &["expires_at", "files", "arrow_url", "manifest"],
                json!({"expires_at": {}, "files": {}, "arrow_url": string(), "manifest": schema_ref("Manifest")}),
            ),
        ),
        ("Served", served()),
        (
            "Embeddings",
            open(
                &["model", "dim", "vectors"],
                json!({"model": string(), "dim": u64_(), "vectors": array_of(array_of(json!({"type": "number"})))}),
            ),
        ),
        (
            "Index",
            open(
                &["name"],
                json!({"name": string(), "documents": u64_(), "watermark": u64_(), "error": nullable("string")}),
            ),
        ),
        ("Indexes", list("indexes", schema_ref("Index"))),
        (
            "Hits",
            open(
                &["hits", "purpose"],
                json!({"hits": array_of(json!({"type": "object"})), "purpose": string()}),
            ),
        ),
        (
            "Passages",
            open(
                &["passages", "purpose"],
                json!({"passages": array_of(json!({"type": "object"})), "purpose": string()}),
            ),
        ),
        (
            "AnswerResult",
            open(
                &["answer", "citations", "passages", "model"],
                json!({"answer": string(), "citations": {"type": "array", "items": {"type": "object"}}, "passages": {"type": "array", "items": {"type": "object"}}, "model": string(), "tokens": u64_(), "ttft_ms": {}, "tokens_per_s": {}, "purpose": string()}),
            ),
        ),
        (
            "Experiment",
            open(
                &["name", "arms"],
                json!({"name": string(), "arms": {"type": "array", "items": {"type": "object"}}, "baseline": string()}),
            ),
        ),
        ("Experiments", list("experiments", schema_ref("Experiment"))),
        (
            "ExperimentResults",
            open(
                &["experiment", "baseline", "arms", "purpose"],
                json!({"experiment": {"type": "object"}, "alpha": {"type": "number"}, "baseline": string(), "subjects": u64_(), "srm": {"type": ["object", "null"]}, "arms": {"type": "array", "items": {"type": "object"}}, "notes": {"type": "object"}, "purpose": string()}),
            ),
        ),
        (
            "TrainingStarted",
            open(
                &["name", "version", "state"],
                json!({"name": string(), "version": u32_(), "state": string(), "dataset": {"type": "object"}, "memory_estimate_bytes": {}}),
            ),
        ),
        (
            "Models",
            list(
                "models",
                open(
                    &["name", "versions", "aliases"],
                    json!({"name": string(), "versions": u64_(), "latest_version": nullable("integer"), "latest_state": nullable("string"), "aliases": {"type": "object"}}),
                ),
            ),
        ),
        (
            "Model",
            open(
                &["name", "versions", "aliases", "alias_history"],
                json!({"name": string(), "versions": array_of(schema_ref("ModelVersion")), "aliases": {"type": "object"}, "alias_history": {"type": "array", "items": {"type": "object"}}}),
            ),
        ),
        (
            "ModelVersion",
            open(
                &["name", "version", "state"],
                json!({"name": string(), "version": u32_(), "state": string()}),
            ),
        ),
        (
            "Cancelled",
            open(
                &["name", "version", "state", "cancelling"],
                json!({"name": string(), "version": u32_(), "state": string(), "cancelling": {"type": "boolean"}}),
            ),
        ),
        (
            "AliasMoved",
            open(
                &["name", "alias", "version", "previous"],
                json!({"name": string(), "alias": string(), "version": u32_(), "previous": nullable("integer")}),
            ),
        ),
        (
            "Lineage",
            open(
                &["subject", "datasets", "models"],
                json!({"subject": string(), "datasets": {"type": "array", "items": {"type": "object"}}, "models": {"type": "array", "items": {"type": "object"}}}),
            ),
        ),
        (
            "Whoami",
            open(
                &["kind", "principal"],
                json!({"kind": string(), "principal": string(), "tenant": nullable("string"), "role": nullable("string"), "roles": array_of(string()), "key_id": string(), "sub": string(), "purposes": array_of(string())}),
            ),
        ),
        ("Document", json!({"type": "object"})),
    ];
    entries
        .into_iter()
        .map(|(name, schema)| (name.to_owned(), schema))
        .collect()
}
