//! The read guard covers every route that returns event-derived data, proven per route of
//! `steward_server::ROUTES` against the real binary: each route the table marks as reading
//! events answers with the `steward-read-guard` header (the middleware refuses a successful
//! answer whose handler never took its read access), and no other route's answer carries a
//! byte of event data (canary values planted in events), so a route that returned event data
//! without being marked would fail here.

mod common;

use common::routes::*;
use common::*;
use serde_json::json;
use steward_server::ROUTES;

const TENANT: &str = "acme";

#[test]
fn every_route_that_returns_event_data_reads_through_the_guard() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    let tag = random_hex(6);
    let person = format!("person-{tag}@example.org");
    let track = format!("guard-track-{tag}");
    let mail = format!("guard-mail-{tag}@example.org");
    let events: Vec<_> = (0..5)
        .map(|i| {
            play_event(
                &format!("g-{tag}-{i}"),
                &person,
                &time_at(i * 1000),
                &mail,
                &track,
                100 + i,
            )
        })
        .collect();
    assert_eq!(ingest(&api, &keys.writer, TENANT, &events)["accepted"], 5);
    let subject = resolve(&api, &keys.reader, TENANT, &person);
    api.post(
        &keys.path("/datasets"),
        Some(&keys.reader),
        &json!({"name": "plays", "sql": "SELECT subject, track_id FROM play"}),
    )
    .expect(201, "data set");
    api.post(&keys.path("/models"), Some(&keys.reader), &json!({"name": "plays", "algorithm": "popularity", "dataset": {"name": "plays", "version": 1}, "columns": {"user": "subject", "item": "track_id"}})).expect(202, "model");
    wait_model_ready(&api, &keys, "plays", 1);
    start_experiment(&api, &keys, "plays", "plays");
    create_index(&api, &keys, "plays");
    let erasure = api
        .post(
            &keys.path("/erasures"),
            Some(&keys.privacy_officer),
            &json!({"external_id": "throwaway@example.org", "now": true}),
        )
        .expect(202, "erasure");
    let erasure_id = erasure.body["id"].as_str().unwrap().to_owned();
    wait_erasure_done(&api, &keys, &erasure_id);

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
        erasure_id: &erasure_id,
    };
    let mut guarded = Vec::new();
    // Routes that change state last: a key revocation or a schema change must not disturb
    // the reads before them.
    let mut routes: Vec<_> = ROUTES
        .iter()
        .filter(|r| r.path.contains("{tenant}"))
        .collect();
    routes.sort_by_key(|r| r.method != "GET" && !r.reads_events);
    for (n, route) in routes.into_iter().enumerate() {
        let path = fill(route, &params);
        let resp = call(
            &api,
            route,
            &path,
            Some(&bearer(&keys.admin)),
            body_for(route, &person, n),
        );
        let what = format!("{} {path}", route.method);
        if route.reads_events {
            assert!(
                (200..300).contains(&resp.status),
                "{what}: a route that reads events answers: {} {}",
                resp.status,
                resp.text
            );
            assert!(
                resp.read_guard.is_some(),
                "{what}: answered without the read guard"
            );
            guarded.push(route.path);
        } else {
            assert!(
                resp.read_guard.is_none(),
                "{what}: marked as not reading events, yet it made a read guard"
            );
            for canary in [&track, &mail] {
                assert!(
                    !resp.text.contains(canary.as_str()),
                    "{what}: returns event data without the read guard: {}",
                    resp.text
                );
            }
        }
    }
    // The routes that return event data today; a new one joins this list.
    let mut expected = vec![
        "/v1/tenants/{tenant}/subjects/{subject}/events",
        "/v1/tenants/{tenant}/access-requests",
        "/v1/tenants/{tenant}/sql",
        "/v1/tenants/{tenant}/datasets",
        "/v1/tenants/{tenant}/datasets/{name}/diff",
        "/v1/tenants/{tenant}/datasets/{name}/versions/{version}/files/{file}",
        "/v1/tenants/{tenant}/datasets/{name}/versions/{version}/arrow",
        "/v1/tenants/{tenant}/datasets/{name}/versions/{version}/links",
        "/v1/tenants/{tenant}/models",
        "/v1/tenants/{tenant}/recommendations",
        "/v1/tenants/{tenant}/rerank",
        "/v1/tenants/{tenant}/items/{item_id}/similar",
        "/v1/tenants/{tenant}/popular",
        "/v1/tenants/{tenant}/experiments/{name}/results",
        "/v1/tenants/{tenant}/indexes",
        "/v1/tenants/{tenant}/indexes/{name}/search",
        "/v1/tenants/{tenant}/indexes/{name}/retrieve",
        "/v1/tenants/{tenant}/indexes/{name}/answer",
    ];
    guarded.sort();
    expected.sort();
    assert_eq!(guarded, expected);
}
