#!/usr/bin/env bash
# Read guard and heavy-work isolation benchmarks (issue 9), two `steward` binaries side by side
# in one run: BEFORE (an older build, e.g. the commit before the read guard) and AFTER (this
# checkout's release build). RUNS rounds; each round starts each binary on a fresh data
# directory (alternating which goes first), loads PRELOAD events plus one subject with
# HEAVY_EVENTS events, waits for the flush, then measures:
#   1. timeline: `steward-bench timeline` on the heavy subject (first page repeated, then the
#      whole timeline walked with the cursor, LIMIT events a page);
#   2. contention: `steward-bench contention` ingesting EVENTS fresh events at RATE events/s
#      (open loop, latency from the due time) with --heavy 0 (baseline), then with --heavy 2
#      (two clients running heavy SQL queries back to back), /healthz probed throughout.
# Prints a markdown table of medians and writes raw JSON lines and the table to
# bench/out/guard-<timestamp>.{jsonl,md}.
#
# Usage: BEFORE=/path/to/old/steward bash bench/guard.sh
# Environment (defaults): RUNS (3), PRELOAD (1000000), HEAVY_EVENTS (100000), EVENTS (150000),
# RATE (10000), LIMIT (100), NO_BUILD=1 to skip the release build, CARGO_TARGET_DIR; AFTER and
# BENCH name other steward and steward-bench binaries (e.g. built from a clean worktree).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
RUNS="${RUNS:-3}"
PRELOAD="${PRELOAD:-1000000}"
HEAVY_EVENTS="${HEAVY_EVENTS:-100000}"
EVENTS="${EVENTS:-150000}"
RATE="${RATE:-10000}"
LIMIT="${LIMIT:-100}"
target="${CARGO_TARGET_DIR:-$root/target}"
after="${AFTER:-$target/release/steward}"
bench="${BENCH:-$target/release/steward-bench}"
: "${BEFORE:?set BEFORE to the path of the older steward binary}"

log() { printf 'guard.sh: %s\n' "$*" >&2; }

if [ "${NO_BUILD:-0}" != 1 ]; then
    log "building release binaries"
    cargo build --release --quiet -p steward-cli --bin steward
    cargo build --release --quiet -p steward-bench
