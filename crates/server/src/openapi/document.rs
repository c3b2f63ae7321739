//! The OpenAPI 3.1 document served at `/openapi.json`, built from the route table: each
//! route's parameters, request body, success answer and problem answers (with their codes),
//! and the security schemes.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::bodies::{parameters, request_bodies, responses};
use super::schemas::{schema_ref, schemas};
use super::{ROUTES, RouteSpec};

/// Problems every authenticated route may answer with, whatever it does.
const AUTHENTICATED_PROBLEMS: &[(u16, &str)] = &[
    (400, "invalid_purpose"),
    (401, "unauthenticated"),
    (403, "forbidden"),
    (404, "not_found"),
    (429, "rate_limited"),
    (500, "internal"),
    (500, "storage_damaged"),
    (503, "unavailable"),
    (503, "tenant_unavailable"),
    (503, "audit_unavailable"),
];

/// Problems every route with a request body may answer with.
const BODY_PROBLEMS: &[(u16, &str)] = &[
    (400, "invalid_json"),
    (400, "invalid_body"),
    (408, "body_timeout"),
    (413, "too_large"),
    (415, "unsupported_media_type"),
];

/// Problems every route with query parameters may answer with.
const QUERY_PROBLEMS: &[(u16, &str)] = &[(400, "invalid_query")];

/// Problems of a route whose body may name the purpose (it must match the query string's).
const PURPOSE_BODY_PROBLEMS: &[(u16, &str)] = &[(400, "purpose_mismatch")];

fn status_text(status: u16) -> &'static str {
    match status {
        400 => "Invalid input",
        401 => "Missing or invalid credentials",
        403 => "Refused by the tenant's policies (the problem names the deciding policy ids)",
        404 => "Not found (also: another tenant's resource; existence is not revealed)",
        406 => "No acceptable media type",
        408 => "The request body was too slow",
        409 => "Conflicts with the current state",
        410 => "Gone",
        413 => "Too large",
        415 => "Unsupported media type",
        416 => "Range not satisfiable",
        422 => "Understood but refused",
        429 => "Rate limited; see Retry-After",
        500 => "Internal error (the server log has details under the request id)",
        502 => "An upstream failed",
        503 => "Unavailable; retry later",
        504 => "Timed out",
        _ => "Problem",
    }
}

/// Every problem a route may answer with, by status.
pub fn route_problems(route: &RouteSpec) -> BTreeMap<u16, Vec<&'static str>> {
    let mut lists: Vec<&[(u16, &'static str)]> = vec![route.problems];
    if route.authenticated {
        lists.push(AUTHENTICATED_PROBLEMS);
    }
    if route.body.is_some() {
        lists.push(BODY_PROBLEMS);
    }
    if !route.query.is_empty() {
        lists.push(QUERY_PROBLEMS);
    }
    if route.purpose_in_body {
        lists.push(PURPOSE_BODY_PROBLEMS);
    }
    let mut out: BTreeMap<u16, Vec<&'static str>> = BTreeMap::new();
    for (status, code) in lists.into_iter().flatten() {
        let codes = out.entry(*status).or_default();
        if !codes.contains(code) {
            codes.push(code);
        }
    }
    out
}

fn operation_id(route: &RouteSpec) -> String {
    let path = route
        .path
        .trim_start_matches("/v1/tenants/{tenant}")
        .trim_start_matches("/v1");
    let mut id = route.method.to_ascii_lowercase();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        let word = segment.trim_start_matches('{').trim_end_matches('}');
        id.push('_');
        id.extend(word.chars().map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        }));
    }
    if route.path.starts_with("/v1/tenants/{tenant}") {
        id.push_str("_of_tenant");
    } else if route.path == "/v1/tenants" {
        id.push_str("_tenants");
    }
    id
}

