# SPDX-License-Identifier: Apache-2.0
"""End-to-end driver: reads one data set version from a live Steward server every way a training
job can, and checks that all of them agree with each other and with the manifest.

Run by the Rust end-to-end tests as

    python/.venv/bin/python python/tests/read_dataset.py --url U --key K --tenant T --name N [--version V]

Prints one JSON object on stdout: ``{"rows": n, "content_sha256": "...", "ok": true, ...}`` and
exits 0, or ``{"ok": false, "error": "..."}`` and exits 1. The checks are independent of the
client's own verification where it matters: file hashes are recomputed here from a plain full GET
(the client uses range requests), and ``content_sha256`` is recomputed from those hashes.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import pyarrow.parquet as pq  # noqa: E402

from steward_client import Client, from_links  # noqa: E402


class CheckFailed(Exception):
    pass


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


def plain_get(url: str, headers: dict[str, str]) -> bytes:
    """A full GET without Range, through urllib directly rather than the client."""
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=60) as r:
        check(r.status == 200, f"full GET {url}: status {r.status}")
        return r.read()


def tampered(url: str) -> list[str]:
    """Variants of a signed URL that must be refused: no query string, and its last byte changed."""
    base, _, query = url.partition("?")
    if not query:
        return []
    last = query[-1]
    flipped = ("0" if last != "0" else "1") if last.isalnum() else "x"
    return [base, f"{base}?{query[:-1]}{flipped}"]


def run(a: argparse.Namespace) -> dict[str, Any]:
    c = Client(a.url, key=a.key, tenant=a.tenant, timeout=a.timeout, chunk_size=a.chunk_bytes)
    listed = {d["name"]: d for d in c.datasets()}
    check(a.name in listed, f"{a.name} not in datasets(): {sorted(listed)}")

    m = c.manifest(a.name, a.version)
    v = m["version"]
    check(isinstance(v, int), f"manifest version {v!r} is not an integer")
    if a.version == "latest":
        check(v == listed[a.name]["latest_version"], f"latest is v{v}, datasets() says {listed[a.name]}")
    check(m.get("state") == "ready", f"state is {m.get('state')!r}")
    rows = m["rows"]
    files = m["files"]
    check(sum(f["rows"] for f in files) == rows, f"file rows sum to {sum(f['rows'] for f in files)}, manifest rows {rows}")

    # Independent hashes: full GETs with the bearer key, no Range.
    auth = {"Authorization": f"Bearer {a.key}"}
    shas = []
    for f in files:
        url = c._url("datasets", a.name, "versions", str(v), "files", f["name"])
        body = plain_get(url, auth)
        check(len(body) == f["bytes"], f"{f['name']}: {len(body)} bytes, manifest {f['bytes']}")
        sha = hashlib.sha256(body).hexdigest()
        check(sha == f["sha256"], f"{f['name']}: sha256 {sha}, manifest {f['sha256']}")
        n = pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
        check(n == f["rows"], f"{f['name']}: {n} rows in Parquet metadata, manifest {f['rows']}")
        shas.append(sha)
    content = hashlib.sha256("".join(shas).encode()).hexdigest()
    check(content == m["content_sha256"], f"content_sha256 {content}, manifest {m['content_sha256']}")

    # The three ways in, pinned to the resolved version number.
    t_files = c.read_table(a.name, v, via="files")
    t_arrow = c.read_table(a.name, v, via="arrow")
    df = c.read_pandas(a.name, v)
    batch_rows = sum(b.num_rows for b in c.iter_batches(a.name, v, batch_size=a.batch_size))
    counts = {"files": t_files.num_rows, "arrow": t_arrow.num_rows, "pandas": len(df), "batches": batch_rows}
    check(set(counts.values()) == {rows}, f"row counts {counts}, manifest rows {rows}")
    names = [col["name"] for col in m["schema"]]
    check(t_files.column_names == names, f"files columns {t_files.column_names}, manifest {names}")
    check(t_arrow.column_names == names, f"arrow columns {t_arrow.column_names}, manifest {names}")
    check(list(df.columns) == names, f"pandas columns {list(df.columns)}, manifest {names}")

    # Signed links only: a fresh reader that has no key at all.
    links = c.links(a.name, v, ttl_s=a.ttl)
    expires = datetime.datetime.fromisoformat(links["expires_at"].replace("Z", "+00:00"))
    check(expires.tzinfo is not None, f"expires_at {links['expires_at']!r} has no offset")
    check(expires > datetime.datetime.now(datetime.timezone.utc), f"links already expired at {links['expires_at']}")
    check([f["name"] for f in links["files"]] == [f["name"] for f in files], "links name other files than the manifest")
    check([f["sha256"] for f in links["files"]] == shas, "links carry other sha256 than the manifest")
    reader = from_links(json.dumps(links), url=a.url, timeout=a.timeout, chunk_size=a.chunk_bytes)
    check(not reader.headers, "a links reader must send no credentials")
    t_links = reader.read_table("files")
    check(t_links.equals(t_files), "table read through signed file links differs from the keyed read")
    t_links_arrow = reader.read_table("arrow")
    check(t_links_arrow.equals(t_arrow), "table read through the signed Arrow link differs from the keyed read")
    link_batch_rows = sum(b.num_rows for b in reader.iter_batches(a.batch_size))
    check(link_batch_rows == rows, f"signed-link batches give {link_batch_rows} rows, manifest {rows}")

    # A signature is the only credential of a link: without it, or altered, nothing is served.
    rejected = 0
    for url in ([links["files"][0]["url"]] if files else []) + [links["arrow_url"]]:
        for bad in tampered(a.url.rstrip("/") + url if url.startswith("/") else url):
            try:
                plain_get(bad, {})
            except urllib.error.HTTPError as e:
                check(400 <= e.code < 500, f"tampered link {bad}: status {e.code}, want 4xx")
                rejected += 1
                continue
            raise CheckFailed(f"tampered link {bad} was served")

    return {
        "rows": rows,
        "content_sha256": content,
        "version": v,
        "files": len(files),
        "row_counts": counts,
        "arrow_equals_files": t_arrow.equals(t_files),
        "tampered_links_rejected": rejected,
        "ok": True,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--tenant", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--version", default="latest", help="a version number or 'latest'")
    p.add_argument("--batch-size", type=int, default=65536)
    p.add_argument("--chunk-bytes", type=int, default=1 << 20,
                   help="range request size; small values exercise multi-range downloads")
    p.add_argument("--ttl", type=int, default=900)
    p.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    try:
        out = run(a)
    except Exception as e:  # any failure, including a malformed response, is one JSON line
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
