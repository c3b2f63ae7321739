#!/usr/bin/env bash
# Data set benchmark (issue 5): build rows/s and export MB/s through the real server.
#
#   bash bench/datasets.sh               EVENTS (1000000) generated events, RUNS (3) runs
#
# Builds the release `steward`, starts it on a fresh data directory, ingests EVENTS generated
# events (steward gen + steward ingest), then RUNS times: cuts a data set version
# (`SELECT subject, track_id, genre, ms_played, time FROM play`, purpose model_training) and
# reads it back three ways: every file by plain GETs (decrypting the sealed files), the Arrow
# IPC stream, and the shipped Python client (`read_table`, files with range requests and
# checksums, into a pyarrow.Table). Prints medians and writes bench/out/datasets-<stamp>.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
EVENTS="${EVENTS:-1000000}"
RUNS="${RUNS:-3}"
PORT="${PORT:-7811}"
out="$root/bench/out"
mkdir -p "$out"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
work="$out/datasets-$stamp"
mkdir -p "$work"
bash python/setup.sh >/dev/null
target="${CARGO_TARGET_DIR:-$root/target}"
[ -n "${NO_BUILD:-}" ] || cargo build --release -p steward-cli
bin="${BIN:-$target/release/steward}"
operator="$("$bin" init --data "$work/data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["operator_key"])')"
"$bin" serve --data "$work/data" --listen "127.0.0.1:$PORT" 2> "$work/server.log" &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
url="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done
admin="$(curl -sf -X POST "$url/v1/tenants" -H "Authorization: Bearer $operator" -H 'Content-Type: application/json' -d '{"id":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_key"]["secret"])')"
key() { curl -sf -X POST "$url/v1/tenants/bench/keys" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d "{\"name\":\"$1\",\"role\":\"$1\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])'; }
writer="$(key writer)"; reader="$(key reader)"
"$bin" gen --events "$EVENTS" --seed 1 --out "$work/events.ndjson" --schemas "$work/schemas" 2>/dev/null
for schema in "$work"/schemas/*.json; do
  "$bin" schema put --tenant bench --type "$(basename "$schema" .json)" "$schema" --url "$url" --key "$admin" >/dev/null
done
"$bin" ingest --tenant bench "$work/events.ndjson" --url "$url" --key "$writer" 2>/dev/null >/dev/null
python/.venv/bin/python - "$url" "$reader" "$RUNS" "$EVENTS" "$out/datasets-$stamp.md" <<'PY'
import json, statistics, sys, time, urllib.request
sys.path.insert(0, "python")
from steward_client import Client
url, key, runs, events, report = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def call(method, path, body=None):
    req = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=3600) as r:
        return r.read()
sql = "SELECT subject, track_id, genre, ms_played, time FROM play"
build, files_mb, arrow_mb, client_mb = [], [], [], []
for run in range(runs):
    t = time.perf_counter()
    m = json.loads(call("POST", "/v1/tenants/bench/datasets", {"name": "bench", "sql": sql}))
    build.append(m["rows"] / (time.perf_counter() - t))
    v = m["version"]
    t = time.perf_counter(); total = 0
    for f in m["files"]:
        total += len(call("GET", f"/v1/tenants/bench/datasets/bench/versions/{v}/files/{f['name']}?purpose=model_training"))
    files_mb.append(total / 1e6 / (time.perf_counter() - t))
    assert total == m["bytes"], (total, m["bytes"])
    t = time.perf_counter()
    arrow = call("GET", f"/v1/tenants/bench/datasets/bench/versions/{v}/arrow?purpose=model_training")
    arrow_mb.append(len(arrow) / 1e6 / (time.perf_counter() - t))
    t = time.perf_counter()
    table = Client(url, key=key, tenant="bench").read_table("bench", v)
    client_mb.append(m["bytes"] / 1e6 / (time.perf_counter() - t))
    assert table.num_rows == m["rows"]
    rows, parquet_mb, arrow_size = m["rows"], m["bytes"] / 1e6, len(arrow) / 1e6
med = statistics.median
lines = [
    f"Data sets, {events:,} generated events; the version holds {rows:,} rows ({parquet_mb:.1f} MB of Parquet, {arrow_size:.1f} MB as Arrow IPC); medians of {runs} runs, release build, one server on loopback.",
    "",
    "| measurement | median |",
    "| --- | ---: |",
    f"| build (POST .../datasets: query, encrypted Parquet files, manifest, bitmap) | {med(build):,.0f} rows/s |",
    f"| export: files by plain GET (decrypting the sealed files) | {med(files_mb):.1f} MB/s |",
    f"| export: Arrow IPC stream | {med(arrow_mb):.1f} MB/s |",
    f"| Python client read_table (ranges of 8 MiB, SHA-256 checked, into pyarrow) | {med(client_mb):.1f} MB/s |",
]
text = "\n".join(lines)
print(text)
open(report, "w").write(text + "\n")
PY
