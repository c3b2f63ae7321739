//! Serving against the real binary (issue 12): recommendations exclude seen items and honour
//! filters; a new subject's first events personalize the next answer (fold-in) before any
//! retrain; an opt-out and an erasure switch the very next call to the non-personalized answer
//! with its reason; re-rank keeps unknown candidates last; similar and popular items; an alias
//! moved back and forth under load fails no request.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const TENANT: &str = "acme";
const GENRES: [&str; 3] = ["rock", "jazz", "pop"];

/// Three clusters of listeners; cluster c plays tracks trk_{c}_{0..10}, each person 6 of them.
fn setup(api: &Api, keys: &TenantKeys, people: usize) -> Vec<String> {
    put_schema(api, &keys.admin, TENANT, "play", &play_schema());
    let items: Vec<Value> = (0..3)
        .flat_map(|c| {
            (0..10).map(move |j| {
                json!({"item_id": format!("trk_{c}_{j}"), "properties": {"genre": GENRES[c], "year": 1990 + j}})
            })
        })
        .collect();
    api.post(&keys.path("/items"), Some(&keys.writer), &json!(items))
        .expect(200, "items");
    let tag = random_hex(4);
    let mut who = Vec::new();
    for p in 0..people {
        let person = format!("listener-{p}-{tag}@example.org");
        let c = p % 3;
        let events: Vec<Value> = (0..6)
            .map(|i| {
                play_event(
                    &format!("e-{tag}-{p}-{i}"),
                    &person,
                    &time_at((p * 100 + i) as i64 * 1_000_000),
                    "x@example.org",
                    &format!("trk_{c}_{}", (p / 3 + i) % 10),
                    100,
                )
            })
            .collect();
        assert_eq!(ingest(api, &keys.writer, TENANT, &events)["accepted"], 6);
        who.push(person);
    }
    api.post(
        &keys.path("/datasets"),
        Some(&keys.reader),
        &json!({"name": "plays", "sql": "SELECT subject, track_id, time FROM play"}),
    )
    .expect(201, "cut");
    who
}

fn train(api: &Api, keys: &TenantKeys, name: &str, algorithm: &str, params: Value) -> u64 {
    let body = json!({"name": name, "algorithm": algorithm, "dataset": {"name": "plays", "version": "latest"}, "columns": {"user": "subject", "item": "track_id", "time": "time"}, "params": params});
    let v = api
        .post(&keys.path("/models"), Some(&keys.reader), &body)
        .expect(202, name)
        .body["version"]
        .as_u64()
        .unwrap();
    wait_model_ready(api, keys, name, v);
    v
}

fn recommend(api: &Api, keys: &TenantKeys, body: Value) -> Value {
    api.post(&keys.path("/recommendations"), Some(&keys.reader), &body)
        .expect(200, "recommend")
        .body
}

