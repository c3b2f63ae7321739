#!/usr/bin/env bash
# Durable-ingest benchmark: Steward (in-process and HTTP NDJSON) against PostgreSQL 15
# (COPY and batched INSERT, fsync=on, synchronous_commit=on), side by side, same events.
#
# Usage:
#   bench/ingest.sh          the comparison, RUNS times; prints medians and ratios
#   bench/ingest.sh rss      in-process ingest of RSS_EVENTS (10M) events; peak RSS
#
# Each run of the comparison, on the same NDJSON file (`steward gen`, seed SEED):
#   1. bench/pg_ingest.py: COPY (10000 rows/txn), then INSERT (1000 rows/statement+txn)
#   2. steward-bench inproc: WRITERS threads x BATCH events per Engine::ingest call, closed
#      loop (the maximum rate), then open loop at half of that rate (HALF_EVENTS events)
#   3. steward serve on a fresh data dir + steward-bench http, CONNECTIONS x BATCH, closed loop:
#      the maximum rate
#   4. a fresh server again, open loop at half of that rate (HALF_EVENTS events): p99 latency
# Raw JSON lines go to bench/out/ingest-<timestamp>.jsonl; the summary (medians, ratios,
# targets) to stdout and bench/out/ingest-<timestamp>.md.
#
# Environment (defaults): EVENTS (1000000), RUNS (3), SEED (1), WRITERS (4), BATCH (1000),
# CONNECTIONS (4), HALF_EVENTS (EVENTS/2), RSS_EVENTS (10000000), RSS_POOL (200000),
# NO_BUILD=1 to skip `cargo build --release`, CARGO_TARGET_DIR as cargo uses it.
set -euo pipefail

mode="${1:-compare}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

EVENTS="${EVENTS:-1000000}"
RUNS="${RUNS:-3}"
SEED="${SEED:-1}"
WRITERS="${WRITERS:-4}"
BATCH="${BATCH:-1000}"
CONNECTIONS="${CONNECTIONS:-4}"
HALF_EVENTS="${HALF_EVENTS:-$((EVENTS / 2))}"
RSS_EVENTS="${RSS_EVENTS:-10000000}"
RSS_POOL="${RSS_POOL:-200000}"

out="$root/bench/out"
mkdir -p "$out"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
raw="$out/ingest-$stamp.jsonl"
target="${CARGO_TARGET_DIR:-$root/target}"
steward="$target/release/steward"
bench="$target/release/steward-bench"

log() { printf 'ingest.sh: %s\n' "$*" >&2; }

if [ "${NO_BUILD:-0}" != 1 ]; then
    log "building release binaries"
    cargo build --release --quiet -p steward-cli -p steward-bench
fi

# Appends {"run", "kind", "load1", "result"} to the raw file.
record() {
    local run="$1" kind="$2" line="$3" load1
    load1="$(cut -d' ' -f1 /proc/loadavg)"
    printf '{"run":%s,"kind":"%s","load1":%s,"result":%s}\n' "$run" "$kind" "$load1" "$line" >>"$raw"
}

machine_line() {
    local cpu storage
    cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    storage="$(df -P "${TMPDIR:-/tmp}" | awk 'NR==2 {print $1}')"
    jq -cn --arg cpu "$cpu" --arg nproc "$(nproc)" --arg mem "$(free -g | awk '/Mem:/ {print $2}')" \
        --arg storage "$storage" --arg fs "$(df -PT "${TMPDIR:-/tmp}" | awk 'NR==2 {print $2}')" \
        --arg kernel "$(uname -r)" --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo none)" \
        --arg dirty "$(git status --porcelain --untracked-files=no 2>/dev/null | wc -l)" \
        --arg events "$EVENTS" --arg runs "$RUNS" --arg seed "$SEED" --arg writers "$WRITERS" \
        --arg batch "$BATCH" --arg connections "$CONNECTIONS" --arg half "$HALF_EVENTS" \
        '{cpu: $cpu, nproc: ($nproc|tonumber), mem_gib: ($mem|tonumber), storage: $storage, fs: $fs,
          kernel: $kernel, commit: $commit, modified_files: ($dirty|tonumber), events: ($events|tonumber), runs: ($runs|tonumber),
          seed: ($seed|tonumber), writers: ($writers|tonumber), batch: ($batch|tonumber),
          connections: ($connections|tonumber), half_events: ($half|tonumber)}'
}

# ------------------------------------------------------------------------- server helpers

server_pid=""
server_dir=""

stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
    if [ -n "$server_dir" ]; then
        rm -rf "$server_dir"
        server_dir=""
    fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# Starts `steward serve` on a fresh data dir and sets it up over HTTP: tenant `bench` (the
