#!/usr/bin/env bash
# Serving over HTTP (issue 12, item 7): Steward's POST .../recommendations against implicit's
# ALS model behind a small Python HTTP server (bench/serving_peer.py), the same model shape,
# the same data, the same requests in the same order, the same load generator
# (`steward-bench serve-load`), on the same machine, the load generator on the same cores.
#
#   bash bench/serving.sh                                   the comparison (≈ 15 min on 2 vCPUs)
#   RUNS=1 DURATION=3 DRAWS=200000 USERS=5000 bash bench/serving.sh      a quick smoke run
#
# 1. Data: `versus_implicit events` writes DRAWS Zipf draws over USERS x ITEMS as `rating`
#    events (subject syn-user-U, movie_id I, rating = weight 1-3); `versus_implicit synthetic`
#    writes the same draws, summed per (user, item), as the .trip matrix the peer trains on;
#    `serving_peer.py train --events` checks that the events sum to exactly that matrix.
# 2. Steward: release `steward serve` on a fresh data directory (defaults: encryption at rest,
#    audit of every call, info logs to a file); tenant, writer/reader/admin keys, the rating
#    schema; the events ingested over HTTP (`steward ingest`); a data set of every draw; ALS
#    (FACTORS, ITERATIONS, regularization 0.01, alpha 40, 3 CG steps, no evaluation); alias
#    `production`. Requests: {"model": "syn", "external_id": "syn-user-U", "k": 10} with the
#    reader key (purpose personalization by default; consent regime opt-out by default, so every
#    subject is served); answers must be 200, 10 items and "personalized": true.
# 3. Peer: implicit 0.7.3 ALS with the same hyperparameters (confidence 1 + alpha·w given as
#    the matrix, as bench/ml_implicit.py), trained once, saved, loaded by
#    `serving_peer.py serve` (ThreadingHTTPServer, PEER_PROCESSES processes forked on one
#    listening socket, OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1). Requests:
#    {"external_id": "syn-user-U", "k": 10}, no key; answers must be 200 with 10 items.
#    Both exclude the user's training items; the peer does not read recent events (it has none).
# 4. A check before timing: BODIES requests' answers from both (10 items each, Steward's
#    personalized and free of the user's training items), their overlap for information.
# 5. RUNS rounds (the side that goes first alternates): for each side, closed loop at each of
#    CONNECTIONS for DURATION s (after WARMUP s unmeasured): the maximum rate is the best; then
#    open loop at half of that rate with the best connection count for DURATION s, latency from
#    each request's due time.
# Medians over rounds, ratios and the targets (Steward >= 5x the peer's maximum rate; Steward's
# p99 at half load <= 10 ms) to stdout and bench/out/serving-<stamp>.md; raw JSON lines (with
# the load average) beside it. Knobs (defaults): USERS (20000), ITEMS (50000), DRAWS (1000000),
# FACTORS (64), ITERATIONS (15), RUNS (3), DURATION (20), WARMUP (2), CONNECTIONS ("2 4 8 16"),
# PEER_PROCESSES (2), BODIES (10000 distinct request bodies, cycled), PORT (7841),
# PEER_PORT (7842), NO_BUILD=1, KEEP=1 (keep the work directory), CARGO_TARGET_DIR.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
USERS="${USERS:-20000}"
ITEMS="${ITEMS:-50000}"
DRAWS="${DRAWS:-1000000}"
FACTORS="${FACTORS:-64}"
ITERATIONS="${ITERATIONS:-15}"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-2}"
CONNECTIONS="${CONNECTIONS:-2 4 8 16}"
PEER_PROCESSES="${PEER_PROCESSES:-2}"
BODIES="${BODIES:-10000}"
PORT="${PORT:-7841}"
PEER_PORT="${PEER_PORT:-7842}"
out="$root/bench/out"
mkdir -p "$out"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
work="$out/serving-$stamp"
raw="$out/serving-$stamp.jsonl"
mkdir -p "$work"
python="$root/bench/.venv-ml/bin/python"
"$python" -c 'import implicit' 2>/dev/null || bash bench/setup-ml.sh
target="${CARGO_TARGET_DIR:-$root/target}"
if [ -z "${NO_BUILD:-}" ]; then
  cargo build --release -p steward-cli -p steward-bench
  cargo build --release -p steward-ml --example versus_implicit
