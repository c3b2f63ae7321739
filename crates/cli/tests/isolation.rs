//! Tenants are walls, proven per route of `steward_server::ROUTES` against the real binary:
//! every key of tenant A, on every route naming tenant B, gets 403 or 404 (the same answer as for
//! a tenant that does not exist) and never a byte of B's data; B is unchanged afterwards. And for
//! every authenticated route: no key, a garbage key, a wrong secret, a revoked key and an expired
//! key get 401; the operator key off its routes, a role without the right, a read without a
//! purpose or for a purpose outside the key's scope get 403. Every refused attempt on an
//! existing tenant is in that tenant's audit log as denied, counted per principal.

mod common;

use common::routes::*;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use steward_server::{ROUTES, RouteSpec};

const A: &str = "tenant-a";
const B: &str = "tenant-b";

/// Who may call each authenticated route ("operator" or a role). A route missing here fails the
/// test: a new route must say who may call it.
fn allowed(route: &RouteSpec) -> &'static [&'static str] {
    match (route.method, route.path) {
        ("POST", "/v1/tenants") | ("GET", "/v1/tenants") | ("POST", "/v1/backup") => &["operator"],
        ("POST", "/v1/tenants/{tenant}/keys")
        | ("GET", "/v1/tenants/{tenant}/keys")
        | ("DELETE", "/v1/tenants/{tenant}/keys/{key_id}") => &["admin", "operator"],
        ("GET", "/v1/tenants/{tenant}/schemas")
        | ("GET", "/v1/tenants/{tenant}/whoami")
        | ("GET", "/v1/tenants/{tenant}/schemas/{event_type}") => {
            &["admin", "writer", "reader", "privacy_officer"]
        }
        ("PUT", "/v1/tenants/{tenant}/schemas/{event_type}") => &["admin"],
        ("POST", "/v1/tenants/{tenant}/events") => &["admin", "writer"],
        ("PUT", "/v1/tenants/{tenant}/items/{item_id}")
        | ("DELETE", "/v1/tenants/{tenant}/items/{item_id}")
        | ("POST", "/v1/tenants/{tenant}/items") => &["admin", "writer"],
        ("GET", "/v1/tenants/{tenant}/items/{item_id}") | ("GET", "/v1/tenants/{tenant}/items") => {
            &["admin", "writer", "reader", "privacy_officer"]
        }
        ("POST", "/v1/tenants/{tenant}/subjects/resolve") => {
            &["admin", "writer", "reader", "privacy_officer"]
        }
        ("GET", "/v1/tenants/{tenant}/subjects/{subject}/events")
        | ("POST", "/v1/tenants/{tenant}/sql") => &["admin", "reader", "privacy_officer"],
        // Data sets, read for model_training (the isolation test's purpose for them).
        ("POST", "/v1/tenants/{tenant}/datasets")
        | ("GET", "/v1/tenants/{tenant}/datasets")
        | ("GET", "/v1/tenants/{tenant}/datasets/{name}/versions")
        | ("GET", "/v1/tenants/{tenant}/datasets/{name}/versions/{version}")
        | ("GET", "/v1/tenants/{tenant}/datasets/{name}/diff")
        | ("GET", "/v1/tenants/{tenant}/datasets/{name}/versions/{version}/files/{file}")
        | ("GET", "/v1/tenants/{tenant}/datasets/{name}/versions/{version}/arrow")
        | ("POST", "/v1/tenants/{tenant}/datasets/{name}/versions/{version}/links") => {
            &["admin", "reader"]
        }
        // Models, read and trained for model_training (the routes' default purpose); aliases are
        // deployments (admins).
        ("POST", "/v1/tenants/{tenant}/models")
        | ("GET", "/v1/tenants/{tenant}/models")
        | ("GET", "/v1/tenants/{tenant}/models/{name}")
        | ("GET", "/v1/tenants/{tenant}/models/{name}/versions/{version}")
        | ("POST", "/v1/tenants/{tenant}/models/{name}/versions/{version}/cancel") => {
            &["admin", "reader"]
        }
        ("PUT", "/v1/tenants/{tenant}/models/{name}/aliases/{alias}") => &["admin"],
        ("POST", "/v1/tenants/{tenant}/recommendations")
        | ("POST", "/v1/tenants/{tenant}/rerank")
        | ("POST", "/v1/tenants/{tenant}/items/{item_id}/similar")
        | ("POST", "/v1/tenants/{tenant}/popular") => &["admin", "reader"],
        // Embeddings and indexes: reads and creations for a purpose; dropping is an admin's.
        ("POST", "/v1/tenants/{tenant}/embeddings")
        | ("POST", "/v1/tenants/{tenant}/indexes")
        | ("GET", "/v1/tenants/{tenant}/indexes")
        | ("GET", "/v1/tenants/{tenant}/indexes/{name}")
        | ("POST", "/v1/tenants/{tenant}/indexes/{name}/search")
        | ("POST", "/v1/tenants/{tenant}/indexes/{name}/retrieve")
        | ("POST", "/v1/tenants/{tenant}/indexes/{name}/answer") => &["admin", "reader"],
        ("DELETE", "/v1/tenants/{tenant}/indexes/{name}") => &["admin"],
        // Experiments are deployments (admins); their definitions and results are reads.
        ("POST", "/v1/tenants/{tenant}/experiments")
        | ("POST", "/v1/tenants/{tenant}/experiments/{name}/stop") => &["admin"],
        ("GET", "/v1/tenants/{tenant}/experiments")
        | ("GET", "/v1/tenants/{tenant}/experiments/{name}")
        | ("GET", "/v1/tenants/{tenant}/experiments/{name}/results") => &["admin", "reader"],
        ("GET", "/v1/tenants/{tenant}/subjects/{subject}/lineage") => &["admin", "privacy_officer"],
        ("GET", "/v1/tenants/{tenant}/audit/head")
        | ("GET", "/v1/tenants/{tenant}/audit/heads")
        | ("GET", "/v1/tenants/{tenant}/audit/proofs/inclusion")
        | ("GET", "/v1/tenants/{tenant}/audit/proofs/consistency")
        | ("POST", "/v1/tenants/{tenant}/audit/reports/subject")
        | ("GET", "/v1/tenants/{tenant}/audit/reports/principal") => &["admin", "privacy_officer"],
        ("POST", "/v1/tenants/{tenant}/erasures")
        | ("POST", "/v1/tenants/{tenant}/erasures/batch")
        | ("POST", "/v1/tenants/{tenant}/access-requests")
        | ("GET", "/v1/tenants/{tenant}/erasures/{erasure_id}")
        | ("GET", "/v1/tenants/{tenant}/erasures/{erasure_id}/receipt") => {
            &["admin", "privacy_officer"]
        }
        ("GET", "/v1/tenants/{tenant}/subjects/{subject}/consents")
        | ("PUT", "/v1/tenants/{tenant}/subjects/{subject}/consents/{purpose}")
        | ("POST", "/v1/tenants/{tenant}/consents") => &["admin", "privacy_officer"],
        ("GET", "/v1/tenants/{tenant}/consent-regimes")
        | ("PUT", "/v1/tenants/{tenant}/consent-regimes/{purpose}") => &["admin"],
        ("POST", "/v1/tenants/{tenant}/pii/scan") => &["admin"],
        ("GET", "/v1/tenants/{tenant}/identity")
        | ("PUT", "/v1/tenants/{tenant}/identity")
        | ("GET", "/v1/tenants/{tenant}/policies")
        | ("PUT", "/v1/tenants/{tenant}/policies")
        | ("GET", "/v1/tenants/{tenant}/policies/versions")
        | ("POST", "/v1/tenants/{tenant}/policies/check") => &["admin"],
        (method, path) => panic!(
            "route {method} {path} is not in the isolation test's table: say who may call it"
        ),
    }
}

