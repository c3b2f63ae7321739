# SPDX-License-Identifier: Apache-2.0
"""Self-test of validate_openlineage.py: it must accept the event shape Steward emits and refuse
each way of breaking it. The sample events are written to a temporary directory, never committed.

    python/.venv/bin/python -m unittest discover -s python/tests -p 'test_*.py'
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
import unittest
from typing import Any

VALIDATOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "validate_openlineage.py")
PRODUCER = "https://github.com/steward/steward/tree/0.1.0"
RUN_ID = "0190f5a2-7c1e-7b3a-9d2e-4f5a6b7c8d9e"


def event(kind: str, time: str) -> dict[str, Any]:
    """The shape Steward emits for building a data set version (START and COMPLETE/FAIL)."""
    return {
        "eventType": kind,
        "eventTime": time,
        "run": {"runId": RUN_ID},
        "job": {"namespace": "steward://acme", "name": "datasets.churn_features"},
        "inputs": [{"namespace": "steward://acme", "name": "events"}],
        "outputs": [{
            "namespace": "steward://acme",
            "name": "datasets.churn_features/v3",
            "facets": {"schema": {
                "_producer": PRODUCER,
                "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
                "fields": [{"name": "user_id", "type": "string"}, {"name": "amount", "type": "int64"}],
            }},
        }],
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }


def pair() -> list[dict[str, Any]]:
    return [event("START", "2026-05-01T12:00:00.000Z"), event("COMPLETE", "2026-05-01T12:00:01.250Z")]


class ValidatorTest(unittest.TestCase):
    def run_validator(self, events: list[Any], *args: str) -> tuple[int, dict[str, Any]]:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "events.ndjson")
            with open(path, "w", encoding="utf-8") as f:
                for e in events:
                    f.write((e if isinstance(e, str) else json.dumps(e)) + "\n")
            p = subprocess.run([sys.executable, VALIDATOR, path, *args], capture_output=True, text=True)
        self.assertEqual(p.stderr, "")
        return p.returncode, json.loads(p.stdout)

    def accepts(self, events: list[Any], *args: str) -> dict[str, Any]:
        rc, out = self.run_validator(events, *args)
        self.assertEqual((rc, out.get("ok")), (0, True), out)
        return out

    def rejects(self, events: list[Any], fragment: str) -> None:
        rc, out = self.run_validator(events)
        self.assertEqual((rc, out.get("ok")), (1, False), out)
        self.assertIn(fragment, out["error"])

    def broken(self, index: int, edit: Any, fragment: str) -> None:
        events = pair()
        edit(events[index])
        self.rejects(events, fragment)

    def test_valid_pair(self) -> None:
        out = self.accepts(pair())
        self.assertEqual((out["events"], out["runs"], out["unfinished_runs"]), (2, 1, []))

    def test_valid_variants(self) -> None:
        fail = pair()
        fail[1]["eventType"] = "FAIL"
        fail[1]["run"]["facets"] = {"errorMessage": {
            "_producer": PRODUCER,
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
            "message": "query failed", "programmingLanguage": "rust"}}
        self.accepts(fail)
        custom = pair()
        custom[1]["outputs"][0]["facets"]["steward_version"] = {
            "_producer": PRODUCER, "_schemaURL": "https://example.com/facets/1-0-0/StewardVersion.json",
            "version": 3, "content_sha256": "ab" * 32}
        self.accepts(custom)
        self.assertEqual(self.accepts(pair()[:1])["unfinished_runs"], [RUN_ID])
        older = pair()
        older[0]["schemaURL"] = "https://openlineage.io/spec/2-0-0/OpenLineage.json#/$defs/RunEvent"
        self.accepts(older)
        no_schema = pair()
        del no_schema[1]["outputs"][0]["facets"]
        self.accepts(no_schema, "--no-require-schema")

    def test_run_id(self) -> None:
        self.broken(0, lambda e: e["run"].pop("runId"), "runId")
        self.broken(0, lambda e: e["run"].update(runId="run-1"), "runId")
        self.broken(0, lambda e: e["run"].update(runId=RUN_ID.upper()), "runId")
        self.broken(0, lambda e: e["run"].update(runId=RUN_ID.replace("-", "")), "runId")

    def test_event_fields(self) -> None:
        self.broken(0, lambda e: e.pop("producer"), "producer")
        self.broken(0, lambda e: e.pop("schemaURL"), "schemaURL")
        self.broken(0, lambda e: e.update(producer="steward"), "absolute URI")
        self.broken(0, lambda e: e.update(eventType="DONE"), "DONE")
        self.broken(0, lambda e: e.pop("eventType"), "eventType")
        self.broken(0, lambda e: e.update(eventTime="2026-05-01T12:00:00"), "RFC 3339")
        self.broken(0, lambda e: e.update(eventTime="yesterday"), "RFC 3339")
        self.broken(0, lambda e: e.update(runID=RUN_ID), "unknown keys")
        self.broken(0, lambda e: e["job"].pop("namespace"), "namespace")
        self.broken(0, lambda e: e["inputs"][0].update(name=7), "expected str")
        self.broken(0, lambda e: e.update(inputs=None), "null")
        self.broken(0, lambda e: e.update(schemaURL="https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent"),
                    "not a version of")
        self.broken(0, lambda e: e.update(schemaURL="https://openlineage.io/spec/9-0-0/OpenLineage.json#/$defs/RunEvent"),
                    "knows")

    def test_schema_facet(self) -> None:
        facet = lambda e: e["outputs"][0]["facets"]["schema"]  # noqa: E731
        self.broken(1, lambda e: facet(e).pop("_producer"), "_producer")
        self.broken(1, lambda e: facet(e).pop("_schemaURL"), "_schemaURL")
        self.broken(1, lambda e: facet(e).update(_schemaURL="https://openlineage.io/spec/facets/1-9-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"),
                    "knows")
        self.broken(1, lambda e: facet(e)["fields"][0].pop("name"), "name")
        self.broken(1, lambda e: facet(e)["fields"][0].update(nullable=True), "unknown keys")
        self.broken(1, lambda e: facet(e)["fields"][0].update(type=None), "null")
        self.broken(1, lambda e: e["outputs"][0].pop("facets"), "schema facet")
        self.broken(1, lambda e: e["outputs"][0]["facets"].update(custom={"x": 1}), "_producer")

    def test_run_order(self) -> None:
        start, complete = pair()
        self.rejects([complete, start], "not START")
        self.rejects([start, start, complete], "second START")
        self.rejects([start, complete, complete], "after the run ended")
        late = copy.deepcopy(start)
        late["eventTime"] = "2026-05-01T13:00:00Z"
        self.rejects([late, complete], "before the previous")
        other_job = copy.deepcopy(complete)
        other_job["job"]["name"] = "something.else"
        self.rejects([start, other_job], "differs")

    def test_file_level(self) -> None:
        self.rejects([], "no events")
        self.rejects(["{not json"], "not JSON")
        self.rejects([[1, 2]], "not a RunEvent")


if __name__ == "__main__":
    unittest.main()
