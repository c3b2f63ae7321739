#!/usr/bin/env bash
# Runs every fuzz target for a while (default 30 s each). Needs cargo-fuzz (installed once
# from crates.io if missing); the stable toolchain is told to accept the sanitizer flags.
#   bash scripts/fuzz.sh            # all targets, 30 s each
#   SECONDS_PER_TARGET=600 bash scripts/fuzz.sh wal_file
#   SMOKE=1 bash scripts/fuzz.sh    # no nightly/cargo-fuzz: the stable smoke runs of sql_plan
#                                   # and policy_validate (same per-input checks, seeded inputs)
set -euo pipefail
if [ "${SMOKE:-0}" = 1 ]; then
  cd "$(dirname "$0")/.."
  export STEWARD_FUZZ_SECONDS="${SECONDS_PER_TARGET:-30}"
  exec cargo test -p steward-query -p steward-policy --test fuzz_smoke -- --nocapture
fi
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
for target in "${targets[@]}"; do
  echo "== fuzzing $target for ${SECONDS_PER_TARGET:-30}s"
  cargo fuzz run "$target" -- -max_total_time="${SECONDS_PER_TARGET:-30}" -rss_limit_mb=2048
done
