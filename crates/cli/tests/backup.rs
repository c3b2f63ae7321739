//! Backup and restore against the real binary: an online backup of a serving deployment, an
//! erasure after it, a restore into a new directory with the erasure ledger replayed: the
//! erased subject is readable nowhere and the forensics scan finds none of its values, every
//! other subject is intact (one erased *before* the backup who came back under a new key
//! included), the audit log verifies. Damaged, truncated and foreign backups are refused and
//! leave nothing behind.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};

const TENANT: &str = "acme";

fn run(args: &[&str], extra: &[&Path]) -> Output {
    let mut command = Command::new(steward_bin());
    command.args(args);
    for path in extra {
        command.arg(path);
    }
    command.output().expect("run steward")
}

fn json_out(out: &Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("{what} printed no JSON: {stdout}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{what}: {e}: {line}"))
}

struct Person {
    external_id: String,
    email: String,
}

fn person(tag: &str) -> Person {
    let salt = random_hex(6);
    Person {
        external_id: format!("{tag}-{salt}"),
        email: format!("{tag}.{salt}@example.org"),
    }
}

fn plays(person: &Person, from: usize, n: usize) -> Vec<Value> {
    (from..from + n)
        .map(|i| {
            play_event(
                &format!("{}-{i}", person.external_id),
                &person.external_id,
                &time_at(i as i64 * 1_000_000),
                &person.email,
                &format!("track-{}", i % 7),
                1000 + i as i64,
            )
        })
        .collect()
}

fn timeline_len(api: &Api, keys: &TenantKeys, who: &Person) -> usize {
    let subject = resolve(api, &keys.admin, TENANT, &who.external_id);
    timeline_all(api, &keys.privacy_officer, TENANT, &subject, 100)
        .0
        .len()
}

fn erase(api: &Api, keys: &TenantKeys, who: &Person) {
    let id = api
        .post(
            &keys.path("/erasures"),
            Some(&keys.privacy_officer),
            &json!({"external_id": who.external_id, "now": true}),
        )
        .expect(202, "file erasure")
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    wait_erasure_done(api, keys, &id);
}

