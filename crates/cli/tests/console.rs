//! The web console (`/console`), end to end in headless Chromium against the real binary.
//!
//! `console_assets_and_whoami` checks the HTTP side without a browser: the page and every asset
//! answer with their content type, the Content-Security-Policy and the other headers, without a
//! key; `whoami` names each key's role in its tenant and nothing across tenants.
//!
//! The browser tests set up a tenant with data (events, a data set, two model versions, an
//! experiment) and run `console-tests/console.spec.mjs` (node + playwright-core driving Debian's
//! chromium): as an admin it files an erasure and watches it reach `done` in the page, verifies
//! the receipt in the browser, runs a SQL query, moves a model alias through the confirmation
//! dialog (checked here through the API), verifies the audit log, and screenshots every page;
//! as a reader it finds no admin action offered and every admin route refused (403) when called
//! from the page. Both check that the key is in no cookie, URL or localStorage, and that the
//! page logged no error and no CSP violation. Screenshots go to `$STEWARD_CONSOLE_SCREENSHOTS`
//! or `target/console-screenshots/` (printed).
//!
//! Needs /usr/bin/chromium, node and console-tests/node_modules (`scripts/browser.sh`): skipped
//! with a printed reason when absent, unless STEWARD_TEST_PEERS=required.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const TENANT: &str = "acme";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn skip(reason: &str) {
    if std::env::var("STEWARD_TEST_PEERS").as_deref() == Ok("required") {
        panic!("{reason} (run scripts/browser.sh)");
    }
    eprintln!("SKIPPED: {reason} (run scripts/browser.sh)");
}

/// node and the test script, when chromium, node and playwright-core are all there.
fn browser_peers() -> Option<PathBuf> {
    if !Path::new("/usr/bin/chromium").exists() {
        skip("/usr/bin/chromium is missing");
        return None;
    }
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        skip("node is missing");
        return None;
    }
    let dir = root().join("console-tests");
    if !dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        skip("console-tests/node_modules/playwright-core is missing");
        return None;
    }
    Some(dir.join("console.spec.mjs"))
}

fn screenshots_dir() -> PathBuf {
    match std::env::var_os("STEWARD_CONSOLE_SCREENSHOTS") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root().join("target"));
            target.join("console-screenshots")
        }
    }
}

