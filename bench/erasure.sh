#!/usr/bin/env bash
# Erasure benchmark: Steward against delta-rs (DELETE + VACUUM with zero retention), same rows.
#
#   bash bench/erasure.sh            EVENTS (10000000) generated events, RUNS (3) runs each
#
# Steward (steward-bench erasure, in-process, release build): shred latency p50/p99 over SHRED
# (200) subjects one at a time (the time until a subject's personal fields are unreadable),
# the purge of the subject with the most events (flush, rewrite every segment holding it,
# compact the catalog), and a batch of BATCH (10000) subjects erased and purged together.
# delta-rs (bench/erasure_delta.py): the same NDJSON as a Delta table, in arrival order and
# sorted by subject; DELETE of the same heavy subject plus VACUUM. Medians to stdout and to
# bench/out/erasure-<timestamp>.md; raw JSON lines beside it. NO_BUILD=1 skips the cargo build;
# STEWARD and BIN name other steward and steward-bench binaries.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
EVENTS="${EVENTS:-10000000}"
RUNS="${RUNS:-3}"
SHRED="${SHRED:-200}"
BATCH="${BATCH:-10000}"
out="$root/bench/out"
mkdir -p "$out"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
raw="$out/erasure-$stamp.jsonl"
[ -x bench/.venv/bin/python ] || bash bench/setup.sh
target="${CARGO_TARGET_DIR:-$root/target}"
[ -n "${NO_BUILD:-}" ] || cargo build --release -p steward-bench -p steward-cli
events="$out/erasure-events-$EVENTS.ndjson"
steward="${STEWARD:-$target/release/steward}"
bin="${BIN:-$target/release/steward-bench}"
[ -s "$events" ] || "$steward" gen --events "$EVENTS" --seed 1 --out "$events"
for run in $(seq 1 "$RUNS"); do
  echo "== run $run/$RUNS: steward" >&2
  "$bin" erasure --events "$EVENTS" --shred "$SHRED" --batch "$BATCH" >> "$raw"
  echo "== run $run/$RUNS: delta-rs" >&2
  bench/.venv/bin/python bench/erasure_delta.py "$events" >> "$raw"
done
bench/.venv/bin/python - "$raw" "$out/erasure-$stamp.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
st = [r for r in rows if r["bench"] == "erasure"]
de = [r for r in rows if r["bench"] == "erasure_delta"]
med = lambda xs: statistics.median(xs)
p50 = med([r["shred_ms"]["p50"] for r in st]); p99 = med([r["shred_ms"]["p99"] for r in st])
s_purge = med([r["heavy"]["purge_s"] for r in st])
d_arr = med([r["layouts"]["arrival"]["purge_s"] for r in de]); d_sorted = med([r["layouts"]["sorted"]["purge_s"] for r in de])
b_total = med([r["batch"]["total_s"] for r in st]); b_rate = med([r["batch"]["subjects_per_s"] for r in st]); b_hidden = med([r["batch"]["hidden_s"] for r in st])
heavy = st[0]["heavy"]["events"]
lines = [
  f"Erasure, {st[0]['events']:,} events, {st[0]['subjects']:,} subjects; medians of {len(st)} runs (Steward) and {len(de)} (delta-rs).",
  "",
  "| measurement | Steward | delta-rs | ratio | target | met? |",
  "| --- | --- | --- | --- | --- | --- |",
  f"| time until a subject's personal fields are unreadable (request, one at a time) | p50 {p50:.2f} ms, p99 {p99:.2f} ms | | | p99 <= 10 ms | {'yes' if p99 <= 10 else 'no'} |",
  f"| purge of the heaviest subject ({heavy:,} events), arrival-order Delta table | {s_purge:.2f} s | {d_arr:.2f} s | {d_arr / s_purge:.2f}x | >= 5x | {'yes' if d_arr / s_purge >= 5 else 'no'} |",
  f"| purge of the heaviest subject, subject-sorted Delta table (its best case) | {s_purge:.2f} s | {d_sorted:.2f} s | {d_sorted / s_purge:.2f}x | | |",
  f"| batch of {st[0]['batch']['subjects']:,} subjects: hidden / hidden and purged | {b_hidden:.2f} s / {b_total:.2f} s ({b_rate:,.0f} subjects/s) | | | | |",
]
text = "\n".join(lines)
print(text)
open(sys.argv[2], "w").write(text + "\n")
PY
