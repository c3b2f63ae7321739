//! Shared by the integration tests: where the model files are, and whether their absence is a
//! skip (a developer's machine) or a failure (CI, or `STEWARD_TEST_PEERS` as scripts/test.sh
//! sets it, which also runs scripts/models.sh).

#![allow(dead_code)]

use std::path::PathBuf;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `$STEWARD_MODELS`, else `models/` at the repository root.
pub fn models_dir() -> PathBuf {
    match std::env::var_os("STEWARD_MODELS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => root().join("models"),
    }
}

pub fn peers_optional() -> bool {
    std::env::var_os("CI").is_none() && std::env::var_os("STEWARD_TEST_PEERS").is_none()
}

/// `Some(path)` when `path` exists; else `None` (skip, with the reason printed) on a
/// developer's machine, a panic in CI.
pub fn require(path: PathBuf, setup: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    assert!(
        peers_optional(),
        "{} is missing in CI: scripts/test.sh runs {setup}",
        path.display()
    );
    eprintln!(
        "SKIPPED: {} is missing; run `{setup}` first",
        path.display()
    );
    None
}
