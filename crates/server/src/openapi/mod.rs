//! The route table (`ROUTES`) that the OpenAPI 3.1 document (`document.rs`) is built from.
//! Tests walk the same table, so a route added to the router but not here fails the
//! route-coverage test.

mod bodies;
mod document;
mod schemas;

pub use document::openapi_document;

use steward_engine::steward_policy::{Action, ResourceKind};

/// One route of the public API.
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    /// Needs a bearer token.
    pub authenticated: bool,
    /// The Cedar action the authorization middleware decides for this route (None: public).
    pub action: Option<Action>,
    /// The kind of resource the decision is about.
    pub resource: ResourceKind,
    /// The path parameter naming the resource (its id in the decision), if any.
    pub resource_param: Option<&'static str>,
    /// Changes state: its audit record is durable before the answer. Reads (GET, and POSTs
    /// that only carry a query in their body) are recorded after the handler, with its facts.
    pub changes: bool,
    /// The purpose may come in the JSON body (`{"purpose": ...}`) instead of `?purpose=`.
    pub purpose_in_body: bool,
    /// The purpose when the request names none (data set cuts: model_training).
    pub default_purpose: Option<&'static str>,
    /// May be called with a signed link (`?expires=&key_id=&purpose=&sig=`) instead of a key.
    pub signed_link: bool,
    /// Answers with event-derived data: its handler must read through the read guard (the
    /// middleware refuses a successful answer that did not, and the route enumeration test
    /// calls every such route).
    pub reads_events: bool,
    /// Who may call it under the default policies, for the document.
    pub who: &'static str,
    pub summary: &'static str,
    /// The request body: a key of `bodies::request_bodies` (None: the route reads no body).
    pub body: Option<&'static str>,
    /// The success status and its answer: a key of `bodies::responses`.
    pub ok: (u16, &'static str),
    /// Query (and header) parameters: keys of `bodies::parameters`.
    pub query: &'static [&'static str],
    /// The route's own problem answers (status, stable code), beyond those every
    /// authenticated route, every body and every query string may meet (`document.rs`).
    pub problems: &'static [(u16, &'static str)],
    /// Other answers that are not problems (status, a key of `bodies::responses`): a 202 of a
    /// background build, the report of an all-or-nothing ingest that refused (422).
    pub also: &'static [(u16, &'static str)],
}

/// Builders for the document's fields, chained on a constructor in `ROUTES`.
impl RouteSpec {
    const fn with_body(self, name: &'static str) -> RouteSpec {
        RouteSpec {
            body: Some(name),
            ..self
        }
    }

    const fn answers(self, status: u16, name: &'static str) -> RouteSpec {
        RouteSpec {
            ok: (status, name),
            ..self
        }
    }

    const fn with_query(self, keys: &'static [&'static str]) -> RouteSpec {
        RouteSpec {
            query: keys,
            ..self
        }
    }

    const fn refuses(self, problems: &'static [(u16, &'static str)]) -> RouteSpec {
        RouteSpec { problems, ..self }
    }

    const fn also_answers(self, also: &'static [(u16, &'static str)]) -> RouteSpec {
        RouteSpec { also, ..self }
    }
}

const fn public(method: &'static str, path: &'static str, summary: &'static str) -> RouteSpec {
    RouteSpec {
        method,
        path,
        authenticated: false,
        action: None,
        resource: ResourceKind::Deployment,
        resource_param: None,
        changes: false,
        purpose_in_body: false,
        default_purpose: None,
        signed_link: false,
        reads_events: false,
        who: "anyone",
        summary,
        body: None,
        ok: (200, "Document"),
        query: &[],
        problems: &[],
        also: &[],
    }
}

const fn route(
    method: &'static str,
    path: &'static str,
    action: Action,
    resource: ResourceKind,
    resource_param: Option<&'static str>,
    who: &'static str,
    summary: &'static str,
) -> RouteSpec {
    let changes = !matches!(method.as_bytes(), b"GET");
    RouteSpec {
        method,
        path,
        authenticated: true,
        action: Some(action),
        resource,
        resource_param,
        changes,
        purpose_in_body: false,
        default_purpose: None,
        signed_link: false,
        reads_events: false,
        who,
        summary,
        body: None,
        ok: (200, "Document"),
        query: &[],
        problems: &[],
        also: &[],
    }
}

/// A POST whose body is a query (an external id, a dry-run request): a read, not a change.
const fn post_read(
    path: &'static str,
    action: Action,
    resource: ResourceKind,
    who: &'static str,
    summary: &'static str,
) -> RouteSpec {
    RouteSpec {
        changes: false,
        ..route("POST", path, action, resource, None, who, summary)
    }
}

/// A read whose JSON body carries the query and its purpose.
const fn post_query(
    path: &'static str,
    action: Action,
    resource: ResourceKind,
    who: &'static str,
    summary: &'static str,
) -> RouteSpec {
    RouteSpec {
        purpose_in_body: true,
        ..post_read(path, action, resource, who, summary)
    }
}

/// A download a signed link may authorize.
const fn signed_get(path: &'static str, who: &'static str, summary: &'static str) -> RouteSpec {
    RouteSpec {
        signed_link: true,
        ..route(
            "GET",
            path,
            Action::Export,
            ResourceKind::Dataset,
            Some("name"),
            who,
            summary,
        )
    }
}

/// A route whose answer is event-derived data (read through the read guard).
const fn guarded(spec: RouteSpec) -> RouteSpec {
    RouteSpec {
        reads_events: true,
        ..spec
    }
}

use ResourceKind as R;

