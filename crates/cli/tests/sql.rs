//! SQL against the real binary: the purpose shapes columns; opted-out and erased subjects are
//! in no row; another tenant's tables and write statements fail; limits answer with precise
//! errors; JSON, CSV and Arrow carry the same rows; the audit log keeps the normalized query.

mod common;

use common::*;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Value, json};

const TENANT: &str = "acme";

fn sql(api: &Api, key: &str, purpose: &str, text: &str) -> Resp {
    api.post(
        &format!("/v1/tenants/{TENANT}/sql"),
        Some(key),
        &json!({"sql": text, "purpose": purpose}),
    )
}

fn rows(resp: &Resp) -> Vec<Value> {
    resp.body["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("rows in {}", resp.text))
        .clone()
}

/// A query's answer in a given media type, raw.
fn sql_bytes(api: &Api, key: &str, purpose: &str, text: &str, accept: &str) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(format!("{}/v1/tenants/{TENANT}/sql", api.base))
        .header("Authorization", format!("Bearer {key}"))
        .header("Accept", accept)
        .send_json(json!({"sql": text, "purpose": purpose}))
        .expect("transport");
    let status = response.status().as_u16();
    (
        status,
        response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .expect("body"),
    )
}

/// A time as RFC 3339: results carry UTC times without a zone suffix.
fn utc(v: &str) -> String {
    let t = v.replace(' ', "T");
    if t.ends_with('Z') || t.contains('+') {
        t
    } else {
        format!("{t}Z")
    }
}

/// Every cell as Arrow displays it, row by row.
fn cells(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("");
    let mut out = Vec::new();
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    out
}