#[test]
fn a_restored_backup_never_brings_an_erased_subject_back() {
    let mut source = Deployment::init();
    let server = source.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &source.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());

    let victim = person("victim");
    let kept = person("kept");
    let returner = person("returner");
    let late = person("late");
    for who in [&victim, &kept, &returner] {
        assert_eq!(
            ingest(&api, &keys.writer, TENANT, &plays(who, 0, 12))["accepted"],
            12
        );
    }
    // Erased before the backup, then back under a new key: the restore must keep the new data.
    erase(&api, &keys, &returner);
    assert_eq!(
        ingest(&api, &keys.writer, TENANT, &plays(&returner, 100, 5))["accepted"],
        5
    );
    // A data set holding the victim: a derived artifact the replay must rebuild.
    api.post(
        &keys.path("/datasets"),
        Some(&keys.reader),
        &json!({"name": "plays", "sql": "SELECT subject, track_id, time FROM play"}),
    )
    .expect(201, "cut");
    let victim_pseudonym = resolve(&api, &keys.admin, TENANT, &victim.external_id);
    assert_eq!(timeline_len(&api, &keys, &victim), 12);

    // --- online backup while the server serves
    let backup_file = source.root().join("acme.backup");
    let out = run(
        &[
            "backup",
            "--url",
            &server.base(),
            "--key",
            &source.operator_key,
            "--data",
        ],
        &[&source.data, Path::new("--out"), &backup_file],
    );
    let made = json_out(&out, "online backup");
    assert_eq!(made["online"], true, "{made}");
    assert_eq!(made["verified"], true, "{made}");
    assert!(made["files"].as_u64().unwrap_or(0) > 5, "{made}");
    // Sealed as a whole: no plaintext value of anyone in the file.
    let sealed = std::fs::read(&backup_file).expect("backup file");
    for needle in [&victim.email, &victim.external_id, &kept.email] {
        assert!(
            find_all(&sealed, needle.as_bytes()).is_empty(),
            "the backup file holds a plaintext value"
        );
    }
    // Writes after the backup are not in it (documented point-in-time limit).
    assert_eq!(
        ingest(&api, &keys.writer, TENANT, &plays(&late, 0, 3))["accepted"],
        3
    );

    // --- the erasure the backup must not undo
    erase(&api, &keys, &victim);
    assert_eq!(timeline_len(&api, &keys, &victim), 0);
    let audit_head_before = api
        .get(&keys.path("/audit/head"), Some(&keys.privacy_officer))
        .expect(200, "head")
        .body;
    assert!(audit_head_before["size"].as_u64().unwrap_or(0) > 0);
    server.terminate();

    // An offline backup of the stopped directory is verified too.
    let offline_file = source.root().join("offline.backup");
    let offline = json_out(
        &run(
            &["backup", "--data"],
            &[&source.data, Path::new("--out"), &offline_file],
        ),
        "offline backup",
    );
    assert_eq!(offline["online"], false, "{offline}");

    // --- refusals: no ledger named, damage, truncation, a foreign key, an existing target
    let mut target = Deployment::empty(&source.operator_key);
    let master = source.data.join("master.key");
    let ledger = source.data.join("erasure.ledger");
    let refused = run(
        &["restore", "--in"],
        &[
            &backup_file,
            Path::new("--master-key-file"),
            &master,
            Path::new("--data"),
            &target.data,
        ],
    );
    assert_eq!(
        refused.status.code(),
        Some(2),
        "a restore must name the ledger"
    );
    assert!(!target.data.exists());
    let restore_from = |file: &Path, key: &Path, into: &Path| {
        run(
            &["restore", "--in"],
            &[
                file,
                Path::new("--master-key-file"),
                key,
                Path::new("--from-erasure-ledger"),
                &ledger,
                Path::new("--data"),
                into,
            ],
        )
    };
    let damaged = source.root().join("damaged.backup");
    let mut bytes = sealed.clone();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&damaged, &bytes).unwrap();
    let truncated = source.root().join("truncated.backup");
    std::fs::write(&truncated, &sealed[..sealed.len() - 100]).unwrap();
    let foreign_key = source.root().join("foreign.key");
    std::fs::write(&foreign_key, format!("{}\n", random_hex(32))).unwrap();
    for (file, key, code) in [
        (&damaged, &master, "backup_damaged"),
        (&truncated, &master, "backup_damaged"),
        (&backup_file, &foreign_key, "backup_foreign"),
    ] {
        let out = restore_from(file, key, &target.data);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{code}: must be refused");
        assert!(stderr.contains(code), "{code}: {stderr}");
        assert!(!target.data.exists(), "{code}: nothing left behind");
        let leftovers: Vec<_> = std::fs::read_dir(target.root())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("restoring"))
            .collect();
        assert!(leftovers.is_empty(), "{code}: no partial directory");
    }
    let occupied = source.root().join("occupied");
    std::fs::create_dir_all(occupied.join("x")).unwrap();
    let out = restore_from(&backup_file, &master, &occupied);
    assert!(String::from_utf8_lossy(&out.stderr).contains("restore_target_exists"));

    // --- restore with the ledger replayed
    let restored = json_out(
        &restore_from(&backup_file, &master, &target.data),
        "restore",
    );
    assert_eq!(
        restored["erasure_ledger"]["erasures_not_done"],
        json!([]),
        "{restored}"
    );

    let server = target.start(&[]);
    let api = server.api();
    assert_eq!(
        timeline_len(&api, &keys, &victim),
        0,
        "the victim stays erased"
    );
    assert_eq!(timeline_len(&api, &keys, &kept), 12, "others are intact");
    assert_eq!(
        timeline_len(&api, &keys, &returner),
        5,
        "a subject who came back after an earlier erasure keeps the new data"
    );
    assert_eq!(
        timeline_len(&api, &keys, &late),
        0,
        "events after the backup are not in it"
    );
    assert_eq!(
        restored["erasure_ledger"]["erasures_replayed"], 1,
        "only the victim's key came back with the backup: {restored}"
    );
    let rows = api
        .post(
            &keys.path("/sql"),
            Some(&keys.reader),
            &json!({"sql": format!("SELECT count(*) AS n FROM play WHERE subject = '{victim_pseudonym}'"), "purpose": "analytics"}),
        )
        .expect(200, "sql")
        .body;
    assert_eq!(rows["rows"][0]["n"], 0, "{rows}");
    server.terminate();

    let hits = forensics_scan(
        &target,
        &[&victim.external_id, &victim.email, &victim_pseudonym],
        false,
    );
    assert!(hits.is_empty(), "the victim's values remain: {hits:?}");
    let hits = forensics_scan(&target, &[&kept.email], false);
    assert!(
        !hits.is_empty(),
        "the scan must see a kept subject's values"
    );

    let out = run(
        &["audit", "verify", "--tenant", TENANT, "--data"],
        &[&target.data],
    );
    assert!(
        out.status.success(),
        "the restored audit log verifies: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // --- a restore killed after the directory appeared, before its replay: the marker makes
    // the next open (a plain `steward serve`) replay the ledger before it serves anything
    let mut killed = Deployment::empty(&source.operator_key);
    let out = Command::new(steward_bin())
        .env("STEWARD_FAULT_EXIT", "restore-before-replay")
        .args(["restore", "--in"])
        .arg(&backup_file)
        .arg("--master-key-file")
        .arg(&master)
        .arg("--from-erasure-ledger")
        .arg(&ledger)
        .arg("--data")
        .arg(&killed.data)
        .output()
        .expect("run restore");
    assert!(
        !out.status.success(),
        "the injected fault stops the restore"
    );
    assert!(killed.data.join("RESTORE_PENDING").is_file());
    let server = killed.start(&[]);
    let api = server.api();
    assert_eq!(
        timeline_len(&api, &keys, &victim),
        0,
        "replayed at the first open"
    );
    assert_eq!(timeline_len(&api, &keys, &kept), 12);
    assert!(!killed.data.join("RESTORE_PENDING").exists());
    server.terminate();
}

