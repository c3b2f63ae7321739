//! Purposes, policies, keys and reports against the real binary: what each purpose sees,
//! replacing a tenant's policies (a bad text changes nothing and says where it is wrong),
//! dry runs from the CLI, JWT users from a tenant's issuer, per-key rate limits, and the
//! compliance reports that show who read a subject, when and why.

mod common;

use common::*;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use std::process::Command;
use steward_engine::steward_policy::DEFAULT_POLICIES;

const TENANT: &str = "acme";
const B64: data_encoding::Encoding = data_encoding::BASE64URL_NOPAD;

/// An event with a field of every class the play schema lacks: free text and sensitive.
fn rich_schema() -> Value {
    json!({"fields": {
        "email": {"type": "string", "class": "personal"},
        "note": {"type": "string", "class": "free_text"},
        "health": {"type": "string", "class": "sensitive"},
        "friend": {"type": "string", "class": "identifier"},
        "track_id": {"type": "string", "class": "public", "required": true},
    }})
}

fn rich_event(id: &str, subject: &str) -> Value {
    json!({"event_id": id, "type": "visit", "subject": subject, "time": time_at(1_000),
           "properties": {"email": "canary-mail@example.org", "note": "call me", "health": "asthma",
                          "friend": "friend@example.org", "track_id": "t-1"}})
}

/// Which of the rich event's fields came back in the clear.
fn clear_fields(page: &Value) -> Vec<&'static str> {
    let props = &page["events"][0]["properties"];
    ["email", "note", "health", "friend", "track_id"]
        .into_iter()
        .filter(|f| !props[*f].is_null())
        .collect()
}

fn policy_put(api: &Api, key: &str, text: &str) -> Resp {
    api.request(
        "PUT",
        &format!("/v1/tenants/{TENANT}/policies"),
        Some(key),
        Some(("text/plain", text.as_bytes().to_vec())),
    )
}

fn jwt(key: &SigningKey, kid: &str, claims: &Value) -> String {
    let header = B64.encode(
        json!({"alg": "EdDSA", "typ": "JWT", "kid": kid})
            .to_string()
            .as_bytes(),
    );
    let payload = B64.encode(claims.to_string().as_bytes());
    let signature = key.sign(format!("{header}.{payload}").as_bytes());
    format!("{header}.{payload}.{}", B64.encode(&signature.to_bytes()))
}