#[test]
fn sql_is_shaped_by_purpose_consent_and_erasure() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    let people = ["ann@example.org", "bob@example.org", "cid@example.org"];
    for (n, who) in people.iter().enumerate() {
        let events: Vec<_> = (0..4)
            .map(|i| {
                play_event(
                    &format!("e-{n}-{i}"),
                    who,
                    &time_at(i * 1_000_000),
                    &format!("mail-{n}@example.org"),
                    &format!("trk_{i}"),
                    100 * i,
                )
            })
            .collect();
        assert_eq!(ingest(&api, &keys.writer, TENANT, &events)["accepted"], 4);
    }
    let ann = resolve(&api, &keys.reader, TENANT, people[0]);

    // --- purpose shapes columns: analytics sees public fields, personal ones read as NULL
    let resp = sql(
        &api,
        &keys.reader,
        "analytics",
        "SELECT event_id, track_id, ms_played, email FROM play ORDER BY event_id",
    )
    .expect(200, "analytics");
    let got = rows(&resp);
    assert_eq!(got.len(), 12, "{}", resp.text);
    assert_eq!(
        got[0],
        json!({"event_id": "e-0-0", "track_id": "trk_0", "ms_played": 0, "email": null}),
        "{}",
        resp.text
    );
    assert!(got.iter().all(|r| r["email"].is_null()));
    assert!(
        resp.body["masked_classes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "personal"),
        "{}",
        resp.text
    );
    // legal (privacy officer) sees personal fields opened.
    let resp = sql(
        &api,
        &keys.privacy_officer,
        "legal",
        "SELECT email FROM play WHERE event_id = 'e-1-2'",
    )
    .expect(200, "legal");
    assert_eq!(
        rows(&resp),
        [json!({"email": "mail-1@example.org"})],
        "{}",
        resp.text
    );
    // The views: events, subjects; counts by type.
    let resp = sql(
        &api,
        &keys.reader,
        "analytics",
        "SELECT type, count(*) AS n FROM events GROUP BY type",
    )
    .expect(200, "events view");
    assert_eq!(rows(&resp), [json!({"type": "play", "n": 12})]);
    let resp = sql(
        &api,
        &keys.reader,
        "analytics",
        "SELECT count(*) AS n FROM subjects",
    )
    .expect(200, "subjects view");
    assert_eq!(rows(&resp), [json!({"n": 3})]);
    // A time range and a subject filter (both prune by statistics) select the same rows as ever.
    let resp = sql(
        &api,
        &keys.reader,
        "analytics",
        &format!(
            "SELECT count(*) AS n FROM play WHERE subject = '{ann}' AND time >= '{}'",
            time_at(2_000_000)
        ),
    )
    .expect(200, "filters");
    assert_eq!(rows(&resp), [json!({"n": 2})], "{}", resp.text);
    // Bounds the scan applies exactly (no second filter in DataFusion): strict and inclusive ends.
    let count = |cond: String| {
        rows(
            &sql(
                &api,
                &keys.reader,
                "analytics",
                &format!("SELECT count(*) AS n FROM play WHERE subject = '{ann}' AND {cond}"),
            )
            .expect(200, "bounds"),
        )[0]["n"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(count(format!("time < '{}'", time_at(2_000_000))), 2);
    assert_eq!(count(format!("time <= '{}'", time_at(2_000_000))), 3);
    assert_eq!(count(format!("time > '{}'", time_at(2_000_000))), 1);
    assert_eq!(count(format!("time = '{}'", time_at(1_000_000))), 1);
    assert_eq!(
        count(format!(
            "time BETWEEN '{}' AND '{}'",
            time_at(1_000_000),
            time_at(2_000_000)
        )),
        2
    );
    assert_eq!(
        rows(
            &sql(
                &api,
                &keys.reader,
                "analytics",
                &format!(
                    "SELECT count(*) AS n FROM play WHERE subject = '{}'",
                    ann.to_uppercase()
                )
            )
            .expect(200, "upper")
        )[0]["n"],
        0,
        "text comparison, not the pseudonym"
    );
    // consents is offered only to purposes that see personal data.
    sql(&api, &keys.reader, "analytics", "SELECT * FROM consents").expect_problem(
        400,
        "unknown_table",
        "consents for analytics",
    );

    // --- opt-out: the subject is in no row of that purpose, still in others
    api.put(
        &keys.path(&format!("/subjects/{ann}/consents/analytics")),
        Some(&keys.privacy_officer),
        &json!({"granted": false}),
    )
    .expect(200, "opt out");
    let distinct = |key: &str, purpose: &str| {
        rows(
            &sql(
                &api,
                key,
                purpose,
                "SELECT count(DISTINCT subject) AS n FROM events",
            )
            .expect(200, "distinct"),
        )[0]["n"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(distinct(&keys.reader, "analytics"), 2);
    assert_eq!(distinct(&keys.privacy_officer, "legal"), 3);
    let resp = sql(
        &api,
        &keys.privacy_officer,
        "legal",
        "SELECT purpose, granted FROM consents",
    )
    .expect(200, "consents for legal");
    assert_eq!(
        rows(&resp),
        [json!({"purpose": "analytics", "granted": false})]
    );

    // --- erasure: gone from every purpose once the request is accepted
    api.post(
        &keys.path("/erasures"),
        Some(&keys.privacy_officer),
        &json!({"external_id": people[1], "now": true}),
    )
    .expect(202, "erase bob");
    assert_eq!(distinct(&keys.privacy_officer, "legal"), 2);
    let resp = sql(
        &api,
        &keys.privacy_officer,
        "legal",
        "SELECT count(*) AS n FROM play WHERE email = 'mail-1@example.org'",
    )
    .expect(200, "erased");
    assert_eq!(rows(&resp), [json!({"n": 0})]);

    // --- formats: JSON, CSV and Arrow carry the same cells
    let query = "SELECT event_id, subject, track_id, ms_played, time FROM play ORDER BY event_id";
    let (status, arrow) = sql_bytes(
        &api,
        &keys.reader,
        "analytics",
        query,
        "application/vnd.apache.arrow.stream",
    );
    assert_eq!(status, 200);
    let batches: Vec<RecordBatch> = StreamReader::try_new(std::io::Cursor::new(arrow), None)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let from_arrow = cells(&batches);
    assert_eq!(
        from_arrow.len(),
        4,
        "cid's rows only (ann opted out of analytics, bob erased)"
    );
    let (status, csv) = sql_bytes(&api, &keys.reader, "analytics", query, "text/csv");
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("event_id,subject,track_id,ms_played,time")
    );
    let from_csv: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    let json_resp = sql(&api, &keys.reader, "analytics", query).expect(200, "json");
    let from_json: Vec<Vec<String>> = rows(&json_resp)
        .iter()
        .map(|r| {
            ["event_id", "subject", "track_id", "ms_played", "time"]
                .iter()
                .map(|c| match &r[*c] {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                })
                .collect()
        })
        .collect();
    let norm = |rows: &Vec<Vec<String>>| -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(i, v)| {
                        if i == 4 {
                            micros_of(&utc(v)).to_string()
                        } else {
                            v.clone()
                        }
                    })
                    .collect()
            })
            .collect()
    };
    assert_eq!(norm(&from_arrow), norm(&from_csv), "arrow vs csv");
    assert_eq!(norm(&from_arrow), norm(&from_json), "arrow vs json");
    let (status, parquet) = sql_bytes(
        &api,
        &keys.reader,
        "analytics",
        query,
        "application/vnd.apache.parquet",
    );
    assert_eq!((status, &parquet[..4]), (200, &b"PAR1"[..]));
    let (status, _) = sql_bytes(&api, &keys.reader, "analytics", query, "image/png");
    assert_eq!(status, 406);

    // --- isolation and read-only sessions
    let other = tenant_with_keys(&api, &deployment.operator_key, "globex");
    put_schema(
        &api,
        &other.admin,
        "globex",
        "click",
        &json!({"fields": {"page": {"type": "string", "class": "public"}}}),
    );
    sql(&api, &keys.reader, "analytics", "SELECT * FROM click").expect_problem(
        400,
        "unknown_table",
        "another tenant's type",
    );
    sql(
        &api,
        &keys.reader,
        "analytics",
        "SELECT * FROM globex.events",
    )
    .expect_problem(400, "unknown_table", "another tenant's schema");
    sql(
        &api,
        &keys.reader,
        "analytics",
        "SELECT * FROM datafusion.public.events",
    )
    .expect_problem(400, "unknown_table", "the default catalog");
    api.post(
        "/v1/tenants/globex/sql",
        Some(&keys.reader),
        &json!({"sql": "SELECT 1", "purpose": "analytics"}),
    )
    .expect(404, "another tenant's endpoint");
    sql(
        &api,
        &keys.reader,
        "analytics",
        "CREATE TABLE x AS SELECT 1",
    )
    .expect_problem(400, "statement_not_allowed", "ddl");
    sql(
        &api,
        &keys.reader,
        "analytics",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
    )
    .expect_problem(400, "statement_not_allowed", "external table");
    sql(
        &api,
        &keys.reader,
        "analytics",
        "INSERT INTO play VALUES (1)",
    )
    .expect_problem(400, "statement_not_allowed", "dml");
    sql(&api, &keys.reader, "analytics", "SELEC 1").expect_problem(400, "invalid_sql", "syntax");
    sql(&api, &keys.reader, "analytics", "SELECT nope FROM play").expect_problem(
        400,
        "invalid_sql",
        "unknown column",
    );
    api.post(
        &keys.path("/sql"),
        Some(&keys.reader),
        &json!({"sql": "SELECT 1"}),
    )
    .expect_problem(403, "forbidden", "no purpose");
    api.post(
        &keys.path("/sql"),
        Some(&keys.writer),
        &json!({"sql": "SELECT 1", "purpose": "analytics"}),
    )
    .expect_problem(403, "forbidden", "writer");

    // --- limits
    let post = |body: Value| api.post(&keys.path("/sql"), Some(&keys.reader), &body);
    post(json!({"sql": "SELECT * FROM play", "purpose": "analytics", "max_rows": 2}))
        .expect_problem(422, "result_rows_exceeded", "rows");
    post(json!({"sql": "SELECT * FROM play", "purpose": "analytics", "max_bytes": 16}))
        .expect_problem(422, "result_bytes_exceeded", "bytes");
    post(json!({"sql": "SELECT count(*) FROM generate_series(1, 10000000000)", "purpose": "analytics", "timeout_ms": 200})).expect_problem(504, "query_timeout", "time");
    post(json!({"sql": "SELECT 1", "purpose": "analytics", "max_rows": 0})).expect_problem(
        400,
        "invalid_limit",
        "zero rows",
    );
    post(json!({"sql": "SELECT 1", "purpose": "analytics", "max_rows": 1, "bogus": 1}))
        .expect_problem(400, "invalid_json", "unknown field");

    // --- the audit log keeps the normalized query and its row count, never the literal
    let reader_id = keys
        .key_ids
        .iter()
        .find(|(r, _)| r == "reader")
        .map(|(_, id)| id.clone())
        .unwrap();
    let report = api
        .get(
            &keys.path(&format!(
                "/audit/reports/principal?principal=key:{reader_id}"
            )),
            Some(&keys.admin),
        )
        .expect(200, "report")
        .body;
    let statements: Vec<&str> = report["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["statement"].as_str())
        .collect();
    assert!(
        statements
            .iter()
            .any(|s| s.contains("FROM play WHERE subject = ? AND time >= ?")),
        "{statements:?}"
    );
    assert!(!report.to_string().contains("example.org"), "{report}");
    let legal_id = keys
        .key_ids
        .iter()
        .find(|(r, _)| r == "privacy_officer")
        .map(|(_, id)| id.clone())
        .unwrap();
    let report = api
        .get(
            &keys.path(&format!(
                "/audit/reports/principal?principal=key:{legal_id}"
            )),
            Some(&keys.admin),
        )
        .expect(200, "report")
        .body;
    let erased_query = report["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["statement"]
                .as_str()
                .is_some_and(|s| s.contains("email = ?"))
        })
        .expect("audited");
    assert_eq!(erased_query["result_rows"], 1, "{erased_query}");
    assert!(!report.to_string().contains("mail-1"), "{report}");
}