pub const ROUTES: &[RouteSpec] = &[
    public("GET", "/healthz", "Liveness")
        .answers(200, "Health"),
    public("GET", "/readyz", "Readiness (503 while shutting down)")
        .answers(200, "Ready")
        .refuses(&[(503, "unavailable")]),
    public("GET", "/metrics", "Prometheus metrics")
        .answers(200, "Metrics"),
    public("GET", "/openapi.json", "This document")
        .answers(200, "Document"),
    public("GET", "/console", "The web console (HTML; strict Content-Security-Policy)")
        .answers(200, "Html"),
    public("GET", "/console/console.css", "The web console's style sheet")
        .answers(200, "Css"),
    public("GET", "/console/app.js", "The web console: sign-in and navigation (ES module)")
        .answers(200, "Js"),
    public("GET", "/console/api.js", "The web console: API client (ES module)")
        .answers(200, "Js"),
    public("GET", "/console/dom.js", "The web console: DOM helpers (ES module)")
        .answers(200, "Js"),
    public("GET", "/console/charts.js", "The web console: SVG charts (ES module)")
        .answers(200, "Js"),
    public("GET", "/console/pages.js", "The web console: pages (ES module)")
        .answers(200, "Js"),
    public("GET", "/console/verify.js", "The web console: receipt and audit log checks (ES module)")
        .answers(200, "Js"),
    public("GET", "/console/favicon.svg", "The web console's icon")
        .answers(200, "Svg"),
    route(
        "GET",
        "/v1/tenants/{tenant}/whoami",
        Action::ReadSchemas,
        R::Tenant,
        None,
        "any tenant role",
        "The calling key or user in this tenant: kind, principal, role(s), key_id or sub, purposes scope (what the console shapes its pages by)",
    )
        .answers(200, "Whoami"),
    route(
        "POST",
        "/v1/tenants",
        Action::ManageTenants,
        R::Deployment,
        None,
        "operator",
        "Create a tenant; answers with its first admin key (shown once)",
    )
        .with_body("CreateTenant")
        .answers(201, "TenantCreated")
        .refuses(&[(400, "invalid_tenant_id"), (409, "conflict")]),
    route(
        "POST",
        "/v1/backup",
        Action::ManageTenants,
        R::Deployment,
        None,
        "operator",
        "An online backup of the whole data directory, streamed as it is made (application/octet-stream, sealed under the master key; `steward backup` calls this and verifies the file); catalog commits wait while catalogs, WAL and audit files are copied; 409 backup_in_progress",
    )
        .answers(200, "Backup")
        .refuses(&[(409, "backup_in_progress")]),
    route(
        "GET",
        "/v1/tenants",
        Action::ManageTenants,
        R::Deployment,
        None,
        "operator",
        "List tenants",
    )
        .answers(200, "Tenants"),
    route(
        "POST",
        "/v1/tenants/{tenant}/keys",
        Action::ManageKeys,
        R::Tenant,
        None,
        "admin, operator",
        "Create an API key (secret shown once; optional purposes scope, expiry, rate_limit)",
    )
        .with_body("CreateKey")
        .answers(201, "Key")
        .refuses(&[(400, "invalid_role"), (400, "invalid_expiry"), (400, "invalid_rate_limit"), (400, "invalid_purposes"), (400, "invalid_purpose"), (400, "invalid_key_name")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/keys",
        Action::ManageKeys,
        R::Tenant,
        None,
        "admin, operator",
        "List API keys",
    )
        .answers(200, "Keys"),
    route(
        "DELETE",
        "/v1/tenants/{tenant}/keys/{key_id}",
        Action::ManageKeys,
        R::Tenant,
        None,
        "admin, operator",
        "Revoke an API key",
    )
        .answers(200, "Key"),
    route(
        "GET",
        "/v1/tenants/{tenant}/identity",
        Action::Admin,
        R::Tenant,
        None,
        "admin",
        "The tenant's JWT issuer for users (issuer, audience, key ids)",
    )
        .answers(200, "IdentityInfo"),
    route(
        "PUT",
        "/v1/tenants/{tenant}/identity",
        Action::Admin,
        R::Tenant,
        None,
        "admin",
        "Configure the JWT issuer for users: issuer, audience, JWKS document, tenant_claim (required when another tenant trusts the issuer)",
    )
        .with_body("Identity")
        .answers(200, "IdentityInfo")
        .refuses(&[(400, "invalid_identity"), (400, "invalid_jwks"), (400, "identity_issuer_shared")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/policies",
        Action::ManagePolicies,
        R::PolicySet,
        None,
        "admin",
        "The policy text in force (?version= for an older one) and its version",
    )
        .answers(200, "PolicyVersion")
        .with_query(&["version"]),
    route(
        "PUT",
        "/v1/tenants/{tenant}/policies",
        Action::ManagePolicies,
        R::PolicySet,
        None,
        "admin",
        "Replace the tenant's policies (text/plain Cedar); 422 with every diagnostic, old set stays",
    )
        .with_body("Policies")
        .answers(200, "PolicyVersion")
        .refuses(&[(400, "invalid_policies"), (400, "policy_too_complex"), (422, "invalid_policies")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/policies/versions",
        Action::ManagePolicies,
        R::PolicySet,
        None,
        "admin",
        "Every policy version: number, time, author",
    )
        .answers(200, "PolicyVersions"),
    post_read(
        "/v1/tenants/{tenant}/policies/check",
        Action::ManagePolicies,
        R::PolicySet,
        "admin",
        "Dry-run a request against the policies in force (or a draft text): decision and deciding policies",
    )
        .with_body("PolicyCheck")
        .answers(200, "Decision")
        .refuses(&[(400, "invalid_action"), (400, "invalid_resource"), (400, "invalid_source_ip"), (400, "policy_too_complex"), (400, "invalid_principal"), (400, "invalid_role"), (422, "invalid_policies")]),
    post_read(
        "/v1/tenants/{tenant}/pii/scan",
        Action::ManageSchemas,
        R::Tenant,
        "admin",
        "Try the PII scanner on a text ({text, action?}): findings and the text after the action",
    )
        .with_body("PiiScan")
        .answers(200, "PiiFindings")
        .refuses(&[(400, "invalid_action")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/schemas",
        Action::ReadSchemas,
        R::Tenant,
        None,
        "any tenant role",
        "Latest schema of every event type",
    )
        .answers(200, "SchemaVersions"),
    route(
        "PUT",
        "/v1/tenants/{tenant}/schemas/{event_type}",
        Action::ManageSchemas,
        R::EventType,
        Some("event_type"),
        "admin",
        "Store a new schema version",
    )
        .with_body("SchemaDocument")
        .answers(200, "SchemaVersion")
        .refuses(&[(400, "invalid_schema"), (400, "invalid_event_type")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/schemas/{event_type}",
        Action::ReadSchemas,
        R::EventType,
        Some("event_type"),
        "any tenant role",
        "Read a schema (?version=)",
    )
        .answers(200, "SchemaVersion")
        .with_query(&["version"]),
    route(
        "PUT",
        "/v1/tenants/{tenant}/items/{item_id}",
        Action::ManageItems,
        R::Tenant,
        None,
        "writer, admin",
        "Insert or replace an item ({properties, text?}); properties follow the _items schema when there is one (every field public), else flat public values",
    )
        .with_body("Item")
        .answers(200, "ItemRecord")
        .refuses(&[(400, "item_id_mismatch"), (400, "invalid_item_id"), (400, "invalid_item"), (400, "invalid_item_properties"), (400, "invalid_item_text"), (400, "item_field_not_public"), (400, "item_unknown_fields"), (400, "invalid_properties")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/items/{item_id}",
        Action::ReadItems,
        R::Tenant,
        None,
        "any tenant role",
        "An item: properties, text, updated_at, revision",
    )
        .answers(200, "ItemRecord"),
    route(
        "DELETE",
        "/v1/tenants/{tenant}/items/{item_id}",
        Action::ManageItems,
        R::Tenant,
        None,
        "writer, admin",
        "Delete an item (204; 404 when there was none)",
    )
        .answers(204, "NoContent"),
    route(
        "POST",
        "/v1/tenants/{tenant}/items",
        Action::ManageItems,
        R::Tenant,
        None,
        "writer, admin",
        "Upsert up to 10,000 items in one commit: a JSON array or NDJSON of {item_id, properties?, text?}; {upserted, unchanged, rejected: [{index, code, message}]}",
    )
        .with_body("ItemEntries")
        .answers(200, "ItemsReport")
        .refuses(&[(400, "invalid_items")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/items",
        Action::ReadItems,
        R::Tenant,
        None,
        "any tenant role",
        "Items in id order (?cursor=&limit=, at most 1,000), with next_cursor and total",
    )
        .answers(200, "ItemPage")
        .with_query(&["cursor", "items_limit"])
        .refuses(&[(400, "invalid_cursor"), (400, "invalid_limit")]),
    route(
        "POST",
        "/v1/tenants/{tenant}/events",
        Action::Ingest,
        R::Tenant,
        None,
        "writer, admin",
        "Ingest one event, a JSON array, or NDJSON (?all_or_nothing=true for arrays)",
    )
        .with_body("Events")
        .answers(200, "IngestReport")
        .with_query(&["all_or_nothing"])
        .refuses(&[(400, "unsupported_option"), (400, "body_read_failed")])
        .also_answers(&[(422, "IngestReport")]),
    post_read(
        "/v1/tenants/{tenant}/subjects/resolve",
        Action::ResolveSubject,
        R::Tenant,
        "writer, reader, privacy_officer, admin",
        "External id (in the body) to pseudonym",
    )
        .with_body("Resolve")
        .answers(200, "Subject")
        .refuses(&[(400, "invalid_subject")]),
    guarded(route(
        "GET",
        "/v1/tenants/{tenant}/subjects/{subject}/events",
        Action::ReadTimeline,
        R::Subject,
        Some("subject"),
        "reader, privacy_officer, admin, per purpose",
        "A subject's timeline (?purpose= required; &from=&to=&type=&limit=&cursor=); fields the purpose may not see read as null",
    ))
        .answers(200, "Timeline")
        .with_query(&["purpose_required", "timeline_limit", "cursor", "from_time", "to_time", "type"])
        .refuses(&[(400, "invalid_subject"), (400, "invalid_time"), (400, "invalid_cursor"), (400, "invalid_limit")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/subjects/{subject}/consents",
        Action::ManageConsent,
        R::Subject,
        Some("subject"),
        "privacy_officer, admin",
        "A subject's consents in force, their history, and the tenant's regimes",
    )
        .answers(200, "Consents")
        .refuses(&[(400, "invalid_subject")]),
    route(
        "PUT",
        "/v1/tenants/{tenant}/subjects/{subject}/consents/{purpose}",
        Action::ManageConsent,
        R::Subject,
        Some("subject"),
        "privacy_officer, admin",
        "Grant or deny a purpose for a subject ({granted, source: api|gpc|import}); in force when this returns",
    )
        .with_body("Consent")
        .answers(200, "ConsentRecord")
        .refuses(&[(400, "invalid_subject"), (400, "invalid_source")]),
    route(
        "POST",
        "/v1/tenants/{tenant}/consents",
        Action::ManageConsent,
        R::Tenant,
        None,
        "privacy_officer, admin",
        "Import consents: NDJSON lines {external_id, purpose, granted, source?, at?}",
    )
        .with_body("ConsentImport")
        .answers(200, "ConsentImport")
        .refuses(&[(400, "invalid_ndjson")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/consent-regimes",
        Action::Admin,
        R::Tenant,
        None,
        "admin",
        "The tenant's regime per purpose (opt_out unless set)",
    )
        .answers(200, "Regimes"),
    route(
        "PUT",
        "/v1/tenants/{tenant}/consent-regimes/{purpose}",
        Action::Admin,
        R::Tenant,
        None,
        "admin",
        "Set a purpose's regime: {regime: opt_in|opt_out}",
    )
        .with_body("Regime")
        .answers(200, "RegimeSet")
        .refuses(&[(400, "invalid_regime")]),
    guarded(post_read(
        "/v1/tenants/{tenant}/access-requests",
        Action::AccessRequest,
        R::Tenant,
        "privacy_officer, admin",
        "Everything held about a subject (external id in the body) as a tar archive (GDPR art. 15, 20)",
    ))
        .with_body("Resolve")
        .answers(200, "Tar")
        .refuses(&[(400, "invalid_subject")]),
    route(
        "POST",
        "/v1/tenants/{tenant}/erasures",
        Action::Erase,
        R::Tenant,
        None,
        "privacy_officer, admin",
        "Erase a subject (external id in the body; now: purge at once): 202 once its key is destroyed and its rows hidden",
    )
        .with_body("Erase")
        .answers(202, "Erasure")
        .refuses(&[(400, "invalid_subject")]),
    route(
        "POST",
        "/v1/tenants/{tenant}/erasures/batch",
        Action::Erase,
        R::Tenant,
        None,
        "privacy_officer, admin",
        "Erase up to 10,000 subjects at once ({external_ids, now?, block_future?}): 202 with one request each",
    )
        .with_body("EraseBatch")
        .answers(202, "Erasures")
        .refuses(&[(400, "invalid_subject"), (400, "invalid_batch")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/erasures/{erasure_id}",
        Action::Erase,
        R::Tenant,
        None,
        "privacy_officer, admin",
        "An erasure request: state (received, shredded, hidden, purged, derived, done) and history",
    )
        .answers(200, "Erasure")
        .refuses(&[(400, "invalid_erasure_id")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/erasures/{erasure_id}/receipt",
        Action::Erase,
        R::Tenant,
        None,
        "privacy_officer, admin",
        "The signed receipt of a done erasure (verify offline: steward receipt verify)",
    )
        .answers(200, "Receipt")
        .refuses(&[(400, "invalid_erasure_id")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/audit/head",
        Action::ReadAudit,
        R::AuditLog,
        None,
        "privacy_officer, admin",
        "The audit log's current size and root, and its latest signed tree head",
    )
        .answers(200, "AuditHead"),
    route(
        "GET",
        "/v1/tenants/{tenant}/audit/heads",
        Action::ReadAudit,
        R::AuditLog,
        None,
        "privacy_officer, admin",
        "Every signed tree head, oldest first (?start=&limit=), with the key that verifies them: what a monitor pins",
    )
        .answers(200, "AuditHeads")
        .with_query(&["heads_start", "heads_limit"])
        .refuses(&[(400, "invalid_limit")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/audit/proofs/inclusion",
        Action::ReadAudit,
        R::AuditLog,
        None,
        "privacy_officer, admin",
        "Inclusion proof (?index=&size=) per RFC 9162",
    )
        .answers(200, "InclusionProof")
        .with_query(&["index", "size"])
        .refuses(&[(400, "invalid_proof_request")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/audit/proofs/consistency",
        Action::ReadAudit,
        R::AuditLog,
        None,
        "privacy_officer, admin",
        "Consistency proof (?from=&to=) per RFC 9162",
    )
        .answers(200, "ConsistencyProof")
        .with_query(&["from_size", "to_size"])
        .refuses(&[(400, "invalid_proof_request")]),
    guarded(post_query(
        "/v1/tenants/{tenant}/sql",
        Action::Query,
        R::Tenant,
        "reader, privacy_officer, admin, per purpose",
        "Run a read-only SQL query ({sql, purpose, max_rows?, timeout_ms?}); Accept: JSON, text/csv, Arrow IPC stream or Parquet; columns a purpose may not see read as NULL",
    ))
        .with_body("Sql")
        .answers(200, "SqlResult")
        .with_query(&["purpose"])
        .refuses(&[(400, "invalid_sql"), (400, "invalid_request"), (400, "statement_not_allowed"), (400, "unknown_table"), (400, "query_too_complex"), (400, "query_resource_limit"), (400, "query_value_error"), (400, "invalid_limit"), (422, "result_rows_exceeded"), (422, "result_bytes_exceeded"), (422, "query_memory_exceeded"), (503, "query_memory_busy"), (503, "busy"), (504, "query_timeout"), (406, "not_acceptable")]),
    // A cut is a read of events: audited after the build, with its statement and rows.
    guarded(RouteSpec {
        default_purpose: Some("model_training"),
        ..post_query(
            "/v1/tenants/{tenant}/datasets",
            Action::CutDataset,
            R::Tenant,
            "reader, admin, per purpose",
            "Cut a data set version ({name, sql, purpose = model_training, background?}): encrypted Parquet, manifest, subject bitmap; 201 with the manifest",
        )
    })
        .with_body("CreateDataset")
        .answers(201, "Manifest")
        .also_answers(&[(202, "DatasetBuilding")])
        .with_query(&["purpose"])
        .refuses(&[(400, "invalid_sql"), (400, "invalid_request"), (400, "statement_not_allowed"), (400, "unknown_table"), (400, "query_too_complex"), (400, "query_resource_limit"), (400, "query_value_error"), (400, "invalid_limit"), (422, "result_rows_exceeded"), (422, "result_bytes_exceeded"), (422, "query_memory_exceeded"), (503, "query_memory_busy"), (503, "busy"), (504, "query_timeout"), (400, "invalid_dataset_name"), (409, "conflict")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/datasets",
        Action::Export,
        R::Tenant,
        None,
        "reader, admin, per purpose",
        "Data sets and their latest versions (?purpose=)",
    )
        .answers(200, "Datasets")
        .with_query(&["purpose_required"]),
    route(
        "GET",
        "/v1/tenants/{tenant}/datasets/{name}/versions",
        Action::Export,
        R::Dataset,
        Some("name"),
        "reader, admin, per purpose",
        "Every version's manifest",
    )
        .answers(200, "DatasetVersions")
        .with_query(&["purpose_required"]),
    route(
        "GET",
        "/v1/tenants/{tenant}/datasets/{name}/versions/{version}",
        Action::Export,
        R::Dataset,
        Some("name"),
        "reader, admin, per purpose",
        "A version's manifest (version: a number or latest), with build progress while it builds",
    )
        .answers(200, "Manifest")
        .with_query(&["purpose_required"])
        .refuses(&[(400, "invalid_version"), (410, "dataset_version_gone")]),
    guarded(route(
        "GET",
        "/v1/tenants/{tenant}/datasets/{name}/diff",
        Action::Export,
        R::Dataset,
        Some("name"),
        "reader, admin, per purpose",
        "Rows and subjects added and removed between two versions (?from=&to=); both must be exportable for the purpose",
    ))
        .answers(200, "DatasetDiff")
        .with_query(&["purpose_required", "from_version", "to_version"])
        .refuses(&[(400, "invalid_version"), (403, "dataset_purpose_forbidden"), (409, "dataset_version_stale"), (410, "dataset_version_gone"), (400, "diff_too_large")]),
    guarded(signed_get(
        "/v1/tenants/{tenant}/datasets/{name}/versions/{version}/files/{file}",
        "reader, admin, per purpose; or a signed link",
        "A version's Parquet file, decrypted; Range requests (206). Refused (403) unless the purpose sees every class it holds; 409 with the successor once a subject it holds was erased or refused the purpose",
    ))
        .answers(200, "Parquet")
        .with_query(&["purpose", "expires", "key_id", "sig", "range"])
        .refuses(&[(400, "invalid_version"), (403, "dataset_purpose_forbidden"), (409, "dataset_version_stale"), (410, "dataset_version_gone"), (416, "invalid_range")]),
    guarded(signed_get(
        "/v1/tenants/{tenant}/datasets/{name}/versions/{version}/arrow",
        "reader, admin, per purpose; or a signed link",
        "A version's rows as one Arrow IPC stream (streamed batch by batch); refused like files",
    ))
        .answers(200, "Arrow")
        .with_query(&["purpose", "expires", "key_id", "sig"])
        .refuses(&[(400, "invalid_version"), (403, "dataset_purpose_forbidden"), (409, "dataset_version_stale"), (410, "dataset_version_gone")]),
    guarded(post_read(
        "/v1/tenants/{tenant}/datasets/{name}/versions/{version}/links",
        Action::Export,
        R::Tenant,
        "reader, admin, per purpose",
        "Short-lived signed URLs for a version's files and Arrow stream ({ttl_s}), usable without a key; the version must be exportable for the purpose",
    ))
        .with_body("Links")
        .answers(200, "SignedLinks")
        .with_query(&["purpose_required"])
        .refuses(&[(400, "invalid_version"), (403, "dataset_purpose_forbidden"), (409, "dataset_version_stale"), (410, "dataset_version_gone"), (400, "invalid_ttl"), (400, "links_need_a_key")]),
    // Serving: reads for a purpose (personalization by default) through the read guard.
    guarded(RouteSpec {
        default_purpose: Some("personalization"),
        ..post_query(
            "/v1/tenants/{tenant}/recommendations",
            Action::Serve,
            R::Model,
            "reader, admin, per purpose",
            "Recommendations for a subject ({model: name|name@alias|name@vN, subject|external_id, k = 10, exclude_seen = true, exclude_items?, filter?: {property: value|{in|ne|exists|gt|gte|lt|lte}}, fallback?: [model], purpose = personalization, experiment?: name instead of model}): {items: [{item, score}], model: {name, version}, personalized, reason?: opted_out|erased|unknown_subject|no_model|model_not_personalized|control_arm, folded_in?, experiment?, arm? (when exposed), exposed?}; an exposure is stored (event type _exposure) before the answer",
        )
    })
        .with_body("Recommend")
        .answers(200, "Served")
        .with_query(&["purpose"])
        .refuses(&[(400, "invalid_request"), (400, "invalid_subject"), (400, "invalid_filter"), (400, "invalid_k"), (400, "invalid_exclude"), (400, "invalid_fallback"), (400, "invalid_model"), (400, "invalid_items"), (400, "experiment_purpose_mismatch"), (409, "model_version_not_ready"), (503, "busy")]),
    guarded(RouteSpec {
        default_purpose: Some("personalization"),
        ..post_query(
            "/v1/tenants/{tenant}/rerank",
            Action::Serve,
            R::Model,
            "reader, admin, per purpose",
            "Re-rank a caller's candidates for a subject ({model | experiment, subject|external_id, items: [ids], purpose = personalization}): the recommend shape; candidates the model does not know are kept at the end in their order and listed in unknown",
        )
    })
        .with_body("Rerank")
        .answers(200, "Served")
        .with_query(&["purpose"])
        .refuses(&[(400, "invalid_request"), (400, "invalid_subject"), (400, "invalid_filter"), (400, "invalid_k"), (400, "invalid_exclude"), (400, "invalid_fallback"), (400, "invalid_model"), (400, "invalid_items"), (400, "experiment_purpose_mismatch"), (409, "model_version_not_ready"), (503, "busy")]),
    guarded(RouteSpec {
        default_purpose: Some("personalization"),
        ..post_query(
            "/v1/tenants/{tenant}/items/{item_id}/similar",
            Action::Serve,
            R::Model,
            "reader, admin, per purpose",
            "Items similar to an item ({model, k = 10, filter?, purpose = personalization}): cosine of item factors, or item-kNN neighbours; an item the version never saw answers no items with reason unknown_item",
        )
    })
        .with_body("Similar")
        .answers(200, "Served")
        .with_query(&["purpose"])
        .refuses(&[(400, "invalid_request"), (400, "invalid_subject"), (400, "invalid_filter"), (400, "invalid_k"), (400, "invalid_exclude"), (400, "invalid_fallback"), (400, "invalid_model"), (400, "invalid_items"), (400, "experiment_purpose_mismatch"), (409, "model_version_not_ready"), (503, "busy"), (400, "similar_unsupported")]),
    guarded(RouteSpec {
        default_purpose: Some("personalization"),
        ..post_query(
            "/v1/tenants/{tenant}/popular",
            Action::Serve,
            R::Model,
            "reader, admin, per purpose",
            "Popular items ({model, k = 10, filter?, exclude_items?, purpose = personalization}): a popularity model's scores, or the counts of a version's training data",
        )
    })
        .with_body("Popular")
        .answers(200, "Served")
        .with_query(&["purpose"])
        .refuses(&[(400, "invalid_request"), (400, "invalid_subject"), (400, "invalid_filter"), (400, "invalid_k"), (400, "invalid_exclude"), (400, "invalid_fallback"), (400, "invalid_model"), (400, "invalid_items"), (400, "experiment_purpose_mismatch"), (409, "model_version_not_ready"), (503, "busy")]),
    // Embeddings, vector indexes, semantic search and RAG (issue 13): searches read events
    // through the read guard for a purpose (personalization unless named).
    RouteSpec {
        default_purpose: Some("personalization"),
        ..post_query(
            "/v1/tenants/{tenant}/embeddings",
            Action::Serve,
            R::Model,
            "reader, admin, per purpose",
            "Embed texts ({texts: [text], at most 1,024 of at most 64 KiB; purpose = personalization}): {model: all-MiniLM-L6-v2, dim: 384, vectors}; texts are never logged; 409 embedding_model_missing names the setup command",
        )
    }
        .with_body("Embed")
        .answers(200, "Embeddings")
        .with_query(&["purpose"])
        .refuses(&[(400, "invalid_texts"), (400, "embedding_input_invalid"), (409, "embedding_model_missing"), (503, "embedding_busy")]),
    guarded(RouteSpec {
        purpose_in_body: true,
        default_purpose: Some("personalization"),
        ..route(
            "POST",
            "/v1/tenants/{tenant}/indexes",
            Action::Train,
            R::Model,
            None,
            "reader, admin, per purpose",
            "Create a vector index ({name, source: {items: \"text\"} | {event_type, field}, purpose = personalization}): 201 the definition; events are read through the read guard for the purpose (the field's class must be visible to it: 409 index_purpose_forbidden) and followed as they arrive, items re-synced when the catalog changes; 409 index_exists, index_limit",
        )
    })
        .with_body("CreateIndex")
        .answers(201, "Index")
        .with_query(&["purpose"])
        .refuses(&[(400, "invalid_source"), (400, "index_invalid"), (409, "index_exists"), (409, "index_limit"), (409, "index_purpose_forbidden"), (409, "embedding_model_missing"), (503, "embedding_busy"), (400, "invalid_version"), (403, "dataset_purpose_forbidden"), (409, "dataset_version_stale"), (410, "dataset_version_gone")]),
    RouteSpec {
        default_purpose: Some("personalization"),
        ..route(
            "GET",
            "/v1/tenants/{tenant}/indexes",
            Action::Serve,
            R::Model,
            None,
            "reader, admin, per purpose",
            "Indexes: definitions, documents, watermark, last follower error",
        )
    }
        .answers(200, "Indexes")
        .with_query(&["purpose"]),
    RouteSpec {
        default_purpose: Some("personalization"),
        ..route(
            "GET",
            "/v1/tenants/{tenant}/indexes/{name}",
            Action::Serve,
            R::Model,
            None,
            "reader, admin, per purpose",
            "One index: definition, documents, watermark, last follower error",
        )
    }
        .answers(200, "Index")
        .with_query(&["purpose"]),
    guarded(RouteSpec {
        default_purpose: Some("personalization"),
        ..post_query(
            "/v1/tenants/{tenant}/indexes/{name}/search",
            Action::Serve,
            R::Model,
            "reader, admin, per purpose",
            "Search an index ({query: text | vector: [384 numbers], k = 5 (at most 100), filter?: item properties (items indexes), from?, to?: RFC 3339 (events indexes), hybrid = false (fuse with BM25 over the same texts by reciprocal rank; needs query), purpose = personalization}): {hits: [{id, score, kind: event|item, time}]}; every candidate's subject is asked the request's read guard (consent, erasure, retention) during the search; 409 index_purpose_forbidden when the purpose may not read the indexed field",
        )
    })
        .with_body("Search")
        .answers(200, "Hits")
        .with_query(&["purpose"])
        .refuses(&[(400, "invalid_k"), (400, "invalid_query"), (400, "question_too_long"), (409, "embedding_model_missing"), (409, "index_purpose_forbidden"), (503, "embedding_busy"), (400, "invalid_vector"), (400, "index_vector_invalid"), (400, "invalid_time"), (400, "invalid_filter")]),
    guarded(RouteSpec {
        default_purpose: Some("personalization"),
        ..post_query(
            "/v1/tenants/{tenant}/indexes/{name}/retrieve",
            Action::Serve,
            R::Model,
            "reader, admin, per purpose",
            "Passages for a question ({question, k = 5, purpose}): {passages: [{text, citation: {id, kind, time, score}, redacted}]}, each read again through the read guard (masked for the purpose; PII the scanner finds redacted unless the purpose sees personal fields)",
        )
    })
        .with_body("Retrieve")
        .answers(200, "Passages")
        .with_query(&["purpose"])
        .refuses(&[(400, "invalid_k"), (400, "invalid_query"), (400, "question_too_long"), (409, "embedding_model_missing"), (409, "index_purpose_forbidden"), (503, "embedding_busy")]),
    guarded(RouteSpec {
        default_purpose: Some("personalization"),
        ..post_query(
            "/v1/tenants/{tenant}/indexes/{name}/answer",
            Action::Serve,
            R::Model,
            "reader, admin, per purpose",
            "Answer a question from retrieved passages with the local model (SmolLM2-135M-Instruct) ({question, k = 5, stream = false, max_tokens = 200 (at most 512), purpose}): {answer, citations: [{passage, id, kind, time, by: marker|overlap}], passages, model, tokens, ttft_ms, tokens_per_s}; with stream, server-sent events `token` ({text}), then `done` (the whole answer) or `error` (a problem); the answer is never logged, the audit record names the passages by reference; 409 generation_model_missing names the setup command",
        )
    })
        .with_body("Answer")
        .answers(200, "AnswerResult")
        .with_query(&["purpose"])
        .refuses(&[(400, "invalid_k"), (400, "invalid_query"), (400, "question_too_long"), (409, "embedding_model_missing"), (409, "index_purpose_forbidden"), (503, "embedding_busy"), (400, "invalid_max_tokens"), (409, "generation_model_missing"), (502, "generation_upstream_failed"), (503, "generation_busy")]),
    route(
        "DELETE",
        "/v1/tenants/{tenant}/indexes/{name}",
        Action::Deploy,
        R::Model,
        None,
        "admin",
        "Drop an index: its snapshot's key is destroyed, then its files removed",
    )
        .answers(204, "NoContent"),
    // Experiments: definitions are changes an admin deploys; results read events for the
    // experiment's purpose through the read guard (SQL on the heavy-work pool).
    route(
        "POST",
        "/v1/tenants/{tenant}/experiments",
        Action::Deploy,
        R::Model,
        None,
        "admin",
        "Start an experiment ({name, arms: [{name, model: name|name@alias|name@vN | control: true, weight = 1}], outcome: {event_type, window: seconds|30m|2h|7d, value?: numeric field}, guardrail?: {event_type, window, value?, better: higher|lower}, purpose = personalization, alpha = 0.05}): 201 the definition; subjects are assigned by a keyed hash of their pseudonym under the experiment's salt (sticky), only when their consent admits the purpose; 409 experiment_exists, experiment_model_missing",
    )
        .with_body("CreateExperiment")
        .answers(201, "Experiment")
        .refuses(&[(400, "invalid_experiment_name"), (400, "invalid_arms"), (400, "invalid_outcome"), (400, "invalid_guardrail"), (400, "invalid_window"), (400, "invalid_alpha"), (400, "invalid_effect_sd"), (400, "invalid_model"), (400, "unknown_event_type"), (400, "unknown_field"), (409, "experiment_exists"), (409, "experiment_model_missing"), (409, "experiments_too_many")]),
    RouteSpec {
        default_purpose: Some("personalization"),
        ..route(
            "GET",
            "/v1/tenants/{tenant}/experiments",
            Action::Serve,
            R::Model,
            None,
            "reader, admin, per purpose",
            "Experiments: definitions, state, arms (with any guardrail stop), the sequential p-values so far",
        )
    }
        .answers(200, "Experiments")
        .with_query(&["purpose"]),
    RouteSpec {
        default_purpose: Some("personalization"),
        ..route(
            "GET",
            "/v1/tenants/{tenant}/experiments/{name}",
            Action::Serve,
            R::Model,
            None,
            "reader, admin, per purpose",
            "An experiment's definition and state",
        )
    }
        .answers(200, "Experiment")
        .with_query(&["purpose"]),
    guarded(RouteSpec {
        default_purpose: Some("personalization"),
        ..route(
            "GET",
            "/v1/tenants/{tenant}/experiments/{name}/results",
            Action::Query,
            R::Tenant,
            None,
            "reader, admin, per purpose (the experiment's)",
            "Results over the exposures (events of type _exposure) and the outcome events, by SQL through the read guard: per arm subjects, conversions and rate with a Wilson interval, mean value with a t interval; against the baseline (the control arm, else the first) the difference and lift with intervals, the fixed-horizon p-value (z or Welch) and the always-valid mSPRT p-value; srm (chi-square, flagged below 0.001); the guardrail, which stops an arm the sequential test finds worse",
        )
    })
        .answers(200, "ExperimentResults")
        .with_query(&["purpose"])
        .refuses(&[(400, "invalid_sql"), (400, "invalid_request"), (400, "statement_not_allowed"), (400, "unknown_table"), (400, "query_too_complex"), (400, "query_resource_limit"), (400, "query_value_error"), (400, "invalid_limit"), (422, "result_rows_exceeded"), (422, "result_bytes_exceeded"), (422, "query_memory_exceeded"), (503, "query_memory_busy"), (503, "busy"), (504, "query_timeout"), (400, "experiment_purpose_mismatch"), (400, "experiment_statistics_undefined")]),
    route(
        "POST",
        "/v1/tenants/{tenant}/experiments/{name}/stop",
        Action::Deploy,
        R::Model,
        None,
        "admin",
        "Stop an experiment ({conclusion?: arm, default the baseline}): everyone gets the conclusion arm, no more exposures; results stay readable",
    )
        .with_body("StopExperiment")
        .answers(200, "Experiment")
        .refuses(&[(400, "invalid_conclusion")]),
    // Training reads a data set version for a purpose through the read guard (an export's
    // rule) and starts a job: a change, audited durably, whose handler takes its read access.
    guarded(RouteSpec {
        purpose_in_body: true,
        default_purpose: Some("model_training"),
        ..route(
            "POST",
            "/v1/tenants/{tenant}/models",
            Action::Train,
            R::Model,
            None,
            "reader, admin, per purpose",
            "Train a model version from a data set version ({name, algorithm: als|bpr|item_knn|popularity, dataset: {name, version}, columns: {user, item, weight?, time?}, params?, evaluation?: {split: time|leave_last|random, holdout, k, seed?}, seed?, purpose = model_training}): 202 {name, version, state}; refused like an export of the version (403, 409), 422 model_memory_over_budget, 503 model_queue_full",
        )
    })
        .with_body("CreateModel")
        .answers(202, "TrainingStarted")
        .with_query(&["purpose"])
        .refuses(&[(400, "invalid_version"), (403, "dataset_purpose_forbidden"), (409, "dataset_version_stale"), (410, "dataset_version_gone"), (400, "invalid_model_name"), (400, "invalid_algorithm"), (400, "invalid_params"), (400, "invalid_evaluation"), (400, "evaluation_needs_time"), (400, "unknown_column"), (400, "column_type"), (422, "model_memory_over_budget"), (503, "model_queue_full")]),
    RouteSpec {
        default_purpose: Some("model_training"),
        ..route(
            "GET",
            "/v1/tenants/{tenant}/models",
            Action::Train,
            R::Model,
            None,
            "reader, admin, per purpose",
            "Models: versions, latest version and state, aliases",
        )
    }
        .answers(200, "Models")
        .with_query(&["purpose"]),
    RouteSpec {
        default_purpose: Some("model_training"),
        ..route(
            "GET",
            "/v1/tenants/{tenant}/models/{name}",
            Action::Train,
            R::Model,
            Some("name"),
            "reader, admin, per purpose",
            "A model's versions (state, progress, params, metrics beside the popularity baseline, lineage) and its aliases with their moves",
        )
    }
        .answers(200, "Model")
        .with_query(&["purpose"]),
    RouteSpec {
        default_purpose: Some("model_training"),
        ..route(
            "GET",
            "/v1/tenants/{tenant}/models/{name}/versions/{version}",
            Action::Train,
            R::Model,
            Some("name"),
            "reader, admin, per purpose",
            "A version (a number or latest): state (queued, training with iteration and loss, evaluating, ready, failed with its reason, cancelled, erased), params, metrics per k (recall, precision, ndcg, map, coverage) and the popularity baseline's, lineage (data set name, version, content hash, purpose, consent snapshot), trained_by, duration, bytes",
        )
    }
        .answers(200, "ModelVersion")
        .with_query(&["purpose"])
        .refuses(&[(400, "invalid_version")]),
    RouteSpec {
        default_purpose: Some("model_training"),
        ..route(
            "POST",
            "/v1/tenants/{tenant}/models/{name}/versions/{version}/cancel",
            Action::Train,
            R::Model,
            Some("name"),
            "reader, admin, per purpose",
            "Cancel a queued or running job (running: at its next iteration); a finished version is answered as it is",
        )
    }
        .with_body("Empty")
        .answers(200, "Cancelled")
        .with_query(&["purpose"])
        .refuses(&[(400, "invalid_version")]),
    route(
        "PUT",
        "/v1/tenants/{tenant}/models/{name}/aliases/{alias}",
        Action::Deploy,
        R::Model,
        Some("name"),
        "admin",
        "Point an alias (production, candidate, any name) at a ready version ({version}); rollback is a move back; every move is audited with the alias and both versions",
    )
        .with_body("Alias")
        .answers(200, "AliasMoved")
        .refuses(&[(400, "invalid_alias"), (400, "too_many_aliases"), (409, "model_version_not_ready")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/subjects/{subject}/lineage",
        Action::AccessRequest,
        R::Subject,
        Some("subject"),
        "privacy_officer, admin",
        "Every data set version and model version that holds the subject",
    )
        .answers(200, "Lineage")
        .refuses(&[(400, "invalid_subject")]),
    post_read(
        "/v1/tenants/{tenant}/audit/reports/subject",
        Action::ReadAudit,
        R::AuditLog,
        "privacy_officer, admin",
        "Every decision about one subject (external id in the body); ?format=csv",
    )
        .with_body("Resolve")
        .answers(200, "Report")
        .with_query(&["principal", "from_time", "to_time", "format", "after_index", "report_limit"])
        .refuses(&[(400, "invalid_time"), (400, "invalid_format"), (400, "invalid_subject")]),
    route(
        "GET",
        "/v1/tenants/{tenant}/audit/reports/principal",
        Action::ReadAudit,
        R::AuditLog,
        None,
        "privacy_officer, admin",
        "Everything one principal did (?principal=key:<id>|user:<sub>&from=&to=&format=csv)",
    )
        .answers(200, "Report")
        .with_query(&["principal_required", "from_time", "to_time", "format", "after_index", "report_limit"])
        .refuses(&[(400, "invalid_time"), (400, "invalid_format"), (400, "invalid_principal")]),
];