# answer carries its first admin key), the music schemas (admin key), a writer key.
# Sets server_url and writer_key.
start_server() {
    server_dir="$(mktemp -d "${TMPDIR:-/tmp}/steward-serve-XXXXXX")"
    local operator_key admin_key schema
    operator_key="$("$steward" init --data "$server_dir/data" --json | jq -r .operator_key)"
    "$steward" serve --data "$server_dir/data" --listen 127.0.0.1:0 \
        >"$server_dir/serve.out" 2>"$server_dir/serve.log" &
    server_pid=$!
    server_url=""
    for _ in $(seq 1 100); do
        server_url="$(grep -o 'http://[0-9.:]*' "$server_dir/serve.out" 2>/dev/null || true)"
        [ -n "$server_url" ] && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$server_dir/serve.log" >&2; log "server died"; exit 1; }
        sleep 0.1
    done
    [ -n "$server_url" ] || { log "server did not start"; exit 1; }
    curl -fsS "$server_url/readyz" >/dev/null
    admin_key="$(curl -fsS -X POST "$server_url/v1/tenants" -H "Authorization: Bearer $operator_key" \
        -H 'Content-Type: application/json' -d '{"id":"bench"}' | jq -er .admin_key.secret)"
    for schema in "$out"/schemas/*.json; do
        curl -fsS -X PUT "$server_url/v1/tenants/bench/schemas/$(basename "$schema" .json)" \
            -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
            --data-binary "@$schema" >/dev/null
    done
    writer_key="$(curl -fsS -X POST "$server_url/v1/tenants/bench/keys" -H "Authorization: Bearer $admin_key" \
        -H 'Content-Type: application/json' -d '{"name":"bench-writer","role":"writer"}' | jq -er .secret)"
}

# The server's peak RSS in MiB (VmHWM), read before stopping it.
server_peak_rss_mb() {
    awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$server_pid/status" 2>/dev/null || echo 0
}

# Runs steward-bench http against a fresh server; sets http_line to its JSON line plus the
# server's peak RSS. Runs in this shell (not in $(...)), so the EXIT trap stops the server
# whatever fails.
http_run() {
    start_server
    local line rss
    line="$("$bench" http --url "$server_url" --key "$writer_key" --tenant bench --file "$events_file" \
        --connections "$CONNECTIONS" --batch "$BATCH" "$@")"
    rss="$(server_peak_rss_mb)"
    stop_server
    http_line="$(jq -c --argjson rss "$rss" '. + {server_peak_rss_mb: $rss}' <<<"$line")"
}

# ------------------------------------------------------------------------- modes

if [ "$mode" = rss ]; then
    log "in-process ingest of $RSS_EVENTS events (pool $RSS_POOL), peak RSS"
    record 0 machine "$(machine_line)"
    line="$("$bench" inproc --events "$RSS_EVENTS" --writers "$WRITERS" --batch "$BATCH" --seed "$SEED" --pool "$RSS_POOL")"
    record 1 rss "$line"
    jq -r '"events \(.events)  events/s \(.events_per_s)  ack p50 \(.ack_p50_ms) ms  p99 \(.ack_p99_ms) ms\n" +
           "RSS before ingest (event pool) \(.rss_before_ingest_mb) MiB, peak \(.peak_rss_mb) MiB, end \(.rss_end_mb) MiB\n" +
           "trace [events, RSS MiB]: \(.rss_trace_events_mb)"' <<<"$line"
    log "raw: $raw"
    exit 0
fi

[ "$mode" = compare ] || { echo "usage: bench/ingest.sh [rss]" >&2; exit 2; }

events_file="$out/events-$EVENTS-s$SEED.ndjson"
if [ ! -s "$events_file" ]; then
    log "generating $EVENTS events (seed $SEED) -> $events_file"
    "$steward" gen --events "$EVENTS" --seed "$SEED" --out "$events_file.tmp" --schemas "$out/schemas" 2>/dev/null
    mv "$events_file.tmp" "$events_file"
fi
"$steward" gen --events 1 --out /dev/null --schemas "$out/schemas" 2>/dev/null
log "PostgreSQL peer setup"
bash bench/setup.sh >/dev/null

record 0 machine "$(machine_line)"
for run in $(seq 1 "$RUNS"); do
    log "run $run/$RUNS: PostgreSQL COPY + INSERT"
    record "$run" pg "$(bench/.venv/bin/python bench/pg_ingest.py --input "$events_file")"

    log "run $run/$RUNS: Steward in-process, closed loop (max rate)"
    line="$("$bench" inproc --events "$EVENTS" --writers "$WRITERS" --batch "$BATCH" --seed "$SEED")"
    record "$run" inproc "$line"
    half_rate="$(jq -r '.events_per_s / 2' <<<"$line")"

    log "run $run/$RUNS: Steward in-process at half of max ($half_rate events/s, $HALF_EVENTS events)"
    record "$run" inproc_half "$("$bench" inproc --events "$HALF_EVENTS" --writers "$WRITERS" --batch "$BATCH" \
        --seed "$SEED" --rate "$half_rate")"

    log "run $run/$RUNS: Steward HTTP, closed loop (max rate)"
    http_run
    record "$run" http_max "$http_line"
    half_rate="$(jq -r '.events_per_s / 2' <<<"$http_line")"

    log "run $run/$RUNS: Steward HTTP at half of max ($half_rate events/s, $HALF_EVENTS events)"
    http_run --rate "$half_rate" --limit "$HALF_EVENTS"
    record "$run" http_half "$http_line"
done

log "raw: $raw"
python3 bench/summarize.py "$raw" | tee "${raw%.jsonl}.md"
