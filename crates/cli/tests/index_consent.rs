//! An events index catches up on what its purpose could not read when the follower passed
//! (issue 13 item 5, the way back): a subject who refused the purpose when their messages
//! arrived and grants it later is indexed then; a purpose under an opt-in regime indexes nobody
//! who has not granted it, and everybody it admits once the regime changes; after a restart the
//! index still agrees with what the purpose may read. Against the real binary.
//!
//! Needs the embedding model (`bash scripts/models.sh`; CI runs it): skipped with a printed
//! reason when absent, unless STEWARD_TEST_PEERS=required.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const TENANT: &str = "acme";

fn models_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("STEWARD_MODELS") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    };
    if dir.join("all-MiniLM-L6-v2/model.safetensors").is_file() {
        return Some(dir);
    }
    if std::env::var("STEWARD_TEST_PEERS").as_deref() == Ok("required") {
        panic!(
            "model files missing under {}: run `bash scripts/models.sh`",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED: model files missing under {} (run `bash scripts/models.sh`)",
        dir.display()
    );
    None
}

fn documents(api: &Api, keys: &TenantKeys, index: &str) -> u64 {
    api.get(&keys.path(&format!("/indexes/{index}")), Some(&keys.reader))
        .expect(200, "index")
        .body["documents"]
        .as_u64()
        .unwrap_or(0)
}

/// Waits until the index holds `want` documents and stays there for a follower pass or two.
fn settle(api: &Api, keys: &TenantKeys, index: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = documents(api, keys, index);
        if got == want {
            std::thread::sleep(Duration::from_millis(800));
            let again = documents(api, keys, index);
            assert_eq!(again, want, "the index moved on past {want}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "index holds {got} documents, never {want}"
        );
        std::thread::sleep(Duration::from_millis(150));
    }
}

fn ids(api: &Api, keys: &TenantKeys, index: &str, query: &str) -> Vec<String> {
    let r = api
        .post(
            &keys.path(&format!("/indexes/{index}/search?purpose=support")),
            Some(&keys.reader),
            &json!({"query": query, "k": 20}),
        )
        .expect(200, "search")
        .body;
    r["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|h| h["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn consent(api: &Api, keys: &TenantKeys, subject: &str, granted: bool) {
    api.put(
        &keys.path(&format!("/subjects/{subject}/consents/support")),
        Some(&keys.privacy_officer),
        &json!({"granted": granted}),
    )
    .expect(200, "consent");
}

fn message(tag: &str, n: usize, who: &str, body: &str) -> Value {
    json!({
        "event_id": format!("m-{tag}-{n}"),
        "type": "support_message",
        "subject": format!("{who}-{tag}@example.org"),
        "time": time_at(1_000_000 * (n as i64 + 1)),
        "properties": {"body": body},
    })
}

#[test]
fn an_index_catches_up_on_subjects_its_purpose_may_read_again() {
    let Some(models) = models_dir() else { return };
    let mut deployment = Deployment::init();
    let args = [
        "--models",
        models.to_str().expect("utf-8 path"),
        "--erasure-purge-after-s",
        "0",
    ];
    let server = deployment.start(&args);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    let tag = random_hex(4);
    put_schema(
        &api,
        &keys.admin,
        TENANT,
        "support_message",
        &json!({"fields": {"body": {"type": "string", "class": "free_text", "pii": "redact"}}}),
    );
    api.post(
        &keys.path("/indexes"),
        Some(&keys.admin),
        &json!({"name": "tickets", "source": {"event_type": "support_message", "field": "body"}, "purpose": "support"}),
    )
    .expect(201, "create index");

    // --- zoe refuses `support` before her message arrives: the follower passes it by
    let zoe = resolve(
        &api,
        &keys.reader,
        TENANT,
        &format!("zoe-{tag}@example.org"),
    );
    consent(&api, &keys, &zoe, false);
    let first = [
        message(
            &tag,
            0,
            "ann",
            "The blender I ordered arrived with a cracked jug.",
        ),
        message(
            &tag,
            1,
            "zoe",
            "My train tickets were never emailed to me after payment.",
        ),
        message(
            &tag,
            2,
            "bob",
            "Please close my account and delete my saved addresses.",
        ),
    ];
    assert_eq!(ingest(&api, &keys.writer, TENANT, &first)["accepted"], 3);
    settle(&api, &keys, "tickets", 2);
    let zoe_msg = format!("m-{tag}-1");
    assert!(!ids(&api, &keys, "tickets", "tickets not received by email").contains(&zoe_msg));

    // --- she grants it again: her message is indexed at the follower's next pass
    consent(&api, &keys, &zoe, true);
    settle(&api, &keys, "tickets", 3);
    let hits = ids(&api, &keys, "tickets", "tickets not received by email");
    assert_eq!(hits.first(), Some(&zoe_msg), "{hits:?}");

    // --- an opt-in regime: new messages of subjects who have not granted it stay out...
    api.put(
        &keys.path("/consent-regimes/support"),
        Some(&keys.admin),
        &json!({"regime": "opt_in"}),
    )
    .expect(200, "regime opt-in");
    let second = [
        message(
            &tag,
            3,
            "cid",
            "The heater makes a loud clicking noise at night.",
        ),
        message(
            &tag,
            4,
            "dan",
            "I was billed for a premium plan I never chose.",
        ),
    ];
    assert_eq!(ingest(&api, &keys.writer, TENANT, &second)["accepted"], 2);
    std::thread::sleep(Duration::from_millis(1500));
    // (only zoe has granted it: searches show her message alone, and nothing new was indexed)
    assert_eq!(
        ids(&api, &keys, "tickets", "noisy heater"),
        vec![zoe_msg.clone()]
    );
    assert_eq!(documents(&api, &keys, "tickets"), 3);

    // --- ...and are indexed once the regime admits them again
    api.put(
        &keys.path("/consent-regimes/support"),
        Some(&keys.admin),
        &json!({"regime": "opt_out"}),
    )
    .expect(200, "regime opt-out");
    settle(&api, &keys, "tickets", 5);
    let hits = ids(&api, &keys, "tickets", "noisy heater");
    assert_eq!(hits.first(), Some(&format!("m-{tag}-3")), "{hits:?}");

    // --- a refusal, a message, a grant, and a kill before the follower may have passed:
    // after the restart the index agrees with what the purpose may read
    let eve = resolve(
        &api,
        &keys.reader,
        TENANT,
        &format!("eve-{tag}@example.org"),
    );
    consent(&api, &keys, &eve, false);
    let third = [message(
        &tag,
        5,
        "eve",
        "The sofa cushions lost their shape after a month.",
    )];
    assert_eq!(ingest(&api, &keys.writer, TENANT, &third)["accepted"], 1);
    std::thread::sleep(Duration::from_millis(800));
    consent(&api, &keys, &eve, true);
    server.kill();
    let server = deployment.start(&args);
    let api = server.api();
    settle(&api, &keys, "tickets", 6);
    let hits = ids(&api, &keys, "tickets", "cushions went flat");
    assert_eq!(hits.first(), Some(&format!("m-{tag}-5")), "{hits:?}");
    let all = ids(&api, &keys, "tickets", "customer message");
    assert_eq!(all.len(), 6, "no duplicate, none lost: {all:?}");
}
