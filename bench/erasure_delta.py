#!/usr/bin/env python3
"""Erasure peer: delta-rs (PyPI `deltalake`) DELETE of one subject plus VACUUM with zero
retention, on the same rows Steward stores (the NDJSON of `steward gen`), as a Delta table.

The table holds one row per event: subject, time, event_id, type, properties (JSON text),
zstd-compressed, in files of --target-file-mb, laid out two ways: in arrival order (how an
event table is usually written) and sorted by (subject, time) like Steward's segments (so
Delta's file statistics skip files without the subject: its best case). Both are reported. The subject erased is
the one with the most events (as in `steward-bench erasure`). Timed: DELETE (rewrites every
file holding the subject) and VACUUM (removes the old files) -- the physical purge Steward's
erasure does. Prints one JSON line.

Usage: erasure_delta.py EVENTS.ndjson [--target-file-mb N]
"""
import argparse
import collections
import json
import sys
import tempfile
import time

import pyarrow as pa
from deltalake import DeltaTable, WriterProperties, write_deltalake


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ndjson")
    parser.add_argument("--target-file-mb", type=int, default=128)
    args = parser.parse_args()

    started = time.perf_counter()
    columns = {"subject": [], "time": [], "event_id": [], "type": [], "properties": []}
    counts = collections.Counter()
    with open(args.ndjson, "rb") as f:
        for line in f:
            e = json.loads(line)
            columns["subject"].append(e["subject"])
            columns["time"].append(e["time"])
            columns["event_id"].append(e["event_id"])
            columns["type"].append(e["type"])
            columns["properties"].append(json.dumps(e.get("properties") or {}, separators=(",", ":")))
            counts[e["subject"]] += 1
    table = pa.table(columns)
    del columns
    heavy, heavy_events = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    build_s = time.perf_counter() - started
    layouts = {}
    for layout, data in (("arrival", table), ("sorted", table.sort_by([("subject", "ascending"), ("time", "ascending")]))):
        with tempfile.TemporaryDirectory(prefix="delta-erasure-") as path:
            write_deltalake(path, data, target_file_size=args.target_file_mb << 20, writer_properties=WriterProperties(compression="ZSTD", compression_level=1, max_row_group_size=64 * 1024))
            dt = DeltaTable(path)
            files_before = len(dt.file_uris())
            t = time.perf_counter()
            metrics = dt.delete(f"subject = '{heavy}'")
            delete_s = time.perf_counter() - t
            t = time.perf_counter()
            removed = dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
            vacuum_s = time.perf_counter() - t
            layouts[layout] = {"files": files_before, "rows_removed": metrics.get("num_deleted_rows"), "delete_s": round(delete_s, 3), "vacuum_s": round(vacuum_s, 3),
                               "purge_s": round(delete_s + vacuum_s, 3), "files_removed": len(removed)}
    print(json.dumps({"bench": "erasure_delta", "events": sum(counts.values()), "subjects": len(counts), "heavy_events": heavy_events, "load_s": round(build_s, 3), "layouts": layouts}))


if __name__ == "__main__":
    sys.exit(main())
