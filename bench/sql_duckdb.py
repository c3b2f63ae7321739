#!/usr/bin/env python3
"""SQL peer: DuckDB (PyPI `duckdb`) running the five analytics queries of `steward-bench sql`
over the Parquet copy that command writes (one file per event type, the rows and columns
the `analytics` purpose reads in Steward).

Views named like Steward's (`events` over every file, `play`, `skip`, `signup`, `like`,
`search`) make the query text the same as Steward's. Session time zone UTC (so
`date_trunc('day', time)` cuts days as Steward's does), Parquet metadata cache on (Steward
keeps its segments' footers in memory too), threads = CPU count (DuckDB's default). One
warm-up run, then --runs timed runs per query; a run is `con.sql(...)` plus fetching the whole
result as an Arrow table. Each result's check (row count, per-column non-null count and
sum, as `check_of` in crates/bench/src/sql.rs computes it) is compared with Steward's, read
from PARQUET_DIR/steward.json: a mismatch is printed loudly and the exit status is 1.
Prints one JSON line per query.

Usage: sql_duckdb.py PARQUET_DIR [--runs 5] [--only NAME]
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

# Same names and text as QUERIES in crates/bench/src/sql.rs.
QUERIES = [
    ("count_per_type_per_day",
     "SELECT type, date_trunc('day', time) AS day, count(*) AS events FROM events GROUP BY type, date_trunc('day', time) ORDER BY type, day"),
    ("top_tracks_in_month",
     "SELECT track_id, count(*) AS plays FROM play WHERE time >= '2026-09-01T00:00:00Z' AND time < '2026-10-01T00:00:00Z' "
     "GROUP BY track_id ORDER BY plays DESC, track_id LIMIT 100"),
    ("listeners_per_country",
     "SELECT s.country, count(DISTINCT p.subject) AS listeners FROM play p JOIN signup s ON p.subject = s.subject GROUP BY s.country ORDER BY s.country"),
    ("subject_timeline",
     "SELECT time, type, event_id FROM events WHERE subject = '{subject}' ORDER BY time, event_id"),
    ("skip_rate_per_genre",
     "WITH p AS (SELECT genre, count(*) AS plays FROM play GROUP BY genre), s AS (SELECT genre, count(*) AS skips FROM skip GROUP BY genre) "
     "SELECT p.genre, CAST(s.skips AS DOUBLE) / (p.plays + s.skips) AS skip_rate FROM p JOIN s ON p.genre = s.genre ORDER BY p.genre"),
]
TYPES = ["signup", "play", "skip", "like", "search"]


def check_of(table: pa.Table) -> dict:
    """Row count and per column: non-null count and sum (ints and timestamps in µs as a
    decimal string, floats as a number, strings as total UTF-8 bytes as a decimal string)."""
    columns = []
    for name, column in zip(table.column_names, table.columns):
        t = column.type
        non_null = len(column) - column.null_count
        if pa.types.is_timestamp(t):
            scale = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}[t.unit]
            values = column.cast(pa.int64()).to_pylist()
            total = sum((v // 1000 if scale is None else v * scale) for v in values if v is not None)
            kind, s = "int", str(total)
        elif pa.types.is_integer(t):
            kind, s = "int", str(sum(v for v in column.to_pylist() if v is not None))
        elif pa.types.is_floating(t):
            kind, s = "float", float(sum(v for v in column.to_pylist() if v is not None))
        elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            kind, s = "str_bytes", str(sum(v for v in pc.binary_length(column.cast(pa.string())).to_pylist() if v is not None))
        else:
            raise SystemExit(f"no check for column {name} of type {t}")
        columns.append({"name": name, "kind": kind, "non_null": non_null, "sum": s})
    return {"rows": table.num_rows, "columns": columns}


def same(a: dict, b: dict) -> bool:
    """Equal checks; column names may differ in case or qualification, floats within 1e-9."""
    if a["rows"] != b["rows"] or len(a["columns"]) != len(b["columns"]):
        return False
    for x, y in zip(a["columns"], b["columns"]):
        if x["kind"] != y["kind"] or x["non_null"] != y["non_null"]:
            return False
        if x["kind"] == "float":
            if not math.isclose(float(x["sum"]), float(y["sum"]), rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif str(x["sum"]) != str(y["sum"]):
            return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("parquet_dir")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only")
    args = parser.parse_args()
    meta = json.load(open(os.path.join(args.parquet_dir, "steward.json")))
    expected = meta["checks"]

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET parquet_metadata_cache = true")
    quoted = lambda p: "'" + p.replace("'", "''") + "'"
    for t in TYPES:
        con.execute(f"CREATE VIEW \"{t}\" AS SELECT * FROM read_parquet({quoted(os.path.join(args.parquet_dir, t + '.parquet'))})")
    every = quoted(os.path.join(args.parquet_dir, "*.parquet"))
    con.execute(f"CREATE VIEW events AS SELECT event_id, type, time, subject FROM read_parquet({every}, union_by_name = true)")

    threads = con.sql("SELECT current_setting('threads')").fetchall()[0][0]
    failed = []
    for name, template in QUERIES:
        if args.only and args.only not in name:
            continue
        sql = template.replace("{subject}", meta["subject"])
        warm = con.sql(sql).to_arrow_table()
        check = check_of(warm)
        if name not in expected:
            print(f"sql_duckdb: {name}: no Steward result to compare with in steward.json", file=sys.stderr)
        elif not same(check, expected[name]):
            failed.append(name)
            print(f"sql_duckdb: MISMATCH in {name}:\n  DuckDB:  {json.dumps(check)}\n  Steward: {json.dumps(expected[name])}", file=sys.stderr)
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            result = con.sql(sql).to_arrow_table()
            times.append((time.perf_counter() - t) * 1e3)
            if result.num_rows != warm.num_rows:
                failed.append(name)
                print(f"sql_duckdb: MISMATCH in {name} between runs", file=sys.stderr)
        print(json.dumps({"bench": "sql", "engine": "duckdb", "duckdb": duckdb.__version__, "threads": threads,
                          "query": name, "events": meta["events"], "median_ms": round(statistics.median(times), 3),
                          "runs_ms": [round(x, 3) for x in times], "rows": warm.num_rows, "check": check, "matches_steward": name not in failed}), flush=True)
        print(f"sql_duckdb: {name}: median {statistics.median(times):.1f} ms, {warm.num_rows} rows", file=sys.stderr)
    if failed:
        print(f"sql_duckdb: MISMATCH: DuckDB and Steward disagree on {', '.join(sorted(set(failed)))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
