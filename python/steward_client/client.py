# SPDX-License-Identifier: Apache-2.0
"""HTTP client for Steward: versioned training data sets, SQL, models, serving, search and
retrieval, experiments.

Only the standard library does HTTP (``urllib.request``), so the client adds no dependency to a
training image beyond pyarrow (and pandas for ``read_pandas``). Everything read through Parquet
files is checked against the sha256 sums of the version's manifest before it is handed over: a
training job must never learn from bytes that differ from the version it names.
"""

from __future__ import annotations

import hashlib
import io
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence

import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq

CHUNK = 8 << 20  # bytes per range request: big enough to amortise a round trip, small enough to retry
USER_AGENT = "steward-client-python/0.1.0"


class StewardError(Exception):
    """A failed request, carrying the fields of the server's ``application/problem+json`` body.

    ``status`` is the HTTP status, or 0 for failures found on this side (network, checksum).
    ``code`` is the server's stable machine-readable code; branch on it, not on ``detail``.
    """

    def __init__(self, status: int, code: str, detail: str, title: str = "", type: str = "") -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail, self.title, self.type = status, code, detail, title, type


class IntegrityError(StewardError):
    """Downloaded bytes do not match the manifest (size or sha256): never silently train on them."""

    def __init__(self, detail: str) -> None:
        super().__init__(0, "integrity", detail)


def _problem(status: int, body: bytes) -> StewardError:
    try:
        p = json.loads(body)
        return StewardError(status, str(p.get("code", "")), str(p.get("detail", "")),
                            str(p.get("title", "")), str(p.get("type", "")))
    except (ValueError, AttributeError):
        return StewardError(status, f"http_{status}", body[:500].decode("utf-8", "replace"))


def _open(url: str, headers: dict[str, str], timeout: float, method: str = "GET",
          body: Optional[bytes] = None) -> Any:
    """Opens ``url`` and returns the live response; HTTP and network errors become StewardError."""
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"User-Agent": USER_AGENT, **headers})
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        body = e.read() if e.fp is not None else b""
        e.close()
        raise _problem(e.code, body) from None
    except urllib.error.URLError as e:
        raise StewardError(0, "unreachable", f"{url}: {e.reason}") from None


def content_sha256(file_sha256s: Sequence[str]) -> str:
    """The version's content hash: sha256 over the files' lowercase hex sums, in manifest order."""
    return hashlib.sha256("".join(s.lower() for s in file_sha256s).encode()).hexdigest()


@dataclass(frozen=True)
class RemoteFile:
    """One Parquet file of a version: where to fetch it, and what its bytes must hash to."""

    name: str
    url: str
    sha256: str
    bytes: Optional[int] = None