/// Runs the browser script; returns its RESULT object, panicking with its output on failure.
fn run_browser(script: &Path, env: &[(&str, String)]) -> Value {
    let started = Instant::now();
    let mut command = Command::new("node");
    command
        .arg(script)
        .current_dir(script.parent().unwrap_or(Path::new(".")));
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let result = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .and_then(|l| serde_json::from_str::<Value>(l).ok());
    eprintln!(
        "browser run ({:?}): {}\n{}",
        started.elapsed(),
        result
            .as_ref()
            .map(|r| serde_json::to_string_pretty(r).unwrap_or_default())
            .unwrap_or_default(),
        stderr
    );
    assert!(
        out.status.success(),
        "the console test failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    result.unwrap_or_else(|| panic!("no RESULT line:\n{stdout}"))
}

/// GET without a key, with the response headers.
fn get_with_headers(base: &str, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut response = ureq::get(&format!("{base}{path}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let body = response
        .body_mut()
        .read_to_vec()
        .unwrap_or_else(|e| panic!("GET {path} body: {e}"));
    (response.status().as_u16(), headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

const B64: data_encoding::Encoding = data_encoding::BASE64URL_NOPAD;
const ISSUER: &str = "https://login.console.example";

/// The tenant's JWT issuer (an Ed25519 JWKS) and a token of it for `sub` with `roles`.
fn identity_and_token(sub: &str, roles: &[&str]) -> (Value, String) {
    use ed25519_dalek::{Signer, SigningKey};
    let signing = SigningKey::from_bytes(&[7u8; 32]);
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "main",
                                "x": B64.encode(signing.verifying_key().as_bytes())}]});
    let identity = json!({"issuer": ISSUER, "audience": "steward", "jwks": jwks});
    let header = B64.encode(
        json!({"alg": "EdDSA", "typ": "JWT", "kid": "main"})
            .to_string()
            .as_bytes(),
    );
    let claims = json!({"iss": ISSUER, "aud": "steward", "sub": sub, "exp": chrono::Utc::now().timestamp() + 600, "roles": roles});
    let payload = B64.encode(claims.to_string().as_bytes());
    let signature = signing.sign(format!("{header}.{payload}").as_bytes());
    (
        identity,
        format!("{header}.{payload}.{}", B64.encode(&signature.to_bytes())),
    )
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

#[test]
fn console_assets_and_whoami() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let base = server.base();
    let assets = [
        ("/console", "text/html; charset=utf-8"),
        ("/console/console.css", "text/css; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/api.js", "text/javascript; charset=utf-8"),
        ("/console/dom.js", "text/javascript; charset=utf-8"),
        ("/console/charts.js", "text/javascript; charset=utf-8"),
        ("/console/pages.js", "text/javascript; charset=utf-8"),
        ("/console/verify.js", "text/javascript; charset=utf-8"),
        ("/console/favicon.svg", "image/svg+xml"),
    ];
    for (path, content_type) in assets {
        let (status, headers, body) = get_with_headers(&base, path);
        assert_eq!(status, 200, "{path}");
        assert_eq!(header(&headers, "content-type"), content_type, "{path}");
        assert_eq!(header(&headers, "content-security-policy"), CSP, "{path}");
        assert_eq!(
            header(&headers, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        assert_eq!(header(&headers, "referrer-policy"), "no-referrer", "{path}");
        assert!(!body.is_empty(), "{path} is empty");
        assert!(
            steward_server::ROUTES
                .iter()
                .any(|r| r.path == path && r.method == "GET" && !r.authenticated),
            "{path} is a public route of ROUTES"
        );
    }
    let (_, _, page) = get_with_headers(&base, "/console");
    let page = String::from_utf8_lossy(&page);
    assert!(page.contains(r#"<script type="module" src="/console/app.js"></script>"#));
    // Every module the page imports is served (a missing route would break the page).
    for path in ["/console/missing.js", "/console/../v1/tenants"] {
        let status = ureq::get(&format!("{base}{path}"))
            .call()
            .map(|r| r.status().as_u16())
            .unwrap_or_else(|e| match e {
                ureq::Error::StatusCode(code) => code,
                other => panic!("{path}: {other}"),
            });
        assert!(status == 404 || status == 401, "{path} answered {status}");
    }

    // whoami: each key's role in its own tenant; another tenant's keys meet the wall.
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    let other = tenant_with_keys(&api, &deployment.operator_key, "other");
    for role in ROLES {
        let who = api
            .get(&keys.path("/whoami"), Some(keys.key(role)))
            .expect(200, "whoami")
            .body;
        assert_eq!(who["role"], role, "{who}");
        assert_eq!(who["tenant"], TENANT, "{who}");
        assert_eq!(who["kind"], "key", "{who}");
        let id = &keys
            .key_ids
            .iter()
            .find(|(r, _)| r == role)
            .expect("key id")
            .1;
        assert_eq!(who["key_id"], id.as_str(), "{who}");
        assert_eq!(who["principal"], format!("key:{id}"), "{who}");
        let text = who.to_string();
        assert!(
            !text.contains(keys.key(role)),
            "whoami never echoes the secret"
        );
        api.get(&keys.path("/whoami"), Some(other.key(role)))
            .expect_problem(404, "not_found", "another tenant's whoami");
    }
    // A user of the tenant's identity provider (JWT): kind user, its sub and roles.
    let (identity, token) = identity_and_token("officer-7", &["privacy_officer"]);
    api.put(&keys.path("/identity"), Some(&keys.admin), &identity)
        .expect(200, "identity");
    let who = api
        .get(&keys.path("/whoami"), Some(&token))
        .expect(200, "whoami with a JWT")
        .body;
    assert_eq!(who["kind"], "user", "{who}");
    assert_eq!(who["sub"], "officer-7", "{who}");
    assert_eq!(who["roles"], json!(["privacy_officer"]), "{who}");
    assert_eq!(who["principal"], "user:officer-7", "{who}");
    api.get(&other.path("/whoami"), Some(&token))
        .expect(401, "a JWT of another tenant's issuer");
    api.get(&keys.path("/whoami"), None).expect_problem(
        401,
        "unauthenticated",
        "whoami without a key",
    );
    api.get(&keys.path("/whoami"), Some(&deployment.operator_key))
        .expect(403, "the operator is no tenant principal");
}

/// A tenant with events, a data set, two ready model versions of `recs` and an experiment;
/// returns the keys, an external id that is in no data set (its erasure has no derived work to
/// wait for) and one that is.
fn set_up(api: &Api, operator_key: &str, with_models: bool) -> (TenantKeys, String, String) {
    let keys = tenant_with_keys(api, operator_key, TENANT);
    put_schema(api, &keys.admin, TENANT, "play", &play_schema());
    let tag = random_hex(4);
    let mut events = Vec::new();
    for p in 0..24 {
        let person = format!("person-{p}-{tag}@example.org");
        for i in 0..12 {
            events.push(play_event(
                &format!("e-{tag}-{p}-{i}"),
                &person,
                &time_at((p * 1000 + i) as i64 * 1_000_000),
                "x@example.org",
                &format!("trk_{}", (p % 4) * 10 + (i * 3 + p) % 10),
                100,
            ));
        }
    }
    assert_eq!(
        ingest(api, &keys.writer, TENANT, &events)["accepted"],
        events.len() as u64
    );
    api.post(
        &keys.path("/datasets"),
        Some(&keys.reader),
        &json!({"name": "plays", "sql": "SELECT subject, track_id, time FROM play"}),
    )
    .expect(201, "cut");
    // A second version with a few more rows (the page diffs the two).
    let more: Vec<Value> = (0..5)
        .map(|i| {
            play_event(
                &format!("more-{tag}-{i}"),
                &format!("person-1-{tag}@example.org"),
                &time_at(80_000_000_000 + i),
                "x@example.org",
                "trk_3",
                75,
            )
        })
        .collect();
    ingest(api, &keys.writer, TENANT, &more);
    api.post(
        &keys.path("/datasets"),
        Some(&keys.reader),
        &json!({"name": "plays", "sql": "SELECT subject, track_id, time FROM play"}),
    )
    .expect(201, "cut v2");
    // Someone who joins after the cuts: in no data set or model.
    let late = format!("late-{tag}@example.org");
    let late_events: Vec<Value> = (0..3)
        .map(|i| {
            play_event(
                &format!("late-{tag}-{i}"),
                &late,
                &time_at(90_000_000_000 + i),
                "late@example.org",
                "trk_1",
                50,
            )
        })
        .collect();
    ingest(api, &keys.writer, TENANT, &late_events);
    if with_models {
        let body = |algorithm: &str, params: Value| json!({"name": "recs", "algorithm": algorithm, "dataset": {"name": "plays", "version": "latest"}, "columns": {"user": "subject", "item": "track_id", "time": "time"}, "params": params, "evaluation": {"split": "leave_last", "holdout": 1, "k": [5]}});
        for (v, b) in [
            (1, body("popularity", json!({}))),
            (2, body("als", json!({"factors": 8, "iterations": 5}))),
        ] {
            api.post(&keys.path("/models"), Some(&keys.reader), &b)
                .expect(202, "train");
            wait_model(api, &keys, v);
        }
        api.put(
            &keys.path("/models/recs/aliases/production"),
            Some(&keys.admin),
            &json!({"version": 2}),
        )
        .expect(200, "alias");
        let arms = json!([{"name": "control", "control": true, "weight": 1}, {"name": "als", "model": "recs@v2", "weight": 1}]);
        api.post(
            &keys.path("/experiments"),
            Some(&keys.admin),
            &json!({"name": "homepage", "arms": arms, "outcome": {"event_type": "play", "window": "1h"}}),
        )
        .expect(201, "experiment");
        let mut outcomes = Vec::new();
        for p in 0..24 {
            let person = format!("person-{p}-{tag}@example.org");
            let answer = api
                .post(
                    &keys.path("/recommendations"),
                    Some(&keys.reader),
                    &json!({"experiment": "homepage", "external_id": person, "k": 5}),
                )
                .expect(200, "exposure")
                .body;
            // Some exposed people play within the outcome window: conversions to chart.
            let converts = if answer["arm"] == "als" {
                p % 2 == 0
            } else {
                p % 3 == 0
            };
            if converts {
                let now = chrono::Utc::now() + chrono::Duration::seconds(1);
                outcomes.push(play_event(
                    &format!("outcome-{tag}-{p}"),
                    &person,
                    &now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    "x@example.org",
                    "trk_2",
                    100,
                ));
            }
        }
        if !outcomes.is_empty() {
            ingest(api, &keys.writer, TENANT, &outcomes);
        }
    }
    (keys, late, format!("person-0-{tag}@example.org"))
}

fn wait_model(api: &Api, keys: &TenantKeys, version: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = api
            .get(
                &keys.path(&format!("/models/recs/versions/{version}")),
                Some(&keys.reader),
            )
            .expect(200, "model version");
        match r.body["state"].as_str() {
            Some("ready") => return,
            Some("queued" | "training" | "evaluating") => {}
            other => panic!("recs v{version} ended {other:?}: {}", r.text),
        }
        assert!(Instant::now() < deadline, "recs v{version} not ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn console_admin_in_chromium() {
    let Some(script) = browser_peers() else {
        return;
    };
    let started = Instant::now();
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let (keys, late, someone) = set_up(&api, &deployment.operator_key, true);
    let set_up_took = started.elapsed();
    let shots = screenshots_dir().join("admin");
    let _ = std::fs::remove_dir_all(&shots);
    let result = run_browser(
        &script,
        &[
            ("STEWARD_URL", server.base()),
            ("STEWARD_TENANT", TENANT.to_owned()),
            ("STEWARD_KEY", keys.admin.clone()),
            ("STEWARD_MODE", "admin".to_owned()),
            ("STEWARD_SCREENSHOTS", shots.display().to_string()),
            ("STEWARD_ERASE_EXTERNAL_ID", late.clone()),
            ("STEWARD_CONSENT_EXTERNAL_ID", someone.clone()),
            ("STEWARD_MODEL", "recs".to_owned()),
            ("STEWARD_ALIAS_VERSION", "1".to_owned()),
        ],
    );
    // The alias moved (the page's confirmation went through to the server).
    let model = api
        .get(&keys.path("/models/recs"), Some(&keys.reader))
        .expect(200, "model")
        .body;
    assert_eq!(model["aliases"]["production"]["version"], 1, "{model}");
    assert_eq!(model["aliases"]["production"]["previous"], 2, "{model}");
    // The erased subject is gone for good.
    let subject = resolve(&api, &keys.reader, TENANT, &late);
    let events = api
        .get(
            &keys.path(&format!("/subjects/{subject}/events?purpose=support")),
            Some(&keys.admin),
        )
        .expect(200, "timeline")
        .body;
    assert_eq!(events["events"], json!([]), "{events}");
    // The key never reached the server's log.
    assert!(
        !server.stderr().contains(&keys.admin),
        "the admin key is in the server log"
    );
    let pages = result["pages"].as_array().expect("pages").len();
    let screenshots = result["screenshots"].as_array().expect("screenshots");
    assert!(screenshots.len() > pages, "a screenshot of every page");
    for shot in screenshots {
        let path = PathBuf::from(shot.as_str().expect("path"));
        assert!(
            std::fs::metadata(&path).is_ok_and(|m| m.len() > 1000),
            "{}",
            path.display()
        );
    }
    // The opt-out recorded in the page is in force.
    let subject = resolve(&api, &keys.reader, TENANT, &someone);
    let consents = api
        .get(
            &keys.path(&format!("/subjects/{subject}/consents")),
            Some(&keys.admin),
        )
        .expect(200, "consents")
        .body;
    assert!(
        consents["consents"]
            .as_array()
            .expect("consents")
            .iter()
            .any(|c| c["purpose"] == "analytics" && c["granted"] == false),
        "{consents}"
    );
    // The operator: tenants page, a tenant created in the page.
    let operator_shots = screenshots_dir().join("operator");
    let _ = std::fs::remove_dir_all(&operator_shots);
    let operator = run_browser(
        &script,
        &[
            ("STEWARD_URL", server.base()),
            ("STEWARD_TENANT", String::new()),
            ("STEWARD_KEY", deployment.operator_key.clone()),
            ("STEWARD_MODE", "operator".to_owned()),
            ("STEWARD_SCREENSHOTS", operator_shots.display().to_string()),
        ],
    );
    let tenants = api
        .get("/v1/tenants", Some(&deployment.operator_key))
        .expect(200, "tenants")
        .body;
    assert!(
        tenants["tenants"]
            .as_array()
            .expect("tenants")
            .iter()
            .any(|t| t["id"] == "made-in-console"),
        "{tenants}"
    );
    assert!(
        !server.stderr().contains(&deployment.operator_key),
        "the operator key is in the server log"
    );
    eprintln!(
        "console admin test: set-up {set_up_took:?}, browser {} ms (admin) + {} ms (operator), {} screenshots in {} and {}",
        result["total_ms"],
        operator["total_ms"],
        screenshots.len(),
        shots.display(),
        operator_shots.display()
    );
}

#[test]
fn console_reader_in_chromium() {
    let Some(script) = browser_peers() else {
        return;
    };
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let (keys, _, _) = set_up(&api, &deployment.operator_key, false);
    let shots = screenshots_dir().join("reader");
    let _ = std::fs::remove_dir_all(&shots);
    let result = run_browser(
        &script,
        &[
            ("STEWARD_URL", server.base()),
            ("STEWARD_TENANT", TENANT.to_owned()),
            ("STEWARD_KEY", keys.reader.clone()),
            ("STEWARD_MODE", "reader".to_owned()),
            ("STEWARD_SCREENSHOTS", shots.display().to_string()),
        ],
    );
    let offered: Vec<String> = result["actions_offered"]
        .as_object()
        .expect("actions")
        .values()
        .flat_map(|v| v.as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert!(
        offered.iter().all(|a| a == "run-sql"),
        "a reader is offered only reads: {offered:?}"
    );
    for (what, r) in result["admin_calls_from_page"].as_object().expect("calls") {
        assert_eq!(r["status"], 403, "{what}: {r}");
    }
    // A privacy officer signed in with a JWT of the tenant's identity provider: the subject
    // request and audit pages, no key, policy, schema or model controls.
    let (identity, token) = identity_and_token("officer-7", &["privacy_officer"]);
    api.put(&keys.path("/identity"), Some(&keys.admin), &identity)
        .expect(200, "identity");
    let officer_shots = screenshots_dir().join("officer");
    let _ = std::fs::remove_dir_all(&officer_shots);
    let officer = run_browser(
        &script,
        &[
            ("STEWARD_URL", server.base()),
            ("STEWARD_TENANT", TENANT.to_owned()),
            ("STEWARD_KEY", token.clone()),
            ("STEWARD_MODE", "officer".to_owned()),
            ("STEWARD_SCREENSHOTS", officer_shots.display().to_string()),
        ],
    );
    assert_eq!(
        officer["who"],
        "user:officer-7 · privacy_officer · tenant acme"
    );
    assert!(
        !server.stderr().contains(&token),
        "the JWT is in the server log"
    );
    // No key was created, nothing erased: the refusals changed nothing.
    let listed = api
        .get(&keys.path("/keys"), Some(&keys.admin))
        .expect(200, "keys")
        .body;
    assert_eq!(listed["keys"].as_array().map(Vec::len), Some(5), "{listed}");
    eprintln!(
        "console reader test: browser {} ms, screenshots in {}",
        result["total_ms"],
        shots.display()
    );
}
