//! Repository rules as tests: file docs and crate layering (see ARCHITECTURE.md).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_doc_line() {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    if root().join("fuzz").exists() {
        rust_files(&root().join("fuzz"), &mut files);
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    let missing: Vec<_> = files
        .iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .unwrap()
                .trim_start()
                .starts_with("//!")
        })
        .map(|f| f.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` first line: {missing:#?}"
    );
}

/// The crates each crate may depend on (normal dependencies), from ARCHITECTURE.md.
const ALLOWED: &[(&str, &[&str])] = &[
    ("crypto", &[]),
    ("wal", &[]),
    ("gen", &[]),
    ("ml", &[]),
    ("stats", &[]),
    ("text", &[]),
    ("tidy", &[]),
    ("privacy", &["crypto"]),
    ("access", &["crypto"]),
    ("policy", &["access"]),
    ("audit", &["crypto"]),
    ("store", &["crypto", "wal"]),
    (
        "engine",
        &[
            "crypto", "wal", "store", "privacy", "access", "audit", "policy",
        ],
    ),
    ("query", &["engine", "crypto", "store", "privacy", "policy"]),
    (
        "lineage",
        &["query", "engine", "crypto", "store", "privacy", "policy"],
    ),
    (
        "serve",
        &[
            "ml", "stats", "text", "lineage", "query", "engine", "crypto", "store", "privacy",
            "policy",
        ],
    ),
    (
        "server",
        &[
            "serve", "lineage", "query", "engine", "crypto", "store", "privacy", "access", "audit",
            "policy",
        ],
    ),
    (
        "cli",
        &[
            "server", "serve", "lineage", "query", "engine", "gen", "crypto", "store", "privacy",
            "access", "audit", "policy",
        ],
    ),
    (
        "bench",
        &[
            "query", "engine", "gen", "crypto", "store", "wal", "privacy", "access", "audit",
            "policy", "server",
        ],
    ),
];

/// Third-party crates only some crates may use: HTTP at the edge, async only where needed.
/// Dependencies only the edge may take. `query` takes tokio for one thing: the heavy-work
/// pool (`query/src/pool.rs`), the runtime SQL, builds and exports run on apart from HTTP.
const EDGE_ONLY: &[(&str, &[&str])] = &[
    ("axum", &["server"]),
    ("tower-http", &["server"]),
    ("tokio", &["server", "cli", "bench", "query"]),
    ("clap", &["cli", "bench"]),
];

fn normal_dependencies(manifest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once(['=', '.']) {
            let name = name.trim();
            if !name.is_empty() && !name.starts_with('#') {
                out.push(name.to_owned());
            }
        }
    }
    out
}

#[test]
fn crates_depend_only_downward() {
    let crates_dir = root().join("crates");
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates_dir).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let allowed = ALLOWED
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| {
                panic!("crate {name} is not in the layering table; add it (and to ARCHITECTURE.md)")
            })
            .1;
        for dep in normal_dependencies(&manifest) {
            if let Some(inner) = dep.strip_prefix("steward-") {
                assert!(allowed.contains(&inner), "{name} must not depend on {dep}");
            }
            if let Some((_, users)) = EDGE_ONLY.iter().find(|(d, _)| *d == dep) {
                assert!(
                    users.contains(&name.as_str()),
                    "{name} must not depend on {dep} (edge-only)"
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 9);
}

/// Every metric an alert rule (deploy/prometheus/steward-alerts.yml) reads is emitted by the
/// code under that name (histogram series by their base name), and every alert has its runbook
/// entry: a renamed metric would leave an alert silent forever.
#[test]
fn alert_rules_read_metrics_the_code_emits_and_each_has_a_runbook_entry() {
    let root = root();
    let rules = std::fs::read_to_string(root.join("deploy/prometheus/steward-alerts.yml"))
        .expect("the alert rules");
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    let code: String = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    let mut names: Vec<String> = Vec::new();
    for (i, _) in rules.match_indices("steward_") {
        let name: String = rules[i..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        let base = name
            .strip_suffix("_bucket")
            .or_else(|| name.strip_suffix("_count"))
            .or_else(|| name.strip_suffix("_sum"))
            .unwrap_or(&name)
            .to_owned();
        if !names.contains(&base) {
            names.push(base);
        }
    }
    assert!(names.len() >= 10, "{names:?}");
    for name in &names {
        assert!(
            code.contains(&format!("\"{name}\"")),
            "the alert rules read {name}, which no code emits"
        );
    }
    let runbook = std::fs::read_to_string(root.join("docs/runbook.md")).expect("the runbook");
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 10, "{alerts:?}");
    for alert in alerts {
        assert!(
            runbook.contains(&format!("\n## {alert}\n")),
            "docs/runbook.md has no entry for {alert}"
        );
        assert!(
            rules.contains(&format!("docs/runbook.md#{}", alert.to_ascii_lowercase())),
            "{alert} does not link its runbook entry"
        );
    }
}
