"""implicit's `recommend` on the shape of `bench_recommend.rs`: single calls, one thread.

Run with the recommender benchmark's peer environment (`bench/setup-ml.sh` makes it):
`OPENBLAS_NUM_THREADS=1 bench/.venv-ml/bin/python crates/ml/examples/bench_recommend_implicit.py
[users items factors k seen rounds] [--factors-from DIR]` (defaults 10000 50000 64 10 20 3; with
--factors-from, the trained factors in DIR/user_factors.f32 and DIR/item_factors.f32, raw f32,
and users/items from their sizes).

Random factors (uniform in [-0.5, 0.5)) in an `implicit.cpu.als.AlternatingLeastSquares` model;
each user excludes `seen` random items, given as its row of `user_items` with
`filter_already_liked_items=True` (what serving does). Each round calls `recommend(u, row, N=k)`
once per user; printed: the best round's calls per second and the pooled per-call p50 / p99.
Then re-rank: `recommend(u, row, N=100, items=candidates)` over 100 random candidates per user
(implicit's way to score and order a given list). Then one batch call for all users (`recommend(userids, user_items, N=k)`), best of `rounds`.
"""

import os
import sys
import time

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares


def main():
    argv = sys.argv[1:]
    factors_from = None
    if "--factors-from" in argv:
        at = argv.index("--factors-from")
        factors_from = argv[at + 1]
        del argv[at:at + 2]
    args = [int(a) for a in argv]
    users, items, factors, k, seen, rounds = (args + [10000, 50000, 64, 10, 20, 3][len(args):])[:6]
    rng = np.random.default_rng(1)
    model = AlternatingLeastSquares(factors=factors, num_threads=1)
    if factors_from:
        read = lambda name: np.fromfile(os.path.join(factors_from, name), dtype="<f4").reshape(-1, factors)
        model.user_factors = read("user_factors.f32")
        model.item_factors = read("item_factors.f32")
        users, items = model.user_factors.shape[0], model.item_factors.shape[0]
    else:
        model.user_factors = (rng.random((users, factors), dtype=np.float32) - 0.5)
        model.item_factors = (rng.random((items, factors), dtype=np.float32) - 0.5)
    rows = np.repeat(np.arange(users), seen)
    cols = rng.integers(0, items, users * seen)
    user_items = sp.csr_matrix((np.ones(users * seen, dtype=np.float32), (rows, cols)), shape=(users, items))
    user_items.sum_duplicates()
    print(f"implicit: {users} users, {items} items, {factors} factors, top {k}, {seen} seen items excluded per user")
    latencies = []
    best = float("inf")
    for r in range(rounds):
        started = time.perf_counter()
        for u in range(users):
            call = time.perf_counter()
            model.recommend(u, user_items[u], N=k, filter_already_liked_items=True)
            latencies.append(time.perf_counter() - call)
        seconds = time.perf_counter() - started
        best = min(best, seconds)
        print(f"round {r}: {users / seconds:.0f} calls/s ({seconds / users * 1e6:.1f} µs/call)")
    latencies.sort()
    pct = lambda q: latencies[round((len(latencies) - 1) * q)] * 1e6
    print(f"implicit recommend, one thread: best round {users / best:.0f} calls/s; per call p50 {pct(0.5):.1f} µs, p99 {pct(0.99):.1f} µs")
    cand = np.random.default_rng(3).integers(0, items, (users, 100))
    latencies = []
    best = float("inf")
    for r in range(rounds):
        started = time.perf_counter()
        for u in range(users):
            call = time.perf_counter()
            model.recommend(u, user_items[u], N=100, filter_already_liked_items=False, items=cand[u])
            latencies.append(time.perf_counter() - call)
        best = min(best, time.perf_counter() - started)
    latencies.sort()
    print(f"implicit rerank of 100 candidates (recommend with items=), one thread: best round {users / best:.0f} calls/s; per call p50 {pct(0.5):.1f} µs, p99 {pct(0.99):.1f} µs")
    ids = np.arange(users)
    best = float("inf")
    for r in range(rounds):
        started = time.perf_counter()
        model.recommend(ids, user_items, N=k, filter_already_liked_items=True)
        best = min(best, time.perf_counter() - started)
    print(f"implicit recommend, batch of all users, num_threads=1: best round {users / best:.0f} users/s")


if __name__ == "__main__":
    main()