/// What B has, none of which may ever reach A.
struct Secrets {
    strings: Vec<String>,
}

impl Secrets {
    fn assert_absent(&self, resp: &Resp, what: &str) {
        self.assert_absent_unless_sent(resp, "", what);
    }

    /// Like `assert_absent`, but a value the request itself carried may be echoed.
    fn assert_absent_unless_sent(&self, resp: &Resp, sent: &str, what: &str) {
        for s in self.strings.iter().filter(|s| !sent.contains(s.as_str())) {
            assert!(
                !resp.text.contains(s.as_str()),
                "{what}: the answer carries B's {s:?}: {}",
                resp.text
            );
        }
    }
}

#[test]
fn tenants_are_walls_on_every_route() {
    let started = Instant::now();
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let op = deployment.operator_key.clone();

    let a = tenant_with_keys(&api, &op, A);
    let b = tenant_with_keys(&api, &op, B);
    // An expiring key, made early so the wait for its expiry overlaps the rest of the test.
    let expires_at = (chrono::Utc::now() + chrono::Duration::seconds(4))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let expires_instant = chrono::DateTime::parse_from_rfc3339(&expires_at)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let (_, expiring) = create_key(&api, &a.admin, A, "admin", Some(&expires_at));
    api.get(&a.path("/schemas"), Some(&expiring))
        .expect(200, "an expiring key works before it expires");

    for t in [&a, &b] {
        put_schema(&api, &t.admin, &t.id, "play", &play_schema());
    }
    // The same external id in both tenants, plus one only B has.
    let shared = "shared-person@example.org";
    let b_only = format!("b-only-{}@example.org", random_hex(6));
    let canary = format!("b-canary-{}@example.org", random_hex(8));
    let b_events: Vec<Value> = (0..6)
        .map(|i| {
            let who = if i % 2 == 0 { shared } else { b_only.as_str() };
            play_event(
                &format!("b-evt-{}-{i}", random_hex(4)),
                who,
                &time_at(i * 1000),
                &canary,
                &format!("b-track-{i}"),
                i,
            )
        })
        .collect();
    assert_eq!(ingest(&api, &b.writer, B, &b_events)["accepted"], 6);
    let a_events: Vec<Value> = (0..3)
        .map(|i| {
            play_event(
                &format!("a-evt-{i}"),
                shared,
                &time_at(i * 1000),
                "a-person@mail.example",
                &format!("a-track-{i}"),
                i,
            )
        })
        .collect();
    assert_eq!(ingest(&api, &a.writer, A, &a_events)["accepted"], 3);
    // A data set in each tenant, so the data set routes have something to refuse or serve,
    // and a model trained from it (version 1 of "plays"), for the model routes.
    for t in [&a, &b] {
        api.post(
            &t.path("/datasets"),
            Some(&t.reader),
            &json!({"name": "plays", "sql": "SELECT subject, track_id FROM play"}),
        )
        .expect(201, "data set");
        let model = json!({"name": "plays", "algorithm": "popularity", "dataset": {"name": "plays", "version": 1}, "columns": {"user": "subject", "item": "track_id"}});
        api.post(&t.path("/models"), Some(&t.reader), &model)
            .expect(202, "model");
        wait_model_ready(&api, t, "plays", 1);
        start_experiment(&api, t, "plays", "plays");
        create_index(&api, t, "plays");
    }
    let b_shared = resolve(&api, &b.reader, B, shared);
    let b_only_subject = resolve(&api, &b.reader, B, &b_only);
    let a_shared = resolve(&api, &a.reader, A, shared);
    assert_ne!(
        a_shared, b_shared,
        "the same person has unrelated pseudonyms in two tenants"
    );
    let b_key_id = b
        .key_ids
        .iter()
        .find(|(r, _)| r == "writer")
        .map(|(_, id)| id.clone())
        .unwrap();

    let mut strings = vec![
        canary.clone(),
        b_only.clone(),
        b_shared.clone(),
        b_only_subject.clone(),
        b.admin.clone(),
        b.writer.clone(),
    ];
    strings.extend(
        b_events
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_owned()),
    );
    strings.extend(b.key_ids.iter().map(|(_, id)| id.clone()));
    strings.extend((0..6).map(|i| format!("b-track-{i}")));
    let secrets = Secrets { strings };

    let b_timeline_before = timeline_all(&api, &b.privacy_officer, B, &b_shared, 1000).0;
    let b_keys_before = api
        .get(&b.path("/keys"), Some(&b.admin))
        .expect(200, "B keys")
        .body;

    // An erasure of a throwaway subject, so its route has a real id to read.
    let erasure = api
        .post(
            &a.path("/erasures"),
            Some(&a.privacy_officer),
            &json!({"external_id": "throwaway@example.org", "now": true}),
        )
        .expect(202, "erasure");
    let erasure_id = erasure.body["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while api
        .get(&a.path(&format!("/erasures/{erasure_id}")), Some(&a.admin))
        .expect(200, "erasure")
        .body["state"]
        != "done"
    {
        assert!(Instant::now() < deadline, "throwaway erasure not done");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Denied attempts each tenant's audit log must hold, by principal name.
    let mut denied: BTreeMap<(&str, String), u64> = BTreeMap::new();
    let key_name = |t: &TenantKeys, role: &str| {
        format!(
            "key:{}",
            t.key_ids
                .iter()
                .find(|(r, _)| r == role)
                .map(|(_, id)| id.as_str())
                .unwrap()
        )
    };

    // --- every route naming a tenant, with tenant B in the path and each of A's keys
    let mut n = 0;
    let mut cross_calls = 0;
    for route in ROUTES.iter().filter(|r| r.path.contains("{tenant}")) {
        assert!(
            route.authenticated,
            "{} {} names a tenant but needs no key",
            route.method, route.path
        );
        for role in ROLES {
            n += 1;
            let key = a.key(role);
            let params_b = Params {
                tenant: B,
                key_id: &b_key_id,
                subject: &b_shared,
                erasure_id: &erasure_id,
            };
            let path = fill(route, &params_b);
            let resp = call(
                &api,
                route,
                &path,
                Some(&bearer(key)),
                body_for(route, shared, n),
            );
            let what = format!("A's {role} key on {} {path}", route.method);
            assert!(
                resp.status == 403 || resp.status == 404,
                "{what}: expected 403 or 404, got {} {}",
                resp.status,
                resp.text
            );
            *denied.entry((B, key_name(&a, role))).or_default() += 1;
            assert_problem_shape(&resp, &what);
            secrets.assert_absent(&resp, &what);
            // The same answer as for a tenant that does not exist: existence is not revealed.
            let params_none = Params {
                tenant: "no-such-tenant",
                key_id: &b_key_id,
                subject: &b_shared,
                erasure_id: &erasure_id,
            };
            let none = call(
                &api,
                route,
                &fill(route, &params_none),
                Some(&bearer(key)),
                body_for(route, shared, n),
            );
            assert_eq!(
                (none.status, &none.body["code"]),
                (resp.status, &resp.body["code"]),
                "{what}: differs from a missing tenant"
            );
            // A's own tenant, B's key id / pseudonym / external id in the other parameters.
            let params_a = Params {
                tenant: A,
                key_id: &b_key_id,
                subject: &b_shared,
                erasure_id: &erasure_id,
            };
            let own_path = fill(route, &params_a);
            let body = match (route.method, route.path) {
                ("POST", "/v1/tenants/{tenant}/subjects/resolve") => {
                    Some(json!({"external_id": b_only}))
                }
                _ => body_for(route, shared, n),
            };
            let sent = format!(
                "{own_path} {}",
                body.as_ref().map(Value::to_string).unwrap_or_default()
            );
            let own = call(&api, route, &own_path, Some(&bearer(key)), body);
            secrets.assert_absent_unless_sent(
                &own,
                &sent,
                &format!("A's {role} key on {} {own_path}", route.method),
            );
            if own.status == 403 {
                *denied.entry((A, key_name(&a, role))).or_default() += 1;
            }
            cross_calls += 1;
        }
    }
    assert!(
        cross_calls >= 4 * 8,
        "every tenant route was tried with every role ({cross_calls})"
    );
    // A's view of "the same" external id is A's own pseudonym; of B's pseudonym, nothing.
    assert_eq!(resolve(&api, &a.reader, A, shared), a_shared);
    let a_on_b_subject = timeline_all(&api, &a.admin, A, &b_shared, 1000).0;
    assert!(
        a_on_b_subject.is_empty(),
        "A reading B's pseudonym in A's tenant finds nothing: {a_on_b_subject:?}"
    );

    // --- B is unchanged: its keys live (none revoked by A, none added), its schema and timeline as before
    for role in ROLES {
        api.get(&b.path("/schemas"), Some(b.key(role)))
            .expect(200, "B's keys still work");
    }
    let b_keys_after = api
        .get(&b.path("/keys"), Some(&b.admin))
        .expect(200, "B keys")
        .body;
    assert_eq!(
        b_keys_before, b_keys_after,
        "A created or revoked none of B's keys"
    );
    let schema = api
        .get(&b.path("/schemas/play"), Some(&b.reader))
        .expect(200, "B schema")
        .body;
    assert_eq!(
        schema["version"], 1,
        "A did not change B's schema: {schema}"
    );
    assert_eq!(
        timeline_all(&api, &b.privacy_officer, B, &b_shared, 1000).0,
        b_timeline_before,
        "A planted nothing in B"
    );

    // --- authentication and roles on every authenticated route (A's own tenant)
    let (revoked_id, revoked) = create_key(&api, &a.admin, A, "admin", None);
    api.get(&a.path("/schemas"), Some(&revoked))
        .expect(200, "key works before revocation");
    let answer = api
        .delete(&a.path(&format!("/keys/{revoked_id}")), Some(&a.admin))
        .expect(200, "revoke");
    assert!(answer.body["revoked_at"].is_string(), "{}", answer.text);
    // A well-formed token with the wrong secret: A's writer key with its last character changed.
    let mut wrong_secret = a.writer.clone();
    let last = wrong_secret.pop().unwrap();
    wrong_secret.push(if last == 'a' { 'b' } else { 'a' });

    let authenticated: Vec<&RouteSpec> = ROUTES.iter().filter(|r| r.authenticated).collect();
    assert!(authenticated.len() >= 10, "{}", authenticated.len());
    let params_a = Params {
        tenant: A,
        key_id: "kxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        subject: &a_shared,
        erasure_id: &erasure_id,
    };
    let bad_headers: Vec<(String, &str)> = vec![
        ("garbage".to_owned(), "a garbage token"),
        ("Bearer garbage".to_owned(), "a garbage bearer token"),
        ("Bearer ".to_owned(), "an empty bearer token"),
        (format!("Basic {}", a.admin), "a key under the Basic scheme"),
        (bearer(&wrong_secret), "a wrong secret"),
        (bearer(&revoked), "a revoked key"),
    ];
    for route in &authenticated {
        n += 1;
        let path = fill(route, &params_a);
        let what = |who: &str| format!("{} {path} with {who}", route.method);
        let logged = u64::from(route.path.contains("{tenant}"));
        let resp = call(&api, route, &path, None, body_for(route, shared, n));
        *denied.entry((A, "unauthenticated".to_owned())).or_default() +=
            logged * (1 + bad_headers.len() as u64);
        assert_eq!(resp.status, 401, "{}: {}", what("no key"), resp.text);
        assert_problem_shape(&resp, &what("no key"));
        assert_eq!(resp.body["code"], "unauthenticated");
        for (header, who) in &bad_headers {
            let resp = call(&api, route, &path, Some(header), body_for(route, shared, n));
            assert_eq!(resp.status, 401, "{}: {}", what(who), resp.text);
            assert_eq!(resp.body["code"], "unauthenticated", "{}", what(who));
        }
        // Roles and the operator: 403 where not allowed, success where allowed.
        let who_may = allowed(route);
        for principal in ["operator", "admin", "writer", "reader", "privacy_officer"] {
            let doc_mentions = route.who.contains(principal)
                || (principal != "operator" && route.who.contains("any tenant role"));
            assert_eq!(
                doc_mentions,
                who_may.contains(&principal),
                "ROUTES `who` of {} {} vs who may call it ({principal})",
                route.method,
                route.path
            );
            let key = if principal == "operator" {
                op.as_str()
            } else {
                a.key(principal)
            };
            // Revoking needs a key to revoke: a fresh one each time.
            let key_id = if route.method == "DELETE" && who_may.contains(&principal) {
                create_key(&api, &a.admin, A, "reader", None).0
            } else {
                "kxxxxxxxxxxxxxxxxxxxxxxxxxxx".to_owned()
            };
            let path = fill(
                route,
                &Params {
                    tenant: A,
                    key_id: &key_id,
                    subject: &a_shared,
                    erasure_id: &erasure_id,
                },
            );
            // Deleting an item needs one to delete.
            if route.method == "DELETE"
                && route.path.ends_with("/items/{item_id}")
                && who_may.contains(&principal)
            {
                api.put(
                    &a.path("/items/item-1"),
                    Some(&a.admin),
                    &json!({"properties": {}}),
                )
                .expect(200, "an item to delete");
            }
            n += 1;
            let resp = call(
                &api,
                route,
                &path,
                Some(&bearer(key)),
                body_for(route, shared, n),
            );
            if who_may.contains(&principal) {
                assert!(
                    (200..300).contains(&resp.status),
                    "{}: allowed, got {} {}",
                    what(principal),
                    resp.status,
                    resp.text
                );
            } else {
                assert_eq!(
                    resp.status,
                    403,
                    "{}: not allowed, got {}",
                    what(principal),
                    resp.text
                );
                if route.path.contains("{tenant}") {
                    let name = if principal == "operator" {
                        "operator".to_owned()
                    } else {
                        key_name(&a, principal)
                    };
                    *denied.entry((A, name)).or_default() += 1;
                }
                assert_problem_shape(&resp, &what(principal));
                assert_eq!(resp.body["code"], "forbidden", "{}", what(principal));
            }
        }
    }

    // --- purposes: a read names one, within the key's scope and the role's purposes
    let timeline = |purpose: &str| a.path(&format!("/subjects/{a_shared}/events{purpose}"));
    let (scoped_id, scoped) = create_key_with(
        &api,
        &a.admin,
        A,
        json!({"name": "scoped", "role": "reader", "purposes": ["analytics"]}),
    );
    for (key, name, purpose, policy) in [
        (
            a.reader.as_str(),
            key_name(&a, "reader"),
            "",
            "platform.reads-name-a-purpose",
        ),
        (
            a.reader.as_str(),
            key_name(&a, "reader"),
            "?purpose=legal",
            "",
        ),
        (
            a.writer.as_str(),
            key_name(&a, "writer"),
            "?purpose=support",
            "",
        ),
        (
            scoped.as_str(),
            format!("key:{scoped_id}"),
            "?purpose=support",
            "platform.purpose-scope",
        ),
        (
            scoped.as_str(),
            format!("key:{scoped_id}"),
            "?purpose=model_training",
            "platform.purpose-scope",
        ),
    ] {
        let resp = api.get(&timeline(purpose), Some(key)).expect_problem(
            403,
            "forbidden",
            &format!("{name} reading {purpose:?}"),
        );
        if !policy.is_empty() {
            assert!(
                resp.text.contains(policy),
                "the refusal names {policy}: {}",
                resp.text
            );
        }
        secrets.assert_absent(&resp, "purpose refusal");
        *denied.entry((A, name)).or_default() += 1;
    }
    let resp = api
        .get(&timeline("?purpose=analytics"), Some(&scoped))
        .expect(200, "the scoped key within its scope");
    assert_eq!(resp.body["purpose"], "analytics");
    assert_eq!(
        resp.body["masked_classes"],
        json!(["personal", "free_text", "sensitive"]),
        "{}",
        resp.text
    );
    api.get(&timeline("?purpose=gossip"), Some(&scoped))
        .expect_problem(400, "invalid_purpose", "unknown purpose");
    *denied.entry((A, format!("key:{scoped_id}"))).or_default() += 1;

    // --- the expired key, once its time has passed
    let wait_until = expires_instant + chrono::Duration::milliseconds(1100);
    let deadline = Instant::now() + Duration::from_secs(30);
    while chrono::Utc::now() < wait_until {
        assert!(Instant::now() < deadline, "clock did not reach the expiry");
        std::thread::sleep(Duration::from_millis(100));
    }
    for route in &authenticated {
        n += 1;
        let path = fill(route, &params_a);
        let resp = call(
            &api,
            route,
            &path,
            Some(&bearer(&expiring)),
            body_for(route, shared, n),
        );
        *denied.entry((A, "unauthenticated".to_owned())).or_default() +=
            u64::from(route.path.contains("{tenant}"));
        assert_eq!(
            resp.status, 401,
            "{} {path} with an expired key: {}",
            route.method, resp.text
        );
        assert_eq!(resp.body["code"], "unauthenticated");
    }

    // --- after a restart: revoked and expired keys stay dead, the others live, walls stand
    let status = server.terminate();
    assert!(status.success(), "graceful stop: {status}");
    let server = deployment.start(&[]);
    let api = server.api();
    for (who, key, want) in [
        ("revoked", &revoked, 401),
        ("expired", &expiring, 401),
        ("A's reader", &a.reader, 200),
        ("B's reader", &b.reader, 404),
    ] {
        let resp = api.get(&a.path("/schemas"), Some(key));
        assert_eq!(
            resp.status, want,
            "{who} key on A after a restart: {}",
            resp.text
        );
        if want == 401 {
            *denied.entry((A, "unauthenticated".to_owned())).or_default() += 1;
        }
    }
    *denied.entry((A, key_name(&b, "reader"))).or_default() += 1;
    let resp = api.get(
        &b.path(&format!("/subjects/{b_shared}/events?purpose=legal")),
        Some(&a.privacy_officer),
    );
    assert_eq!(resp.status, 404, "{}", resp.text);
    secrets.assert_absent(&resp, "A on B after a restart");
    *denied
        .entry((B, key_name(&a, "privacy_officer")))
        .or_default() += 1;

    // --- every refused attempt is in the targeted tenant's audit log as denied
    for ((tenant, principal), want) in &denied {
        let admin = if *tenant == A { &a.admin } else { &b.admin };
        let path = format!(
            "/v1/tenants/{tenant}/audit/reports/principal?principal={principal}&limit=10000"
        );
        let report = api
            .get(&path, Some(admin))
            .expect(200, "principal report")
            .body;
        let records = report["records"].as_array().unwrap();
        let got = records.iter().filter(|r| r["decision"] == "deny").count() as u64;
        assert_eq!(
            got,
            *want,
            "denied attempts of {principal} in {tenant}'s audit log ({} records)",
            records.len()
        );
        assert!(records.iter().all(|r| r["principal"] == principal.as_str()));
    }

    // --- routes without authentication answer without a key
    for route in ROUTES.iter().filter(|r| !r.authenticated) {
        assert!(
            !route.path.contains('{'),
            "an unauthenticated route takes no parameters: {}",
            route.path
        );
        let resp = api.request(route.method, route.path, None, None);
        assert_eq!(
            resp.status, 200,
            "{} {}: {}",
            route.method, route.path, resp.text
        );
        secrets.assert_absent(&resp, route.path);
    }
    drop(server);
    eprintln!("isolation took {:?}", started.elapsed());
}
