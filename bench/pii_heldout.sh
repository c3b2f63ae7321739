#!/usr/bin/env bash
# Held-out PII evaluation: Steward's `pii::scan` on a corpus written by an author who did not
# read the scanner (bench/pii_heldout/generate.py; see its docstring for what it covers).
#
# Usage: bench/pii_heldout.sh
#
# 1. generate.py writes TEXTS texts (seed SEED) to bench/out/pii-heldout-<TEXTS>-s<SEED>.ndjson.
# 2. `pii_eval CORPUS --errors ERRORS --predictions PRED` scores it (per-entity precision,
#    recall, F1 as one JSON line on stdout; misses and false alarms on stderr) and writes
#    the predicted spans per text.
# 3. breakdown.py turns corpus + predictions into markdown: per entity, per case (hard cases
#    marked), per language, per text family, and false alarms per kind of negative.
# Everything lands in bench/out/pii-heldout-<timestamp>.{json,errors.txt,predictions.ndjson,md}.
#
# Environment (defaults): TEXTS (4000), SEED (11), ERRORS (20), MISSES (8: examples per
# case in the markdown), NO_BUILD=1 to skip the build, CARGO_TARGET_DIR as cargo uses it
# (e.g. /tmp/target-pii-heldout to keep clear of other builds).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

TEXTS="${TEXTS:-4000}"
SEED="${SEED:-11}"
ERRORS="${ERRORS:-20}"
MISSES="${MISSES:-8}"
target="${CARGO_TARGET_DIR:-$root/target}"

if [ "${NO_BUILD:-}" != 1 ]; then
    cargo build --release -p steward-privacy --example pii_eval >&2
fi

mkdir -p bench/out
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
corpus="bench/out/pii-heldout-$TEXTS-s$SEED.ndjson"
base="bench/out/pii-heldout-$stamp"

python3 bench/pii_heldout/generate.py --texts "$TEXTS" --seed "$SEED" > "$corpus"
"$target/release/examples/pii_eval" "$corpus" --errors "$ERRORS" --passes 1 \
    --predictions "$base.predictions.ndjson" > "$base.json" 2> "$base.errors.txt"
# Which scanner was measured: the commit, and whether (and in what state, as a content hash)
# the scanner's sources differ from it in this working tree.
dirty="$(git status --porcelain -- crates/privacy/src | wc -l | tr -d ' ')"
src_hash="$(find crates/privacy/src -type f -name '*.rs' | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-12)"
{
    echo "Scanner: commit $(git rev-parse --short HEAD), crates/privacy/src files changed vs commit: $dirty, source hash $src_hash; corpus seed $SEED, $TEXTS texts; $(date -u +%Y-%m-%dT%H:%M:%SZ)."
    echo
    python3 bench/pii_heldout/breakdown.py "$corpus" "$base.predictions.ndjson" --misses "$MISSES"
} > "$base.md"

cat "$base.md"
echo "corpus: $corpus; scorer: $base.json, $base.errors.txt; summary: $base.md" >&2
