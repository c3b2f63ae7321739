"""Vector index benchmark peers (issue 13 item 6): hnswlib and faiss-cpu on the same vectors as
crates/ml/examples/bench_ann.rs.

  prepare --dir D [--n 100000 --queries 1000 --dim 384 --clusters 1000 --seed 13]
      writes D/base.f32 and D/queries.f32 (raw little-endian float32, row-major), and the exact
      top 10 by cosine, unfiltered and at 1/10/50% selectivity, as D/truth-{0,1,10,50}.u32
      (queries x 10 ids). The vectors: `clusters` Gaussian centres (N(0,1) per dimension), each
      point a centre plus N(0, 0.35^2) noise per dimension, queries likewise from the same centres
      with their own noise. Deterministic for a seed.
  texts --dir D [--n 100000 --queries 1000 --seed 13]
      writes D/texts.json: n + queries generated English texts (support messages, reviews and
      product descriptions assembled from phrase lists; distinct; deterministic for a seed), the
      last `queries` being the queries. bench/ann.sh embeds them with steward-text
      (all-MiniLM-L6-v2) into D/base.f32 and D/queries.f32, then runs `truth`.
  truth --dir D
      the exact top 10 of D/base.f32 and D/queries.f32 as `prepare` writes them.
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
    write_truth(a.dir, base, queries)
    print(f"prepared {a.n} x {a.dim}, {a.queries} queries, {a.clusters} clusters in {a.dir}")


def write_truth(d, base, queries):
    nb, nq = normalize(base), normalize(queries)
    n = len(base)
    for percent in [0] + PERCENTS:
        mask = np.ones(n, bool) if percent == 0 else allowed_mask(n, percent)
        out = np.empty((len(nq), 10), np.uint32)
        for s in range(0, len(nq), 100):
            scores = nq[s:s + 100] @ nb.T
            scores[:, ~mask] = -np.inf
            top = np.argpartition(-scores, 10, axis=1)[:, :10]
            order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
            out[s:s + 100] = np.take_along_axis(top, order, 1)
        out.astype("<u4").tofile(os.path.join(d, f"truth-{percent}.u32"))


def truth(a):
    base = np.fromfile(os.path.join(a.dir, "base.f32"), "<f4").reshape(-1, a.dim)
    queries = np.fromfile(os.path.join(a.dir, "queries.f32"), "<f4").reshape(-1, a.dim)
    write_truth(a.dir, base, queries)
    print(f"truth for {len(base)} x {a.dim}, {len(queries)} queries in {a.dir}")


PRODUCTS = "phone laptop tablet headphones earbuds charger keyboard mouse monitor printer camera speaker smartwatch router blender kettle toaster vacuum_cleaner coffee_machine backpack jacket sneakers boots jeans dress sofa lamp mattress pillow desk chair bicycle helmet tent sleeping_bag novel cookbook board_game puzzle guitar drum_kit microphone webcam hard_drive memory_card television projector air_fryer microwave fridge washing_machine dryer heater fan sunglasses watch wallet suitcase".split()
PRODUCTS = [p.replace("_", " ") for p in PRODUCTS]
ISSUES = ["arrived broken", "never arrived", "stopped working after a week", "was the wrong colour", "is missing a part",
          "makes a strange noise", "overheats quickly", "has a cracked screen", "does not turn on", "was charged twice",
          "was delivered to the wrong address", "came without the manual", "does not fit", "drains the battery fast",
          "will not connect to wifi", "keeps restarting", "smells of plastic", "has scratches on the side",
          "was refunded only partly", "shows an error code", "is slower than advertised", "lost its colour after washing",
          "leaks water", "has a loose cable", "arrived two weeks late", "came in a damaged box"]
ASKS = ["I want a refund", "please send a replacement", "can you help me", "what are my options",
        "I would like to return it", "how do I get my money back", "please call me back", "is this covered by the warranty",
        "can someone fix it", "I need it exchanged for another size", "please cancel the rest of my order", "what should I do now"]
OPENERS = ["Hello,", "Hi team,", "Dear support,", "Good morning,", "Hey,", "To whom it may concern,", "", "Urgent:", "Quick question:"]
FEELINGS = ["I am very disappointed", "this is frustrating", "I am not happy", "honestly I expected better",
            "it has been a bad experience", "I love the brand but", "this is the second time", "I am quite upset", "no big deal but"]
PRAISE = ["works perfectly", "is great value for money", "exceeded my expectations", "is well made", "looks beautiful",
          "is easy to set up", "is very comfortable", "is surprisingly quiet", "has excellent battery life", "feels cheap",
          "is too heavy", "is smaller than it looks in the photos", "broke after a month", "is exactly as described"]
TIMES = ["yesterday", "last week", "two days ago", "this morning", "a month ago", "on Monday", "over the weekend", "recently"]
ADJ = "lightweight durable compact waterproof wireless portable premium classic modern stylish ergonomic rechargeable foldable adjustable quiet energy-efficient".split()
FEATURES = ["a long battery life", "fast charging", "noise cancelling", "a two year warranty", "a stainless steel body",
            "a touch screen", "bluetooth 5.3", "a detachable cable", "machine washable fabric", "a carry case",
            "voice control", "a memory foam layer", "USB-C", "a built-in timer", "three speed settings"]


def make_text(rng):
    kind = rng.integers(0, 3)
    p = PRODUCTS[rng.integers(len(PRODUCTS))]
    if kind == 0:
        o, f, i, a_, t = (OPENERS[rng.integers(len(OPENERS))], FEELINGS[rng.integers(len(FEELINGS))],
                          ISSUES[rng.integers(len(ISSUES))], ASKS[rng.integers(len(ASKS))], TIMES[rng.integers(len(TIMES))])
        order = rng.integers(100000, 999999)
        return f"{o} the {p} I ordered {t} {i}, {f}. {a_}? Order {order}.".strip()
    if kind == 1:
        stars = rng.integers(1, 6)
        q1, q2 = PRAISE[rng.integers(len(PRAISE))], PRAISE[rng.integers(len(PRAISE))]
        t = TIMES[rng.integers(len(TIMES))]
        return f"{stars} stars. Bought this {p} {t}: it {q1} and {q2}. Review {rng.integers(1000, 99999)}."
    a1, a2 = ADJ[rng.integers(len(ADJ))], ADJ[rng.integers(len(ADJ))]
    f1, f2 = FEATURES[rng.integers(len(FEATURES))], FEATURES[rng.integers(len(FEATURES))]
    return f"A {a1}, {a2} {p} with {f1} and {f2}. Model {rng.integers(100, 9999)}-{chr(65 + rng.integers(26))}."


def texts(a):
    import json
    rng = np.random.default_rng(a.seed)
    out, seen = [], set()
    while len(out) < a.n + a.queries:
        t = make_text(rng)
        if t not in seen:
            seen.add(t)
            out.append(t)
    os.makedirs(a.dir, exist_ok=True)
    with open(os.path.join(a.dir, "texts.json"), "w") as f:
        json.dump({"texts": out}, f)
    print(f"{a.n} texts and {a.queries} queries in {a.dir}/texts.json")


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
    ap.add_argument("cmd", choices=["prepare", "texts", "truth", "run"])
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
    {"prepare": prepare, "texts": texts, "truth": truth, "run": run}[a.cmd](a)


if __name__ == "__main__":
    main()
