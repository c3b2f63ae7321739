"""The peer of the serving benchmark (bench/serving.sh; BENCHMARKS.md, "Serving over HTTP"):
implicit's ALS model behind a small Python HTTP server, what a team would deploy instead of
Steward's recommendations endpoint. Runs in bench/.venv-ml (bench/setup-ml.sh).

    serving_peer.py train --trip FILE --out DIR [--events NDJSON] [--factors 64]
        [--iterations 15] [--regularization 0.01] [--alpha 40] [--cg-steps 3] [--threads 2]
        [--seed 1]
        Trains implicit 0.7.3's CPU ALS on a .trip file (crates/ml/examples/versus_implicit.rs
        `synthetic`: the summed Zipf draws Steward ingests as events) and writes the model
        (DIR/model.npz: user and item factors, the user x item matrix, item ids). Items are
        numbered densely over the items that occur, as a team building its matrix from its
        event table would (Steward's model knows the same items: those of its data set).
        The confidence is given as the matrix 1 + alpha·w with implicit's alpha = 1, as in
        bench/ml_implicit.py, so both sides solve the same system. With --events, first checks
        that the events file (`versus_implicit events`, what Steward ingested) sums to exactly
        the .trip matrix. Prints one JSON line.

    serving_peer.py serve --model DIR --port P [--processes N]
        Serves POST /recommendations {"external_id": "syn-user-U", "k": 10} -> {"items":
        [{"item": ID, "score": S}, ...]}: implicit's recommend(row, user_items[row], N=k,
        filter_already_liked_items=True), the user's seen items excluded; 404 for an unknown
        user, 400 for a bad body. GET /healthz answers 200 once the model is loaded. No
        authentication, no access log (the fastest the peer gets: both would cost it). The
        standard library's ThreadingHTTPServer, HTTP/1.1 keep-alive; with --processes N > 1
        the listening socket is bound once and N processes forked from the loaded model accept
        on it (each a ThreadingHTTPServer with its own GIL). Serving calls run implicit's top-k
        with num_threads 1 (one request, one thread); OPENBLAS_NUM_THREADS/OMP_NUM_THREADS are
        the caller's (bench/serving.sh sets 1).

Paths other than the two above answer 404.
"""

import argparse
import json
import os
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

HEADER_BYTES = 32


def read_trip(path):
    with open(path, "rb") as f:
        header = f.read(HEADER_BYTES)
    if header[:8] != b"STWTRIP1":
        raise SystemExit(f"{path}: not a .trip file")
    users, items = np.frombuffer(header, "<u4", 2, 8)
    n = int(np.frombuffer(header, "<u8", 1, 16)[0])
    user = np.fromfile(path, "<u4", n, offset=HEADER_BYTES)
    item = np.fromfile(path, "<u4", n, offset=HEADER_BYTES + 4 * n)
    weight = np.fromfile(path, "<f4", n, offset=HEADER_BYTES + 8 * n)
    return int(users), int(items), user, item, weight


def check_events(path, user, item, weight, prefix):
    """The events file sums (per user and item) to exactly the .trip entries."""
    summed = {}
    lines = 0
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            e = json.loads(line)
            subject = e["subject"]
            if not subject.startswith(prefix):
                raise SystemExit(f"{path}: subject {subject!r} without the prefix {prefix!r}")
            key = (int(subject[len(prefix):]), int(e["properties"]["movie_id"]))
            summed[key] = summed.get(key, 0.0) + e["properties"]["rating"]
            lines += 1
    if len(summed) != len(user):
        raise SystemExit(f"events sum to {len(summed)} entries, the .trip holds {len(user)}")
    for u, i, w in zip(user.tolist(), item.tolist(), weight.tolist()):
        if abs(summed.get((u, i), -1.0) - w) > 1e-4:
            raise SystemExit(f"entry ({u}, {i}): events sum to {summed.get((u, i))}, the .trip holds {w}")
    return lines


