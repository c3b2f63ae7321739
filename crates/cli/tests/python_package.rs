//! The Python package users install (issue 14 item 6): `pip install ./python` into a fresh
//! venv, then `python/tests/package_client.py` drives the live server through the installed
//! `steward_client` (SQL to a pyarrow.Table, training and metrics, recommendations, similar
//! items, search and retrieval, experiment results, typed errors). The package's version must
//! be the server's.
//!
//! Needs python3 with venv and pip reaching PyPI (pyarrow, setuptools) and the embedding model:
//! skipped with a printed reason when absent, unless STEWARD_TEST_PEERS=required.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use serde_json::{Value, json};

const TENANT: &str = "acme";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn skip(reason: &str) {
    if std::env::var("STEWARD_TEST_PEERS").as_deref() == Ok("required") {
        panic!("{reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

#[test]
fn the_installed_python_package_drives_the_server() {
    // The version in pyproject.toml and in the module is the server's.
    let pyproject = std::fs::read_to_string(root().join("python/pyproject.toml")).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        pyproject.contains(&format!("\nversion = \"{version}\"\n")),
        "python/pyproject.toml's version is not {version}"
    );
    let init = std::fs::read_to_string(root().join("python/steward_client/__init__.py")).unwrap();
    assert!(
        init.contains(&format!("__version__ = \"{version}\"")),
        "steward_client.__version__ is not {version}"
    );
    let models = std::env::var_os("STEWARD_MODELS")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("models"));
    if !models.join("all-MiniLM-L6-v2/model.safetensors").is_file() {
        return skip("model files missing (run `bash scripts/models.sh`)");
    }

    // A fresh venv, and the package installed into it with pip.
    let dir = tempfile::tempdir().expect("temp dir");
    let venv = dir.path().join("venv");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&python)
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
    {
        Ok(o) if o.status.success() => {}
        _ => return skip("python3 -m venv is not available"),
    }
    // From a copy: pip builds in the source tree (build/, *.egg-info) otherwise.
    let source = dir.path().join("package");
    std::fs::create_dir_all(source.join("steward_client")).unwrap();
    std::fs::copy(
        root().join("python/pyproject.toml"),
        source.join("pyproject.toml"),
    )
    .unwrap();
    for entry in std::fs::read_dir(root().join("python/steward_client")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let to = source
                .join("steward_client")
                .join(path.file_name().unwrap());
            std::fs::copy(&path, to).unwrap();
        }
    }
    let pip = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(&source)
        .output()
        .expect("run pip");
    if !pip.status.success() {
        return skip(&format!(
            "pip install ./python failed: {}",
            String::from_utf8_lossy(&pip.stderr)
        ));
    }

    let mut deployment = Deployment::init();
    let server = deployment.start(&[]);
    let api = server.api();
    let keys = tenant_with_keys(&api, &deployment.operator_key, TENANT);
    put_schema(&api, &keys.admin, TENANT, "play", &play_schema());
    let texts = [
        "Loud stadium rock anthem with heavy drums",
        "Dance floor electronic track with a fast beat",
        "Symphony movement for full orchestra",
    ];
    let items: Vec<Value> = (0..3)
        .flat_map(|c| {
            (0..6).map(move |j| {
                let text = if (c, j) == (1, 0) {
                    "A quiet acoustic guitar song sung softly".to_owned()
                } else {
                    format!("{} number {j}", texts[c])
                };
                json!({"item_id": format!("trk_{c}_{j}"), "properties": {"year": 1990 + j}, "text": text})
            })
        })
        .collect();
    api.post(&keys.path("/items"), Some(&keys.writer), &json!(items))
        .expect(200, "items");
    for p in 0..18 {
        let person = format!("listener-{p}@example.org");
        let events: Vec<Value> = (0..5)
            .map(|i| {
                play_event(
                    &format!("e-{p}-{i}"),
                    &person,
                    &time_at((p * 100 + i) as i64 * 1_000_000),
                    "x@example.org",
                    &format!("trk_{}_{}", p % 3, (p / 3 + i) % 6),
                    100,
                )
            })
            .collect();
        assert_eq!(ingest(&api, &keys.writer, TENANT, &events)["accepted"], 5);
    }
    api.post(
        &keys.path("/datasets"),
        Some(&keys.reader),
        &json!({"name": "plays", "sql": "SELECT subject, track_id, time FROM play"}),
    )
    .expect(201, "cut");
    let body = json!({"name": "base", "algorithm": "als", "dataset": {"name": "plays", "version": "latest"}, "columns": {"user": "subject", "item": "track_id", "time": "time"}, "params": {"factors": 8, "iterations": 5, "regularization": 0.1, "alpha": 20}});
    let v = api
        .post(&keys.path("/models"), Some(&keys.reader), &body)
        .expect(202, "train base")
        .body["version"]
        .as_u64()
        .unwrap();
    wait_model_ready(&api, &keys, "base", v);
    let arms = json!([{"name": "control", "control": true, "weight": 1}, {"name": "als", "model": "base", "weight": 1}]);
    api.post(
        &keys.path("/experiments"),
        Some(&keys.admin),
        &json!({"name": "e1", "arms": arms, "outcome": {"event_type": "play", "window": "1h"}}),
    )
    .expect(201, "experiment");
    api.post(
        &keys.path("/indexes"),
        Some(&keys.reader),
        &json!({"name": "catalog", "source": {"items": "text"}}),
    )
    .expect(201, "items index");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while api
        .get(&keys.path("/indexes/catalog"), Some(&keys.reader))
        .expect(200, "index")
        .body["documents"]
        != 18
    {
        assert!(std::time::Instant::now() < deadline, "catalog never filled");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    let run = Command::new(venv.join("bin/python"))
        .arg(root().join("python/tests/package_client.py"))
        .args([&server.base(), &keys.reader, TENANT, version])
        .current_dir(dir.path())
        .output()
        .expect("run the package test");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "package_client.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(seen["search_first"], "trk_1_0", "{seen}");
    assert_eq!(seen["recommended"], 5, "{seen}");
}