class VersionReader:
    """Reads one fixed data set version from its file URLs or its Arrow stream URL.

    Built by :meth:`Client.version` (bearer key) or :func:`from_links` (signed URLs, no key); the
    reading code is the same, so a job handed only links gets exactly what a keyed client gets.
    """

    def __init__(self, files: Sequence[RemoteFile], arrow_url: str, headers: dict[str, str],
                 timeout: float = 60, chunk_size: int = CHUNK) -> None:
        self.files, self.arrow_url, self.headers = list(files), arrow_url, dict(headers)
        self.timeout, self.chunk_size = timeout, chunk_size

    def fetch(self, f: RemoteFile) -> bytes:
        """Downloads one file with ``Range`` requests and verifies its size and sha256.

        Range requests keep each response bounded (a stalled transfer costs one chunk, and the
        server can serve chunks from any replica); a server that ignores ``Range`` (200) is fine.
        """
        buf, total = bytearray(), f.bytes
        while total is None or len(buf) < total:
            end = len(buf) + self.chunk_size - 1
            if total is not None:
                end = min(end, total - 1)
            with _open(f.url, {**self.headers, "Range": f"bytes={len(buf)}-{end}"}, self.timeout) as r:
                data = r.read()
                if r.status == 200:  # whole file
                    buf = bytearray(data)
                    break
                start, _, size = r.headers.get("Content-Range", "").removeprefix("bytes ").partition("/")
                if not start.startswith(f"{len(buf)}-"):
                    raise IntegrityError(f"{f.name}: asked for offset {len(buf)}, got Content-Range {start!r}")
                if total is None and size.isdigit():
                    total = int(size)
                if not data:
                    raise IntegrityError(f"{f.name}: empty range response at offset {len(buf)}")
                buf += data
        if f.bytes is not None and len(buf) != f.bytes:
            raise IntegrityError(f"{f.name}: {len(buf)} bytes, manifest says {f.bytes}")
        got = hashlib.sha256(buf).hexdigest()
        if got != f.sha256.lower():
            raise IntegrityError(f"{f.name}: sha256 {got}, manifest says {f.sha256}")
        return bytes(buf)

    def read_table(self, via: str = "files") -> pa.Table:
        """The whole version as one table.

        ``via="files"`` downloads and verifies every Parquet file (resumable, checksummed);
        ``via="arrow"`` streams the server's Arrow IPC encoding (no Parquet decode on either side,
        but only TLS protects the bytes). A version with no files is read through Arrow, which
        still carries the schema.
        """
        if via == "arrow" or not self.files:
            with _open(self.arrow_url, self.headers, self.timeout) as r:
                return pa.ipc.open_stream(r).read_all()
        if via != "files":
            raise ValueError(f"via must be 'files' or 'arrow', not {via!r}")
        return pa.concat_tables([pq.read_table(io.BytesIO(self.fetch(f))) for f in self.files])

    def read_pandas(self, via: str = "files") -> Any:
        """The whole version as a ``pandas.DataFrame`` (via :meth:`read_table`)."""
        return self.read_table(via).to_pandas()

    def iter_batches(self, batch_size: int = 65536, via: str = "files",
                     shard: Optional[tuple[int, int]] = None) -> Iterator[pa.RecordBatch]:
        """Yields record batches of at most ``batch_size`` rows, holding one file in memory at a time.

        Meant for a PyTorch ``IterableDataset``: pass ``shard=(worker_id, num_workers)`` from
        ``torch.utils.data.get_worker_info()`` so that each DataLoader worker reads a disjoint set
        of files (``via="files"`` only). Each file is verified before any of its rows is yielded.
        """
        if via == "arrow":
            if shard is not None:
                raise ValueError("shard needs via='files'")
            with _open(self.arrow_url, self.headers, self.timeout) as r:
                for batch in pa.ipc.open_stream(r):
                    yield from pa.Table.from_batches([batch]).to_batches(max_chunksize=batch_size)
            return
        if via != "files":
            raise ValueError(f"via must be 'files' or 'arrow', not {via!r}")
        k, n = shard or (0, 1)
        for f in self.files[k::n]:
            yield from pq.ParquetFile(io.BytesIO(self.fetch(f))).iter_batches(batch_size=batch_size)


def _absolute(base: Optional[str], url: str) -> str:
    if url.startswith("/"):
        if not base:
            raise ValueError(f"link {url!r} is relative: pass the server url")
        return base.rstrip("/") + url
    return url


def from_links(links: dict[str, Any] | str, url: Optional[str] = None, timeout: float = 60,
               chunk_size: int = CHUNK) -> VersionReader:
    """A reader over signed links (the JSON of :meth:`Client.links`), with no API key.

    The signatures in the URLs are the only credential, so a training job can be handed the
    links and nothing else. ``url`` is the server's base URL, needed only if links start with ``/``.
    """
    d = json.loads(links) if isinstance(links, str) else links
    files = [RemoteFile(f["name"], _absolute(url, f["url"]), f["sha256"], f.get("bytes"))
             for f in d["files"]]
    return VersionReader(files, _absolute(url, d["arrow_url"]), {}, timeout, chunk_size)


