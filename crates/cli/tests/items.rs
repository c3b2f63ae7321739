//! The item catalog against the real binary: upsert, revisions, the `_items` schema (every
//! field public), bulk JSON and NDJSON with per-entry errors, paging with a cursor, deletion,
//! roles, hostile ids and bodies, audit, and durability across a restart.

mod common;

use common::*;
use serde_json::{Value, json};

#[test]
fn items_are_upserted_listed_validated_and_kept() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, "shop");
    let item = |id: &str| keys.path(&format!("/items/{id}"));

    // One item: created at revision 1; the same content again changes nothing; new content bumps it.
    let doc = json!({"properties": {"genre": "jazz", "year": 1959, "tags": ["modal", "cool"], "live": false}, "text": "Kind of Blue"});
    let first = api
        .put(&item("t-1"), Some(&keys.writer), &doc)
        .expect(200, "put")
        .body;
    assert_eq!(
        (first["item_id"].as_str(), first["revision"].as_u64()),
        (Some("t-1"), Some(1)),
        "{first}"
    );
    let same = api
        .put(&item("t-1"), Some(&keys.writer), &doc)
        .expect(200, "put again")
        .body;
    assert_eq!(
        same["revision"], 1,
        "unchanged content keeps its revision: {same}"
    );
    assert_eq!(same["updated_at"], first["updated_at"]);
    let changed = api
        .put(
            &item("t-1"),
            Some(&keys.writer),
            &json!({"properties": {"genre": "jazz"}}),
        )
        .expect(200, "put changed")
        .body;
    assert_eq!(changed["revision"], 2, "{changed}");
    assert!(
        changed.get("text").is_none(),
        "a replace drops what the new document leaves out: {changed}"
    );
    let read = api
        .get(&item("t-1"), Some(&keys.reader))
        .expect(200, "a reader reads items")
        .body;
    assert_eq!(read, changed);

    // Roles: readers and privacy officers read, never write.
    api.put(&item("t-2"), Some(&keys.reader), &doc)
        .expect_problem(403, "forbidden", "a reader writes an item");
    api.delete(&item("t-1"), Some(&keys.privacy_officer))
        .expect_problem(403, "forbidden", "a privacy officer deletes an item");

    // Hostile ids and documents: clear codes, nothing stored.
    api.put(&keys.path("/items/a%2Fb"), Some(&keys.writer), &doc)
        .expect_problem(400, "invalid_item_id", "a slash in the id");
    let long = "x".repeat(300);
    api.put(&item(&long), Some(&keys.writer), &doc)
        .expect_problem(400, "invalid_item_id", "a 300-byte id");
    api.put(
        &item("t-3"),
        Some(&keys.writer),
        &json!({"properties": {"nested": {"a": 1}}}),
    )
    .expect_problem(400, "invalid_item_properties", "a nested object");
    api.put(
        &item("t-3"),
        Some(&keys.writer),
        &json!({"properties": {"Bad-Name": 1}}),
    )
    .expect_problem(400, "invalid_item_properties", "a bad property name");
    api.put(
        &item("t-3"),
        Some(&keys.writer),
        &json!({"properties": {}, "price": 3}),
    )
    .expect_problem(400, "unknown_field", "an unknown top-level field");
    api.put(
        &item("t-3"),
        Some(&keys.writer),
        &json!({"item_id": "other"}),
    )
    .expect_problem(400, "item_id_mismatch", "the body names another id");
    api.put(
        &item("t-3"),
        Some(&keys.writer),
        &json!({"text": "x".repeat(40_000)}),
    )
    .expect_problem(400, "invalid_item_text", "a 40 KB text");
    api.get(&item("t-3"), Some(&keys.reader)).expect_problem(
        404,
        "not_found",
        "nothing was stored",
    );

    // The item schema: a personal field is refused; all-public is taken and then enforced.
    let personal = json!({"fields": {"title": {"type": "string", "class": "public"}, "owner_email": {"type": "string", "class": "personal"}}});
    api.put(&keys.path("/schemas/_items"), Some(&keys.admin), &personal)
        .expect_problem(400, "item_field_not_public", "a personal item field");
    let open = json!({"fields": {"title": {"type": "string", "class": "public"}}, "allow_unknown_fields": true});
    api.put(&keys.path("/schemas/_items"), Some(&keys.admin), &open)
        .expect_problem(400, "item_unknown_fields", "undeclared item fields");
    let schema = json!({"fields": {
        "title": {"type": "string", "class": "public", "required": true},
        "genre": {"type": "string", "class": "public"},
        "year": {"type": "int", "class": "public"},
        "released": {"type": "timestamp", "class": "public"},
    }});
    api.put(&keys.path("/schemas/_items"), Some(&keys.admin), &schema)
        .expect(200, "an all-public item schema");
    api.put(&keys.path("/schemas/_events"), Some(&keys.admin), &schema)
        .expect_problem(
            400,
            "invalid_event_type",
            "other underscore names stay refused",
        );
    let wrong = api
        .put(
            &item("t-4"),
            Some(&keys.writer),
            &json!({"properties": {"title": "A", "year": "nineteen"}}),
        )
        .expect_problem(400, "invalid_properties", "a string for an int");
    assert!(
        !wrong.text.contains("nineteen"),
        "the value is not echoed: {}",
        wrong.text
    );
    let normalized = api
        .put(
            &item("t-4"),
            Some(&keys.writer),
            &json!({"properties": {"title": "A", "released": "2024-01-02T03:04:05+02:00"}}),
        )
        .expect(200, "a valid item")
        .body;
    assert_eq!(
        normalized["properties"]["released"], "2024-01-02T01:04:05Z",
        "timestamps are normalized: {normalized}"
    );

    // Bulk, JSON array: good entries stored in one commit, bad ones reported by position.
    let entries: Vec<Value> = (0..250)
        .map(|i| match i {
            7 => json!({"item_id": "b-007", "properties": {"year": 1}}), // title missing
            8 => json!({"properties": {"title": "no id"}}),
            9 => json!({"item_id": "b/009", "properties": {"title": "slash"}}),
            _ => json!({"item_id": format!("b-{i:03}"), "properties": {"title": format!("title {i}"), "year": 2000 + i}}),
        })
        .collect();
    let report = api
        .post(
            &keys.path("/items"),
            Some(&keys.writer),
            &Value::Array(entries),
        )
        .expect(200, "bulk")
        .body;
    assert_eq!(report["upserted"], 247, "{report}");
    let rejected: Vec<(u64, &str)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rejected,
        vec![
            (7, "invalid_properties"),
            (8, "invalid_item_id"),
            (9, "invalid_item_id")
        ],
        "{report}"
    );

    // Bulk, NDJSON: a line that is not JSON is reported by its 0-based line number.
    let mut body = Vec::new();
    body.extend_from_slice(
        json!({"item_id": "n-1", "properties": {"title": "one"}})
            .to_string()
            .as_bytes(),
    );
    body.extend_from_slice(b"\n{not json\n\n");
    body.extend_from_slice(
        json!({"item_id": "n-2", "properties": {"title": "two"}})
            .to_string()
            .as_bytes(),
    );
    let report = api
        .request(
            "POST",
            &keys.path("/items"),
            Some(&keys.writer),
            Some(("application/x-ndjson", body)),
        )
        .expect(200, "ndjson")
        .body;
    assert_eq!(report["upserted"], 2, "{report}");
    assert_eq!(
        (
            report["rejected"][0]["index"].as_u64(),
            report["rejected"][0]["code"].as_str()
        ),
        (Some(1), Some("invalid_json")),
        "{report}"
    );
    api.request(
        "POST",
        &keys.path("/items"),
        Some(&keys.writer),
        Some(("text/csv", b"a,b".to_vec())),
    )
    .expect_problem(415, "unsupported_media_type", "csv");
    let too_many: Vec<Value> = (0..10_001)
        .map(|i| json!({"item_id": format!("m-{i}")}))
        .collect();
    api.post(
        &keys.path("/items"),
        Some(&keys.writer),
        &Value::Array(too_many),
    )
    .expect_problem(413, "too_large", "10,001 items");

    // Paging: every item once, in id order, with a total.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => keys.path(&format!("/items?limit=100&cursor={c}")),
            None => keys.path("/items?limit=100"),
        };
        let page = api.get(&path, Some(&keys.reader)).expect(200, "page").body;
        assert_eq!(page["total"], 251, "{}", page["total"]);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["item_id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        (seen.len(), &seen),
        (251, &sorted),
        "every item once, in id order"
    );
    api.get(&keys.path("/items?limit=0"), Some(&keys.reader))
        .expect_problem(400, "invalid_limit", "limit 0");
    api.get(&keys.path("/items?limit=5000"), Some(&keys.reader))
        .expect_problem(400, "invalid_limit", "limit 5000");

    // Delete: 204, then gone; a second delete is 404.
    api.delete(&item("b-000"), Some(&keys.writer))
        .expect(204, "delete");
    api.get(&item("b-000"), Some(&keys.reader))
        .expect_problem(404, "not_found", "deleted");
    api.delete(&item("b-000"), Some(&keys.writer))
        .expect_problem(404, "not_found", "deleted twice");

    // Every change is in the audit log as the writer's manage_items decision.
    let writer_id = keys
        .key_ids
        .iter()
        .find(|(r, _)| r == "writer")
        .map(|(_, id)| id.clone())
        .unwrap();
    let report = api
        .get(
            &keys.path(&format!(
                "/audit/reports/principal?principal=key:{writer_id}"
            )),
            Some(&keys.admin),
        )
        .expect(200, "report")
        .body;
    let changes = report["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "manage_items" && r["decision"] == "allow")
        .count();
    assert!(
        changes >= 8,
        "item changes are audited: {changes} in {report}"
    );
    let metrics = api.get("/metrics", None).expect(200, "metrics").text;
    for name in [
        "steward_items_upserted_total",
        "steward_items_rejected_total",
        "steward_items_deleted_total",
    ] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with(name) && !l.ends_with(" 0")),
            "{name} counts: {metrics}"
        );
    }
    assert!(server.terminate().success());

    // Durable: a restart serves the same catalog.
    let server = deployment.start(&[]);
    let api = server.api();
    assert_eq!(
        api.get(&item("t-1"), Some(&keys.reader))
            .expect(200, "after restart")
            .body,
        changed
    );
    assert_eq!(
        api.get(&keys.path("/items?limit=1"), Some(&keys.reader))
            .expect(200, "count")
            .body["total"],
        250
    );
    assert!(server.terminate().success());
}