/// An online backup taken while writers keep ingesting: the server answers throughout, the
/// restored directory opens with every tenant available, and every event acknowledged
/// before the backup started is in it (later ones may or may not be: a crash's cut).
#[test]
fn an_online_backup_under_writes_restores_whole() {
    let mut source = Deployment::init();
    let server = source.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &source.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    let before = person("before");
    assert_eq!(
        ingest(&api, &keys.writer, TENANT, &plays(&before, 0, 40))["accepted"],
        40
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (base, key, stop) = (server.base(), keys.writer.clone(), stop.clone());
        std::thread::spawn(move || {
            let api = Api::new(&base);
            let during = person("during");
            let mut acked = 0;
            let mut batch = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let body = ingest(&api, &key, TENANT, &plays(&during, batch * 20, 20));
                acked += body["accepted"].as_u64().unwrap_or(0);
                batch += 1;
            }
            (during, acked)
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let backup_file = source.root().join("busy.backup");
    let made = json_out(
        &run(
            &[
                "backup",
                "--url",
                &server.base(),
                "--key",
                &source.operator_key,
                "--data",
            ],
            &[&source.data, Path::new("--out"), &backup_file],
        ),
        "online backup under writes",
    );
    assert_eq!(made["online"], true);
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (during, acked) = writer.join().expect("writer");
    assert!(acked > 0, "writes went on during the backup");
    server.terminate();

    let mut target = Deployment::empty(&source.operator_key);
    let restored = json_out(
        &run(
            &["restore", "--no-erasure-ledger", "--in"],
            &[
                &backup_file,
                Path::new("--master-key-file"),
                &source.data.join("master.key"),
                Path::new("--data"),
                &target.data,
            ],
        ),
        "restore",
    );
    assert_eq!(restored["erasure_ledger"]["entries"], 0);
    let server = target.start(&[]);
    let api = server.api();
    api.get("/readyz", None)
        .expect(200, "the restored server is ready");
    assert_eq!(timeline_len(&api, &keys, &before), 40);
    let kept = timeline_len(&api, &keys, &during);
    assert!(
        kept as u64 <= acked && kept.is_multiple_of(20),
        "whole batches only (each batch is one WAL record): {kept} of {acked}"
    );
    server.terminate();
    let out = run(
        &["audit", "verify", "--tenant", TENANT, "--data"],
        &[&target.data],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