fi

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="$root/bench/out"
mkdir -p "$out"
raw="$out/guard-$stamp.jsonl"
work="$(mktemp -d "${TMPDIR:-/tmp}/steward-guard-XXXXXX")"
server_pid=""
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
cleanup() { stop_server; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# The same inputs for every server: preload, the heavy subject, and fresh events to ingest.
log "generating events"
"$after" gen --events "$PRELOAD" --seed 1 --out "$work/preload.ndjson" --schemas "$work/schemas" 2>/dev/null
"$after" gen --events "$EVENTS" --seed 2 --out "$work/fresh.raw" 2>/dev/null
# Fresh ids (seed 2's ids could collide with seed 1's).
sed 's/"event_id":"e-/"event_id":"f-/' "$work/fresh.raw" > "$work/fresh.ndjson"
python3 - "$HEAVY_EVENTS" > "$work/heavy.ndjson" <<'PY'
import json, sys
n = int(sys.argv[1])
for i in range(n):
    t = f"2026-10-{1 + i // 86400 % 28:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
    print(json.dumps({"event_id": f"h-{i}", "type": "play", "subject": "heavy-listener@example.org", "time": t,
                      "properties": {"track_id": f"trk_{i % 500}", "genre": "jazz", "ms_played": 1000 + i % 9000, "device": "web", "ip": "10.0.0.1"}}))
PY

# Starts BINARY on a fresh data dir, sets up tenant `bench` (schemas, writer and reader keys)
# and loads the preload and the heavy subject. Sets server_url, writer_key, reader_key.
start_loaded() {
    local binary="$1" dir="$work/data-$RANDOM" operator admin schema
    operator="$("$binary" init --data "$dir" --json | jq -r .operator_key)"
    "$binary" serve --data "$dir" --listen 127.0.0.1:0 --flush-interval-ms 2000 >"$work/serve.out" 2>"$work/serve.log" &
    server_pid=$!
    server_url=""
    for _ in $(seq 1 300); do
        server_url="$(grep -o 'http://[0-9.:]*' "$work/serve.out" 2>/dev/null || true)"
        [ -n "$server_url" ] && break
        sleep 0.1
    done
    [ -n "$server_url" ] || { cat "$work/serve.log" >&2; exit 1; }
    admin="$(curl -fsS -X POST "$server_url/v1/tenants" -H "Authorization: Bearer $operator" -H 'Content-Type: application/json' -d '{"id":"bench"}' | jq -er .admin_key.secret)"
    for schema in "$work"/schemas/*.json; do
        curl -fsS -X PUT "$server_url/v1/tenants/bench/schemas/$(basename "$schema" .json)" -H "Authorization: Bearer $admin" \
            -H 'Content-Type: application/json' --data-binary "@$schema" >/dev/null
    done
    writer_key="$(curl -fsS -X POST "$server_url/v1/tenants/bench/keys" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d '{"name":"w","role":"writer"}' | jq -er .secret)"
    reader_key="$(curl -fsS -X POST "$server_url/v1/tenants/bench/keys" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d '{"name":"r","role":"reader"}' | jq -er .secret)"
    "$bench" http --url "$server_url" --key "$writer_key" --tenant bench --file "$work/preload.ndjson" --connections 4 --batch 1000 >/dev/null
    "$bench" http --url "$server_url" --key "$writer_key" --tenant bench --file "$work/heavy.ndjson" --connections 2 --batch 1000 >/dev/null
    sleep 5 # the flush interval, twice over: timelines read segments
}

record() { jq -c --arg which "$1" --arg run "$2" '. + {which: $which, run: ($run|tonumber)}' >> "$raw"; }

for run in $(seq 1 "$RUNS"); do
    if [ $((run % 2)) = 1 ]; then order="before after"; else order="after before"; fi
    for which in $order; do
        binary="$after"; [ "$which" = before ] && binary="$BEFORE"
        log "run $run/$RUNS: $which ($binary)"
        start_loaded "$binary"
        "$bench" timeline --url "$server_url" --key "$reader_key" --tenant bench --external-id heavy-listener@example.org --limit "$LIMIT" | record "$which" "$run"
        for heavy in 0 2; do
            half=$((EVENTS / 2))
            if [ "$heavy" = 0 ]; then skip=0; else skip=$half; fi
            sed -n "$((skip + 1)),$((skip + half))p" "$work/fresh.ndjson" > "$work/slice.ndjson" # (tail | head dies of SIGPIPE under pipefail)
            "$bench" contention --url "$server_url" --tenant bench --writer-key "$writer_key" --reader-key "$reader_key" \
                --file "$work/slice.ndjson" --events "$half" --rate "$RATE" --heavy "$heavy" | record "$which" "$run"
        done
        stop_server
    done
done

python3 - "$raw" > "${raw%.jsonl}.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(which, bench, key, heavy=None):
    vals = [r[key] for r in rows if r["which"] == which and r["bench"] == bench and (heavy is None or r.get("heavy") == heavy)]
    return statistics.median(vals) if vals else float("nan")
print(f"Runs: {max(r['run'] for r in rows)}; medians. Ratio: after / before (lower is better).\n")
print("| measure | before | after | after / before |")
print("| --- | ---: | ---: | ---: |")
lines = [
    ("timeline first page p50 ms", "timeline", "first_page_p50_ms", None),
    ("timeline first page p99 ms", "timeline", "first_page_p99_ms", None),
    ("timeline page (walking) p50 ms", "timeline", "page_p50_ms", None),
    ("timeline page (walking) p99 ms", "timeline", "page_p99_ms", None),
    ("timeline whole walk s", "timeline", "walk_seconds", None),
    ("ingest p99 ms, no queries", "contention", "ingest_from_due_p99_ms", 0),
    ("ingest p99 ms, 2 heavy queries", "contention", "ingest_from_due_p99_ms", 2),
    ("ingest max ms, 2 heavy queries", "contention", "ingest_from_due_max_ms", 2),
    ("/healthz p99 ms, no queries", "contention", "healthz_p99_ms", 0),
    ("/healthz p99 ms, 2 heavy queries", "contention", "healthz_p99_ms", 2),
    ("heavy queries finished (during the ingest)", "contention", "heavy_queries_done", 2),
]
for name, bench, key, heavy in lines:
    b, a = med("before", bench, key, heavy), med("after", bench, key, heavy)
    ratio = a / b if b else float("nan")
    print(f"| {name} | {b:.3f} | {a:.3f} | {ratio:.2f}x |")
PY
cat "${raw%.jsonl}.md"
log "raw: $raw"