#[test]
fn the_cli_runs_one_statement_and_a_shell() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    let events: Vec<_> = (0..3)
        .map(|i| {
            play_event(
                &format!("e-{i}"),
                "ann@example.org",
                &time_at(i),
                "a@example.org",
                "trk_1",
                5,
            )
        })
        .collect();
    ingest(&api, &keys.writer, TENANT, &events);
    let base = server.base();
    let out = std::process::Command::new(steward_bin())
        .args([
            "sql",
            "--tenant",
            TENANT,
            "--url",
            &base,
            "--key",
            &keys.reader,
            "-c",
            "SELECT track_id, count(*) AS plays FROM play GROUP BY track_id",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("| track_id | plays |") && table.contains("| trk_1    | 3     |"),
        "{table}"
    );
    let history = deployment.root().join("history");
    let mut child = std::process::Command::new(steward_bin())
        .args([
            "sql",
            "--tenant",
            TENANT,
            "--url",
            &base,
            "--key",
            &keys.reader,
            "--output",
            "csv",
            "--history",
        ])
        .arg(&history)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT count(*) AS n\nFROM play;\nSELECT nope FROM play;\nSELECT 2 AS two;\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n\n3\ntwo\n2\n");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid_sql"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&history).unwrap().lines().count(),
        3
    );
}

