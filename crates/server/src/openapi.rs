//! The route table and the OpenAPI 3.1 document built from it. Tests walk the same table,
//! so a route added to the router but not here fails the route-coverage test.

use serde_json::{json, Map, Value};
use steward_access::Action;

/// One route of the public API.
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    /// Needs a bearer token.
    pub authenticated: bool,
    /// The action the authorization middleware decides for this route (None: public route).
    pub action: Option<Action>,
    /// Who may call it, for the document.
    pub who: &'static str,
    pub summary: &'static str,
}

pub const ROUTES: &[RouteSpec] = &[
    RouteSpec { method: "GET", path: "/healthz", authenticated: false, action: None, who: "anyone", summary: "Liveness" },
    RouteSpec { method: "GET", path: "/readyz", authenticated: false, action: None, who: "anyone", summary: "Readiness (503 while shutting down)" },
    RouteSpec { method: "GET", path: "/metrics", authenticated: false, action: None, who: "anyone", summary: "Prometheus metrics" },
    RouteSpec { method: "GET", path: "/openapi.json", authenticated: false, action: None, who: "anyone", summary: "This document" },
    RouteSpec { method: "POST", path: "/v1/tenants", authenticated: true, action: Some(Action::ManageTenants), who: "operator", summary: "Create a tenant; answers with its first admin key (shown once)" },
    RouteSpec { method: "GET", path: "/v1/tenants", authenticated: true, action: Some(Action::ManageTenants), who: "operator", summary: "List tenants" },
    RouteSpec { method: "POST", path: "/v1/tenants/{tenant}/keys", authenticated: true, action: Some(Action::ManageKeys), who: "admin, operator", summary: "Create an API key (secret shown once)" },
    RouteSpec { method: "GET", path: "/v1/tenants/{tenant}/keys", authenticated: true, action: Some(Action::ManageKeys), who: "admin, operator", summary: "List API keys" },
    RouteSpec { method: "DELETE", path: "/v1/tenants/{tenant}/keys/{key_id}", authenticated: true, action: Some(Action::ManageKeys), who: "admin, operator", summary: "Revoke an API key" },
    RouteSpec { method: "GET", path: "/v1/tenants/{tenant}/schemas", authenticated: true, action: Some(Action::ReadSchemas), who: "any tenant role", summary: "Latest schema of every event type" },
    RouteSpec { method: "PUT", path: "/v1/tenants/{tenant}/schemas/{event_type}", authenticated: true, action: Some(Action::ManageSchemas), who: "admin", summary: "Store a new schema version" },
    RouteSpec { method: "GET", path: "/v1/tenants/{tenant}/schemas/{event_type}", authenticated: true, action: Some(Action::ReadSchemas), who: "any tenant role", summary: "Read a schema (?version=)" },
    RouteSpec { method: "POST", path: "/v1/tenants/{tenant}/events", authenticated: true, action: Some(Action::Ingest), who: "writer, admin", summary: "Ingest one event, a JSON array, or NDJSON (?all_or_nothing=true for arrays)" },
    RouteSpec { method: "POST", path: "/v1/tenants/{tenant}/subjects/resolve", authenticated: true, action: Some(Action::ResolveSubject), who: "writer, reader, privacy_officer, admin", summary: "External id (in the body) to pseudonym" },
    RouteSpec { method: "GET", path: "/v1/tenants/{tenant}/audit/head", authenticated: true, action: Some(Action::ReadAudit), who: "privacy_officer, admin", summary: "The audit log's current size and root, and its latest signed tree head" },
    RouteSpec { method: "GET", path: "/v1/tenants/{tenant}/audit/proofs/inclusion", authenticated: true, action: Some(Action::ReadAudit), who: "privacy_officer, admin", summary: "Inclusion proof (?index=&size=) per RFC 9162" },
    RouteSpec { method: "GET", path: "/v1/tenants/{tenant}/audit/proofs/consistency", authenticated: true, action: Some(Action::ReadAudit), who: "privacy_officer, admin", summary: "Consistency proof (?from=&to=) per RFC 9162" },
    RouteSpec { method: "GET", path: "/v1/tenants/{tenant}/subjects/{subject}/events", authenticated: true, action: Some(Action::ReadTimeline), who: "reader (masked), privacy_officer and admin (opened)", summary: "A subject's timeline (?purpose=&from=&to=&type=&limit=&cursor=)" },
];

pub fn openapi_document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths.entry(route.path.to_owned()).or_insert_with(|| json!({}));
        let mut op = json!({
            "summary": route.summary,
            "description": format!("Allowed: {}.", route.who),
            "responses": {
                "200": {"description": "OK"},
                "400": {"description": "Invalid input", "content": {"application/problem+json": {}}},
            },
        });
        if route.authenticated {
            op["security"] = json!([{"bearer": []}]);
            op["responses"]["401"] = json!({"description": "Missing or invalid API key"});
            op["responses"]["403"] = json!({"description": "Not allowed for this key's role"});
            op["responses"]["404"] = json!({"description": "Not found (also: another tenant's resource)"});
        }
        let params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        entry[route.method.to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Steward", "version": env!("CARGO_PKG_VERSION")},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    })
}
