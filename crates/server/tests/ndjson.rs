//! NDJSON ingest through the router (`oneshot`): chunking, line numbers as indexes, limits.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use steward_engine::{Engine, EngineConfig};
use tower::ServiceExt;

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Arc<Engine>,
    writer: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    steward_engine::init(dir.path()).unwrap();
    let mut config = EngineConfig::new(dir.path());
    config.background = false;
    let engine = Engine::open(config).unwrap();
    engine.create_tenant("acme").unwrap();
    let schema = json!({"fields": {"track_id": {"type": "string", "class": "public", "required": true}, "email": {"type": "string", "class": "personal"}}});
    engine.put_schema("acme", "play", &schema).unwrap();
    let (_, writer) = engine
        .create_key(
            "acme",
            steward_engine::NewKey::new("w", steward_access::Role::Writer),
        )
        .unwrap();
    Fixture {
        _dir: dir,
        engine,
        writer,
    }
}

fn line(id: usize) -> String {
    json!({"event_id": format!("e-{id}"), "type": "play", "subject": format!("u-{}", id % 7), "time": "2026-11-22T10:00:00Z",
           "properties": {"track_id": format!("t-{id}"), "email": "x@example.org"}})
    .to_string()
}

/// Sends `body` split into pieces of `piece` bytes, as a streamed request.
async fn send(fixture: &Fixture, body: Vec<u8>, piece: usize) -> (StatusCode, Value) {
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(piece).map(|c| Ok(c.to_vec())).collect();
    let request = Request::post("/v1/tenants/acme/events")
        .header("authorization", format!("Bearer {}", fixture.writer))
        .header("content-type", "application/x-ndjson")
        .body(Body::from_stream(futures_util::stream::iter(pieces)))
        .unwrap();
    let response = steward_server::app(steward_server::AppState::new(fixture.engine.clone()))
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_are_line_numbers_across_chunks_and_odd_splits() {
    let fixture = fixture();
    let mut body = String::new();
    for i in 0..20_000 {
        match i {
            5 => body.push('\n'),                              // blank line: skipped, still counted
            9 => body.push_str("{not json}\n"),                // invalid JSON
            13_333 => body.push_str(&format!("{}\n", json!({"event_id": "bad", "type": "play", "subject": "u", "time": "2026-11-22T10:00:00Z", "properties": {}}))),
            _ => body.push_str(&format!("{}\n", line(i))),
        }
    }
    body.pop(); // last line without its newline
    let (status, answer) = send(&fixture, body.into_bytes(), 777).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["accepted"], 19_997);
    assert_eq!(answer["rejected_count"], 2);
    let rejected: Vec<(u64, String)> = answer["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (9, "invalid_json".to_owned()),
            (13_333, "missing_field".to_owned())
        ]
    );
    assert_eq!(
        fixture.engine.tenant_stats("acme").unwrap().stored_events,
        19_997
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_long_line_is_rejected_alone_without_buffering_it() {
    let fixture = fixture();
    let long = format!("{{\"event_id\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let body = format!("{}\n{long}\n{}\n", line(1), line(2));
    let (status, answer) = send(&fixture, body.into_bytes(), 64 * 1024).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["accepted"], 2);
    assert_eq!(answer["rejected"][0]["index"], 1);
    assert_eq!(answer["rejected"][0]["code"], "too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framework_errors_are_problem_json_too() {
    let fixture = fixture();
    let app = steward_server::app(steward_server::AppState::new(fixture.engine.clone()));
    for (method, path) in [
        ("PATCH", "/v1/tenants"),
        ("GET", "/v1/tenants/acme/events"),
        ("GET", "/no/such/route"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", fixture.writer))
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert!(response.status().is_client_error(), "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{method} {path}"
        );
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(body["code"].is_string(), "{body}");
    }
}