#[test]
fn purposes_policies_users_limits_and_reports() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "visit", &rich_schema());
    let person = "person@example.org";
    assert_eq!(
        ingest(&api, &keys.writer, TENANT, &[rich_event("v-1", person)])["accepted"],
        1
    );
    let subject = resolve(&api, &keys.reader, TENANT, person);
    let read = |key: &str, purpose: &str| {
        api.get(
            &keys.path(&format!("/subjects/{subject}/events?purpose={purpose}")),
            Some(key),
        )
    };

    // --- what each purpose sees under the default policies
    for (key, purpose, clear) in [
        (&keys.reader, "analytics", vec!["friend", "track_id"]),
        (&keys.reader, "model_training", vec!["track_id"]),
        (&keys.reader, "personalization", vec!["track_id"]),
        (
            &keys.reader,
            "support",
            vec!["email", "note", "friend", "track_id"],
        ),
        (
            &keys.privacy_officer,
            "security",
            vec!["email", "note", "friend", "track_id"],
        ),
        (
            &keys.privacy_officer,
            "legal",
            vec!["email", "note", "health", "friend", "track_id"],
        ),
        (
            &keys.admin,
            "legal",
            vec!["email", "note", "health", "friend", "track_id"],
        ),
    ] {
        let resp = read(key, purpose).expect(200, purpose);
        assert_eq!(clear_fields(&resp.body), clear, "{purpose}: {}", resp.text);
        assert_eq!(resp.body["purpose"], purpose);
        assert!(resp.text.contains("\"decided_by\""), "{}", resp.text);
        if !clear.contains(&"email") {
            assert!(
                !resp.text.contains("canary-mail"),
                "{purpose} leaks a personal field: {}",
                resp.text
            );
        }
    }
    read(&keys.reader, "legal").expect_problem(403, "forbidden", "readers do not read for legal");
    read(&keys.privacy_officer, "model_training").expect_problem(
        403,
        "forbidden",
        "privacy officers do not train",
    );

    // --- the default set is version 0; a malformed text is refused with positions, nothing changes
    let current = api
        .get(&keys.path("/policies"), Some(&keys.admin))
        .expect(200, "get policies")
        .body;
    assert_eq!(
        (current["version"].as_u64(), current["default"].as_bool()),
        (Some(0), Some(true))
    );
    assert_eq!(current["text"], DEFAULT_POLICIES);
    let broken = format!(
        "{DEFAULT_POLICIES}\n@id(\"fraud\")\npermit (principal in Steward::Role::\"reader\", action == Steward::Action::\"read_timeline\", resource)\nwhen {{ context.purpose == \"fraud_review\" && principal.department == \"risk\" }};\n"
    );
    let refused = policy_put(&api, &keys.admin, &broken).expect_problem(
        422,
        "invalid_policies",
        "unknown attribute",
    );
    let problem = &refused.body["errors"][0];
    // Names from the text (the policy's @id, the unknown attribute) are not echoed; the line
    // and column say where the problem is.
    assert_eq!(problem["policy_id"], "…", "{}", refused.text);
    let broken_line = broken
        .lines()
        .position(|l| l.starts_with("when { context.purpose == \"fraud_review\""))
        .unwrap()
        + 1;
    assert_eq!(
        problem["line"].as_u64(),
        Some(broken_line as u64),
        "{}",
        refused.text
    );
    assert!(
        problem["column"].as_u64().is_some_and(|c| c > 1),
        "{}",
        refused.text
    );
    assert!(
        problem["message"].as_str().unwrap().contains("attribute")
            && !refused.text.contains("department"),
        "{}",
        refused.text
    );
    policy_put(&api, &keys.admin, "permit (principal, action, resource").expect_problem(
        422,
        "invalid_policies",
        "syntax error",
    );
    let after = api
        .get(&keys.path("/policies"), Some(&keys.admin))
        .expect(200, "get policies")
        .body;
    assert_eq!(after["version"], 0, "a refused text changes nothing");
    api.get(
        &keys.path(&format!("/subjects/{subject}/events?purpose=fraud_review")),
        Some(&keys.reader),
    )
    .expect_problem(400, "invalid_purpose", "a purpose no policy names");
    policy_put(&api, &keys.reader, DEFAULT_POLICIES).expect_problem(
        403,
        "forbidden",
        "readers do not manage policies",
    );

    // --- a valid text: a purpose of the tenant's own, in force at once, versioned
    let fraud = format!(
        "{DEFAULT_POLICIES}\n@id(\"fraud-review\")\npermit (principal in Steward::Role::\"reader\", action in [Steward::Action::\"read_timeline\", Steward::Action::\"read_personal\"], resource)\nwhen {{ context.purpose == \"fraud_review\" }};\n"
    );
    let stored = policy_put(&api, &keys.admin, &fraud)
        .expect(200, "store policies")
        .body;
    assert_eq!(stored["version"], 1);
    assert!(
        stored["policy_ids"]
            .as_array()
            .unwrap()
            .contains(&json!("fraud-review"))
    );
    let fraud_read = read(&keys.reader, "fraud_review")
        .expect(200, "the tenant's own purpose")
        .body;
    assert_eq!(
        clear_fields(&fraud_read),
        vec!["track_id"],
        "a new purpose sees public fields only"
    );
    assert_eq!(fraud_read["decided_by"], json!(["fraud-review"]));
    let versions = api
        .get(&keys.path("/policies/versions"), Some(&keys.admin))
        .expect(200, "versions")
        .body;
    assert_eq!(
        versions["versions"].as_array().unwrap().len(),
        2,
        "{versions}"
    );
    let admin_id = &keys.key_ids.iter().find(|(r, _)| r == "admin").unwrap().1;
    assert_eq!(
        versions["versions"][1]["created_by"],
        format!("key:{admin_id}")
    );
    let old = api
        .get(&keys.path("/policies?version=0"), Some(&keys.admin))
        .expect(200, "old version")
        .body;
    assert_eq!(old["text"], DEFAULT_POLICIES);

    // --- dry runs from the CLI
    let base = server.base();
    let check = |request: &str, extra: &[&str]| {
        let out = Command::new(steward_bin())
            .args([
                "policy",
                "check",
                "--tenant",
                TENANT,
                "--request",
                request,
                "--url",
                &base,
                "--key",
                &keys.admin,
            ])
            .args(extra)
            .output()
            .expect("run steward policy check");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = check(
        r#"{"role": "reader", "action": "read_timeline", "purpose": "fraud_review", "resource": {"kind": "Subject", "id": "p-1"}}"#,
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let answer: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        (&answer["decision"], &answer["policy_ids"]),
        (&json!("allow"), &json!(["fraud-review"])),
        "{stdout}"
    );
    assert_eq!(
        answer["field_classes"].as_array().unwrap().len(),
        5,
        "{stdout}"
    );
    let (_, stdout, _) = check(
        r#"{"role": "writer", "action": "read_timeline", "purpose": "support"}"#,
        &[],
    );
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["decision"],
        "deny",
        "{stdout}"
    );
    let draft = deployment.root().join("draft.cedar");
    std::fs::write(
        &draft,
        "permit (principal, action, resource) when { context.purpose == \"x\" &&",
    )
    .unwrap();
    let (code, _, stderr) = check(
        r#"{"role": "reader", "action": "read_timeline", "purpose": "support"}"#,
        &["--policies", draft.to_str().unwrap()],
    );
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("invalid_policies") && stderr.contains("1:"),
        "the CLI prints each problem with its position: {stderr}"
    );

    // --- people from the tenant's JWT issuer
    let signing = SigningKey::from_bytes(&[7u8; 32]);
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "main",
                                "x": B64.encode(signing.verifying_key().as_bytes())}]});
    let identity =
        json!({"issuer": "https://login.acme.example", "audience": "steward", "jwks": jwks});
    api.put(&keys.path("/identity"), Some(&keys.admin), &identity)
        .expect(200, "configure issuer");
    let now = chrono::Utc::now().timestamp();
    let claims = |aud: &str, roles: Value, purposes: Value| json!({"iss": "https://login.acme.example", "aud": aud, "sub": "agent-17", "exp": now + 300, "roles": roles, "purposes": purposes});
    let agent = jwt(
        &signing,
        "main",
        &claims("steward", json!(["reader"]), json!(["support"])),
    );
    let page = read(&agent, "support")
        .expect(200, "a support agent from the issuer")
        .body;
    assert_eq!(
        clear_fields(&page),
        vec!["email", "note", "friend", "track_id"]
    );
    read(&agent, "analytics").expect_problem(403, "forbidden", "a token scoped to support");
    read(
        &jwt(
            &signing,
            "main",
            &claims("other", json!(["reader"]), json!([])),
        ),
        "support",
    )
    .expect_problem(401, "unauthenticated", "wrong audience");
    read(
        &jwt(
            &SigningKey::from_bytes(&[8u8; 32]),
            "main",
            &claims("steward", json!(["reader"]), json!([])),
        ),
        "support",
    )
    .expect_problem(401, "unauthenticated", "a key not in the JWKS");
    api.get("/v1/tenants/other/schemas", Some(&agent))
        .expect_problem(401, "unauthenticated", "a JWT off its tenant");
    let report = api
        .get(
            &keys.path("/audit/reports/principal?principal=user:agent-17"),
            Some(&keys.privacy_officer),
        )
        .expect(200, "user report")
        .body;
    let decisions: Vec<&str> = report["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["allow", "deny"], "{report}");

    // --- per-key token buckets: 429 with Retry-After once the burst is spent
    let (_, limited) = create_key_with(
        &api,
        &keys.admin,
        TENANT,
        json!({"name": "limited", "role": "reader", "rate_limit": {"per_second": 1, "burst": 2}}),
    );
    for _ in 0..2 {
        api.get(&keys.path("/schemas"), Some(&limited))
            .expect(200, "within the burst");
    }
    let over = api
        .get(&keys.path("/schemas"), Some(&limited))
        .expect_problem(429, "rate_limited", "over the burst");
    assert!(over.text.contains("1/s"), "{}", over.text);
    api.get(&keys.path("/schemas"), Some(&keys.reader))
        .expect(200, "other keys are not limited");
    api.post(
        &keys.path("/keys"),
        Some(&keys.admin),
        &json!({"name": "x", "role": "reader", "rate_limit": {"per_second": 0, "burst": 1}}),
    )
    .expect_problem(400, "invalid_rate_limit", "zero rate");
    api.post(
        &keys.path("/keys"),
        Some(&keys.admin),
        &json!({"name": "x", "role": "reader", "purposes": ["Not A Purpose"]}),
    )
    .expect_problem(400, "invalid_purpose", "bad purpose name");

    // --- the subject's compliance report: every read of its data, by whom, why, decided how
    let report = api
        .post(
            &keys.path("/audit/reports/subject"),
            Some(&keys.privacy_officer),
            &json!({"external_id": person}),
        )
        .expect(200, "subject report")
        .body;
    assert_eq!(report["subject_known"], true);
    let records = report["records"].as_array().unwrap();
    let reads: Vec<(&str, &str)> = records
        .iter()
        .filter(|r| r["action"] == "read_timeline")
        .map(|r| {
            (
                r["purpose"].as_str().unwrap_or(""),
                r["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        reads.contains(&("analytics", "allow"))
            && reads.contains(&("legal", "deny"))
            && reads.contains(&("fraud_review", "allow")),
        "{report}"
    );
    assert!(
        records
            .iter()
            .all(|r| !r.to_string().contains(&subject) && !r.to_string().contains(person)),
        "no pseudonym or id in a report row"
    );
    let csv = api.request(
        "POST",
        &keys.path("/audit/reports/subject?format=csv"),
        Some(&keys.privacy_officer),
        Some((
            "application/json",
            json!({"external_id": person}).to_string().into_bytes(),
        )),
    );
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(csv.content_type.starts_with("text/csv"));
    let mut lines = csv.text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "index,time,principal,action,purpose,resource,decision,policy_ids,subject_count,result_rows,request_id"
        )
    );
    assert_eq!(
        lines.count(),
        records.len() + 1,
        "one line a record (the JSON report's own read is recorded before the CSV one)"
    );
    let nobody = api
        .post(
            &keys.path("/audit/reports/subject"),
            Some(&keys.privacy_officer),
            &json!({"external_id": "never-seen@example.org"}),
        )
        .expect(200, "unknown")
        .body;
    assert_eq!(
        (
            &nobody["subject_known"],
            nobody["records"].as_array().map(Vec::len)
        ),
        (&json!(false), Some(0))
    );
    api.get(
        &keys.path("/audit/reports/principal?principal=key:x&format=xml"),
        Some(&keys.admin),
    )
    .expect_problem(400, "invalid_format", "bad format");

    // --- the log still verifies offline after all of this
    let status = server.terminate();
    assert!(status.success());
    let out = Command::new(steward_bin())
        .args(["audit", "verify", "--data"])
        .arg(deployment.root().join("data"))
        .args(["--tenant", TENANT])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 10: an admin's deeply nested or long-chained policy text used to overflow a worker's
/// stack and abort the server (every tenant down). Past the bounds it is a 400 with a stable
/// code and a position; at the bounds it is stored and decides; the server stays up.
#[test]
fn deep_policy_texts_are_refused_and_the_server_stays_up() {
    use steward_engine::steward_policy::limits::{POLICY_NESTING_MAX, POLICY_OPERATORS_MAX};
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    let deep = |condition: String| {
        format!(
            "{DEFAULT_POLICIES}\n@id(\"deep\")\npermit (principal, action, resource)\nwhen {{ {condition} }};\n"
        )
    };
    let check = |text: &str| {
        api.post(
            &keys.path("/policies/check"),
            Some(&keys.admin),
            &json!({"role": "reader", "action": "query", "purpose": "analytics", "policies": text}),
        )
    };

    for (what, condition) in [
        (
            "150 nested parentheses",
            format!("{}true{}", "(".repeat(150), ")".repeat(150)),
        ),
        (
            "150 nested sets",
            format!("{}1{}.isEmpty()", "[".repeat(150), "]".repeat(150)),
        ),
        (
            "150 nested records",
            format!("{}1{} == {{}}", "{a: ".repeat(150), "}".repeat(150)),
        ),
        ("420 chained &&", vec!["true"; 421].join(" && ")),
        (
            "420 chained +",
            format!("{} == 3", vec!["1"; 421].join(" + ")),
        ),
        (
            "420 chained if",
            format!(
                "{}true{}",
                "if true then ".repeat(420),
                " else false".repeat(420)
            ),
        ),
        (
            "one level past the bound",
            format!(
                "{}true{}",
                "(".repeat(POLICY_NESTING_MAX),
                ")".repeat(POLICY_NESTING_MAX)
            ),
        ),
        (
            "one operator past the bound",
            vec!["context has purpose"; POLICY_OPERATORS_MAX / 2 + 1].join(" && "),
        ),
    ] {
        let text = deep(condition);
        let refused =
            policy_put(&api, &keys.admin, &text).expect_problem(400, "policy_too_complex", what);
        assert!(
            refused.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("line ")),
            "{what}: {}",
            refused.text
        );
        assert!(
            !refused.text.contains("true") && !refused.text.contains("(("),
            "{what}: the answer echoes no text: {}",
            refused.text
        );
        check(&text).expect_problem(400, "policy_too_complex", what);
    }
    assert!(api.get("/healthz", None).status == 200, "the server is up");
    assert_eq!(
        api.get(&keys.path("/policies"), Some(&keys.admin))
            .expect(200, "get")
            .body["version"],
        0,
        "nothing stored"
    );

    // At the bounds: 31 brackets inside `when { }` around a chain of 127 operators.
    let open = POLICY_NESTING_MAX - 1;
    let at_limit = deep(format!(
        "{}{}{}",
        "(".repeat(open),
        vec!["context has purpose"; POLICY_OPERATORS_MAX / 2].join(" && "),
        ")".repeat(open)
    ));
    let answer = check(&at_limit).expect(200, "a dry run at the bounds").body;
    assert_eq!(answer["decision"], "allow", "{answer}");
    policy_put(&api, &keys.admin, &at_limit).expect(200, "stored at the bounds");
    let sql = api.post(
        &keys.path("/sql"),
        Some(&keys.reader),
        &json!({"sql": "SELECT count(*) AS n FROM events", "purpose": "analytics"}),
    );
    sql.expect(200, "requests are decided under the deep policy");
}