fn ids(answer: &Value) -> Vec<String> {
    answer["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|i| i["item"].as_str().unwrap().to_owned())
        .collect()
}

fn cluster_of(item: &str) -> usize {
    item.split('_').nth(1).and_then(|c| c.parse().ok()).unwrap()
}

fn seen_by(p: usize) -> HashSet<String> {
    (0..6)
        .map(|i| format!("trk_{}_{}", p % 3, (p / 3 + i) % 10))
        .collect()
}

#[test]
fn recommendations_fold_in_consent_erasure_rerank_similar_popular() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    let people = setup(&api, &keys, 30);
    let params = json!({"factors": 8, "iterations": 10, "regularization": 0.1, "alpha": 20});
    assert_eq!(train(&api, &keys, "recs", "als", params), 1);
    assert_eq!(train(&api, &keys, "sim", "item_knn", json!({})), 1);
    api.put(
        &keys.path("/models/recs/aliases/production"),
        Some(&keys.admin),
        &json!({"version": 1}),
    )
    .expect(200, "alias");
    let metrics = api.get("/metrics", None).expect(200, "metrics").text;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("steward_model_alias_version")
                && l.contains("alias=\"production\"")
                && l.ends_with(" 1")),
        "the version each alias serves is a gauge"
    );

    // --- personalized, seen items excluded, items from the subject's cluster
    let a = recommend(
        &api,
        &keys,
        json!({"model": "recs", "external_id": people[4], "k": 4}),
    );
    assert_eq!(a["personalized"], true, "{a}");
    assert_eq!(a["model"], json!({"name": "recs", "version": 1}));
    assert_eq!(a["purpose"], "personalization");
    let got = ids(&a);
    assert_eq!(got.len(), 4, "{a}");
    let seen = seen_by(4);
    assert!(
        got.iter().all(|i| !seen.contains(i)),
        "seen items excluded: {a}"
    );
    assert!(
        got.iter().filter(|i| cluster_of(i) == 4 % 3).count() >= 3,
        "mostly the subject's cluster: {a}"
    );
    // exclude_seen false lets them back
    let b = recommend(
        &api,
        &keys,
        json!({"model": "recs", "external_id": people[4], "k": 10, "exclude_seen": false}),
    );
    assert!(ids(&b).iter().any(|i| seen.contains(i)), "{b}");
    // filters: another cluster's genre, a year range, explicit exclusions
    let f = recommend(
        &api,
        &keys,
        json!({"model": "recs", "external_id": people[4], "k": 5, "filter": {"genre": "pop", "year": {"gte": 1993}}, "exclude_items": ["trk_2_3"]}),
    );
    let got = ids(&f);
    assert_eq!(got.len(), 5, "{f}");
    for item in &got {
        assert_eq!(cluster_of(item), 2, "{f}");
        let j: i64 = item.rsplit('_').next().unwrap().parse().unwrap();
        assert!(j >= 3 && item != "trk_2_3", "{f}");
    }
    // by pseudonym too, and name@v1 / name@production
    let pseudonym = resolve(&api, &keys.reader, TENANT, &people[4]);
    for model in ["recs@v1", "recs@production"] {
        let c = recommend(
            &api,
            &keys,
            json!({"model": model, "subject": pseudonym, "k": 4}),
        );
        assert_eq!(ids(&c), ids(&a), "{model}: {c}");
    }

    // --- fold-in: a new listener is unknown, then its first plays personalize the next call
    let newcomer = format!("newcomer-{}@example.org", random_hex(4));
    let before = recommend(
        &api,
        &keys,
        json!({"model": "recs", "external_id": newcomer, "k": 5}),
    );
    assert_eq!(
        (before["personalized"].as_bool(), before["reason"].as_str()),
        (Some(false), Some("unknown_subject")),
        "{before}"
    );
    assert_eq!(ids(&before).len(), 5, "popular items instead: {before}");
    let plays: Vec<Value> = (0..3)
        .map(|i| {
            play_event(
                &format!("new-{i}-{}", random_hex(4)),
                &newcomer,
                &time_at(5_000_000_000 + i),
                "y@example.org",
                &format!("trk_1_{i}"),
                100,
            )
        })
        .collect();
    assert_eq!(ingest(&api, &keys.writer, TENANT, &plays)["accepted"], 3);
    let after = recommend(
        &api,
        &keys,
        json!({"model": "recs", "external_id": newcomer, "k": 5}),
    );
    assert_eq!(after["personalized"], true, "{after}");
    assert_eq!(after["folded_in"], true, "{after}");
    let got = ids(&after);
    assert!(
        got.iter()
            .all(|i| !["trk_1_0", "trk_1_1", "trk_1_2"].contains(&i.as_str())),
        "{after}"
    );
    assert!(
        got[..2].iter().all(|i| cluster_of(i) == 1)
            && got.iter().filter(|i| cluster_of(i) == 1).count() >= 3,
        "the new plays steer it: {after}"
    );
    // item-kNN personalizes from the same recent items
    let knn = recommend(
        &api,
        &keys,
        json!({"model": "sim", "external_id": newcomer, "k": 3}),
    );
    assert_eq!(knn["personalized"], true, "{knn}");
    assert!(ids(&knn).iter().all(|i| cluster_of(i) == 1), "{knn}");

    // --- re-rank: known candidates by score, unknown last in their order and reported
    let r = api
        .post(
            &keys.path("/rerank"),
            Some(&keys.reader),
            &json!({"model": "recs", "external_id": people[4], "items": ["nope-1", "trk_2_5", "trk_1_5", "nope-2", "trk_1_7"]}),
        )
        .expect(200, "rerank")
        .body;
    let order = ids(&r);
    assert_eq!(order.len(), 5, "{r}");
    assert_eq!(&order[3..], ["nope-1", "nope-2"], "{r}");
    assert_eq!(r["unknown"], json!(["nope-1", "nope-2"]), "{r}");
    assert_eq!(r["personalized"], true);
    assert_eq!(
        order[2], "trk_2_5",
        "the other cluster's track ranks last of the known: {r}"
    );

    // --- similar items and popular items
    let s = api
        .post(
            &keys.path("/items/trk_0_1/similar"),
            Some(&keys.reader),
            &json!({"model": "sim", "k": 3}),
        )
        .expect(200, "similar")
        .body;
    assert!(
        ids(&s).iter().all(|i| cluster_of(i) == 0 && i != "trk_0_1"),
        "{s}"
    );
    let p = api
        .post(
            &keys.path("/popular"),
            Some(&keys.reader),
            &json!({"model": "recs", "k": 3, "filter": {"genre": "jazz"}}),
        )
        .expect(200, "popular")
        .body;
    assert_eq!(p["personalized"], false);
    assert!(ids(&p).iter().all(|i| cluster_of(i) == 1), "{p}");

    // --- an opt-out switches the very next call, with its reason
    let opted = resolve(&api, &keys.reader, TENANT, &people[7]);
    let c = recommend(
        &api,
        &keys,
        json!({"model": "recs", "subject": opted, "k": 3}),
    );
    assert_eq!(c["personalized"], true, "{c}");
    api.put(
        &keys.path(&format!("/subjects/{opted}/consents/personalization")),
        Some(&keys.privacy_officer),
        &json!({"granted": false}),
    )
    .expect(200, "opt out");
    let c = recommend(
        &api,
        &keys,
        json!({"model": "recs", "subject": opted, "k": 3}),
    );
    assert_eq!(
        (c["personalized"].as_bool(), c["reason"].as_str()),
        (Some(false), Some("opted_out")),
        "{c}"
    );
    assert_eq!(ids(&c).len(), 3, "popular items instead: {c}");
    // the same subject for another purpose is still served (consent is per purpose)
    let other = api
        .post(
            &keys.path("/recommendations?purpose=analytics"),
            Some(&keys.reader),
            &json!({"model": "recs", "subject": opted, "k": 3}),
        )
        .expect(200, "analytics")
        .body;
    assert_eq!(other["personalized"], true, "{other}");

    // --- an erasure switches the very next call
    let erased = resolve(&api, &keys.reader, TENANT, &people[10]);
    let e = recommend(
        &api,
        &keys,
        json!({"model": "recs", "subject": erased, "k": 3}),
    );
    assert_eq!(e["personalized"], true, "{e}");
    api.post(
        &keys.path("/erasures"),
        Some(&keys.privacy_officer),
        &json!({"external_id": people[10]}),
    )
    .expect(202, "erase");
    let e = recommend(
        &api,
        &keys,
        json!({"model": "recs", "subject": erased, "k": 3}),
    );
    assert_eq!(
        (e["personalized"].as_bool(), e["reason"].as_str()),
        (Some(false), Some("erased")),
        "{e}"
    );
    let r = api
        .post(
            &keys.path("/rerank"),
            Some(&keys.reader),
            &json!({"model": "recs", "subject": erased, "items": ["trk_0_1", "trk_1_1"]}),
        )
        .expect(200, "rerank erased")
        .body;
    assert_eq!(r["reason"], "erased", "{r}");

    // --- no model, bad input
    let none = recommend(
        &api,
        &keys,
        json!({"model": "nothing", "external_id": people[1], "k": 3}),
    );
    assert_eq!(
        (
            none["personalized"].as_bool(),
            none["reason"].as_str(),
            none["model"].is_null()
        ),
        (Some(false), Some("no_model"), true),
        "{none}"
    );
    let fallback = recommend(
        &api,
        &keys,
        json!({"model": "nothing", "external_id": people[1], "k": 3, "fallback": ["sim"]}),
    );
    assert_eq!(fallback["model"]["name"], "sim", "{fallback}");
    assert_eq!(fallback["reason"], "no_model", "{fallback}");
    for (body, code) in [
        (json!({"model": "recs", "k": 0}), "invalid_k"),
        (json!({"model": "recs", "k": 100_000}), "invalid_k"),
        (json!({"model": "../x"}), "invalid_model"),
        (
            json!({"model": "recs", "filter": {"genre": {"CANARY": 1}}}),
            "invalid_filter",
        ),
        (
            json!({"model": "recs", "subject": "CANARY"}),
            "invalid_subject",
        ),
        (
            json!({"model": "recs", "subject": pseudonym, "external_id": people[1]}),
            "invalid_subject",
        ),
    ] {
        let resp = api
            .post(&keys.path("/recommendations"), Some(&keys.reader), &body)
            .expect_problem(400, code, "bad recommend");
        assert!(!resp.text.contains("CANARY"), "{}", resp.text);
    }
    // a writer may not serve
    api.post(
        &keys.path("/recommendations"),
        Some(&keys.writer),
        &json!({"model": "recs", "k": 3}),
    )
    .expect_problem(403, "forbidden", "writer");
    // another tenant's key sees nothing of this tenant's models
    let other_tenant = tenant_with_keys(&api, &deployment.operator_key, "globex");
    let cross = api.post(
        &keys.path("/recommendations"),
        Some(&other_tenant.reader),
        &json!({"model": "recs", "k": 3}),
    );
    assert!(
        matches!(cross.status, 403 | 404) && cross.body["items"].is_null(),
        "cross-tenant: {}",
        cross.text
    );
    assert!(server.terminate().success());
}