def train(a):
    import scipy.sparse
    import threadpoolctl
    import implicit
    from implicit.cpu.als import AlternatingLeastSquares

    users, _items, user, item, weight = read_trip(a.trip)
    events = check_events(a.events, user, item, weight, a.prefix) if a.events else None
    # Dense column numbers over the items that occur, in ascending id order.
    item_ids, columns = np.unique(item, return_inverse=True)
    values = (1.0 + a.alpha * weight).astype(np.float32)
    matrix = scipy.sparse.csr_matrix((values, (user.astype(np.int32), columns.astype(np.int32))), shape=(users, len(item_ids)))
    matrix.sort_indices()
    model = AlternatingLeastSquares(factors=a.factors, regularization=a.regularization, alpha=1.0, iterations=a.iterations, use_native=True, use_cg=True, num_threads=a.threads, random_state=a.seed)
    model.cg_steps = a.cg_steps
    started = time.perf_counter()
    model.fit(matrix, show_progress=False)
    fit_s = time.perf_counter() - started
    os.makedirs(a.out, exist_ok=True)
    np.savez(
        os.path.join(a.out, "model.npz"),
        user_factors=np.ascontiguousarray(model.user_factors, dtype=np.float32),
        item_factors=np.ascontiguousarray(model.item_factors, dtype=np.float32),
        indptr=matrix.indptr,
        indices=matrix.indices,
        data=matrix.data,
        shape=np.array(matrix.shape),
        item_ids=item_ids,
        prefix=np.array(a.prefix),
        factors=np.array(a.factors),
    )
    print(json.dumps({
        "bench": "serving_peer_train", "implicit": implicit.__version__, "users": users, "items": len(item_ids),
        "entries": int(matrix.nnz), "events_checked": events, "fit_s": round(fit_s, 3),
        "params": {"factors": a.factors, "iterations": a.iterations, "regularization": a.regularization, "alpha": a.alpha, "implicit_alpha": 1.0, "cg_steps": a.cg_steps, "seed": a.seed},
        "threads": a.threads, "blas": [{"api": i.get("internal_api"), "threads": i.get("num_threads")} for i in threadpoolctl.threadpool_info()],
    }))


def load(path):
    import scipy.sparse
    from implicit.cpu.als import AlternatingLeastSquares

    z = np.load(os.path.join(path, "model.npz"))
    model = AlternatingLeastSquares(factors=int(z["factors"]), num_threads=1)
    model.user_factors = z["user_factors"]
    model.item_factors = z["item_factors"]
    user_items = scipy.sparse.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
    prefix = str(z["prefix"])
    # external id -> row, for every user the model has a row for.
    rows = {f"{prefix}{u}": u for u in range(user_items.shape[0])}
    item_ids = [str(i) for i in z["item_ids"].tolist()]
    return model, user_items, rows, item_ids


def handler(model, user_items, rows, item_ids):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY and one buffered write per answer (flushed by handle_one_request): the
        # standard library's defaults (unbuffered, Nagle on) cost each answer a 40 ms delayed
        # ACK on a keep-alive connection.
        disable_nagle_algorithm = True
        wbufsize = 1 << 16

        def log_message(self, *_):
            pass

        def send(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/healthz":
                self.send(200, {"ok": True, "pid": os.getpid()})
            else:
                self.send(404, {"error": "not_found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path != "/recommendations":
                self.send(404, {"error": "not_found"})
                return
            try:
                request = json.loads(raw)
                external_id = request["external_id"]
                k = int(request.get("k", 10))
                if not 1 <= k <= 1000:
                    raise ValueError("k")
            except (ValueError, KeyError, TypeError):
                self.send(400, {"error": "invalid_request"})
                return
            row = rows.get(external_id)
            if row is None:
                self.send(404, {"error": "unknown_user"})
                return
            ids, scores = model.recommend(row, user_items[row], N=k, filter_already_liked_items=True)
            self.send(200, {"items": [{"item": item_ids[i], "score": float(s)} for i, s in zip(ids.tolist(), scores.tolist())]})

    return Handler


def serve(a):
    model, user_items, rows, item_ids = load(a.model)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), handler(model, user_items, rows, item_ids), bind_and_activate=False)
    server.daemon_threads = True
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.server_bind()
    server.request_queue_size = 128
    server.server_activate()
    # Fork before any serving call: nothing has started BLAS or OpenMP threads yet.
    children = []
    for _ in range(a.processes - 1):
        pid = os.fork()
        if pid == 0:
            children = None
            break
        children.append(pid)
    if children is not None:
        print(json.dumps({"bench": "serving_peer_ready", "port": a.port, "processes": a.processes, "users": len(rows), "items": len(item_ids)}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for pid in children or []:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--trip", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--events")
    t.add_argument("--prefix", default="syn-user-")
    t.add_argument("--factors", type=int, default=64)
    t.add_argument("--iterations", type=int, default=15)
    t.add_argument("--regularization", type=float, default=0.01)
    t.add_argument("--alpha", type=float, default=40.0)
    t.add_argument("--cg-steps", type=int, default=3)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--seed", type=int, default=1)
    s = sub.add_parser("serve")
    s.add_argument("--model", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--processes", type=int, default=1)
    a = p.parse_args()
    if a.command == "train":
        train(a)
    else:
        if a.processes < 1:
            raise SystemExit("--processes must be at least 1")
        import signal

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        serve(a)


if __name__ == "__main__":
    main()