fn path_parameter(name: &str) -> Value {
    let (schema, description) = match name {
        "tenant" => (json!({"type": "string", "minLength": 1}), "The tenant id"),
        "subject" => (
            json!({"type": "string", "pattern": "^[0-9a-f]{64}$"}),
            "A pseudonym from subjects/resolve (64 hex digits)",
        ),
        "erasure_id" => (
            json!({"type": "string", "pattern": "^[0-9a-f]{32}$"}),
            "The id a request returned (32 hex digits)",
        ),
        "version" => (
            json!({"type": "string", "pattern": "^([0-9]+|latest)$"}),
            "A version number or latest",
        ),
        "purpose" => (
            json!({"type": "string", "pattern": "^[a-z][a-z0-9_]{0,31}$"}),
            "A purpose name",
        ),
        "event_type" => (
            json!({"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "maxLength": 64}),
            "An event type",
        ),
        "alias" => (
            json!({"type": "string", "pattern": "^[a-z][a-z0-9_-]*$", "maxLength": 64}),
            "An alias name (production, candidate, any name)",
        ),
        _ => (json!({"type": "string", "minLength": 1}), ""),
    };
    json!({"name": name, "in": "path", "required": true, "schema": schema, "description": description})
}

fn operation(route: &RouteSpec) -> Value {
    let mut responses_out = Map::new();
    let (status, answer) = route.ok;
    responses_out.insert(
        status.to_string(),
        json!({"$ref": format!("#/components/responses/{answer}")}),
    );
    if route.signed_link {
        responses_out.insert(
            "206".into(),
            json!({"$ref": format!("#/components/responses/{answer}")}),
        );
    }
    for (status, answer) in route.also {
        responses_out.insert(
            status.to_string(),
            json!({"$ref": format!("#/components/responses/{answer}")}),
        );
    }
    for (status, codes) in route_problems(route) {
        responses_out.insert(
            status.to_string(),
            json!({
                "description": format!("{}. Codes: {}", status_text(status), codes.join(", ")),
                "x-codes": codes,
                "content": {"application/problem+json": {"schema": schema_ref("Problem")}},
            }),
        );
    }
    let mut op = json!({
        "operationId": operation_id(route),
        "summary": route.summary,
        "description": format!("Allowed: {}.", route.who),
        "responses": responses_out,
    });
    let mut params: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(path_parameter)
        .collect();
    params.extend(
        route
            .query
            .iter()
            .map(|key| json!({"$ref": format!("#/components/parameters/{key}")})),
    );
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    if let Some(body) = route.body {
        op["requestBody"] = json!({"$ref": format!("#/components/requestBodies/{body}")});
    }
    if route.authenticated {
        let mut security = vec![json!({"apiKey": []}), json!({"jwt": []})];
        if route.signed_link {
            security.push(json!({"signedLink": []}));
        }
        op["security"] = Value::Array(security);
    } else {
        op["security"] = json!([]);
    }
    op
}

pub fn openapi_document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "Steward",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Customer-event platform. Every error is application/problem+json with a stable `code`; each operation lists the codes it answers with.",
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "stw_k_<id>_<secret>", "description": "A tenant API key (or the operator key)"},
                "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "A token from the tenant's configured issuer (PUT .../identity)"},
                "signedLink": {"type": "apiKey", "in": "query", "name": "sig", "description": "A signed link from .../links: expires, key_id, purpose and sig in the query string, no Authorization header"},
            },
            "schemas": schemas(),
            "parameters": parameters(),
            "requestBodies": request_bodies(),
            "responses": responses(),
        },
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// POSTs that read no body at all.
    const BODILESS: &[&str] = &["/v1/backup"];

    #[test]
    fn every_route_with_a_body_method_has_a_request_body_schema() {
        let bodies = request_bodies();
        for route in ROUTES {
            if matches!(route.method, "POST" | "PUT") && !BODILESS.contains(&route.path) {
                let name = route.body.unwrap_or_else(|| {
                    panic!(
                        "{} {} takes a body but names no schema",
                        route.method, route.path
                    )
                });
                assert!(
                    bodies.contains_key(name),
                    "{} {}: no request body {name}",
                    route.method,
                    route.path
                );
            } else {
                assert!(
                    route.body.is_none(),
                    "{} {} has a body",
                    route.method,
                    route.path
                );
            }
        }
    }

    #[test]
    fn every_route_lists_its_problem_responses() {
        for route in ROUTES {
            let problems = route_problems(route);
            if route.authenticated {
                for status in [400, 401, 403, 404, 429, 503] {
                    assert!(
                        problems.contains_key(&status),
                        "{} {}: no {status}",
                        route.method,
                        route.path
                    );
                }
            }
            if route.body.is_some() {
                for status in [413, 415] {
                    assert!(
                        problems.contains_key(&status),
                        "{} {}: no {status}",
                        route.method,
                        route.path
                    );
                }
            }
        }
    }

    #[test]
    fn every_name_the_table_uses_is_defined_and_operation_ids_are_unique() {
        let (answers, params) = (responses(), parameters());
        let mut ids = std::collections::HashSet::new();
        for route in ROUTES {
            assert!(
                answers.contains_key(route.ok.1),
                "{} {}: no answer {}",
                route.method,
                route.path,
                route.ok.1
            );
            for (_, answer) in route.also {
                assert!(
                    answers.contains_key(*answer),
                    "{} {}: no answer {answer}",
                    route.method,
                    route.path
                );
            }
            for key in route.query {
                assert!(
                    params.contains_key(*key),
                    "{} {}: no parameter {key}",
                    route.method,
                    route.path
                );
            }
            assert!(
                ids.insert(operation_id(route)),
                "{} {}: operationId taken",
                route.method,
                route.path
            );
        }
    }

    /// Found by schemathesis: an all-or-nothing ingest that refuses answers 422 with the
    /// ingest report (application/json), not a problem; the document said problem+json.
    #[test]
    fn a_refused_all_or_nothing_ingest_is_documented_as_the_report() {
        let doc = openapi_document();
        let answer = &doc["paths"]["/v1/tenants/{tenant}/events"]["post"]["responses"]["422"];
        assert_eq!(
            answer["$ref"], "#/components/responses/IngestReport",
            "{answer}"
        );
        let report = &doc["components"]["responses"]["IngestReport"]["content"];
        assert!(report["application/json"].is_object(), "{report}");
    }

    /// Every array says what it holds (client generators refuse an array without `items`).
    #[test]
    fn every_array_names_its_items() {
        fn walk(path: &str, value: &Value) {
            match value {
                Value::Object(map) => {
                    if map.get("type") == Some(&json!("array")) {
                        assert!(map.contains_key("items"), "{path}: an array without items");
                    }
                    map.iter()
                        .for_each(|(k, v)| walk(&format!("{path}/{k}"), v));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(path, v)),
                _ => {}
            }
        }
        walk("", &openapi_document());
    }

    /// Every `$ref` in the document resolves.
    #[test]
    fn every_reference_resolves() {
        fn walk(doc: &Value, value: &Value) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        let pointer = target.trim_start_matches('#');
                        assert!(doc.pointer(pointer).is_some(), "dangling {target}");
                    }
                    map.values().for_each(|v| walk(doc, v));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(doc, v)),
                _ => {}
            }
        }
        let doc = openapi_document();
        walk(&doc, &doc);
    }
}
