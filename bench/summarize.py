#!/usr/bin/env python3
"""Summarizes a bench/ingest.sh raw file (JSON lines) as a Markdown report: medians per system,
ratios against PostgreSQL COPY and INSERT, and each target met or not.

Usage: python3 bench/summarize.py bench/out/ingest-<timestamp>.jsonl
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict

TARGET_INPROC_X_COPY = 10.0
TARGET_HTTP_X_COPY = 4.0
TARGET_P99_MS = 20.0


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def fmt_ms(x: float) -> str:
    return f"{x:.1f}"


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}×"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def main(path: str) -> int:
    by_kind: dict[str, list[dict]] = defaultdict(list)
    machine: dict = {}
    for line in open(path, encoding="utf-8"):
        if not line.strip():
            continue
        rec = json.loads(line)
        if rec["kind"] == "machine":
            machine = rec["result"]
        else:
            rec["result"]["_run"] = rec["run"]
            rec["result"]["_load1"] = rec.get("load1")
            by_kind[rec["kind"]].append(rec["result"])

    pg, inproc = by_kind["pg"], by_kind["inproc"]
    inproc_half = by_kind["inproc_half"]
    http_max, http_half = by_kind["http_max"], by_kind["http_half"]
    runs = len(pg)
    if not (pg and inproc and inproc_half and http_max and http_half):
        print("summarize: incomplete raw file (need pg, inproc, inproc_half, http_max, http_half)", file=sys.stderr)
        return 1

    def col(rows: list[dict], key: str) -> list[float]:
        return [float(r[key]) for r in rows if r.get(key) is not None]

    copy = med(col(pg, "copy_events_per_s"))
    insert = med(col(pg, "insert_events_per_s"))
    rows = [
        ("PostgreSQL 15 COPY (10000 rows/txn)", copy,
         med(col(pg, "copy_batch_p50_ms")), med(col(pg, "copy_batch_p99_ms")), "per 10000-row COPY+COMMIT"),
        ("PostgreSQL 15 INSERT (1000 rows/stmt+txn)", insert,
         med(col(pg, "insert_batch_p50_ms")), med(col(pg, "insert_batch_p99_ms")), "per 1000-row INSERT+COMMIT"),
        (f"Steward in-process ({inproc[0]['writers']} writers × {inproc[0]['batch']})", med(col(inproc, "events_per_s")),
         med(col(inproc, "ack_p50_ms")), med(col(inproc, "ack_p99_ms")), f"per {inproc[0]['batch']}-event ingest call"),
        ("Steward in-process at half of max (open loop)", med(col(inproc_half, "events_per_s")),
         med(col(inproc_half, "ack_from_due_p50_ms")), med(col(inproc_half, "ack_from_due_p99_ms")),
         "per call, from its scheduled start time"),
        (f"Steward HTTP NDJSON, max ({http_max[0]['connections']} conns × {http_max[0]['batch']})", med(col(http_max, "events_per_s")),
         med(col(http_max, "ack_p50_ms")), med(col(http_max, "ack_p99_ms")), f"per {http_max[0]['batch']}-event request"),
        ("Steward HTTP NDJSON at half of max (open loop)", med(col(http_half, "events_per_s")),
         med(col(http_half, "ack_from_due_p50_ms")), med(col(http_half, "ack_from_due_p99_ms")),
         "per request, from its scheduled send time"),
    ]

    out = []
    w = out.append
    w(f"## Durable ingest: medians of {runs} runs, {pg[0]['events']:,} events each\n")
    if machine:
        w(f"Machine: {machine.get('nproc')} × {machine.get('cpu')}, {machine.get('mem_gib')} GiB RAM, "
          f"{machine.get('storage')} ({machine.get('fs')}), kernel {machine.get('kernel')}, commit {machine.get('commit')}.\n")
    w("| system | events/s | × PG COPY | × PG INSERT | ack p50 ms | ack p99 ms | latency is |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, rate, p50, p99, what in rows:
        w(f"| {name} | {fmt_rate(rate)} | {fmt_ratio(rate / copy)} | {fmt_ratio(rate / insert)} | {fmt_ms(p50)} | {fmt_ms(p99)} | {what} |")
    w("")

    w("Per run (events/s; load1 = 1-minute load average when the PG / in-process / HTTP step ended):\n")
    w("| run | PG COPY | PG INSERT | in-process | in-proc half p99 from due / from call ms | HTTP max | HTTP half: offered → achieved | HTTP half p99 from due / from send ms | in-proc ÷ COPY | HTTP ÷ COPY | load1 |")
    w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for i in range(runs):
        p, ip, ih, hm, hh = pg[i], inproc[i], inproc_half[i], http_max[i], http_half[i]
        w(f"| {p['_run']} | {fmt_rate(p['copy_events_per_s'])} | {fmt_rate(p['insert_events_per_s'])} | "
          f"{fmt_rate(ip['events_per_s'])} | {fmt_ms(ih['ack_from_due_p99_ms'])} / {fmt_ms(ih['ack_p99_ms'])} | "
          f"{fmt_rate(hm['events_per_s'])} | "
          f"{fmt_rate(hh['rate_target'])} → {fmt_rate(hh['events_per_s'])} | "
          f"{fmt_ms(hh['ack_from_due_p99_ms'])} / {fmt_ms(hh['ack_p99_ms'])} | "
          f"{fmt_ratio(ip['events_per_s'] / p['copy_events_per_s'])} | {fmt_ratio(hm['events_per_s'] / p['copy_events_per_s'])} | "
          f"{p['_load1']} / {ip['_load1']} / {hm['_load1']} |")
    w("")

    inproc_x = med(col(inproc, "events_per_s")) / copy
    http_x = med(col(http_max, "events_per_s")) / copy
    p99_half = med(col(http_half, "ack_from_due_p99_ms"))
    p99_half_inproc = med(col(inproc_half, "ack_from_due_p99_ms"))
    w("| target | measured (medians) | verdict |")
    w("| --- | --- | --- |")
    w(f"| in-process durable ingest ≥ {TARGET_INPROC_X_COPY:g}× PG COPY | {fmt_ratio(inproc_x)} | {verdict(inproc_x >= TARGET_INPROC_X_COPY)} |")
    w(f"| HTTP NDJSON ≥ {TARGET_HTTP_X_COPY:g}× PG COPY | {fmt_ratio(http_x)} | {verdict(http_x >= TARGET_HTTP_X_COPY)} |")
    w(f"| p99 ack ≤ {TARGET_P99_MS:g} ms at half of max rate, in-process | {fmt_ms(p99_half_inproc)} ms | {verdict(p99_half_inproc <= TARGET_P99_MS)} |")
    w(f"| p99 ack ≤ {TARGET_P99_MS:g} ms at half of max rate, HTTP | {fmt_ms(p99_half)} ms | {verdict(p99_half <= TARGET_P99_MS)} |")
    w("")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