fi
bin="$target/release/steward"
load="$target/release/steward-bench"
gen="$target/release/examples/versus_implicit"
server=""
peer=""
cleanup() {
  [ -z "$peer" ] || { kill "$peer" 2>/dev/null || true; wait "$peer" 2>/dev/null || true; }
  [ -z "$server" ] || { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
json() { "$python" -c "import json,sys; v=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
loadavg() { echo "{\"bench\":\"serving_load\",\"step\":\"$1\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"uptime\":\"$(uptime | sed 's/.*load/load/')\"}" >> "$raw"; }

echo "{\"bench\":\"serving_machine\",\"nproc\":$(nproc),\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\",\"commit\":\"$(git rev-parse --short HEAD)\",\"dirty\":$([ -z "$(git status --porcelain -- crates bench/serving.sh bench/serving_peer.py)" ] && echo false || echo true),\"users\":$USERS,\"items\":$ITEMS,\"draws\":$DRAWS,\"factors\":$FACTORS,\"iterations\":$ITERATIONS,\"runs\":$RUNS,\"seconds\":$DURATION,\"warmup\":$WARMUP,\"connections\":\"$CONNECTIONS\",\"peer_processes\":$PEER_PROCESSES,\"bodies\":$BODIES}" >> "$raw"
loadavg start

echo "== data: $DRAWS draws over $USERS users x $ITEMS items" >&2
"$gen" events --users "$USERS" --items "$ITEMS" --draws "$DRAWS" --out "$work/events.ndjson" >/dev/null
"$gen" synthetic --users "$USERS" --items "$ITEMS" --draws "$DRAWS" --out "$work/syn.trip" --runs 1 >> "$raw"

echo "== peer: train implicit (checks the events sum to the .trip matrix)" >&2
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2 "$python" bench/serving_peer.py train --trip "$work/syn.trip" --events "$work/events.ndjson" \
  --out "$work/peer" --factors "$FACTORS" --iterations "$ITERATIONS" --regularization 0.01 --alpha 40 --cg-steps 3 --threads 2 >> "$raw"

echo "== steward: init, serve, ingest, data set, train" >&2
operator="$("$bin" init --data "$work/data" --json | json 'v["operator_key"]')"
"$bin" serve --data "$work/data" --listen "127.0.0.1:$PORT" 2> "$work/server.log" &
server=$!
url="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done
tenant=bench
admin="$(curl -sf -X POST "$url/v1/tenants" -H "Authorization: Bearer $operator" -H 'Content-Type: application/json' -d "{\"id\":\"$tenant\"}" | json 'v["admin_key"]["secret"]')"
key() { curl -sf -X POST "$url/v1/tenants/$tenant/keys" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d "{\"name\":\"$1\",\"role\":\"$1\"}" | json 'v["secret"]'; }
writer="$(key writer)"; reader="$(key reader)"
# For a look afterwards with KEEP=1 (throw-away keys of a throw-away data directory).
echo "{\"operator\":\"$operator\",\"admin\":\"$admin\",\"reader\":\"$reader\"}" > "$work/keys.json"
echo '{"fields": {"movie_id": {"type": "string", "class": "public", "required": true}, "rating": {"type": "float", "class": "public", "min": 0}}}' > "$work/rating.json"
"$bin" schema put --tenant "$tenant" --type rating "$work/rating.json" --url "$url" --key "$admin" >/dev/null
started=$(date +%s%N)
"$bin" ingest --tenant "$tenant" "$work/events.ndjson" --url "$url" --key "$writer" >/dev/null 2>&1
ingest_ms=$(( ($(date +%s%N) - started) / 1000000 ))
rm -f "$work/events.ndjson"
api() {
  if [ $# -ge 4 ]; then
    curl -sf -X "$1" "$url/v1/tenants/$tenant$2" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' -d "$4"
  else
    curl -sf -X "$1" "$url/v1/tenants/$tenant$2" -H "Authorization: Bearer $3"
  fi
}
started=$(date +%s%N)
rows="$(api POST /datasets "$reader" '{"name":"syn","sql":"SELECT subject, movie_id, rating, time FROM rating"}' | json 'v["rows"]')"
cut_ms=$(( ($(date +%s%N) - started) / 1000000 ))
started=$(date +%s%N)
version="$(api POST /models "$reader" "{\"name\":\"syn\",\"algorithm\":\"als\",\"dataset\":{\"name\":\"syn\",\"version\":\"latest\"},\"columns\":{\"user\":\"subject\",\"item\":\"movie_id\",\"weight\":\"rating\",\"time\":\"time\"},\"params\":{\"factors\":$FACTORS,\"iterations\":$ITERATIONS,\"regularization\":0.01,\"alpha\":40,\"cg_steps\":3},\"seed\":1}" | json 'v["version"]')"
while :; do
  state="$(api GET "/models/syn/versions/$version" "$reader" | json 'v["state"]')"
  case "$state" in
    ready) break ;;
    queued|training|evaluating) sleep 0.5 ;;
    *) echo "model: $state" >&2; api GET "/models/syn/versions/$version" "$reader" >&2; exit 1 ;;
  esac
done
train_ms=$(( ($(date +%s%N) - started) / 1000000 ))
api GET "/models/syn/versions/$version" "$reader" | "$python" -c "
import json, sys
v = json.load(sys.stdin)
print(json.dumps({'bench': 'serving_steward_setup', 'events': $DRAWS, 'ingest_s': $ingest_ms / 1000, 'dataset_rows': $rows, 'cut_s': $cut_ms / 1000, 'train_s': $train_ms / 1000, 'users': v.get('users'), 'items': v.get('items'), 'interactions': v.get('interactions'), 'timings': v.get('timings'), 'params': v.get('params')}))" >> "$raw"
api PUT /models/syn/aliases/production "$admin" "{\"version\":$version}" >/dev/null

echo "== peer: serve ($PEER_PROCESSES processes)" >&2
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$python" bench/serving_peer.py serve --model "$work/peer" --port "$PEER_PORT" --processes "$PEER_PROCESSES" > "$work/peer.log" 2>&1 &
peer=$!
peer_url="http://127.0.0.1:$PEER_PORT"
for _ in $(seq 1 200); do curl -sf "$peer_url/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$peer_url/healthz" >/dev/null || { cat "$work/peer.log" >&2; exit 1; }

# The same users in the same order for both (uniform over the users, fixed seed).
"$python" - "$USERS" "$BODIES" "$work" <<'PY'
import json, random, sys
users, n, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(20261204)
picked = [rng.randrange(users) for _ in range(n)]
with open(f"{work}/steward.ndjson", "w") as s, open(f"{work}/peer.ndjson", "w") as p:
    for u in picked:
        s.write(json.dumps({"model": "syn", "external_id": f"syn-user-{u}", "k": 10}) + "\n")
        p.write(json.dumps({"external_id": f"syn-user-{u}", "k": 10}) + "\n")
PY

echo "== check: both answer, Steward's answers are personalized and exclude the training items" >&2
"$python" - "$url/v1/tenants/$tenant/recommendations" "$reader" "$peer_url/recommendations" "$work" <<'PY' >> "$raw"
import json, sys, urllib.request
import numpy as np
steward_url, key, peer_url, work = sys.argv[1:5]
z = np.load(f"{work}/peer/model.npz")
indptr, indices, item_ids = z["indptr"], z["indices"], z["item_ids"]
def post(url, body, auth=None):
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = f"Bearer {auth}"
    with urllib.request.urlopen(urllib.request.Request(url, data=body.encode(), headers=headers)) as r:
        return json.loads(r.read())
s_lines = open(f"{work}/steward.ndjson").read().splitlines()[:200]
p_lines = open(f"{work}/peer.ndjson").read().splitlines()[:200]
overlap = []
for sl, pl in zip(s_lines, p_lines):
    u = int(json.loads(sl)["external_id"].rsplit("-", 1)[1])
    seen = {str(i) for i in item_ids[indices[indptr[u]:indptr[u + 1]]].tolist()}
    s, p = post(steward_url, sl, key), post(peer_url, pl)
    s_items, p_items = [x["item"] for x in s["items"]], [x["item"] for x in p["items"]]
    assert s["personalized"] is True and len(s_items) == 10, s
    assert len(p_items) == 10, p
    assert not seen & set(s_items), ("steward returned a seen item", u, seen & set(s_items))
    assert not seen & set(p_items), ("peer returned a seen item", u, seen & set(p_items))
    overlap.append(len(set(s_items) & set(p_items)) / 10)
print(json.dumps({"bench": "serving_check", "requests": len(overlap), "seen_excluded": True, "overlap_at_10_mean": round(sum(overlap) / len(overlap), 4)}))
PY

measure() { # side url path bodies key-or-empty checks... -> best rate and its connections
  local side="$1" round="$2"; shift 2
  local best=0 best_c=0 line rate
  for c in $CONNECTIONS; do
    line="$("$load" serve-load "$@" --connections "$c" --seconds "$DURATION" --warmup "$WARMUP" --label "$side")"
    echo "$line" | "$python" -c "import json,sys; v=json.loads(sys.stdin.read()); v.update(side='$side', round=$round, phase='max'); print(json.dumps(v))" >> "$raw"
    rate="$(echo "$line" | json 'v["rate"]')"
    echo "   $side closed loop, $c connections: $rate/s, p99 $(echo "$line" | json 'v["p99_ms"]') ms" >&2
    if "$python" -c "import sys; sys.exit(0 if float('$rate') > float('$best') else 1)"; then best="$rate"; best_c="$c"; fi
  done
  local half
  half="$("$python" -c "print(round(float('$best') / 2, 1))")"
  line="$("$load" serve-load "$@" --connections "$best_c" --rate "$half" --seconds "$DURATION" --warmup "$WARMUP" --label "$side")"
  echo "$line" | "$python" -c "import json,sys; v=json.loads(sys.stdin.read()); v.update(side='$side', round=$round, phase='half', max_rate=float('$best'), max_connections=$best_c); print(json.dumps(v))" >> "$raw"
  echo "   $side open loop at $half/s ($best_c connections): $(echo "$line" | json 'v["rate"]')/s, p50 $(echo "$line" | json 'v["p50_ms"]') ms, p99 $(echo "$line" | json 'v["p99_ms"]') ms" >&2
}
steward_side() { measure steward "$1" --url "$url" --path "/v1/tenants/$tenant/recommendations" --key "$reader" --bodies "$work/steward.ndjson" --check-items 10 --check-true personalized; }
peer_side() { measure peer "$1" --url "$peer_url" --path /recommendations --bodies "$work/peer.ndjson" --check-items 10; }
for round in $(seq 1 "$RUNS"); do
  echo "== round $round/$RUNS" >&2
  loadavg "round-$round"
  if [ $((round % 2)) -eq 1 ]; then steward_side "$round"; peer_side "$round"; else peer_side "$round"; steward_side "$round"; fi
done
loadavg end
echo "{\"bench\":\"serving_rss\",\"steward_mb\":$(($(grep VmHWM /proc/$server/status | awk '{print $2}') / 1024)),\"peer_mb\":$(($(grep VmHWM /proc/$peer/status | awk '{print $2}') / 1024))}" >> "$raw"

"$python" - "$raw" "$out/serving-$stamp.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
m = next(r for r in rows if r["bench"] == "serving_machine")
setup = next(r for r in rows if r["bench"] == "serving_steward_setup")
peer_train = next(r for r in rows if r["bench"] == "serving_peer_train")
check = next(r for r in rows if r["bench"] == "serving_check")
rss = next((r for r in rows if r["bench"] == "serving_rss"), {})
loads = [r["loadavg"] for r in rows if r["bench"] == "serving_load"]
runs = [r for r in rows if r["bench"] == "serve_load"]
med = statistics.median
def side(name):
    half = [r for r in runs if r["side"] == name and r["phase"] == "half"]
    return {
        "max": med(r["max_rate"] for r in half),
        "max_each": [f"{r['max_rate']:,.0f} ({r['max_connections']})" for r in half],
        "half_target": med(r["rate_target"] for r in half),
        "half": med(r["rate"] for r in half),
        "p50": med(r["p50_ms"] for r in half),
        "p90": med(r["p90_ms"] for r in half),
        "p99": med(r["p99_ms"] for r in half),
        "max_ms": med(r["max_ms"] for r in half),
        "p99_each": [r["p99_ms"] for r in half],
        "by_c": {c: med(r["rate"] for r in runs if r["side"] == name and r["phase"] == "max" and r["connections"] == c) for c in sorted({r["connections"] for r in runs if r["side"] == name and r["phase"] == "max"})},
        "errors": sum(r["errors"] for r in runs if r["side"] == name),
    }
s, p = side("steward"), side("peer")
ratio = s["max"] / p["max"]
lines = [
    f"Serving over HTTP: {m['nproc']} x {m['cpu']}, commit {m['commit']}{' (+ uncommitted changes)' if m['dirty'] else ''}; load generator (`steward-bench serve-load`) on the same cores; {m['runs']} rounds, {m['seconds']} s measured per step after {m['warmup']} s warm-up; load average at the rounds: {'; '.join(loads)}.",
    f"Model: ALS {m['factors']} factors, {m['iterations']} iterations, on {m['draws']:,} Zipf draws over {m['users']:,} users x {m['items']:,} items = {peer_train['entries']:,} (user, item) entries, {peer_train['items']:,} items that occur (Steward's model: {setup['users']:,} users x {setup['items']:,} items, {setup['interactions']:,} interactions). Steward: ingest {setup['ingest_s']:.1f} s, data set {setup['cut_s']:.1f} s, training {setup['train_s']:.1f} s; implicit {peer_train['implicit']} fit {peer_train['fit_s']:.1f} s.",
    f"Requests: {m['bodies']:,} users drawn uniformly, the same order for both, k = 10, seen items excluded; check on {check['requests']} answers: every answer 10 items, Steward's personalized, neither returns a training item; mean overlap of the two top-10s {check['overlap_at_10_mean']:.2f} (different random starts). Peer: implicit behind `http.server.ThreadingHTTPServer`, {m['peer_processes']} process(es), OpenBLAS 1 thread. Peak RSS: Steward {rss.get('steward_mb', '?')} MiB, peer {rss.get('peer_mb', '?')} MiB (parent process).",
    "",
    "| server | max rate req/s (median) | per round (best connections) | closed-loop rate by connections | half load offered → achieved req/s | p50 ms | p90 ms | p99 ms | max ms | p99 per round ms | errors |",
    "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
]
for name, x in (("Steward", s), ("implicit + ThreadingHTTPServer", p)):
    by_c = ", ".join(f"{c}: {v:,.0f}" for c, v in x["by_c"].items())
    lines.append(f"| {name} | {x['max']:,.0f} | {', '.join(x['max_each'])} | {by_c} | {x['half_target']:,.0f} → {x['half']:,.0f} | {x['p50']:.2f} | {x['p90']:.2f} | {x['p99']:.2f} | {x['max_ms']:.1f} | {', '.join(f'{v:.2f}' for v in x['p99_each'])} | {x['errors']} |")
lines += [
    "",
    "| target | measured (medians) | verdict |",
    "| --- | --- | --- |",
    f"| Steward's maximum rate >= 5x the peer's | {s['max']:,.0f} / {p['max']:,.0f} = {ratio:.2f}x | {'met' if ratio >= 5 else 'not met'} |",
    f"| Steward's p99 at half of its maximum rate <= 10 ms | {s['p99']:.2f} ms (peer at half of its own: {p['p99']:.2f} ms) | {'met' if s['p99'] <= 10 else 'not met'} |",
    "",
    "Latency at half load is from each request's due time (open loop); at maximum rate (closed loop) from the send. Raw: bench/" + sys.argv[1].split("/bench/")[-1],
]
text = "\n".join(lines) + "\n"
print(text)
open(sys.argv[2], "w").write(text)
PY
echo "raw: $raw" >&2
