#!/usr/bin/env python3
"""PostgreSQL 15 peer for Steward's durable-ingest benchmark.

Loads an NDJSON file of events in Steward's ingest wire shape
({"event_id", "type", "subject", "time", "properties"}) into a throw-away
PostgreSQL cluster with the same durability Steward promises (fsync=on,
synchronous_commit=on: a batch is acknowledged only once its WAL is on disk),
two ways:

  copy    COPY ... FROM STDIN, --copy-batch rows per transaction
  insert  multi-row INSERT, --insert-batch rows per statement and transaction

Each method loads into a freshly created table. Input parsing and COPY/INSERT
payload formatting happen before the clock starts, so the numbers measure the
database (best case for the peer), not this script.

Prints one JSON line:
  {"peer": "postgresql-15", "events": N,
   "copy_events_per_s": .., "insert_events_per_s": ..,
   "copy_commit_p50_ms": .., "copy_commit_p99_ms": ..,
   "insert_commit_p50_ms": .., "insert_commit_p99_ms": .., ...}
where *_commit_* is the latency of the COMMIT statement (the WAL flush) per
batch, and the extra *_batch_* keys are the latency of a whole batch (send rows,
commit) as a client waiting for a durable acknowledgement sees it.

The cluster lives in a temp dir and is stopped and removed on exit, error,
Ctrl-C or SIGTERM. initdb refuses to run as root, so under root the server runs
as an unprivileged user (default `stewardbench`, created with useradd if
missing).

Usage: bench/.venv/bin/python bench/pg_ingest.py --input events.ndjson
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import psycopg
except ImportError:  # pragma: no cover - exercised only without the venv
    sys.exit("pg_ingest: psycopg missing; run `bash bench/setup.sh` and use bench/.venv/bin/python")

DB_USER = "steward"
DB_NAME = "postgres"

TABLE_DDL = """
CREATE TABLE events (
    event_id   text PRIMARY KEY,
    subject    text NOT NULL,
    type       text NOT NULL,
    time       timestamptz NOT NULL,
    properties jsonb NOT NULL
);
CREATE INDEX events_subject_time ON events (subject, time);
"""


def log(msg: str) -> None:
    print(f"pg_ingest: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- cluster


@dataclass
class RunAs:
    """Who runs the PostgreSQL binaries: ourselves, or an unprivileged user under root."""

    user: str | None
    uid: int
    gid: int

    def run(self, cmd: list[str], **kw) -> subprocess.CompletedProcess:
        if self.user is not None:
            kw.setdefault("user", self.uid)
            kw.setdefault("group", self.gid)
            kw.setdefault("extra_groups", [])
            env = dict(os.environ)
            env.update(HOME=tempfile.gettempdir(), USER=self.user, LOGNAME=self.user)
            kw.setdefault("env", env)
        return subprocess.run(cmd, check=True, **kw)


def server_identity(user: str) -> RunAs:
    """Ourselves when not root; otherwise `user`, created if missing."""
    if os.geteuid() != 0:
        return RunAs(None, os.geteuid(), os.getegid())
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        log(f"creating system user {user} (initdb refuses to run as root)")
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
            check=True,
        )
        pw = pwd.getpwnam(user)
    return RunAs(user, pw.pw_uid, pw.pw_gid)


def free_port() -> int:
    """A loopback port nobody is listening on right now (small race, fine for a bench)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A throw-away PostgreSQL cluster in a temp dir; `close()` stops and removes it."""

    def __init__(self, run_as: RunAs, keep: bool = False):
        self.run_as = run_as
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="steward-pg-"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.logfile = self.root / "server.log"
        self.port = free_port()
        self.started = False

    def start(self) -> None:
        self.sock.mkdir()
        if self.run_as.user is not None:
            for p in (self.root, self.sock):
                os.chown(p, self.run_as.uid, self.run_as.gid)
        self.run_as.run(
            ["initdb", "-D", str(self.data), "-U", DB_USER, "--auth=trust",
             "--encoding=UTF8", "--locale=C"],
            stdout=subprocess.DEVNULL,
        )
        opts = " ".join([
            f"-p {self.port}",
            f"-k {self.sock}",
            "-c listen_addresses=127.0.0.1",
            # The durability Steward promises: acknowledged means on disk.
            "-c fsync=on",
            "-c synchronous_commit=on",
            "-c full_page_writes=on",
        ])
        self.started = True  # from here on, close() must try to stop it
        self.run_as.run(
            ["pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-o", opts,
             "-w", "-t", "60", "start"],
            stdout=subprocess.DEVNULL,
        )
        self.wait_ready()
        log(f"cluster up at 127.0.0.1:{self.port} in {self.root}")

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with self.connect() as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user=DB_USER, dbname=DB_NAME)

    def close(self) -> None:
        if self.started and (self.data / "postmaster.pid").exists():
            try:
                self.run_as.run(
                    ["pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
            except subprocess.CalledProcessError:
                self.run_as.run(
                    ["pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
        self.started = False
        if self.keep:
            log(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def server_version(self) -> str:
        with self.connect() as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "?"

    def tail_log(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


# --------------------------------------------------------------------------- input


Row = tuple[str, str, str, str, str]  # event_id, subject, type, time, properties JSON


def read_rows(path: Path, limit: int | None) -> list[Row]:
    rows: list[Row] = []
    with path.open("rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            if limit is not None and len(rows) >= limit:
                break
            try:
                e = json.loads(line)
                rows.append((
                    e["event_id"], e["subject"], e["type"], e["time"],
                    json.dumps(e["properties"], separators=(",", ":"), ensure_ascii=False),
                ))
            except (ValueError, KeyError, TypeError) as err:
                raise SystemExit(f"pg_ingest: {path}:{lineno}: not a wire-shape event: {err}")
    return rows


def chunks(rows: list[Row], size: int) -> list[list[Row]]:
    return [rows[i:i + size] for i in range(0, len(rows), size)]


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_payload(batch: list[Row]) -> bytes:
    """COPY text format: tab-separated, backslash escapes."""
    out = []
    for row in batch:
        out.append("\t".join(field.translate(_COPY_ESCAPES) for field in row))
    out.append("")
    return "\n".join(out).encode("utf-8")


def insert_statement(n: int) -> str:
    values = ",".join(["(%s,%s,%s,%s::timestamptz,%s::jsonb)"] * n)
    return f"INSERT INTO events (event_id, subject, type, time, properties) VALUES {values}"


# --------------------------------------------------------------------------- load


@dataclass
class Result:
    events: int
    seconds: float
    commit_ms: list[float]
    batch_ms: list[float]


def fresh_table(conn: psycopg.Connection) -> None:
    conn.execute("DROP TABLE IF EXISTS events")
    conn.execute(TABLE_DDL)
    conn.commit()
    # Start each method from a clean WAL position so one does not pay for the other's
    # checkpoint.
    conn.autocommit = True
    conn.execute("CHECKPOINT")
    conn.autocommit = False


def count_rows(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM events").fetchone()
    conn.commit()
    return int(row[0]) if row else -1


def load_copy(conn: psycopg.Connection, rows: list[Row], batch: int) -> Result:
    payloads = [copy_payload(b) for b in chunks(rows, batch)]
    fresh_table(conn)
    commit_ms: list[float] = []
    batch_ms: list[float] = []
    sql = "COPY events (event_id, subject, type, time, properties) FROM STDIN"
    started = time.perf_counter()
    with conn.cursor() as cur:
        for payload in payloads:
            t0 = time.perf_counter()
            with cur.copy(sql) as copy:
                copy.write(payload)
            t1 = time.perf_counter()
            conn.commit()
            t2 = time.perf_counter()
            commit_ms.append((t2 - t1) * 1e3)
            batch_ms.append((t2 - t0) * 1e3)
    seconds = time.perf_counter() - started
    return Result(count_rows(conn), seconds, commit_ms, batch_ms)


def load_insert(conn: psycopg.Connection, rows: list[Row], batch: int) -> Result:
    batches = [(insert_statement(len(b)), [v for row in b for v in row]) for b in chunks(rows, batch)]
    fresh_table(conn)
    commit_ms: list[float] = []
    batch_ms: list[float] = []
    started = time.perf_counter()
    with conn.cursor() as cur:
        for sql, params in batches:
            t0 = time.perf_counter()
            cur.execute(sql, params)
            t1 = time.perf_counter()
            conn.commit()
            t2 = time.perf_counter()
            commit_ms.append((t2 - t1) * 1e3)
            batch_ms.append((t2 - t0) * 1e3)
    seconds = time.perf_counter() - started
    return Result(count_rows(conn), seconds, commit_ms, batch_ms)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; 0 for no samples."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def rate(r: Result) -> float:
    return r.events / r.seconds if r.seconds > 0 else 0.0


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True, type=Path, help="NDJSON file of wire-shape events")
    ap.add_argument("--copy-batch", type=int, default=10_000, help="rows per COPY transaction")
    ap.add_argument("--insert-batch", type=int, default=1000, help="rows per INSERT statement/transaction")
    ap.add_argument("--limit", type=int, default=None, help="load only the first N events")
    ap.add_argument("--server-user", default="stewardbench", help="unprivileged user for the server when run as root")
    ap.add_argument("--keep", action="store_true", help="keep the cluster directory (debugging)")
    args = ap.parse_args(argv)
    if args.copy_batch < 1 or args.insert_batch < 1:
        ap.error("batch sizes must be positive")
    # Each INSERT row binds 5 parameters; the protocol allows at most 65535.
    if args.insert_batch * 5 > 65535:
        ap.error("--insert-batch at most 13107 (PostgreSQL's 65535 bind-parameter limit)")
    return args


def _raise_exit(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    rows = read_rows(args.input, args.limit)
    if not rows:
        log("no events in input")
        return 1
    log(f"read {len(rows)} events from {args.input}")

    # Ctrl-C raises KeyboardInterrupt even if our parent started us with SIGINT ignored
    # (as shells do for background jobs); SIGTERM/SIGHUP unwind the same way, so the
    # `finally` below always stops and removes the cluster.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGHUP, _raise_exit)
    cluster = Cluster(server_identity(args.server_user), keep=args.keep)
    try:
        cluster.start()
        version = cluster.server_version()
        with cluster.connect() as conn:
            c = load_copy(conn, rows, args.copy_batch)
            log(f"copy: {c.events} rows in {c.seconds:.2f}s")
            i = load_insert(conn, rows, args.insert_batch)
            log(f"insert: {i.events} rows in {i.seconds:.2f}s")
        expected = len(set(r[0] for r in rows))
        for name, r in (("copy", c), ("insert", i)):
            if r.events != expected:
                raise SystemExit(f"pg_ingest: {name} loaded {r.events} rows, expected {expected}")
        out = {
            "peer": "postgresql-15",
            "events": len(rows),
            "copy_events_per_s": round(rate(c), 1),
            "insert_events_per_s": round(rate(i), 1),
            "copy_commit_p50_ms": round(percentile(c.commit_ms, 50), 3),
            "copy_commit_p99_ms": round(percentile(c.commit_ms, 99), 3),
            "insert_commit_p50_ms": round(percentile(i.commit_ms, 50), 3),
            "insert_commit_p99_ms": round(percentile(i.commit_ms, 99), 3),
            "copy_batch_p50_ms": round(percentile(c.batch_ms, 50), 3),
            "copy_batch_p99_ms": round(percentile(c.batch_ms, 99), 3),
            "insert_batch_p50_ms": round(percentile(i.batch_ms, 50), 3),
            "insert_batch_p99_ms": round(percentile(i.batch_ms, 99), 3),
            "copy_batch": args.copy_batch,
            "insert_batch": args.insert_batch,
            "server_version": version,
            "fsync": True,
            "synchronous_commit": True,
        }
        print(json.dumps(out), flush=True)
        return 0
    except subprocess.CalledProcessError as err:
        log(f"{' '.join(map(str, err.cmd))} failed (exit {err.returncode})\n{cluster.tail_log()}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        cluster.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
