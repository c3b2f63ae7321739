#!/usr/bin/env bash
# In-process serving speed (issue 12, item 7, first bullet): steward-ml's recommend, re-rank and
# batch recommend against PyPI implicit's on the same factors (50k items, 64 factors, top 10, 20
# seen items excluded per user, 100 re-rank candidates), side by side in one run, RUNS times
# alternating (Steward, then implicit), medians and ratios. Two models: random factors, and a
# trained one (implicit's ALS, 64 factors, 15 iterations, on `versus_implicit synthetic`'s Zipf
# draws: TRAIN_USERS users x 50k items, TRAIN_DRAWS draws), whose skewed item norms are what the
# int8 pre-scan's pruning meets in practice; both libraries score the very same factors.
#
#   bash bench/recommend.sh                  RUNS=5, 10,000 users per round, 3 rounds per run
#   RUNS=3 USERS=5000 bash bench/recommend.sh
#
# Steward: crates/ml/examples/bench_recommend.rs (release). implicit:
# crates/ml/examples/bench_recommend_implicit.py in bench/.venv-ml (bench/setup-ml.sh makes it),
# OPENBLAS_NUM_THREADS=1. Each side prints the best round's rate and pooled per-call p50/p99;
# batch is one call over every user (implicit: num_threads=1; Steward: 1 thread, and 2).
# Writes bench/out/recommend-<stamp>.md (and the raw output beside it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
RUNS="${RUNS:-5}"
USERS="${USERS:-10000}"
TRAIN_USERS="${TRAIN_USERS:-20000}"
TRAIN_DRAWS="${TRAIN_DRAWS:-1000000}"
out="$root/bench/out"
mkdir -p "$out"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
raw="$out/recommend-$stamp.txt"
[ -x bench/.venv-ml/bin/python ] || bash bench/setup-ml.sh
target="${CARGO_TARGET_DIR:-$root/target}"
[ -n "${NO_BUILD:-}" ] || cargo build --release -p steward-ml --example bench_recommend --example versus_implicit
work="$out/recommend-$stamp"
mkdir -p "$work"
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
"$target/release/examples/versus_implicit" synthetic --users "$TRAIN_USERS" --items 50000 --draws "$TRAIN_DRAWS" --out "$work/syn.trip" --runs 1 >/dev/null
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2 bench/.venv-ml/bin/python bench/ml_implicit.py train --train "$work/syn.trip" \
  --algorithm als --factors 64 --iterations 15 --regularization 20 --alpha 2 --cg-steps 3 --threads 2 --runs 1 --warmup 0 \
  --out "$work/factors" >/dev/null
trained="$work/factors/run-1"
{
  echo "commit $(git rev-parse --short HEAD) dirty=$([ -z "$(git status --porcelain -- crates)" ] && echo no || echo yes) nproc $(nproc) cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  for run in $(seq 1 "$RUNS"); do
    echo "== model random"
    echo "== run $run steward $(cut -d' ' -f1-3 /proc/loadavg)"
    "$target/release/examples/bench_recommend" --users "$USERS"
    echo "== run $run implicit $(cut -d' ' -f1-3 /proc/loadavg)"
    OPENBLAS_NUM_THREADS=1 bench/.venv-ml/bin/python crates/ml/examples/bench_recommend_implicit.py "$USERS"
    echo "== model trained"
    echo "== run $run steward $(cut -d' ' -f1-3 /proc/loadavg)"
    "$target/release/examples/bench_recommend" --factors-from "$trained"
    echo "== run $run implicit $(cut -d' ' -f1-3 /proc/loadavg)"
    OPENBLAS_NUM_THREADS=1 bench/.venv-ml/bin/python crates/ml/examples/bench_recommend_implicit.py --factors-from "$trained"
  done
} | tee "$raw"
bench/.venv-ml/bin/python - "$raw" "$out/recommend-$stamp.md" <<'PY'
import re, statistics, sys
raw, md = sys.argv[1], sys.argv[2]
tables = {}
rows = None
for line in open(raw):
    m = re.match(r"== model (\w+)", line)
    if m:
        rows = tables.setdefault(m[1], {})
        continue
    if rows is None:
        continue
    add = lambda key, value: rows.setdefault(key, []).append(float(value))
    m = re.match(r"recommend, one thread: best round (\d+) calls/s; per call p50 ([\d.]+) µs, p99 ([\d.]+) µs", line)
    if m:
        add("s_single", m[1]); add("s_single_p50", m[2]); add("s_single_p99", m[3])
    m = re.match(r"rerank of 100 candidates, one thread: best round (\d+) calls/s; per call p50 ([\d.]+) µs, p99 ([\d.]+) µs", line)
    if m:
        add("s_rerank", m[1]); add("s_rerank_p50", m[2]); add("s_rerank_p99", m[3])
    m = re.match(r"recommend_many, (\d+) thread\(s\): best round (\d+) users/s", line)
    if m:
        add(f"s_batch{m[1]}", m[2])
    m = re.match(r"implicit recommend, one thread: best round (\d+) calls/s; per call p50 ([\d.]+) µs, p99 ([\d.]+) µs", line)
    if m:
        add("i_single", m[1]); add("i_single_p50", m[2]); add("i_single_p99", m[3])
    m = re.match(r"implicit rerank of 100 candidates .*best round (\d+) calls/s; per call p50 ([\d.]+) µs, p99 ([\d.]+) µs", line)
    if m:
        add("i_rerank", m[1]); add("i_rerank_p50", m[2]); add("i_rerank_p99", m[3])
    m = re.match(r"implicit recommend, batch of all users, num_threads=1: best round (\d+) users/s", line)
    if m:
        add("i_batch", m[1])
lines = []
for model, rows in tables.items():
  med = {k: statistics.median(v) for k, v in rows.items()}
  # Ratio per run (the two sides ran back to back), then the median of the ratios.
  def ratio(a, b):
    pairs = [x / y for x, y in zip(rows.get(a, []), rows.get(b, []))]
    return statistics.median(pairs) if pairs else float("nan"), pairs
  lines += [f"## {model} factors: Steward against implicit ({len(rows.get('s_single', []))} runs, medians)", "",
         "| | Steward | implicit | ratio (median of per-run ratios) | per-run ratios |", "|---|---|---|---|---|"]
  for label, s, i in [("recommend top 10, single calls/s (1 thread)", "s_single", "i_single"),
                      ("re-rank 100 candidates, calls/s (1 thread)", "s_rerank", "i_rerank"),
                      ("batch recommend, users/s (1 thread)", "s_batch1", "i_batch")]:
    r, pairs = ratio(s, i)
    lines.append(f"| {label} | {med.get(s, float('nan')):,.0f} | {med.get(i, float('nan')):,.0f} | **{r:.2f}×** | {', '.join(f'{p:.2f}' for p in pairs)} |")
  lines.append(f"| batch recommend, users/s (Steward 2 threads) | {med.get('s_batch2', float('nan')):,.0f} | | | |")
  lines += ["", "| per call | Steward p50 / p99 µs | implicit p50 / p99 µs |", "|---|---|---|"]
  for label, s, i in [("recommend", "s_single", "i_single"), ("re-rank", "s_rerank", "i_rerank")]:
    lines.append(f"| {label} | {med.get(s + '_p50', 0):.1f} / {med.get(s + '_p99', 0):.1f} | {med.get(i + '_p50', 0):.1f} / {med.get(i + '_p99', 0):.1f} |")
  lines.append("")
open(md, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
