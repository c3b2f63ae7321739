//! PII in free text against the real binary: a schema names an action per free_text field
//! (and for undeclared fields); what the scanner finds is replaced before anything is stored,
//! so no file holds it, while the rest of the text stays readable. And `POST .../pii/scan`.

mod common;

use common::*;
use serde_json::json;

const TENANT: &str = "acme";

#[test]
fn free_text_is_cleaned_before_it_is_stored() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&["--no-encrypt-at-rest"]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    let tag = random_hex(4);
    let schema = json!({
        "fields": {
            "note": {"type": "string", "class": "free_text", "pii": "redact"},
            "comment": {"type": "string", "class": "free_text", "pii": "tokenize"},
            "diary": {"type": "string", "class": "free_text"},
        },
        "allow_unknown_fields": true,
        "unknown_fields_pii": "mask",
    });
    let stored = put_schema(&api, &keys.admin, TENANT, "ticket", &schema);
    assert_eq!(
        stored["schema"]["fields"]["note"]["pii"], "redact",
        "{stored}"
    );
    let mut bad = schema.clone();
    bad["fields"]["note"]["pii"] = json!("shred");
    api.put(&keys.path("/schemas/ticket"), Some(&keys.admin), &bad)
        .expect_problem(400, "invalid_schema", "unknown action");
    let mut bad = schema.clone();
    bad["fields"]["public_pii"] = json!({"type": "string", "class": "public", "pii": "redact"});
    api.put(&keys.path("/schemas/ticket"), Some(&keys.admin), &bad)
        .expect_problem(400, "invalid_schema", "pii on a public field");

    let email = format!("jo.{tag}@example.org");
    let card = "4111 1111 1111 1111";
    let event = json!({"event_id": "t-1", "type": "ticket", "subject": "jo@example.org", "time": "2026-11-22T10:00:00Z", "properties": {
        "note": format!("Customer {email} says the app crashes"),
        "comment": format!("refund to card {card} please, mail {email}"),
        "diary": format!("sealed as before: {email}"),
        "extra_field": format!("reach me at {email} tomorrow"),
    }});
    assert_eq!(ingest(&api, &keys.writer, TENANT, &[event])["accepted"], 1);
    let jo = resolve(&api, &keys.reader, TENANT, "jo@example.org");
    // Readers for analytics see the cleaned text (it is public now); the sealed field stays masked.
    let (events, _) = timeline_masked(&api, &keys.reader, TENANT, &jo, 10);
    let props = &events[0]["properties"];
    assert_eq!(
        props["note"], "Customer [EMAIL] says the app crashes",
        "{props}"
    );
    let comment = props["comment"].as_str().unwrap();
    assert!(
        comment.starts_with("refund to card tok_credit_card_")
            && comment.contains("mail tok_email_"),
        "{comment}"
    );
    assert!(!comment.contains("4111") && !comment.contains(&email));
    let extra = props["extra_field"].as_str().unwrap();
    assert!(
        extra.starts_with("reach me at ")
            && extra.ends_with(" tomorrow")
            && !extra.contains(&email),
        "{extra}"
    );
    assert_eq!(
        props["diary"],
        serde_json::Value::Null,
        "a free_text field without an action is sealed"
    );
    // Cleaned text reads as public, so purposes that see public fields only see it too.
    let (events, _) = timeline_for(&api, &keys.reader, TENANT, &jo, 10, "model_training");
    assert_eq!(
        events[0]["properties"]["note"],
        "Customer [EMAIL] says the app crashes"
    );
    assert!(events[0]["properties"]["extra_field"].is_string());
    // Tokens are stable per tenant: the same email, the same token, wherever it appears.
    let token = comment
        .split_whitespace()
        .find(|w| w.starts_with("tok_email_"))
        .unwrap();
    let probe = api
        .post(
            &keys.path("/pii/scan"),
            Some(&keys.admin),
            &json!({"text": format!("again {email}"), "action": "tokenize"}),
        )
        .expect(200, "scan")
        .body;
    assert_eq!(probe["result"], format!("again {token}"), "{probe}");
    assert_eq!(probe["findings"][0]["entity"], "email");
    api.post(
        &keys.path("/pii/scan"),
        Some(&keys.admin),
        &json!({"text": "x", "action": "burn"}),
    )
    .expect_problem(400, "invalid_action", "bad action");
    api.post(
        &keys.path("/pii/scan"),
        Some(&keys.reader),
        &json!({"text": "x"}),
    )
    .expect_problem(403, "forbidden", "readers do not design schemas");

    // Nothing found in free text reaches a file (encryption at rest is off: a byte scan sees all).
    assert!(server.terminate().success());
    let mut files = files_under(&deployment.data);
    files.extend(deployment.log_files());
    for needle in [email.as_str(), card, "4111111111111111"] {
        let hits: Vec<_> = files
            .iter()
            .filter(|f| {
                !find_all(&std::fs::read(f).unwrap_or_default(), needle.as_bytes()).is_empty()
            })
            .collect();
        assert!(hits.is_empty(), "{needle} found in {hits:?}");
    }
    let visible = files.iter().any(|f| {
        !find_all(
            &std::fs::read(f).unwrap_or_default(),
            b"says the app crashes",
        )
        .is_empty()
    });
    assert!(
        visible,
        "the cleaned text itself is stored readable (positive control)"
    );
}