/// Issue 10: a 4 KB `SELECT 1+1+...+1` of about 2,000 terms, or a long AND/OR/|| chain, used
/// to overflow a stack and abort the server; as a data set cut it also left a manifest
/// `building` that every restart resumed and aborted on again. Past the bounds it is a 400
/// before anything parses it; at the bounds it plans and runs; the server stays up.
#[test]
fn deep_and_long_sql_is_refused_and_the_server_stays_up() {
    use steward_query::limits::{SQL_NESTING_MAX, SQL_OPERATORS_MAX};
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    let events: Vec<_> = (0..3)
        .map(|i| {
            play_event(
                &format!("e-{i}"),
                "ann@example.org",
                &time_at(i * 1_000_000),
                "a@example.org",
                "trk_1",
                100 * i,
            )
        })
        .collect();
    assert_eq!(ingest(&api, &keys.writer, TENANT, &events)["accepted"], 3);

    let attacks = [
        (
            "2,000 terms of +",
            format!("SELECT {} AS n", vec!["1"; 2_000].join("+")),
        ),
        (
            "an AND chain",
            format!(
                "SELECT count(*) AS n FROM play WHERE {}",
                vec!["ms_played >= 0"; 1_000].join(" AND ")
            ),
        ),
        (
            "an OR chain",
            format!(
                "SELECT count(*) AS n FROM play WHERE {}",
                vec!["ms_played = 1"; 1_000].join(" OR ")
            ),
        ),
        (
            "a || chain",
            format!("SELECT {} AS s", vec!["'x'"; 2_000].join(" || ")),
        ),
        (
            "one operator past the bound",
            format!("SELECT {} AS n", vec!["1"; SQL_OPERATORS_MAX + 2].join("+")),
        ),
        (
            "one level past the bound",
            format!(
                "SELECT {}1{} AS n",
                "(".repeat(SQL_NESTING_MAX + 1),
                ")".repeat(SQL_NESTING_MAX + 1)
            ),
        ),
    ];
    for (what, text) in &attacks {
        let refused = sql(&api, &keys.reader, "analytics", text).expect_problem(
            400,
            "query_too_complex",
            what,
        );
        assert!(
            refused.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("line 1, column")),
            "{what}: {}",
            refused.text
        );
        assert!(
            !refused.text.contains("1+1") && !refused.text.contains("ms_played"),
            "{what}: the answer echoes no text: {}",
            refused.text
        );
        api.post(
            &keys.path("/datasets"),
            Some(&keys.reader),
            &json!({"name": "deep", "sql": text, "purpose": "analytics"}),
        )
        .expect_problem(400, "query_too_complex", what);
    }
    assert_eq!(api.get("/healthz", None).status, 200, "the server is up");
    let list = api
        .get(
            &keys.path("/datasets?purpose=analytics"),
            Some(&keys.reader),
        )
        .expect(200, "datasets")
        .body;
    assert_eq!(
        list["datasets"].as_array().map(Vec::len),
        Some(0),
        "no version was allocated: {list}"
    );

    // At the bounds: a chain of exactly SQL_OPERATORS_MAX operators, and SQL_NESTING_MAX brackets.
    let resp = sql(
        &api,
        &keys.reader,
        "analytics",
        &format!("SELECT {} AS n", vec!["1"; SQL_OPERATORS_MAX + 1].join("+")),
    )
    .expect(200, "operators at the bound");
    assert_eq!(rows(&resp), [json!({"n": SQL_OPERATORS_MAX + 1})]);
    let ors = vec!["ms_played = 100"; SQL_OPERATORS_MAX / 2].join(" OR "); // n `=` and n-1 OR
    let resp = sql(
        &api,
        &keys.reader,
        "analytics",
        &format!("SELECT count(*) AS n FROM play WHERE {ors}"),
    )
    .expect(200, "an OR chain at the bound");
    assert_eq!(rows(&resp), [json!({"n": 1})]);
    let resp = sql(
        &api,
        &keys.reader,
        "analytics",
        &format!(
            "SELECT {}1{} AS n",
            "(".repeat(SQL_NESTING_MAX),
            ")".repeat(SQL_NESTING_MAX)
        ),
    )
    .expect(200, "nesting at the bound");
    assert_eq!(rows(&resp), [json!({"n": 1})]);
    let cut = api.post(&keys.path("/datasets"), Some(&keys.reader), &json!({"name": "long", "sql": format!("SELECT event_id FROM play WHERE {ors}"), "purpose": "analytics"}));
    assert_eq!(cut.expect(201, "a cut at the bound").body["rows"], 1);
}