#[test]
fn an_alias_moved_under_load_fails_no_request() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    let people = setup(&api, &keys, 12);
    let v1 = train(
        &api,
        &keys,
        "recs",
        "als",
        json!({"factors": 4, "iterations": 3}),
    );
    let v2 = train(
        &api,
        &keys,
        "recs",
        "als",
        json!({"factors": 6, "iterations": 3}),
    );
    let alias = |v: u64| {
        api.put(
            &keys.path("/models/recs/aliases/production"),
            Some(&keys.admin),
            &json!({"version": v}),
        )
        .expect(200, "alias");
    };
    alias(v1);
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let base = server.base();
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (stop, served, base, key, subject) = (
                stop.clone(),
                served.clone(),
                base.clone(),
                keys.reader.clone(),
                people[w].clone(),
            );
            std::thread::spawn(move || {
                let api = Api::new(&base);
                let mut versions = HashSet::new();
                while !stop.load(Ordering::SeqCst) {
                    let a = api
                        .post(
                            &format!("/v1/tenants/{TENANT}/recommendations"),
                            Some(&key),
                            &json!({"model": "recs", "external_id": subject, "k": 3}),
                        )
                        .expect(200, "under load")
                        .body;
                    assert_eq!(a["personalized"], true, "{a}");
                    versions.insert(a["model"]["version"].as_u64().unwrap());
                    served.fetch_add(1, Ordering::SeqCst);
                }
                versions
            })
        })
        .collect();
    for round in 0..20 {
        alias(if round % 2 == 0 { v2 } else { v1 });
        std::thread::sleep(Duration::from_millis(30));
    }
    stop.store(true, Ordering::SeqCst);
    let mut versions = HashSet::new();
    for w in workers {
        versions.extend(w.join().expect("a serving thread failed"));
    }
    assert!(served.load(Ordering::SeqCst) >= 20, "{served:?}");
    assert_eq!(versions, HashSet::from([v1, v2]), "both versions served");
    assert!(server.terminate().success());
}

