//! Errors never echo submitted values, against the real binary: a canary value goes through
//! every error path a request can reach (malformed JSON, unknown fields, wrong types, bad roles,
//! schema and event type names, consent import lines, SQL, policy text, purposes, data set
//! names, query strings, path parameters, NDJSON lines, tokens), and neither any response body
//! nor the server's log (at debug level) carries it. Field paths, line numbers and the names
//! of our own fields may appear; what the caller sent may not.

mod common;

use common::routes::*;
use common::*;
use serde_json::{Value, json};
use steward_server::ROUTES;

const TENANT: &str = "acme";

/// One request that must fail without repeating the canary.
struct Probe {
    what: String,
    method: &'static str,
    path: String,
    body: Option<(&'static str, Vec<u8>)>,
}

fn json_probe(what: &str, method: &'static str, path: String, body: Value) -> Probe {
    Probe {
        what: what.to_owned(),
        method,
        path,
        body: Some(("application/json", body.to_string().into_bytes())),
    }
}

fn raw_probe(
    what: &str,
    method: &'static str,
    path: String,
    content_type: &'static str,
    body: String,
) -> Probe {
    Probe {
        what: what.to_owned(),
        method,
        path,
        body: Some((content_type, body.into_bytes())),
    }
}

fn get_probe(what: &str, path: String) -> Probe {
    Probe {
        what: what.to_owned(),
        method: "GET",
        path,
        body: None,
    }
}

#[test]
fn no_error_response_or_log_line_repeats_a_submitted_value() {
    let mut deployment = Deployment::init();
    deployment.rust_log = Some("debug".to_owned());
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    let person = "echo-person@example.org";
    assert_eq!(
        ingest(
            &api,
            &keys.writer,
            TENANT,
            &[play_event(
                "e-1",
                person,
                &time_at(1_000),
                "m@example.org",
                "t-1",
                5
            )]
        )["accepted"],
        1
    );
    let subject = resolve(&api, &keys.reader, TENANT, person);
    api.post(&keys.path("/datasets"), Some(&keys.reader), &json!({"name": "plays", "sql": "SELECT subject, track_id FROM play", "purpose": "model_training"}))
        .expect(201, "data set");

    // Lower case, digits and `_` only: a value that passes every character check, so only a
    // message that repeats it can give it away.
    let canary = format!("zqcanary{}", random_hex(6));
    let c = canary.as_str();
    let t = |rest: &str| keys.path(rest);
    let mut probes = vec![
        // Malformed and mistyped JSON bodies.
        raw_probe(
            "JSON syntax after the canary",
            "POST",
            t("/keys"),
            "application/json",
            format!(r#"{{"name": "{c}", "role": "reader" x"#),
        ),
        raw_probe(
            "JSON truncated in the canary",
            "POST",
            t("/keys"),
            "application/json",
            format!(r#"{{"name": "{c}"#),
        ),
        json_probe(
            "unknown field (key)",
            "POST",
            t("/keys"),
            json!({"name": "k", "role": "reader", c: 1}),
        ),
        json_probe(
            "unknown field (identity)",
            "PUT",
            t("/identity"),
            json!({"issuer": "i", "audience": "a", "jwks": {"keys": []}, c: true}),
        ),
        json_probe(
            "unknown field (sql)",
            "POST",
            t("/sql"),
            json!({"sql": "SELECT 1", c: 1}),
        ),
        json_probe(
            "unknown field (data set)",
            "POST",
            t("/datasets"),
            json!({"name": "d", "sql": "SELECT 1", c: 1}),
        ),
        json_probe(
            "unknown field (erasure)",
            "POST",
            t("/erasures"),
            json!({"external_id": "x", c: 1}),
        ),
        json_probe(
            "wrong type (consent)",
            "PUT",
            format!("/v1/tenants/{TENANT}/subjects/{subject}/consents/analytics"),
            json!({"granted": c}),
        ),
        json_probe(
            "wrong type (links)",
            "POST",
            t("/datasets/plays/versions/1/links?purpose=model_training"),
            json!({"ttl_s": c}),
        ),
        json_probe(
            "wrong type (resolve)",
            "POST",
            t("/subjects/resolve"),
            json!({"external_id": [c]}),
        ),
        json_probe(
            "unknown value (regime)",
            "PUT",
            t("/consent-regimes/analytics"),
            json!({"regime": c}),
        ),
        json_probe(
            "unknown field (tenant)",
            "POST",
            "/v1/tenants".to_owned(),
            json!({"id": "t2", c: 1}),
        ),
        json_probe(
            "bad tenant id",
            "POST",
            "/v1/tenants".to_owned(),
            json!({"id": format!("{c}!")}),
        ),
        // Roles.
        json_probe(
            "bad role (key)",
            "POST",
            t("/keys"),
            json!({"name": "k", "role": c}),
        ),
        json_probe(
            "bad role (check)",
            "POST",
            t("/policies/check"),
            json!({"role": c, "action": "read_timeline", "purpose": "support"}),
        ),
        json_probe(
            "bad action (check)",
            "POST",
            t("/policies/check"),
            json!({"role": "reader", "action": c, "purpose": "support"}),
        ),
        // Schema and event type names, schema documents.
        json_probe(
            "bad event type",
            "PUT",
            t(&format!("/schemas/{c}-!")),
            json!({"fields": {}}),
        ),
        get_probe("unknown event type", t(&format!("/schemas/{c}"))),
        json_probe(
            "bad field type",
            "PUT",
            t("/schemas/echo"),
            json!({"fields": {"f": {"type": c, "class": "public"}}}),
        ),
        json_probe(
            "bad field class",
            "PUT",
            t("/schemas/echo"),
            json!({"fields": {"f": {"type": "string", "class": c}}}),
        ),
        json_probe(
            "bad field name",
            "PUT",
            t("/schemas/echo"),
            json!({"fields": {format!("{c} !"): {"type": "string", "class": "public"}}}),
        ),
        json_probe(
            "unknown schema key",
            "PUT",
            t("/schemas/echo"),
            json!({"fields": {"f": {"type": "string", "class": "public", c: 1}}}),
        ),
        // Consent import lines.
        raw_probe(
            "consent line: not JSON",
            "POST",
            t("/consents"),
            "application/x-ndjson",
            format!("{{\"external_id\": \"{c}\", \"purpose\"\n"),
        ),
        raw_probe(
            "consent line: unknown field",
            "POST",
            t("/consents"),
            "application/x-ndjson",
            format!(
                "{}\n",
                json!({"external_id": "x", "purpose": "analytics", "granted": true, c: 1})
            ),
        ),
        raw_probe(
            "consent line: bad purpose",
            "POST",
            t("/consents"),
            "application/x-ndjson",
            format!(
                "{}\n",
                json!({"external_id": "x", "purpose": format!("{c}X"), "granted": true})
            ),
        ),
        raw_probe(
            "consent line: bad type",
            "POST",
            t("/consents"),
            "application/x-ndjson",
            format!(
                "{}\n",
                json!({"external_id": "x", "purpose": "analytics", "granted": c})
            ),
        ),
        raw_probe(
            "consent line: bad source",
            "POST",
            t("/consents"),
            "application/x-ndjson",
            format!(
                "{}\n",
                json!({"external_id": "x", "purpose": "analytics", "granted": true, "source": c})
            ),
        ),
        raw_probe(
            "consent line: bad time",
            "POST",
            t("/consents"),
            "application/x-ndjson",
            format!(
                "{}\n",
                json!({"external_id": "x", "purpose": "analytics", "granted": true, "at": c})
            ),
        ),
        // SQL.
        json_probe(
            "SQL: unknown column",
            "POST",
            t("/sql"),
            json!({"sql": format!("SELECT {c} FROM events"), "purpose": "analytics"}),
        ),
        json_probe(
            "SQL: unknown table",
            "POST",
            t("/sql"),
            json!({"sql": format!("SELECT * FROM {c}"), "purpose": "analytics"}),
        ),
        json_probe(
            "SQL: syntax",
            "POST",
            t("/sql"),
            json!({"sql": format!("SELEC {c}"), "purpose": "analytics"}),
        ),
        json_probe(
            "SQL: unknown function",
            "POST",
            t("/sql"),
            json!({"sql": format!("SELECT {c}(1)"), "purpose": "analytics"}),
        ),
        json_probe(
            "SQL: not read-only",
            "POST",
            t("/sql"),
            json!({"sql": format!("CREATE TABLE {c} (a INT)"), "purpose": "analytics"}),
        ),
        json_probe(
            "SQL: bad cast of a literal",
            "POST",
            t("/sql"),
            json!({"sql": format!("SELECT CAST('{c}' AS INT)"), "purpose": "analytics"}),
        ),
        json_probe(
            "SQL: bad purpose",
            "POST",
            t("/sql"),
            json!({"sql": "SELECT 1", "purpose": c}),
        ),
        json_probe(
            "data set: bad SQL",
            "POST",
            t("/datasets"),
            json!({"name": "d2", "sql": format!("SELECT {c} FROM play"), "purpose": "model_training"}),
        ),
        // Policy text.
        raw_probe(
            "policy: syntax",
            "PUT",
            t("/policies"),
            "text/plain",
            format!("permit (principal, action, resource) when {{ {c} }};"),
        ),
        raw_probe(
            "policy: unknown attribute",
            "PUT",
            t("/policies"),
            "text/plain",
            format!("permit (principal, action, resource) when {{ context.{c} == 1 }};"),
        ),
        raw_probe(
            "policy: unknown entity type",
            "PUT",
            t("/policies"),
            "text/plain",
            format!("permit (principal == {c}::\"x\", action, resource);"),
        ),
        raw_probe(
            "policy: unknown action",
            "PUT",
            t("/policies"),
            "text/plain",
            format!("permit (principal, action == Action::\"{c}\", resource);"),
        ),
        raw_probe(
            "policy: string literal",
            "PUT",
            t("/policies"),
            "text/plain",
            format!("permit (principal, action, resource) when {{ \"{c}\" + 1 }};"),
        ),
        raw_probe(
            "policy: bad id",
            "PUT",
            t("/policies"),
            "text/plain",
            format!("@id(\"platform.{c}\") permit (principal, action, resource);"),
        ),
        json_probe(
            "policy check: draft",
            "POST",
            t("/policies/check"),
            json!({"role": "reader", "action": "read_timeline", "purpose": "support", "policies": format!("permit (principal, action, resource) when {{ {c} }};")}),
        ),
        // Purposes.
        get_probe(
            "timeline: bad purpose",
            format!("/v1/tenants/{TENANT}/subjects/{subject}/events?purpose={c}"),
        ),
        // (A well-formed purpose the policies do not name is stored for consents and keys, so
        // these use a malformed one.)
        json_probe(
            "consent: bad purpose",
            "PUT",
            format!("/v1/tenants/{TENANT}/subjects/{subject}/consents/{c}X"),
            json!({"granted": true}),
        ),
        json_probe(
            "regime: bad purpose",
            "PUT",
            t(&format!("/consent-regimes/{c}X")),
            json!({"regime": "opt_out"}),
        ),
        json_probe(
            "key: bad purposes",
            "POST",
            t("/keys"),
            json!({"name": "k", "role": "reader", "purposes": [format!("{c}X")]}),
        ),
        json_probe(
            "check: bad purpose",
            "POST",
            t("/policies/check"),
            json!({"role": "reader", "action": "read_timeline", "purpose": c}),
        ),
        json_probe(
            "data set: bad purpose",
            "POST",
            t("/datasets"),
            json!({"name": "d3", "sql": "SELECT subject FROM play", "purpose": c}),
        ),
        // Data set names.
        json_probe(
            "data set: bad name",
            "POST",
            t("/datasets"),
            json!({"name": format!("{c}/../x"), "sql": "SELECT subject FROM play"}),
        ),
        get_probe(
            "data set: unknown name",
            t(&format!("/datasets/{c}/versions?purpose=model_training")),
        ),
        get_probe(
            "data set: encoded traversal",
            t(&format!(
                "/datasets/..%2F{c}/versions?purpose=model_training"
            )),
        ),
        get_probe(
            "data set: bad version",
            t(&format!(
                "/datasets/plays/versions/{c}?purpose=model_training"
            )),
        ),
        get_probe(
            "data set: bad file",
            t(&format!(
                "/datasets/plays/versions/1/files/{c}.parquet?purpose=model_training"
            )),
        ),
        get_probe(
            "data set: diff bad bounds",
            t(&format!(
                "/datasets/plays/diff?purpose=model_training&from={c}&to=1"
            )),
        ),
        // Query strings and path parameters.
        get_probe(
            "timeline: bad limit",
            format!("/v1/tenants/{TENANT}/subjects/{subject}/events?purpose=support&limit={c}"),
        ),
        get_probe(
            "timeline: bad cursor",
            format!("/v1/tenants/{TENANT}/subjects/{subject}/events?purpose=support&cursor={c}"),
        ),
        get_probe(
            "timeline: bad subject",
            format!("/v1/tenants/{TENANT}/subjects/{c}/events?purpose=support"),
        ),
        get_probe(
            "timeline: unknown parameter",
            format!("/v1/tenants/{TENANT}/subjects/{subject}/events?purpose=support&{c}=1"),
        ),
        get_probe("erasure: bad id", t(&format!("/erasures/{c}"))),
        get_probe("receipt: bad id", t(&format!("/erasures/{c}/receipt"))),
        get_probe(
            "proof: bad index",
            t(&format!("/audit/proofs/inclusion?index={c}")),
        ),
        get_probe("heads: bad parameter", t(&format!("/audit/heads?from={c}"))),
        get_probe(
            "policies: bad version",
            t(&format!("/policies?version={c}")),
        ),
        get_probe(
            "schema: bad version",
            t(&format!("/schemas/play?version={c}")),
        ),
        get_probe("unknown tenant", format!("/v1/tenants/{c}/schemas")),
        get_probe("unknown route", format!("/v1/{c}")),
        Probe {
            what: "key: revoke unknown".to_owned(),
            method: "DELETE",
            path: t(&format!("/keys/{c}")),
            body: None,
        },
        json_probe(
            "ingest: query parameter",
            "POST",
            t(&format!("/events?{c}=1")),
            json!([]),
        ),
        // Ingest: envelopes, properties, NDJSON lines.
        json_probe(
            "ingest: unknown type",
            "POST",
            t("/events"),
            json!([{"event_id": "x1", "type": c, "subject": "s", "time": time_at(1), "properties": {}}]),
        ),
        json_probe(
            "ingest: bad event id",
            "POST",
            t("/events"),
            json!([{"event_id": format!("{c} \n"), "type": "play", "subject": "s", "time": time_at(1), "properties": {}}]),
        ),
        json_probe(
            "ingest: bad time",
            "POST",
            t("/events"),
            json!([{"event_id": "x2", "type": "play", "subject": "s", "time": c, "properties": {}}]),
        ),
        json_probe(
            "ingest: wrong property type",
            "POST",
            t("/events"),
            json!([{"event_id": "x3", "type": "play", "subject": "s", "time": time_at(1), "properties": {"track_id": "t", "ms_played": c}}]),
        ),
        json_probe(
            "ingest: unknown property",
            "POST",
            t("/events"),
            json!([{"event_id": "x4", "type": "play", "subject": "s", "time": time_at(1), "properties": {"track_id": "t", c: 1}}]),
        ),
        json_probe(
            "ingest: unknown envelope field",
            "POST",
            t("/events"),
            json!([{"event_id": "x5", "type": "play", "subject": "s", "time": time_at(1), "properties": {"track_id": "t"}, c: 1}]),
        ),
        raw_probe(
            "ingest: JSON syntax",
            "POST",
            t("/events"),
            "application/json",
            format!("[{{\"event_id\": \"{c}\" x"),
        ),
        raw_probe(
            "ingest: NDJSON line",
            "POST",
            t("/events"),
            "application/x-ndjson",
            format!("{{\"event_id\": \"{c}\" x\n"),
        ),
        // Identity.
        json_probe(
            "identity: bad JWKS",
            "PUT",
            t("/identity"),
            json!({"issuer": "i", "audience": "a", "jwks": {"keys": [{"kty": c, "kid": c}]}}),
        ),
        json_probe(
            "identity: bad tenant claim",
            "PUT",
            t("/identity"),
            json!({"issuer": "i", "audience": "a", "jwks": {"keys": []}, "tenant_claim": format!("{c} x")}),
        ),
        json_probe(
            "identity: bad issuer",
            "PUT",
            t("/identity"),
            json!({"issuer": format!("{c}\n"), "audience": "a", "jwks": {"keys": []}}),
        ),
        // Keys and rate limits.
        json_probe(
            "key: bad name",
            "POST",
            t("/keys"),
            json!({"name": format!("{c}\n"), "role": "reader"}),
        ),
        json_probe(
            "key: bad expiry",
            "POST",
            t("/keys"),
            json!({"name": "k", "role": "reader", "expires_at": c}),
        ),
        json_probe(
            "key: bad rate limit",
            "POST",
            t("/keys"),
            json!({"name": "k", "role": "reader", "rate_limit": {"per_second": c}}),
        ),
        // PII scan and erasure batches.
        json_probe(
            "pii: bad languages",
            "POST",
            t("/pii/scan"),
            json!({"text": "x", c: 1}),
        ),
        json_probe(
            "erasure batch: bad ids",
            "POST",
            t("/erasures/batch"),
            json!({"external_ids": [c, 1]}),
        ),
        json_probe(
            "subject report: bad body",
            "POST",
            t("/audit/reports/subject"),
            json!({"external_id": "x", c: 1}),
        ),
        json_probe(
            "access request: bad body",
            "POST",
            t("/access-requests"),
            json!({"external_id": "x", c: 1}),
        ),
    ];
    // Every route with a JSON body also gets a body that is only the canary's unknown field.
    for route in ROUTES
        .iter()
        .filter(|r| r.method != "GET" && r.method != "DELETE")
    {
        let key_id = keys
            .key_ids
            .iter()
            .find(|(r, _)| r == "writer")
            .map(|(_, id)| id.clone())
            .unwrap();
        let params = Params {
            tenant: TENANT,
            key_id: &key_id,
            subject: &subject,
            erasure_id: "e_0000000000000000",
        };
        probes.push(json_probe(
            &format!(
                "{} {}: a body of one unknown field",
                route.method, route.path
            ),
            route.method,
            fill(route, &params),
            json!({c: c}),
        ));
    }

    let mut leaks = Vec::new();
    let mut answered_ok = Vec::new();
    for probe in &probes {
        let key = if probe.path == "/v1/tenants" {
            deployment.operator_key.as_str()
        } else {
            keys.admin.as_str()
        };
        let resp = api
            .try_request(probe.method, &probe.path, Some(key), probe.body.clone())
            .unwrap_or_else(|e| panic!("{}: transport error {e}", probe.what));
        // An error answer, or the per-line / per-event errors of a 200 report.
        let error_text = if resp.status >= 400 {
            resp.text.clone()
        } else {
            resp.body["rejected"].to_string()
        };
        if resp.status < 400 && resp.body["rejected_count"].as_u64().unwrap_or(0) == 0 {
            answered_ok.push(format!(
                "{} ({} {}): {} {}",
                probe.what, probe.method, probe.path, resp.status, resp.text
            ));
        }
        if error_text.contains(c) {
            leaks.push(format!(
                "{} ({} {}): {} {}",
                probe.what, probe.method, probe.path, resp.status, resp.text
            ));
        }
    }
    // A bearer token that is the canary.
    let resp = api
        .try_request_with_authorization(
            "GET",
            &keys.path("/schemas"),
            Some(&format!("Bearer {c}")),
            None,
        )
        .unwrap();
    assert_eq!(resp.status, 401);
    if resp.text.contains(c) {
        leaks.push(format!("bearer token: {}", resp.text));
    }
    let stderr = server.stderr();
    let log_leaks: Vec<&str> = stderr.lines().filter(|l| l.contains(c)).collect();
    assert!(
        leaks.is_empty(),
        "{} of {} error answers repeat the submitted value:\n{}",
        leaks.len(),
        probes.len(),
        leaks.join("\n")
    );
    assert!(
        log_leaks.is_empty(),
        "{} server log lines repeat the submitted value:\n{}",
        log_leaks.len(),
        log_leaks.join("\n")
    );
    // Probes that did not fail prove nothing.
    assert!(
        answered_ok.is_empty(),
        "probes that did not reach an error path:\n{}",
        answered_ok.join("\n")
    );
}
