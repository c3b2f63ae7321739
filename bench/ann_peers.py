"""Vector index benchmark peers (issue 13 item 6): hnswlib and faiss-cpu on the same vectors as
crates/ml/examples/bench_ann.rs.

  prepare --dir D [--n 100000 --queries 1000 --dim 384 --clusters 1000 --seed 13]
      writes D/base.f32 and D/queries.f32 (raw little-endian float32, row-major), and the exact
      top 10 by cosine, unfiltered and at 1/10/50% selectivity, as D/truth-{0,1,10,50}.u32
      (queries x 10 ids). The vectors: `clusters` Gaussian centres (N(0,1) per dimension), each
      point a centre plus N(0, 0.35^2) noise per dimension, queries likewise from the same centres
      with their own noise. Deterministic for a seed.
  run --dir D [--m 16 --efc 100 --threads 1]
      builds hnswlib (HNSW, cosine) and faiss IndexHNSWFlat (inner product on normalized vectors)
      with the same M and efConstruction on `threads` threads, sweeps ef with single-threaded
      search, prints one line per measurement (parsed by bench/ann.sh).

The filter: id allowed at p% when splitmix64(id) % 100 < p (the Rust side computes the same).
"""
import argparse, os, resource, sys, time
import numpy as np

EFS = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
FILTER_EFS = [32, 64, 128, 256]
PERCENTS = [1, 10, 50]


def splitmix(ids):
    z = (ids.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def allowed_mask(n, percent):
    with np.errstate(over="ignore"):
        return (splitmix(np.arange(n, dtype=np.uint64)) % np.uint64(100)) < np.uint64(percent)


def normalize(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def prepare(a):
    rng = np.random.default_rng(a.seed)
    centres = rng.standard_normal((a.clusters, a.dim), dtype=np.float32)
    base = centres[rng.integers(0, a.clusters, a.n)] + 0.35 * rng.standard_normal((a.n, a.dim), dtype=np.float32)
    queries = centres[rng.integers(0, a.clusters, a.queries)] + 0.35 * rng.standard_normal((a.queries, a.dim), dtype=np.float32)
    os.makedirs(a.dir, exist_ok=True)
    base.astype("<f4").tofile(os.path.join(a.dir, "base.f32"))
    queries.astype("<f4").tofile(os.path.join(a.dir, "queries.f32"))
    nb, nq = normalize(base), normalize(queries)
    for percent in [0] + PERCENTS:
        mask = np.ones(a.n, bool) if percent == 0 else allowed_mask(a.n, percent)
        out = np.empty((a.queries, 10), np.uint32)
        for s in range(0, a.queries, 100):
            scores = nq[s:s + 100] @ nb.T
            scores[:, ~mask] = -np.inf
            top = np.argpartition(-scores, 10, axis=1)[:, :10]
            order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
            out[s:s + 100] = np.take_along_axis(top, order, 1)
        out.astype("<u4").tofile(os.path.join(a.dir, f"truth-{percent}.u32"))
    print(f"prepared {a.n} x {a.dim}, {a.queries} queries, {a.clusters} clusters in {a.dir}")


def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def recall(found, truth):
    return float(np.mean([len(set(f[:10].tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth)]))


def run(a):
    dim = a.dim
    base = np.fromfile(os.path.join(a.dir, "base.f32"), "<f4").reshape(-1, dim)
    queries = np.fromfile(os.path.join(a.dir, "queries.f32"), "<f4").reshape(-1, dim)
    truth = {p: np.fromfile(os.path.join(a.dir, f"truth-{p}.u32"), "<u4").reshape(-1, 10) for p in [0] + PERCENTS}
    n = len(base)
    nb, nq = np.ascontiguousarray(normalize(base)), np.ascontiguousarray(normalize(queries))
    ids = np.arange(n)

    if "hnswlib" in a.peers:
        run_hnswlib(a, base, queries, truth, ids)
    if "faiss" in a.peers:
        run_faiss(a, nb, nq, truth)


def run_hnswlib(a, base, queries, truth, ids):
    import hnswlib
    n, dim = base.shape
    before = rss()
    t = time.perf_counter()
    h = hnswlib.Index(space="cosine", dim=dim)
    h.init_index(max_elements=n, M=a.m, ef_construction=a.efc, random_seed=1)
    h.add_items(base, ids, num_threads=a.threads)
    build = time.perf_counter() - t
    mem = rss() - before
    print(f"hnswlib m {a.m} build {build:.3f} s threads {a.threads} memory_rss {mem}", flush=True)
    for ef in EFS:
        h.set_ef(max(ef, 10))
        t = time.perf_counter()
        labels, _ = h.knn_query(queries, k=10, num_threads=1)
        dt = time.perf_counter() - t
        print(f"hnswlib m {a.m} ef {ef} qps {len(queries) / dt:.1f} recall {recall(labels, truth[0]):.4f}", flush=True)


def run_faiss(a, nb, nq, truth):
    import faiss
    n, dim = nb.shape
    faiss.omp_set_num_threads(a.threads)
    before = rss()
    t = time.perf_counter()
    f = faiss.IndexHNSWFlat(dim, a.m, faiss.METRIC_INNER_PRODUCT)
    f.hnsw.efConstruction = a.efc
    f.add(nb)
    build = time.perf_counter() - t
    mem = rss() - before
    print(f"faiss m {a.m} build {build:.3f} s threads {a.threads} memory_rss {mem}", flush=True)
    faiss.omp_set_num_threads(1)
    for ef in EFS:
        params = faiss.SearchParametersHNSW(efSearch=max(ef, 10))
        t = time.perf_counter()
        _, labels = f.search(nq, 10, params=params)
        dt = time.perf_counter() - t
        print(f"faiss m {a.m} ef {ef} qps {len(nq) / dt:.1f} recall {recall(labels, truth[0]):.4f}", flush=True)
    for p in PERCENTS:
        bits = np.packbits(allowed_mask(n, p), bitorder="little")
        sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits))
        for ef in FILTER_EFS:
            params = faiss.SearchParametersHNSW(efSearch=ef, sel=sel)
            t = time.perf_counter()
            _, labels = f.search(nq, 10, params=params)
            dt = time.perf_counter() - t
            print(f"faiss m {a.m} filter {p} ef {ef} qps {len(nq) / dt:.1f} recall {recall(labels, truth[p]):.4f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["prepare", "run"])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--efc", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--peers", default="hnswlib,faiss")
    a = ap.parse_args()
    prepare(a) if a.cmd == "prepare" else run(a)


if __name__ == "__main__":
    main()
