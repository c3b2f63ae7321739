"""bench/models.sh's driver for one size: cut, train, alias, then erasures timed to the alias move.

    models_erasure.py URL TENANT READER_KEY ADMIN_KEY OFFICER_KEY SIZE RUNS

Prints JSON lines: `models_size` (the data set, the first training and the load rates) and one
`models_erasure` per erased subject. Times are taken on this side (perf_counter, polling every
50 ms) from the moment the erasure call returned; the breakdown comes from the manifests.
"""

import json
import sys
import time
import urllib.error
import urllib.request

URL, TENANT, READER, ADMIN, OFFICER, SIZE, RUNS = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7])
BASE = f"/v1/tenants/{TENANT}"
POLL_S = 0.05
TIMEOUT_S = 3600


def call(method, path, key, body=None):
    request = urllib.request.Request(
        URL + BASE + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raise SystemExit(f"{method} {path}: {error.code} {error.read()[:500]!r}")


def wait(what, check):
    deadline = time.perf_counter() + TIMEOUT_S
    while True:
        value = check()
        if value is not None:
            return value
        if time.perf_counter() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(POLL_S)


def ready(name, version):
    def check():
        v = call("GET", f"/models/{name}/versions/{version}", READER)
        if v["state"] in ("queued", "training", "evaluating"):
            return None
        if v["state"] != "ready":
            raise SystemExit(f"{name} v{version}: {v['state']} {v.get('error')} {v.get('message')}")
        return v
    return wait(f"{name} v{version}", check)


def load_rate(v):
    t = v["timings"]
    return t["rows_read"] / (t["read_ms"] / 1000) if t["read_ms"] else float("nan")


# Each size has its own tenant.
sql = {
    "movielens": "SELECT subject, movie_id, time FROM rating WHERE rating >= 3.5",
    "synthetic": "SELECT subject, movie_id, rating, time FROM rating",
}[SIZE]
started = time.perf_counter()
cut = call("POST", "/datasets", READER, {"name": SIZE, "sql": sql})
cut_s = time.perf_counter() - started
columns = {"user": "subject", "item": "movie_id", "time": "time"}
if SIZE == "synthetic":
    columns["weight"] = "rating"
params = {"factors": 64, "iterations": 15, "regularization": 0.01, "alpha": 40, "cg_steps": 3}
body = {"name": SIZE, "algorithm": "als", "dataset": {"name": SIZE, "version": "latest"}, "columns": columns, "params": params}
if SIZE == "movielens":
    body["evaluation"] = {"split": "time", "holdout": 0.2, "k": [10]}
started = time.perf_counter()
version = call("POST", "/models", READER, body)["version"]
first = ready(SIZE, version)
train_s = time.perf_counter() - started
call("PUT", f"/models/{SIZE}/aliases/production", ADMIN, {"version": version})
rates = [load_rate(first)]

# Subjects to erase: users of the model, spread over activity (distinct per run).
prefix = "ml-user-" if SIZE == "movielens" else "syn-user-"
subjects = [f"{prefix}{n}" for n in ([10, 100, 200, 300, 400, 500, 600] if SIZE == "movielens" else [10, 1000, 20000, 50000, 100000, 150000, 199000])]
erasures = []
for run in range(RUNS):
    subject = subjects[run % len(subjects)]
    before = version
    started = time.perf_counter()
    erasure = call("POST", "/erasures", OFFICER, {"external_id": subject, "now": True})
    returned = time.perf_counter()

    def moved():
        alias = call("GET", f"/models/{SIZE}", READER)["aliases"].get("production", {}).get("version")
        return alias if alias not in (None, before) else None

    version = wait("the alias move", moved)
    to_alias = time.perf_counter() - returned

    def done():
        state = call("GET", f"/erasures/{erasure['id']}", OFFICER)["state"]
        return state if state == "done" else None

    wait("the erasure", done)
    to_done = time.perf_counter() - returned
    retrained = ready(SIZE, version)
    successor = retrained["lineage"]["dataset"]
    dataset = call("GET", f"/datasets/{SIZE}/versions/{successor['version']}?purpose=model_training", READER)
    rates.append(load_rate(retrained))
    t = retrained["timings"]
    erasures.append({
        "bench": "models_erasure", "size": SIZE, "run": run + 1,
        "call_s": round(returned - started, 4), "to_alias_s": round(to_alias, 3), "to_done_s": round(to_done, 3),
        "old_version": before, "retrained_version": version, "replaces": retrained.get("replaces"),
        "successor_dataset_version": successor["version"], "successor_build_s": dataset["build_ms"] / 1000,
        "retrain_s": retrained["duration_ms"] / 1000, "retrain_read_s": t["read_ms"] / 1000,
        "retrain_evaluation_s": t["evaluation_ms"] / 1000, "retrain_fit_s": t["fit_ms"] / 1000, "retrain_write_s": t["write_ms"] / 1000,
    })
    assert retrained.get("replaces") == before, (retrained.get("replaces"), before)

print(json.dumps({
    "bench": "models_size", "size": SIZE, "rows": cut["rows"], "subjects": cut["subjects"], "cut_s": round(cut_s, 3),
    "users": first["users"], "items": first["items"], "interactions": first["interactions"],
    "train_s": round(train_s, 3), "first_timings": first["timings"], "load_rows_per_s": [round(r) for r in rates],
    "recall10": (first.get("metrics") or {}).get("at", [{}])[0].get("recall"),
}))
for e in erasures:
    print(json.dumps(e))