/// Issue 10: string functions grew the process past the query memory limit (`repeat` to many
/// GB; `lpad` near 2^31 panicked on an offset overflow and dropped the connection), and
/// DataFusion's errors about the user's values answered 500. Now a call whose output cannot
/// fit the query's memory is a 400 before anything is allocated, what is made is counted in
/// the query's pool, and bad values are 400s that never quote the value.
#[test]
fn functions_stay_within_the_query_memory_and_bad_values_are_400() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    let events: Vec<_> = (0..3)
        .map(|i| {
            play_event(
                &format!("e-{i}"),
                "ann@example.org",
                &time_at(i * 1_000_000),
                "a@example.org",
                "trk_1",
                100 * i,
            )
        })
        .collect();
    assert_eq!(ingest(&api, &keys.writer, TENANT, &events)["accepted"], 3);
    let query = |text: &str| sql(&api, &keys.reader, "analytics", text);

    for (what, text) in [
        (
            "repeat past the limit",
            "SELECT repeat('x', 600000000) AS s",
        ),
        (
            "repeat of a column",
            "SELECT repeat(track_id, 200000000) AS s FROM play",
        ),
        ("lpad near 2^31", "SELECT lpad('x', 2147483000) AS s"),
        (
            "rpad with a wide fill",
            "SELECT rpad('x', 300000000, 'é') AS s",
        ),
        (
            "replace that multiplies",
            "SELECT replace(repeat('a', 100000), 'a', repeat('b', 100000)) AS s",
        ),
        (
            "regexp_replace that multiplies",
            "SELECT regexp_replace(repeat('a', 100000), 'a', repeat('b', 100000), 'g') AS s",
        ),
    ] {
        let refused = query(text).expect_problem(400, "query_resource_limit", what);
        assert!(
            !refused.text.contains("600000000") && !refused.text.contains("2147483000"),
            "{what}: {}",
            refused.text
        );
    }
    // Each call fits; together they pass the query's limit: counted in its pool.
    query("SELECT concat(repeat('x', 300000000), repeat('y', 300000000)) AS s").expect_problem(
        422,
        "query_memory_exceeded",
        "outputs are counted together",
    );
    assert_eq!(api.get("/healthz", None).status, 200, "the server is up");

    // Within the limits they work as before.
    let ok = |text: &str| rows(&query(text).expect(200, text))[0].clone();
    assert_eq!(
        ok("SELECT length(repeat('ab', 1000)) AS n"),
        json!({"n": 2000})
    );
    assert_eq!(ok("SELECT lpad('x', 5, 'é') AS s"), json!({"s": "ééééx"}));
    assert_eq!(
        ok("SELECT rpad(track_id, 7, '-') AS s FROM play LIMIT 1"),
        json!({"s": "trk_1--"})
    );
    assert_eq!(
        ok("SELECT replace('banana', 'a', 'o') AS s"),
        json!({"s": "bonono"})
    );
    assert_eq!(
        ok("SELECT regexp_replace('banana', '(a)', '<$1>', 'g') AS s"),
        json!({"s": "b<a>n<a>n<a>"})
    );
    assert_eq!(
        ok("SELECT concat_ws('-', track_id, 'x', 1) AS s FROM play LIMIT 1"),
        json!({"s": "trk_1-x-1"})
    );
    assert_eq!(
        ok("SELECT translate('abc', 'ab', 'xy') AS s"),
        json!({"s": "xyc"})
    );
    assert_eq!(
        ok("SELECT count(*) AS n FROM play WHERE concat(track_id, '') = 'trk_1'"),
        json!({"n": 3})
    );

    // The user's values, not the server's bugs: 400 with a stable code, never the value.
    for (what, text, value) in [
        (
            "division by zero",
            "SELECT ms_played / 0 AS n FROM play",
            None,
        ),
        (
            "zero date_bin interval",
            "SELECT date_bin(INTERVAL '0 minutes', time) AS t FROM play",
            None,
        ),
        (
            "make_date out of range",
            "SELECT make_date(2024, 13, 1) AS d",
            Some("13"),
        ),
        (
            "chr out of range",
            "SELECT chr(1114112) AS c",
            Some("1114112"),
        ),
        (
            "a cast",
            "SELECT CAST(track_id AS INT) AS n FROM play",
            Some("trk_1"),
        ),
        (
            "to_timestamp overflow",
            "SELECT to_timestamp(9223372036854775807) AS t",
            Some("9223372036854775807"),
        ),
    ] {
        let refused = query(text).expect_problem(400, "query_value_error", what);
        if let Some(value) = value {
            assert!(
                !refused.body["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(value),
                "{what}: {}",
                refused.text
            );
        }
    }
}