/// A time a few seconds from now (outcome events after the exposures just made).
fn soon(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn results(api: &Api, keys: &TenantKeys, name: &str) -> Value {
    api.get(
        &keys.path(&format!("/experiments/{name}/results")),
        Some(&keys.reader),
    )
    .expect(200, "results")
    .body
}

/// (subjects, conversions) per arm name.
fn per_arm(r: &Value) -> Vec<(String, u64, u64)> {
    r["arms"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["subjects"].as_u64().unwrap(),
                a["conversions"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn experiments_assign_expose_analyse_and_forget_the_erased() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    let people = setup(&api, &keys, 40);
    let params = json!({"factors": 8, "iterations": 10, "regularization": 0.1, "alpha": 20});
    train(&api, &keys, "recs", "als", params);
    let arms = json!([{"name": "control", "control": true, "weight": 1}, {"name": "als", "model": "recs", "weight": 1}]);
    let define =
        json!({"name": "e1", "arms": arms, "outcome": {"event_type": "play", "window": "1h"}});

    // --- who may define, and what is refused (never echoing a value)
    api.post(&keys.path("/experiments"), Some(&keys.reader), &define)
        .expect(403, "a reader cannot start an experiment");
    for (body, status, code) in [
        (
            json!({"name": "x", "arms": [{"name": "a", "model": "recs"}], "outcome": {"event_type": "play", "window": 60}}),
            400,
            "invalid_arms",
        ),
        (
            json!({"name": "x", "arms": [{"name": "a", "model": "nope"}, {"name": "b", "control": true}], "outcome": {"event_type": "play", "window": 60}}),
            409,
            "experiment_model_missing",
        ),
        (
            json!({"name": "x", "arms": [{"name": "a", "model": "recs", "control": true}, {"name": "b", "control": true}], "outcome": {"event_type": "play", "window": 60}}),
            400,
            "invalid_arms",
        ),
        (
            json!({"name": "x", "arms": arms, "outcome": {"event_type": "play", "window": "5w"}}),
            400,
            "invalid_window",
        ),
        (
            json!({"name": "x", "arms": arms, "outcome": {"event_type": "play", "window": 60, "value": "track_id"}}),
            400,
            "invalid_outcome",
        ),
        (
            json!({"name": "x", "arms": arms, "outcome": {"event_type": "nothing_here", "window": 60}}),
            400,
            "invalid_outcome",
        ),
        (
            json!({"name": "x", "arms": arms, "outcome": {"event_type": "_exposure", "window": 60}}),
            400,
            "invalid_outcome",
        ),
        (
            json!({"name": "x", "arms": arms, "outcome": {"event_type": "play", "window": 60}, "guardrail": {"event_type": "play", "window": 60}}),
            400,
            "invalid_guardrail",
        ),
        (
            json!({"name": "X Y", "arms": arms, "outcome": {"event_type": "play", "window": 60}}),
            400,
            "invalid_experiment_name",
        ),
        (
            json!({"name": "x", "arms": arms, "outcome": {"event_type": "play", "window": 60}, "alpha": 0.9}),
            400,
            "invalid_alpha",
        ),
    ] {
        let r = api
            .post(&keys.path("/experiments"), Some(&keys.admin), &body)
            .expect(status, code);
        assert_eq!(r.body["code"], code, "{body} -> {}", r.body);
    }
    let created = api
        .post(&keys.path("/experiments"), Some(&keys.admin), &define)
        .expect(201, "create")
        .body;
    assert_eq!(created["baseline"], "control");
    assert!(
        created.get("salt").is_none(),
        "the salt stays inside: {created}"
    );
    api.post(&keys.path("/experiments"), Some(&keys.admin), &define)
        .expect(409, "experiment_exists");

    // --- sticky assignment; the control is not personalized, the model arm is; both exposed
    let tag = random_hex(4);
    let newcomers = [format!("new-a-{tag}"), format!("new-b-{tag}")];
    let everyone: Vec<String> = people.iter().chain(newcomers.iter()).cloned().collect();
    let mut arm_of = std::collections::HashMap::new();
    for person in &everyone {
        let call = json!({"experiment": "e1", "external_id": person, "k": 3});
        let a = recommend(&api, &keys, call.clone());
        let b = recommend(&api, &keys, call);
        assert_eq!(a["exposed"], true, "{a}");
        assert_eq!(a["arm"], b["arm"], "sticky");
        let arm = a["arm"].as_str().unwrap().to_owned();
        match arm.as_str() {
            "control" => assert_eq!(
                (a["personalized"].as_bool(), a["reason"].as_str()),
                (Some(false), Some("control_arm")),
                "{a}"
            ),
            "als" if !person.starts_with("new-") => {
                assert_eq!(a["personalized"], true, "{a}")
            }
            _ => {}
        }
        assert_eq!(a["model"]["name"], "recs", "{a}");
        arm_of.insert(person.clone(), arm);
    }
    let in_arm = |arm: &str| arm_of.values().filter(|a| *a == arm).count() as u64;
    assert!(in_arm("control") > 5 && in_arm("als") > 5, "{arm_of:?}");
    // naming both a model and an experiment is refused; an unknown experiment is 404
    api.post(
        &keys.path("/recommendations"),
        Some(&keys.reader),
        &json!({"experiment": "e1", "model": "recs", "external_id": people[0]}),
    )
    .expect(400, "both");
    api.post(
        &keys.path("/recommendations"),
        Some(&keys.reader),
        &json!({"experiment": "nope", "external_id": people[0]}),
    )
    .expect(404, "unknown experiment");

    // --- outcomes: every model-arm listener plays within the window, every other control one
    let converts = |i: usize| arm_of[&people[i]] == "als" || i.is_multiple_of(2);
    let mut converted = std::collections::HashMap::<String, u64>::new();
    let mut events = Vec::new();
    for (i, person) in people.iter().enumerate() {
        let arm = &arm_of[person];
        if converts(i) {
            events.push(play_event(
                &format!("o-{tag}-{i}"),
                person,
                &soon(2),
                "x@example.org",
                "trk_0_0",
                100,
            ));
            *converted.entry(arm.clone()).or_default() += 1;
        }
    }
    assert_eq!(
        ingest(&api, &keys.writer, TENANT, &events)["accepted"],
        events.len()
    );
    let r = results(&api, &keys, "e1");
    let expected: Vec<(String, u64, u64)> = ["control", "als"]
        .iter()
        .map(|a| {
            (
                a.to_string(),
                in_arm(a),
                converted.get(*a).copied().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(per_arm(&r), expected, "{r}");
    let als = &r["arms"][1];
    let rate = als["rate"].as_f64().unwrap();
    let ci = als["rate_interval"].as_array().unwrap();
    assert!(
        ci[0].as_f64().unwrap() <= rate && rate <= ci[1].as_f64().unwrap(),
        "{als}"
    );
    let vs = &als["versus_baseline"];
    for p in ["p_value", "sequential_p_value"] {
        let p = vs[p].as_f64().unwrap_or_else(|| panic!("{vs}"));
        assert!((0.0..=1.0).contains(&p), "{vs}");
    }
    assert!(
        vs["sequential_p_value"].as_f64() >= vs["p_value"].as_f64(),
        "the always-valid p-value is the more careful one: {vs}"
    );
    assert_eq!(r["srm"]["mismatch"], false, "{r}");
    api.get(
        &keys.path("/experiments/e1/results?purpose=analytics"),
        Some(&keys.reader),
    )
    .expect(400, "experiment_purpose_mismatch");

    // --- a guardrail stops an arm that makes listeners skip, and its subjects get the baseline
    put_schema(
        &api,
        &keys.admin,
        TENANT,
        "skip",
        &json!({"fields": {"track_id": {"type": "string", "class": "public"}}}),
    );
    let mut guarded = define.clone();
    guarded["name"] = json!("e2");
    guarded["guardrail"] = json!({"event_type": "skip", "window": "1h", "better": "lower"});
    guarded["effect_sd"] = json!(1.0);
    api.post(&keys.path("/experiments"), Some(&keys.admin), &guarded)
        .expect(201, "e2");
    let mut e2_arm = std::collections::HashMap::new();
    for person in &people {
        let a = recommend(
            &api,
            &keys,
            json!({"experiment": "e2", "external_id": person, "k": 3}),
        );
        e2_arm.insert(person.clone(), a["arm"].as_str().unwrap().to_owned());
    }
    let skips: Vec<Value> = people
        .iter()
        .enumerate()
        .filter(|(_, p)| e2_arm[*p] == "als")
        .map(|(i, p)| json!({"event_id": format!("s-{tag}-{i}"), "type": "skip", "subject": p, "time": soon(2), "properties": {"track_id": "trk_0_0"}}))
        .collect();
    assert_eq!(
        ingest(&api, &keys.writer, TENANT, &skips)["accepted"],
        skips.len()
    );
    let g = results(&api, &keys, "e2");
    assert_eq!(g["arms"][1]["guardrail"]["worse"], true, "{g}");
    assert_eq!(g["arms"][1]["guardrail"]["stopped_now"], true, "{g}");
    assert!(
        g["arms"][0].get("guardrail").is_none(),
        "the baseline has no guardrail look"
    );
    let e2 = api
        .get(&keys.path("/experiments/e2"), Some(&keys.reader))
        .expect(200, "e2")
        .body;
    assert_eq!(e2["arms"][1]["stopped"]["reason"], "guardrail", "{e2}");
    let (stopped_one, control_one) = (
        people.iter().find(|p| e2_arm[*p] == "als").unwrap(),
        people.iter().find(|p| e2_arm[*p] == "control").unwrap(),
    );
    let s = recommend(
        &api,
        &keys,
        json!({"experiment": "e2", "external_id": stopped_one, "k": 3}),
    );
    assert_eq!(
        (s["exposed"].as_bool(), s["reason"].as_str()),
        (Some(false), Some("control_arm")),
        "a stopped arm's subjects get the baseline, unexposed: {s}"
    );
    let c = recommend(
        &api,
        &keys,
        json!({"experiment": "e2", "external_id": control_one, "k": 3}),
    );
    assert_eq!(
        (c["exposed"].as_bool(), c["arm"].as_str()),
        (Some(true), Some("control")),
        "{c}"
    );
    // the first experiment, without a guardrail, is unchanged
    assert_eq!(per_arm(&results(&api, &keys, "e1")), expected);

    // --- an opt-out: the next call is not an exposure and says why; results drop the subject
    let opted = &people[1];
    let opted_ref = resolve(&api, &keys.reader, TENANT, opted);
    api.put(
        &keys.path(&format!("/subjects/{opted_ref}/consents/personalization")),
        Some(&keys.privacy_officer),
        &json!({"granted": false}),
    )
    .expect(200, "opt out");
    let c = recommend(
        &api,
        &keys,
        json!({"experiment": "e1", "external_id": opted, "k": 3}),
    );
    assert_eq!(
        (c["exposed"].as_bool(), c["reason"].as_str(), c.get("arm")),
        (Some(false), Some("opted_out"), None),
        "{c}"
    );
    let after_opt_out = per_arm(&results(&api, &keys, "e1"));
    let mut want = expected.clone();
    for row in &mut want {
        if row.0 == arm_of[opted] {
            row.1 -= 1;
            row.2 -= u64::from(converts(1));
        }
    }
    assert_eq!(after_opt_out, want, "the opted-out subject is not counted");

    // --- an erasure: the newcomer (exposures only) and a listener leave the results at once;
    // the others' numbers are unchanged
    let gone = &newcomers[0];
    let gone_ref = resolve(&api, &keys.reader, TENANT, gone);
    let kept_ref = resolve(&api, &keys.reader, TENANT, &newcomers[1]);
    let listener = &people[4];
    let mut ids_to_wait = Vec::new();
    for person in [gone, listener] {
        let e = api
            .post(
                &keys.path("/erasures"),
                Some(&keys.privacy_officer),
                &json!({"external_id": person, "now": true}),
            )
            .expect(202, "erase")
            .body;
        ids_to_wait.push(e["id"].as_str().unwrap().to_owned());
    }
    for row in &mut want {
        if row.0 == arm_of[gone] {
            row.1 -= 1;
        }
        if row.0 == arm_of[listener] {
            row.1 -= 1;
            row.2 -= u64::from(converts(4));
        }
    }
    assert_eq!(per_arm(&results(&api, &keys, "e1")), want, "erased at once");
    for id in &ids_to_wait {
        wait_erasure_done(&api, &keys, id);
    }
    assert_eq!(per_arm(&results(&api, &keys, "e1")), want, "and after done");

    // --- stop: everyone gets the conclusion, nothing more is exposed
    api.post(
        &keys.path("/experiments/e1/stop"),
        Some(&keys.reader),
        &json!({"conclusion": "als"}),
    )
    .expect(403, "a reader cannot stop it");
    let stopped = api
        .post(
            &keys.path("/experiments/e1/stop"),
            Some(&keys.admin),
            &json!({"conclusion": "als"}),
        )
        .expect(200, "stop")
        .body;
    assert_eq!(stopped["state"], "stopped");
    let control_person = arm_of
        .iter()
        .find(|(p, a)| *a == "control" && !p.starts_with("new-") && *p != opted && *p != listener)
        .map(|(p, _)| p.clone())
        .unwrap();
    let s = recommend(
        &api,
        &keys,
        json!({"experiment": "e1", "external_id": control_person, "k": 3}),
    );
    assert_eq!(
        (s["exposed"].as_bool(), s["personalized"].as_bool()),
        (Some(false), Some(true)),
        "{s}"
    );
    assert_eq!(
        per_arm(&results(&api, &keys, "e1")),
        want,
        "no exposure after the stop"
    );
    // what an operator watches: serving latency per endpoint, fallbacks by reason, exposures,
    // SRM state, guardrail stops, models hosted and their age
    let metrics = api.get("/metrics", None).expect(200, "metrics").text;
    for needle in [
        "steward_serving_seconds",
        "steward_serving_fallbacks_total{reason=\"control_arm\"}",
        "steward_experiment_exposures_total",
        "steward_experiment_srm",
        "steward_experiment_guardrail_stops_total",
        "steward_serving_models_hosted",
        "steward_model_finished_timestamp_seconds",
    ] {
        assert!(metrics.contains(needle), "/metrics lacks {needle}");
    }
    assert!(server.terminate().success());

    // --- forensics: nothing of the erased newcomer (exposures only) in any file or log; the
    // kept newcomer's exposures are found (the scan can see them)
    let hits = forensics_scan(&deployment, &[&gone_ref], true);
    assert!(
        hits.is_empty(),
        "the erased subject's exposures remain: {hits:?}"
    );
    let hits = forensics_scan(&deployment, &[&kept_ref], false);
    assert!(
        !hits.is_empty(),
        "the kept subject's exposures are in the store"
    );
}
