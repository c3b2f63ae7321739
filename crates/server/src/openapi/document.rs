//! The OpenAPI 3.1 document served at `/openapi.json`, built from the route table.

use serde_json::{Map, Value, json};

use super::ROUTES;

pub fn openapi_document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
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
            op["responses"]["403"] = json!({"description": "Refused by the tenant's policies (the problem lists the deciding policy ids)"});
            op["responses"]["429"] =
                json!({"description": "The key's rate limit; see Retry-After"});
            op["responses"]["404"] =
                json!({"description": "Not found (also: another tenant's resource)"});
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
