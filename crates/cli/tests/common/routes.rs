//! The route table walked by tests that call every route: plausible path parameters and
//! bodies for each, and one call helper.

#![allow(dead_code)]

use serde_json::{Value, json};
use steward_engine::steward_policy::DEFAULT_POLICIES;
use steward_server::RouteSpec;

use super::{Api, Resp, play_event, play_schema, time_at};

/// Plausible path parameters.
pub struct Params<'a> {
    pub tenant: &'a str,
    pub key_id: &'a str,
    pub subject: &'a str,
    pub erasure_id: &'a str,
}

pub fn fill(route: &RouteSpec, p: &Params) -> String {
    let mut path = route
        .path
        .replace("{tenant}", p.tenant)
        .replace("{key_id}", p.key_id)
        .replace("{subject}", p.subject)
        .replace("{erasure_id}", p.erasure_id)
        .replace("{purpose}", "personalization")
        .replace("{event_type}", "play")
        .replace("{name}", "plays")
        .replace("{version}", "1")
        .replace("{file}", "part-00000.parquet")
        .replace("{item_id}", "item-1")
        .replace("{alias}", "candidate");
    assert!(!path.contains('{'), "unfilled parameter in {path}");
    if path.ends_with("/events") && route.method == "GET" {
        path.push_str("?purpose=support");
    }
    if path.contains("/datasets") && route.method == "GET" || path.ends_with("/links") {
        path.push_str("?purpose=model_training");
    }
    if path.ends_with("/diff?purpose=model_training") {
        path.push_str("&from=1&to=1");
    }
    if path.ends_with("/proofs/inclusion") {
        path.push_str("?index=0");
    }
    if path.ends_with("/proofs/consistency") {
        path.push_str("?from=1&to=1");
    }
    if path.ends_with("/reports/principal") {
        path.push_str("?principal=key:kxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    }
    path
}

/// A plausible body for the route (unique where the route creates something).
pub fn body_for(route: &RouteSpec, subject_external_id: &str, n: usize) -> Option<Value> {
    match (route.method, route.path) {
        ("POST", "/v1/tenants") => Some(json!({"id": format!("t-made-{n}")})),
        ("POST", "/v1/tenants/{tenant}/keys") => {
            Some(json!({"name": format!("made-{n}"), "role": "admin"}))
        }
        ("PUT", "/v1/tenants/{tenant}/schemas/{event_type}") => {
            let mut schema = play_schema();
            schema["fields"]["intruder"] = json!({"type": "string", "class": "public"});
            Some(schema)
        }
        ("POST", "/v1/tenants/{tenant}/events") => Some(json!([play_event(
            &format!("planted-{n}"),
            subject_external_id,
            &time_at(7_000_000_000 + n as i64),
            "planted@mail.example",
            "planted-track",
            1
        )])),
        ("PUT", "/v1/tenants/{tenant}/items/{item_id}") => {
            Some(json!({"properties": {"genre": "jazz"}, "text": format!("an item {n}")}))
        }
        ("POST", "/v1/tenants/{tenant}/items") => {
            Some(json!([{"item_id": format!("item-made-{n}"), "properties": {"genre": "rock"}}]))
        }
        ("POST", "/v1/tenants/{tenant}/subjects/resolve")
        | ("POST", "/v1/tenants/{tenant}/audit/reports/subject")
        | ("POST", "/v1/tenants/{tenant}/access-requests") => {
            Some(json!({"external_id": subject_external_id}))
        }
        // A throwaway subject: erasing it changes nothing the test reads.
        ("POST", "/v1/tenants/{tenant}/erasures") => {
            Some(json!({"external_id": format!("erase-me-{n}@example.org")}))
        }
        ("POST", "/v1/tenants/{tenant}/erasures/batch") => Some(
            json!({"external_ids": [format!("erase-me-{n}-a@example.org"), format!("erase-me-{n}-b@example.org")]}),
        ),
        // Consent decisions about a purpose the test never reads for.
        ("PUT", "/v1/tenants/{tenant}/subjects/{subject}/consents/{purpose}") => {
            Some(json!({"granted": true}))
        }
        ("POST", "/v1/tenants/{tenant}/consents") => Some(
            json!({"external_id": subject_external_id, "purpose": "personalization", "granted": true}),
        ),
        ("PUT", "/v1/tenants/{tenant}/consent-regimes/{purpose}") => {
            Some(json!({"regime": "opt_out"}))
        }
        ("POST", "/v1/tenants/{tenant}/pii/scan") => Some(json!({"text": "call +1 415 555 0100"})),
        ("POST", "/v1/tenants/{tenant}/sql") => {
            Some(json!({"sql": "SELECT event_id, subject FROM events", "purpose": "support"}))
        }
        ("POST", "/v1/tenants/{tenant}/datasets") => {
            Some(json!({"name": format!("iso-{n}"), "sql": "SELECT subject, track_id FROM play"}))
        }
        ("POST", "/v1/tenants/{tenant}/datasets/{name}/versions/{version}/links") => {
            Some(json!({"ttl_s": 60}))
        }
        // A popularity model of the "plays" data set (instant), a new version each time.
        ("POST", "/v1/tenants/{tenant}/models") => Some(
            json!({"name": "plays", "algorithm": "popularity", "dataset": {"name": "plays", "version": 1}, "columns": {"user": "subject", "item": "track_id"}}),
        ),
        ("POST", "/v1/tenants/{tenant}/models/{name}/versions/{version}/cancel") => Some(json!({})),
        // Serving the "plays" model (the subject by external id: read through the guard).
        ("POST", "/v1/tenants/{tenant}/recommendations") => {
            Some(json!({"model": "plays", "external_id": subject_external_id, "k": 5}))
        }
        ("POST", "/v1/tenants/{tenant}/rerank") => Some(
            json!({"model": "plays", "external_id": subject_external_id, "items": ["planted-track", "item-1"]}),
        ),
        ("POST", "/v1/tenants/{tenant}/items/{item_id}/similar")
        | ("POST", "/v1/tenants/{tenant}/popular") => Some(json!({"model": "plays", "k": 5})),
        ("POST", "/v1/tenants/{tenant}/experiments") => {
            Some(super::experiment_body(&format!("iso-{n}"), "plays"))
        }
        ("POST", "/v1/tenants/{tenant}/experiments/{name}/stop") => Some(json!({})),
        // Embeddings and indexes (the set-up made an index "plays" over the play events' track ids).
        ("POST", "/v1/tenants/{tenant}/embeddings") => Some(json!({"texts": ["hello"]})),
        ("POST", "/v1/tenants/{tenant}/indexes") => Some(
            json!({"name": format!("plays-{n}"), "source": {"event_type": "play", "field": "track_id"}}),
        ),
        ("POST", "/v1/tenants/{tenant}/indexes/{name}/search") => {
            Some(json!({"query": "planted track", "k": 3}))
        }
        ("POST", "/v1/tenants/{tenant}/indexes/{name}/retrieve") => {
            Some(json!({"question": "which track?", "k": 2}))
        }
        ("POST", "/v1/tenants/{tenant}/indexes/{name}/answer") => {
            Some(json!({"question": "which track?", "k": 2, "max_tokens": 4}))
        }
        ("PUT", "/v1/tenants/{tenant}/models/{name}/aliases/{alias}") => {
            Some(json!({"version": 1}))
        }
        ("PUT", "/v1/tenants/{tenant}/identity") => Some(json!({
            "issuer": "https://login.example",
            "audience": "steward",
            "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "k1", "x": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]},
        })),
        ("POST", "/v1/tenants/{tenant}/policies/check") => Some(
            json!({"role": "reader", "action": "read_timeline", "purpose": "support", "resource": {"kind": "Subject", "id": "x"}}),
        ),
        _ => None,
    }
}

pub fn call(
    api: &Api,
    route: &RouteSpec,
    path: &str,
    authorization: Option<&str>,
    body: Option<Value>,
) -> Resp {
    // Policies are Cedar text; the default set again changes nothing about who may do what.
    let body = if (route.method, route.path) == ("PUT", "/v1/tenants/{tenant}/policies") {
        Some(("text/plain", DEFAULT_POLICIES.as_bytes().to_vec()))
    } else {
        body.map(|b| ("application/json", b.to_string().into_bytes()))
    };
    let resp = api
        .try_request_with_authorization(route.method, path, authorization, body)
        .unwrap_or_else(|e| panic!("{} {path}: {e}", route.method));
    // Dropping the set-up's index "plays" succeeded: make it again, so the routes after this
    // one (and the next walk) still have an index to search.
    if (route.method, route.path) == ("DELETE", "/v1/tenants/{tenant}/indexes/{name}")
        && (200..300).contains(&resp.status)
        && let Some(indexes) = path.strip_suffix("/plays")
    {
        let again = json!({"name": "plays", "source": {"event_type": "play", "field": "track_id"}});
        let made = api
            .try_request_with_authorization(
                "POST",
                indexes,
                authorization,
                Some(("application/json", again.to_string().into_bytes())),
            )
            .unwrap_or_else(|e| panic!("POST {indexes}: {e}"));
        assert_eq!(made.status, 201, "index made again: {}", made.text);
    }
    resp
}

pub fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}
