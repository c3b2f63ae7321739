#!/usr/bin/env bash
# SQL benchmark (issue 5): five analytics queries, Steward (steward-query, in-process) against
# DuckDB (PyPI) reading the same rows as plain Parquet.
#
#   bash bench/sql.sh                 EVENTS (10000000) generated events, RUNS (5) timed runs
#   EVENTS=1000000 bash bench/sql.sh  a quick run
#
# `steward-bench sql` (release build) builds a store of EVENTS generated events (ingested,
# flushed, compacted) and writes the same rows as Parquet (one file per event type, the
# columns the analytics purpose reads) into bench/out/sql-<timestamp>/, then runs the five
# queries with purpose analytics: one warm-up and RUNS timed runs each. bench/sql_duckdb.py
# runs the same queries over the Parquet files in DuckDB and checks that its results equal
# Steward's (row count and column sums; exit status 1 on a mismatch). ROUNDS (2) rounds
# alternate Steward and DuckDB on the same files (the store is built once); the medians pool
# every timed run of every round. Prints a table of medians and Steward/DuckDB ratios and
# writes it to bench/out/sql-<timestamp>.md, raw JSON lines beside it. The store and the
# Parquet copy are removed at the end unless KEEP=1. NO_BUILD=1 skips the cargo build; BIN
# names another steward-bench binary (a debug build for a smoke test). steward-query's decoded
# row-group cache outlives a query, so the warm-up fills it and the timed runs read from it;
# STEWARD_QUERY_CACHE_MB=0 bash bench/sql.sh measures with it off (the table says which).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
EVENTS="${EVENTS:-10000000}"
RUNS="${RUNS:-5}"
ROUNDS="${ROUNDS:-2}"
out="$root/bench/out"
mkdir -p "$out"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
raw="$out/sql-$stamp.jsonl"
work="$out/sql-$stamp"
[ -x bench/.venv/bin/python ] && bench/.venv/bin/python -c 'import duckdb' 2>/dev/null || bash bench/setup.sh
target="${CARGO_TARGET_DIR:-$root/target}"
[ -n "${NO_BUILD:-}" ] || cargo build --release -p steward-bench
bin="${BIN:-$target/release/steward-bench}"
cleanup() { [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
{
  echo "{\"bench\":\"sql_machine\",\"nproc\":$(nproc),\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\",\"commit\":\"$(git rev-parse --short HEAD)\"}"
} >> "$raw"
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round/$ROUNDS: steward" >&2
  "$bin" sql --events "$EVENTS" --runs "$RUNS" --data "$work/steward" --parquet "$work/parquet" >> "$raw"
  echo "== round $round/$ROUNDS: duckdb" >&2
  bench/.venv/bin/python bench/sql_duckdb.py "$work/parquet" --runs "$RUNS" >> "$raw" || echo "== DuckDB and Steward results differ (see above)" >&2
done
bench/.venv/bin/python - "$raw" "$out/sql-$stamp.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
machine = next((r for r in rows if r["bench"] == "sql_machine"), {})
build = next(r for r in rows if r["bench"] == "sql_build" and not r.get("reused"))
cache_mb = sorted({r.get("query_cache_mb") for r in rows if r["bench"] == "sql_build"}, key=str)
runs = {}
matches = {}
for r in rows:
    if r["bench"] == "sql":
        runs.setdefault((r["engine"], r["query"]), []).extend(r["runs_ms"])
        if r["engine"] == "duckdb":
            matches[r["query"]] = matches.get(r["query"], True) and r["matches_steward"]
queries = list(dict.fromkeys(q for (_, q) in runs))
duck = next(r for r in rows if r["bench"] == "sql" and r["engine"] == "duckdb")
n_st = len(runs[("steward", queries[0])])
n_dk = len(runs[("duckdb", queries[0])])
lines = [
    f"SQL, {build['events']:,} events ({build['subjects']:,} subjects), purpose analytics; medians of {n_st} timed runs (Steward) and {n_dk} (DuckDB {duck['duckdb']}, {duck['threads']} threads), each engine warmed up per query.",
    f"Machine: {machine.get('nproc')} x {machine.get('cpu')}, commit {machine.get('commit')}. Steward: {build['segments']} segments, {build['segment_bytes'] / 1e6:.0f} MB; Parquet copy {build['parquet_bytes'] / 1e6:.0f} MB ({build['parquet']}).",
    f"Steward's decoded row-group cache: {', '.join(str(c) for c in cache_mb)} MB ({'off' if cache_mb == [0] else 'on: the warm-up fills it, the timed runs read from it'}).",
    "",
    "| query | Steward ms | DuckDB ms | Steward / DuckDB | target <= 1.5x | same result |",
    "| --- | ---: | ---: | ---: | --- | --- |",
]
bad = [q for q in queries if not matches.get(q, False)]
for q in queries:
    s = statistics.median(runs[("steward", q)]); d = statistics.median(runs[("duckdb", q)])
    lines.append(f"| {q} | {s:.1f} | {d:.1f} | {s / d:.2f}x | {'met' if s / d <= 1.5 else 'not met'} | {'MISMATCH' if q in bad else 'yes'} |")
text = "\n".join(lines)
print(text)
open(sys.argv[2], "w").write(text + "\n")
if bad:
    print(f"MISMATCH between Steward and DuckDB in: {', '.join(bad)}", file=sys.stderr)
    sys.exit(1)
PY
