"""Drives a live server through the *installed* steward_client package (issue 14 item 6).

Run by crates/cli/tests/python_package.rs with the interpreter of a fresh venv into which
``pip install ./python`` installed the package: SQL to a pyarrow.Table, a model trained and
read back with its metrics, recommendations, similar items, search and retrieval, an
experiment's results, and a typed error. Prints one JSON line of what it saw; exits non-zero
on a failed check.

    python package_client.py URL READER_KEY TENANT EXPECTED_VERSION
"""
import json
import sys

import pyarrow as pa
import steward_client
from steward_client import Client, StewardError


def main() -> int:
    url, key, tenant, expected = sys.argv[1:5]
    assert steward_client.__version__ == expected, (steward_client.__version__, expected)
    assert "site-packages" in steward_client.__file__, steward_client.__file__
    c = Client(url, key=key, tenant=tenant)

    table = c.sql("SELECT track_id, count(*) AS n FROM play GROUP BY track_id ORDER BY n DESC, track_id",
                  purpose="analytics")
    assert isinstance(table, pa.Table), type(table)
    assert table.column_names == ["track_id", "n"], table.column_names
    assert table.num_rows > 0

    queued = c.train("recs", "plays", {"user": "subject", "item": "track_id", "time": "time"},
                     algorithm="als", params={"factors": 8, "iterations": 5, "regularization": 0.1, "alpha": 20},
                     evaluation={"split": "leave_last", "holdout": 1, "k": [5]})
    ready = c.wait_for_model("recs", queued["version"], timeout=300)
    assert ready["state"] == "ready", ready
    assert "metrics" in ready, ready
    assert any(m["name"] == "recs" for m in c.models())

    rec = c.recommend("listener-0@example.org", model="recs", k=5, purpose="personalization")
    assert rec["personalized"] is True, rec
    assert len(rec["items"]) == 5, rec
    sim = c.similar("trk_0_1", model="recs", k=3, purpose="personalization")
    assert len(sim["items"]) == 3, sim

    hits = c.search("catalog", "quiet acoustic guitar songs", k=3, purpose="personalization")
    assert hits and hits[0]["id"] == "trk_1_0", hits
    passages = c.retrieve("catalog", "which track has an acoustic guitar?", k=2, purpose="personalization")
    assert passages and "citation" in passages[0], passages

    results = c.experiment_results("e1", purpose="personalization")
    assert {a["name"] for a in results["arms"]} == {"control", "als"}, results

    code = None
    try:
        c.sql("SELECT * FROM nowhere", purpose="analytics")
    except StewardError as e:
        assert e.status == 400 and e.code, (e.status, e.code)
        code = e.code
    assert code, "a query of a missing table succeeded"

    print(json.dumps({"sql_rows": table.num_rows, "model_version": ready["version"],
                      "recommended": len(rec["items"]), "search_first": hits[0]["id"],
                      "error_code": code}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
