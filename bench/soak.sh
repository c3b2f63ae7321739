#!/usr/bin/env bash
# Soak (issue 14 item 5): `steward-bench soak` starts `steward serve` on a fresh data directory,
# seeds a tenant (keys, schema, 300 items, 400 subjects x 20 events, a data set, an ALS model),
# then sends mixed traffic at a fixed rate for MINUTES: ingest batches of 10 (40%), timelines
# (20%), recommendations (25%), SQL (5%), consent changes (8%), erasures (2%), open loop over
# WORKERS threads (latency from each call's due time). The server's RSS is sampled every 10 s;
# at the end every acknowledged event of every kept subject is read back. One JSON line in
# bench/out/soak-<stamp>.jsonl: per-operation calls, errors, p50/p99/max, RSS samples, growth
# and least-squares slope over the last half, events checked and missing.
#
#   bash bench/soak.sh                        MINUTES=10 RATE=40 WORKERS=4
#   BINARY=dist/steward NO_BUILD=1 bash bench/soak.sh   the shipped binary (scripts/release.sh)
#   STEADY=1 bash bench/soak.sh               ingest re-sends a fixed pool of ids: data stops
#                                             growing, so RSS growth left over is not data
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
MINUTES="${MINUTES:-10}"
RATE="${RATE:-40}"
WORKERS="${WORKERS:-4}"
target="${CARGO_TARGET_DIR:-$root/target}"
[ -n "${NO_BUILD:-}" ] || cargo build --release -p steward-cli -p steward-bench
binary="${BINARY:-$target/release/steward}"
bench="${BENCH:-$target/release/steward-bench}"
mkdir -p bench/out
out="bench/out/soak-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
echo "{\"bench\":\"soak_start\",\"commit\":\"$(git rev-parse --short HEAD)\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" > "$out"
steady=()
[ -z "${STEADY:-}" ] || steady=(--steady)
"$bench" soak --binary "$binary" --minutes "$MINUTES" --rate "$RATE" --workers "$WORKERS" "${steady[@]}" | tee -a "$out"
echo "{\"bench\":\"soak_end\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >> "$out"
echo "written: $out"