class Client:
    """A tenant's view of Steward, authenticated with a bearer API key.

    Every call names ``purpose`` (default ``model_training``; each method takes ``purpose=`` to
    name another): the server checks it against the data's consent and records it in the access
    log, so it is part of the request, not a hint. Subjects are named by their external id in
    request bodies, never in URLs.
    """

    def __init__(self, url: str, key: Optional[str] = None, tenant: str = "",
                 purpose: str = "model_training", timeout: float = 60, chunk_size: int = CHUNK) -> None:
        if not tenant:
            raise ValueError("tenant is required")
        self.url, self.key, self.tenant = url.rstrip("/"), key, tenant
        self.purpose, self.timeout, self.chunk_size = purpose, timeout, chunk_size

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def _url(self, *path: str, purpose: Optional[str] = None) -> str:
        segs = "/".join(urllib.parse.quote(str(p), safe="") for p in ("v1", "tenants", self.tenant, *path))
        return f"{self.url}/{segs}?{urllib.parse.urlencode({'purpose': purpose or self.purpose})}"

    def _json(self, url: str, body: Optional[dict[str, Any]] = None) -> Any:
        headers = {**self._headers, "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        with _open(url, headers, self.timeout, "POST" if body is not None else "GET", data) as r:
            return json.loads(r.read())

    def datasets(self) -> list[dict[str, Any]]:
        """The tenant's data sets: ``[{"name", "latest_version", "versions"}]``."""
        return list(self._json(self._url("datasets"))["datasets"])

    def manifest(self, name: str, version: int | str = "latest") -> dict[str, Any]:
        """A version's manifest (state, rows, schema, files with sha256, query, purpose, ...)."""
        return dict(self._json(self._url("datasets", name, "versions", str(version))))

    def links(self, name: str, version: int | str = "latest", ttl_s: int = 900) -> dict[str, Any]:
        """Signed, expiring URLs for the version's files and Arrow stream; hand them to a job."""
        return dict(self._json(self._url("datasets", name, "versions", str(version), "links"),
                               {"ttl_s": ttl_s}))

    def version(self, name: str, version: int | str = "latest") -> VersionReader:
        """A reader for one version, pinned to a number (``latest`` is resolved once, here)."""
        m = self.manifest(name, version)
        if m.get("state", "ready") != "ready":
            raise StewardError(0, "not_ready", f"{name} v{m.get('version')} is {m.get('state')}")
        shas = [f["sha256"] for f in m["files"]]
        if "content_sha256" in m and content_sha256(shas) != m["content_sha256"]:
            raise IntegrityError(f"{name} v{m['version']}: file list does not hash to content_sha256")
        v = str(m["version"])
        files = [RemoteFile(f["name"], self._url("datasets", name, "versions", v, "files", f["name"]),
                            f["sha256"], f.get("bytes")) for f in m["files"]]
        arrow = self._url("datasets", name, "versions", v, "arrow")
        return VersionReader(files, arrow, self._headers, self.timeout, self.chunk_size)

    def read_table(self, name: str, version: int | str = "latest", via: str = "files") -> pa.Table:
        """The version as a ``pyarrow.Table``; see :meth:`VersionReader.read_table`."""
        return self.version(name, version).read_table(via)

    def read_pandas(self, name: str, version: int | str = "latest", via: str = "files") -> Any:
        """The version as a ``pandas.DataFrame``."""
        return self.version(name, version).read_pandas(via)

    def iter_batches(self, name: str, version: int | str = "latest", batch_size: int = 65536,
                     via: str = "files", shard: Optional[tuple[int, int]] = None) -> Iterator[pa.RecordBatch]:
        """Record batches of the version; see :meth:`VersionReader.iter_batches`."""
        return self.version(name, version).iter_batches(batch_size, via, shard)

    @classmethod
    def from_links(cls, links: dict[str, Any] | str, url: Optional[str] = None,
                   timeout: float = 60) -> VersionReader:
        """Same as the module-level :func:`from_links`."""
        return from_links(links, url, timeout)


    # ---- SQL

    def sql(self, query: str, *, purpose: Optional[str] = None, max_rows: Optional[int] = None,
            timeout_ms: Optional[int] = None) -> pa.Table:
        """A read-only query's result as a ``pyarrow.Table`` (Arrow IPC stream on the wire)."""
        body: dict[str, Any] = {"sql": query}
        if purpose:
            body["purpose"] = purpose
        if max_rows is not None:
            body["max_rows"] = max_rows
        if timeout_ms is not None:
            body["timeout_ms"] = timeout_ms
        headers = {**self._headers, "Accept": "application/vnd.apache.arrow.stream",
                   "Content-Type": "application/json"}
        with _open(self._url("sql", purpose=purpose), headers, self.timeout, "POST",
                   json.dumps(body).encode()) as r:
            return pa.ipc.open_stream(io.BytesIO(r.read())).read_all()

    # ---- models

    def train(self, name: str, dataset: str, columns: dict[str, str], *, algorithm: str = "als",
              params: Optional[dict[str, Any]] = None, dataset_version: int | str = "latest",
              evaluation: Optional[dict[str, Any]] = None, purpose: Optional[str] = None) -> dict[str, Any]:
        """Queues a training job on a data set version; returns the queued version's manifest."""
        body: dict[str, Any] = {"name": name, "algorithm": algorithm, "columns": columns,
                                "dataset": {"name": dataset, "version": dataset_version},
                                "params": params or {}}
        if evaluation is not None:
            body["evaluation"] = evaluation
        return self._json(self._url("models", purpose=purpose), body)

    def models(self, *, purpose: Optional[str] = None) -> list[dict[str, Any]]:
        return self._json(self._url("models", purpose=purpose))["models"]

    def model(self, name: str, version: Optional[int] = None, *,
              purpose: Optional[str] = None) -> dict[str, Any]:
        """A model (its versions and aliases), or one version's manifest with its metrics."""
        path = ("models", name) if version is None else ("models", name, "versions", str(version))
        return self._json(self._url(*path, purpose=purpose))

    def wait_for_model(self, name: str, version: int, *, timeout: float = 600,
                       purpose: Optional[str] = None) -> dict[str, Any]:
        """Polls until the version is ``ready``; raises StewardError when it failed or timed out."""
        import time
        deadline = time.monotonic() + timeout
        while True:
            m = self.model(name, version, purpose=purpose)
            if m.get("state") == "ready":
                return m
            if m.get("state") in ("failed", "cancelled"):
                raise StewardError(0, str(m.get("error") or m["state"]), str(m.get("message", "")))
            if time.monotonic() > deadline:
                raise StewardError(0, "timeout", f"model {name} version {version} not ready")
            time.sleep(0.2)

    # ---- serving

    def recommend(self, external_id: str, *, model: Optional[str] = None, k: int = 10,
                  purpose: Optional[str] = None, **options: Any) -> dict[str, Any]:
        """Recommendations for a subject (``items``, ``personalized``, ``reason``, ``model``)."""
        body = {"external_id": external_id, "k": k, **options}
        if model is not None:
            body["model"] = model
        return self._json(self._url("recommendations", purpose=purpose), body)

    def rerank(self, external_id: str, candidates: Sequence[str], *, model: Optional[str] = None,
               purpose: Optional[str] = None, **options: Any) -> dict[str, Any]:
        body = {"external_id": external_id, "candidates": list(candidates), **options}
        if model is not None:
            body["model"] = model
        return self._json(self._url("rerank", purpose=purpose), body)

    def similar(self, item_id: str, *, model: Optional[str] = None, k: int = 10,
                purpose: Optional[str] = None) -> dict[str, Any]:
        body: dict[str, Any] = {"k": k}
        if model is not None:
            body["model"] = model
        return self._json(self._url("items", item_id, "similar", purpose=purpose), body)

    def popular(self, *, model: Optional[str] = None, k: int = 10,
                purpose: Optional[str] = None) -> dict[str, Any]:
        body: dict[str, Any] = {"k": k}
        if model is not None:
            body["model"] = model
        return self._json(self._url("popular", purpose=purpose), body)

    # ---- semantic search and retrieval

    def embed(self, texts: Sequence[str], *, purpose: Optional[str] = None) -> list[list[float]]:
        return self._json(self._url("embeddings", purpose=purpose), {"texts": list(texts)})["vectors"]

    def search(self, index: str, query: str, *, k: int = 10, purpose: Optional[str] = None,
               **options: Any) -> list[dict[str, Any]]:
        """Hits (``id``, ``score``, ``kind``, ``time``); options: ``filter``, ``hybrid``, ..."""
        body = {"query": query, "k": k, **options}
        return self._json(self._url("indexes", index, "search", purpose=purpose), body)["hits"]

    def retrieve(self, index: str, question: str, *, k: int = 5,
                 purpose: Optional[str] = None) -> list[dict[str, Any]]:
        """Passages shaped for the purpose, each with its citation, ready for a prompt."""
        body = {"question": question, "k": k}
        return self._json(self._url("indexes", index, "retrieve", purpose=purpose), body)["passages"]

    def answer(self, index: str, question: str, *, k: int = 3, max_tokens: Optional[int] = None,
               purpose: Optional[str] = None) -> dict[str, Any]:
        body: dict[str, Any] = {"question": question, "k": k}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        return self._json(self._url("indexes", index, "answer", purpose=purpose), body)

    # ---- experiments

    def experiment_results(self, name: str, *, purpose: Optional[str] = None) -> dict[str, Any]:
        """Per-arm exposures, conversions, rates with intervals, lift, p-values, SRM."""
        return self._json(self._url("experiments", name, "results", purpose=purpose))
