#!/usr/bin/env bash
# PII detection benchmark: Steward's `pii::scan` against presidio-analyzer's pattern
# recognizers (no NLP model), on one labelled corpus.
#
# Usage: bench/pii.sh            (needs bench/.venv with presidio-analyzer: bash bench/setup.sh)
#
# 1. `pii_corpus` writes TEXTS labelled texts (seed SEED) to bench/out/pii-corpus-<TEXTS>-s<SEED>.ndjson:
#    support-ticket sentences with entities inserted by construction (every inserted entity
#    is labelled; filler holds no digits and no `@`) and unlabelled hard negatives.
# 2. RUNS times each: `pii_eval` (Steward; throughput = best of 3 passes in one process)
#    and bench/pii_presidio.py (Presidio; one timed pass, score threshold THRESHOLD).
# 3. Prints a markdown table of per-entity precision/recall/F1 and throughput, medians over
#    the runs (precision and recall are deterministic; throughput varies), and writes it
#    with the raw JSON lines to bench/out/pii-<timestamp>.{md,jsonl}.
#
# Environment (defaults): TEXTS (20000), SEED (7), RUNS (3), THRESHOLD (0.0, Presidio's
# AnalyzerEngine default), NO_BUILD=1 to skip the build, CARGO_TARGET_DIR as cargo uses it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

TEXTS="${TEXTS:-20000}"
SEED="${SEED:-7}"
RUNS="${RUNS:-3}"
THRESHOLD="${THRESHOLD:-0.0}"
target="${CARGO_TARGET_DIR:-$root/target}"
python="$root/bench/.venv/bin/python"

if [ ! -x "$python" ] || ! "$python" -c 'import presidio_analyzer' 2>/dev/null; then
    echo "presidio-analyzer is not installed in bench/.venv; run: bash bench/setup.sh" >&2
    exit 1
fi
if [ "${NO_BUILD:-}" != 1 ]; then
    cargo build --release -p steward-privacy --example pii_corpus --example pii_eval >&2
fi

mkdir -p bench/out
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
corpus="bench/out/pii-corpus-$TEXTS-s$SEED.ndjson"
raw="bench/out/pii-$stamp.jsonl"
summary="bench/out/pii-$stamp.md"

"$target/release/examples/pii_corpus" "$TEXTS" "$SEED" > "$corpus"
: > "$raw"
for run in $(seq 1 "$RUNS"); do
    echo "run $run/$RUNS: steward" >&2
    "$target/release/examples/pii_eval" "$corpus" >> "$raw"
    echo "run $run/$RUNS: presidio" >&2
    "$python" bench/pii_presidio.py "$corpus" --threshold "$THRESHOLD" >> "$raw"
done

"$python" - "$raw" "$corpus" "$THRESHOLD" > "$summary" <<'PY'
import json
import statistics
import sys

raw, corpus, threshold = sys.argv[1], sys.argv[2], sys.argv[3]
runs = {"steward": [], "presidio": []}
for line in open(raw, encoding="utf-8"):
    d = json.loads(line)
    runs[d["tool"]].append(d)

def median(tool, *path):
    values = []
    for d in runs[tool]:
        for key in path:
            d = d[key]
        values.append(d)
    return statistics.median(values)

first = runs["steward"][0]
entities = sorted(first["entities"])
print(f"PII detection, {first['texts']} texts ({first['bytes'] / 1e6:.2f} MB) from `{corpus}`, "
      f"{len(runs['steward'])} runs each, medians. Presidio: pattern recognizers only, "
      f"score threshold {threshold}.")
print()
print("| entity | labels | Steward P | Steward R | Steward F1 | Presidio P | Presidio R | Presidio F1 | F1 ≥ Presidio |")
print("|---|---:|---:|---:|---:|---:|---:|---:|:---:|")
for e in entities:
    s = [median("steward", "entities", e, k) for k in ("precision", "recall", "f1")]
    p = [median("presidio", "entities", e, k) for k in ("precision", "recall", "f1")]
    labels = first["entities"][e]["labels"]
    ok = "yes" if s[2] >= p[2] else "NO"
    print(f"| {e} | {labels} | {s[0]:.3f} | {s[1]:.3f} | {s[2]:.3f} | {p[0]:.3f} | {p[1]:.3f} | {p[2]:.3f} | {ok} |")
print()
s_mb, p_mb = median("steward", "mb_per_s"), median("presidio", "mb_per_s")
s_tps, p_tps = median("steward", "texts_per_s"), median("presidio", "texts_per_s")
print("| throughput | MB/s | texts/s |")
print("|---|---:|---:|")
print(f"| Steward `pii::scan` (1 thread) | {s_mb:.1f} | {s_tps:,.0f} |")
print(f"| Presidio pattern recognizers (1 thread) | {p_mb:.4f} | {p_tps:,.0f} |")
print(f"| ratio | {s_mb / p_mb:,.0f}× | {s_tps / p_tps:,.0f}× |")
PY
cat "$summary"
echo "raw: $raw, summary: $summary" >&2
