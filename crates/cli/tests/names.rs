//! Names are validated before the file system, against the real binary: a path parameter with
//! an encoded `../` (data set names, versions, files, schema names, key and erasure ids) that
//! would reach another tenant's directory answers exactly as one that reaches nothing, so no
//! answer tells whether another tenant has a data set (or file) of that name.

mod common;

use common::*;
use serde_json::json;

/// Variants of one traversal into `target` (a path under the data directory's `tenants/`).
fn traversals(target: &str) -> Vec<String> {
    let encoded = target.replace('/', "%2F");
    vec![
        format!("..%2F..%2F{encoded}"),
        format!("%2E%2E%2F%2E%2E%2F{encoded}"),
        format!("..%5C..%5C{}", target.replace('/', "%5C")),
        format!("..%252F..%252F{}", target.replace('/', "%252F")),
        format!("%2F{encoded}"),
    ]
}

#[test]
fn traversal_in_a_name_never_tells_whether_another_tenants_data_set_exists() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let alpha = tenant_with_keys(&api, &deployment.operator_key, "alpha");
    let beta = tenant_with_keys(&api, &deployment.operator_key, "beta");
    for keys in [&alpha, &beta] {
        put_schema(&api, &keys.admin, &keys.id, "play", &play_schema());
        let events = [play_event(
            &format!("{}-1", keys.id),
            "p@example.org",
            &time_at(1_000),
            "m@example.org",
            "t-1",
            5,
        )];
        assert_eq!(ingest(&api, &keys.writer, &keys.id, &events)["accepted"], 1);
    }
    let cut = json!({"name": "secret", "sql": "SELECT subject, track_id FROM play", "purpose": "model_training"});
    let made = api
        .post(&beta.path("/datasets"), Some(&beta.reader), &cut)
        .expect(201, "beta's data set")
        .body;
    let file = made["files"][0]["name"]
        .as_str()
        .expect("a file")
        .to_owned();
    let cut = json!({"name": "plays", "sql": "SELECT subject, track_id FROM play", "purpose": "model_training"});
    api.post(&alpha.path("/datasets"), Some(&alpha.reader), &cut)
        .expect(201, "alpha's data set");

    // Under DATA/tenants/alpha/datasets, `../../beta/datasets/secret` is beta's data set.
    let exists = "beta/datasets/secret";
    let missing = "beta/datasets/absent";
    let q = "?purpose=model_training";
    type Route = fn(&str, &str) -> String;
    let routes: [(&str, Route); 6] = [
        ("versions", |name, q| {
            format!("/datasets/{name}/versions{q}")
        }),
        ("version", |name, q| {
            format!("/datasets/{name}/versions/1{q}")
        }),
        ("latest", |name, q| {
            format!("/datasets/{name}/versions/latest{q}")
        }),
        ("diff", |name, q| {
            format!("/datasets/{name}/diff{q}&from=1&to=1")
        }),
        ("arrow", |name, q| {
            format!("/datasets/{name}/versions/1/arrow{q}")
        }),
        ("file of the name", |name, q| {
            format!("/datasets/{name}/versions/1/files/part-00000.parquet{q}")
        }),
    ];
    let mut compared = 0;
    for (what, route) in routes {
        for (a, b) in traversals(exists).into_iter().zip(traversals(missing)) {
            let found = api.get(&alpha.path(&route(&a, q)), Some(&alpha.admin));
            let absent = api.get(&alpha.path(&route(&b, q)), Some(&alpha.admin));
            assert!(
                found.status >= 400,
                "{what} {a}: {} {}",
                found.status,
                found.text
            );
            assert_eq!(
                (found.status, &found.body),
                (absent.status, &absent.body),
                "{what}: {a} and {b} answer differently"
            );
            compared += 1;
        }
        // Signed links too (POST).
        let link = |name: &str| {
            api.post(
                &alpha.path(&format!("/datasets/{name}/versions/1/links{q}")),
                Some(&alpha.admin),
                &json!({"ttl_s": 60}),
            )
        };
        let (found, absent) = (link(&traversals(exists)[0]), link(&traversals(missing)[0]));
        assert_eq!(
            (found.status, &found.body),
            (absent.status, &absent.body),
            "links: answers differ"
        );
    }
    // A file name reaching beta's sealed file from alpha's own data set.
    let file_route = |target: &str| {
        format!(
            "/datasets/plays/versions/1/files/..%2F..%2F..%2F{}{q}",
            target.replace('/', "%2F")
        )
    };
    let found = api.get(
        &alpha.path(&file_route(&format!("beta/datasets/secret/v000001/{file}"))),
        Some(&alpha.admin),
    );
    let absent = api.get(
        &alpha.path(&file_route(&format!("beta/datasets/absent/v000001/{file}"))),
        Some(&alpha.admin),
    );
    assert!(found.status >= 400, "{} {}", found.status, found.text);
    assert_eq!(
        (found.status, &found.body),
        (absent.status, &absent.body),
        "file traversal answers differ"
    );
    // Other names in paths: schemas, keys, erasures.
    for (what, exists, missing) in [
        (
            "schema",
            "..%2F..%2Fbeta%2Fcatalog.redb",
            "..%2F..%2Fbeta%2Fabsent.redb",
        ),
        (
            "schema",
            "..%2F..%2F..%2Fmaster.key",
            "..%2F..%2F..%2Fabsent.key",
        ),
    ] {
        let found = api.get(
            &alpha.path(&format!("/schemas/{exists}")),
            Some(&alpha.admin),
        );
        let absent = api.get(
            &alpha.path(&format!("/schemas/{missing}")),
            Some(&alpha.admin),
        );
        assert!(
            found.status >= 400,
            "{what} {exists}: {} {}",
            found.status,
            found.text
        );
        assert_eq!(
            (found.status, &found.body),
            (absent.status, &absent.body),
            "{what}: answers differ"
        );
    }
    for rest in [
        "/erasures/..%2F..%2Fbeta",
        "/erasures/..%2F..%2Fbeta/receipt",
        "/keys/..%2F..%2Fbeta",
    ] {
        let method = if rest.starts_with("/keys") {
            "DELETE"
        } else {
            "GET"
        };
        let found = api.request(method, &alpha.path(rest), Some(&alpha.admin), None);
        let absent = api.request(
            method,
            &alpha.path(&rest.replace("beta", "absent")),
            Some(&alpha.admin),
            None,
        );
        assert!(
            found.status >= 400,
            "{rest}: {} {}",
            found.status,
            found.text
        );
        assert_eq!(
            (found.status, &found.body),
            (absent.status, &absent.body),
            "{rest}: answers differ"
        );
    }
    assert!(compared >= 30);
    // Beta's data set is still there and alpha's own reads work.
    api.get(
        &beta.path("/datasets/secret/versions?purpose=model_training"),
        Some(&beta.reader),
    )
    .expect(200, "beta reads its own");
    api.get(
        &alpha.path("/datasets/plays/versions?purpose=model_training"),
        Some(&alpha.reader),
    )
    .expect(200, "alpha reads its own");
}