/// Found by schemathesis (openapi_fuzz.rs): a statement with no tokens normalized to an empty
/// text, which the audit log refuses, so the answer was 503 "the audit log could not record
/// this request" instead of the planner's 400. Now it is 400 and audited as `<empty query>`.
#[test]
fn an_empty_statement_is_a_400_and_is_audited() {
    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    for text in ["", "   ", "-- only a comment", "/* x */"] {
        let resp = sql(&api, &keys.reader, "analytics", text);
        assert_eq!(resp.status, 400, "{text:?}: {}", resp.text);
        assert_eq!(resp.body["field"], "sql", "{}", resp.text);
        let cut = api.post(
            &format!("/v1/tenants/{TENANT}/datasets"),
            Some(&keys.reader),
            &json!({"name": "empty", "sql": text}),
        );
        assert_eq!(cut.status, 400, "cut {text:?}: {}", cut.text);
    }
    let reader = keys
        .key_ids
        .iter()
        .find(|(role, _)| role == "reader")
        .map(|(_, id)| id.clone())
        .expect("reader key id");
    let report = api
        .get(
            &format!("/v1/tenants/{TENANT}/audit/reports/principal?principal=key:{reader}"),
            Some(&keys.admin),
        )
        .expect(200, "principal report");
    let empty = report.body["records"]
        .as_array()
        .map(|records| {
            records
                .iter()
                .filter(|r| r["statement"] == "<empty query>")
                .count()
        })
        .unwrap_or(0);
    assert_eq!(empty, 8, "{}", report.text);
}
