# SPDX-License-Identifier: Apache-2.0
"""Validates an NDJSON file of OpenLineage RunEvents with the official openlineage-python client.

    python/.venv/bin/python python/tests/validate_openlineage.py FILE [--no-require-schema]

Prints ``{"events": n, "runs": r, "ok": true}`` and exits 0, or ``{"ok": false, "line": i,
"error": "..."}`` (the first error) and exits 1.

How an event is validated, and why this way:

* openlineage-python (1.54) does not ship the spec's JSON Schema files (its generator downloads
  them at build time), so there is no official schema document to run ``jsonschema`` against
  offline. What it does ship is the spec *compiled into Python*: ``openlineage.client.event_v2``
  and the ``generated`` facet classes are generated from the JSON Schema, with the spec's
  validators (UUID runId, ISO 8601 eventTime, eventType enum, URI fields) and each object's
  ``schemaURL``. The most authoritative offline check is therefore: structure the event into those
  classes (every key must map to a field, every value must have the field's type), let their
  validators run, serialise the object back with the client's own ``Serde.to_dict`` and require
  the result to equal the input. An event that survives the round trip is, key for key, one the
  official client would itself emit.
* On top of that, the constraints of the JSON Schema that the Python classes leave to the
  schema (they default them instead): ``producer``/``schemaURL`` and each facet's
  ``_producer``/``_schemaURL`` must be present and absolute URIs, ``eventTime`` must be an
  RFC 3339 date-time with an offset, ``runId`` a canonical UUID string (JSON Schema ``format:
  uuid``), and no value may be ``null``.
* ``schemaURL`` of the event and ``_schemaURL`` of each standard facet must name the document and
  definition the client names (for example ``.../spec/2-0-2/OpenLineage.json#/$defs/RunEvent``),
  at the same major version and no newer than the client knows. Facets the client does not know
  (custom facets) are kept as opaque objects, as the spec allows.
* Deliberately stricter than the JSON Schema: unknown keys in the event, run, job, datasets and
  standard facets are refused (for an emitter under test they are typos), only RunEvents are
  accepted, and per runId the events must be ordered START, then at most one of
  COMPLETE/FAIL/ABORT (only OTHER after it), with one job and non-decreasing eventTime. Unless
  ``--no-require-schema``, every output of a COMPLETE event must carry the ``schema`` facet.
"""

from __future__ import annotations

import argparse
import datetime
import enum
import json
import re
import sys
import types
import typing
from typing import Any

import attr
from openlineage.client import __version__ as client_version
from openlineage.client import event_v2, facet_v2
from openlineage.client.serde import Serde

F = facet_v2
# Standard facet names (the keys the spec and the client use) -> the client's generated classes.
STANDARD_FACETS: dict[type, dict[str, type]] = {
    F.DatasetFacet: {
        "schema": F.schema_dataset.SchemaDatasetFacet,
        "dataSource": F.datasource_dataset.DatasourceDatasetFacet,
        "documentation": F.documentation_dataset.DocumentationDatasetFacet,
        "version": F.dataset_version_dataset.DatasetVersionDatasetFacet,
        "symlinks": F.symlinks_dataset.SymlinksDatasetFacet,
        "storage": F.storage_dataset.StorageDatasetFacet,
        "ownership": F.ownership_dataset.OwnershipDatasetFacet,
        "columnLineage": F.column_lineage_dataset.ColumnLineageDatasetFacet,
        "lifecycleStateChange": F.lifecycle_state_change_dataset.LifecycleStateChangeDatasetFacet,
        "datasetType": F.dataset_type_dataset.DatasetTypeDatasetFacet,
        "catalog": F.catalog_dataset.CatalogDatasetFacet,
        "tags": F.tags_dataset.TagsDatasetFacet,
    },
    F.RunFacet: {
        "parent": F.parent_run.ParentRunFacet,
        "nominalTime": F.nominal_time_run.NominalTimeRunFacet,
        "errorMessage": F.error_message_run.ErrorMessageRunFacet,
        "processing_engine": F.processing_engine_run.ProcessingEngineRunFacet,
        "externalQuery": F.external_query_run.ExternalQueryRunFacet,
        "tags": F.tags_run.TagsRunFacet,
    },
    F.JobFacet: {
        "jobType": F.job_type_job.JobTypeJobFacet,
        "sql": F.sql_job.SQLJobFacet,
        "sourceCodeLocation": F.source_code_location_job.SourceCodeLocationJobFacet,
        "sourceCode": F.source_code_job.SourceCodeJobFacet,
        "documentation": F.documentation_job.DocumentationJobFacet,
        "ownership": F.ownership_job.OwnershipJobFacet,
        "tags": F.tags_job.TagsJobFacet,
    },
    F.InputDatasetFacet: {
        "dataQualityMetrics": F.data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet,
        "inputStatistics": F.input_statistics_input_dataset.InputStatisticsInputDatasetFacet,
    },
    F.OutputDatasetFacet: {
        "outputStatistics": F.output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet,
    },
}
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SCHEMA_URL = re.compile(r"^(https://openlineage\.io/spec/(?:facets/)?)(\d+)-(\d+)-(\d+)(/[^#]+#.*)$")
SPEC_REQUIRED = {"producer", "schemaURL", "_producer", "_schemaURL"}  # defaulted by the classes
TERMINAL = {"COMPLETE", "FAIL", "ABORT"}


class Invalid(Exception):
    pass


def check_schema_url(got: Any, want: str, path: str) -> None:
    """``got`` must be ``want`` up to the version, at the same major and not newer than ``want``."""
    g, w = SCHEMA_URL.match(got) if isinstance(got, str) else None, SCHEMA_URL.match(want)
    assert w, want
    if not g or (g[1], g[5]) != (w[1], w[5]):
        raise Invalid(f"{path}: {got!r} is not a version of {want!r}")
    gv, wv = tuple(map(int, g.group(2, 3, 4))), tuple(map(int, w.group(2, 3, 4)))
    if gv[0] != wv[0] or gv > wv:
        raise Invalid(f"{path}: {got!r}: openlineage-python {client_version} knows {want!r}")


def build(tp: Any, value: Any, path: str) -> Any:
    """Structures JSON ``value`` into the client's type ``tp``, refusing anything it cannot hold."""
    if value is None:
        raise Invalid(f"{path}: null is not allowed (omit the key instead)")
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in args if a is not type(None)]
        return build(inner, value, path)
    if tp is Any:
        return value
    if tp in (str, int, float, bool):
        ok = isinstance(value, tp) and (tp is bool or not isinstance(value, bool))
        if tp is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            raise Invalid(f"{path}: expected {tp.__name__}, got {json.dumps(value)[:80]}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise Invalid(f"{path}: expected an array")
        return [build(args[0], v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise Invalid(f"{path}: expected an object")
        if isinstance(args[1], type) and issubclass(args[1], F.BaseFacet):
            return {k: build_facet(args[1], k, v, f"{path}.{k}") for k, v in value.items()}
        return {k: build(args[1], v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise Invalid(f"{path}: {value!r} is not one of {[e.value for e in tp]}") from None
    if attr.has(tp):
        return build_object(tp, value, path)
    raise Invalid(f"{path}: the validator cannot structure {tp!r}")


def build_object(cls: type, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise Invalid(f"{path}: expected an object")
    fields = {f.name: f for f in attr.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise Invalid(f"{path}: unknown keys {unknown} for {cls.__name__}")
    missing = sorted(n for n, f in fields.items() if n not in value and (
        n in SPEC_REQUIRED or (f.init and f.default is attr.NOTHING)))
    if missing:
        raise Invalid(f"{path}: missing required keys {missing}")
    kwargs = {}
    for name, f in fields.items():
        if name in ("producer", "_producer") and not URI.match(str(value[name])):
            raise Invalid(f"{path}.{name}: {value[name]!r} is not an absolute URI")
        if name in value and f.init:
            kwargs[f.alias] = build(hints[name], value[name], f"{path}.{name}")
    try:
        obj = cls(**kwargs)  # runs the client's validators, and sets schemaURL to the client's own
    except (ValueError, TypeError, OverflowError) as e:
        raise Invalid(f"{path}: rejected by openlineage-python's {cls.__name__}: {e}") from None
    for name in ("schemaURL", "_schemaURL"):
        if name in fields:
            check_schema_url(value[name], getattr(obj, name), f"{path}.{name}")
    return obj


def build_facet(base: type, key: str, value: Any, path: str) -> Any:
    cls = STANDARD_FACETS.get(base, {}).get(key)
    if cls is not None:
        return build_object(cls, value, path)
    # A custom facet: only the BaseFacet part is specified; the rest is opaque.
    if not isinstance(value, dict):
        raise Invalid(f"{path}: expected an object")
    for name in ("_producer", "_schemaURL"):
        if not isinstance(value.get(name), str) or not URI.match(value[name]):
            raise Invalid(f"{path}.{name}: required, and must be an absolute URI")
    extra = {k: v for k, v in value.items() if k not in ("_producer", "_schemaURL", "_deleted")}
    kw = {"producer": value["_producer"]} | ({"deleted": value["_deleted"]} if "_deleted" in value else {})
    try:
        return base(**kw).with_additional_properties(**extra)
    except (ValueError, TypeError) as e:
        raise Invalid(f"{path}: rejected by openlineage-python's {base.__name__}: {e}") from None


def same(want: Any, got: Any, path: str) -> None:
    """Input ``want`` must equal the round trip ``got``; defaults the input omitted are ignored,
    and so are (already checked) schema URLs, which the client always sets to its own."""
    if isinstance(want, dict) and isinstance(got, dict):
        for k in set(want) | set(got):
            if k in ("schemaURL", "_schemaURL"):
                continue
            if k not in want and got[k] in ([], {}):
                continue
            if k not in want or k not in got:
                raise Invalid(f"{path}.{k}: lost or added by the round trip through openlineage-python")
            same(want[k], got[k], f"{path}.{k}")
    elif isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (w, g) in enumerate(zip(want, got)):
            same(w, g, f"{path}[{i}]")
    elif want != got or type(want) is not type(got):
        raise Invalid(f"{path}: {want!r} became {got!r} in the round trip through openlineage-python")


def validate_event(ev: Any, require_schema: bool) -> event_v2.RunEvent:
    if not isinstance(ev, dict) or "run" not in ev:
        raise Invalid("not a RunEvent (no run)")
    if "eventType" not in ev:
        raise Invalid("eventType is required")
    for k in ("eventTime",):
        if not isinstance(ev.get(k), str) or not RFC3339.match(ev[k]):
            raise Invalid(f"{k}: {ev.get(k)!r} is not an RFC 3339 date-time with an offset")
    run_id = ev["run"].get("runId") if isinstance(ev["run"], dict) else None
    if not isinstance(run_id, str) or not UUID.match(run_id):
        raise Invalid(f"run.runId: {run_id!r} is not a canonical lowercase UUID")
    obj = build_object(event_v2.RunEvent, ev, "$")
    same(ev, Serde.to_dict(obj), "$")
    if require_schema and ev["eventType"] == "COMPLETE":
        for i, o in enumerate(ev.get("outputs", [])):
            if "schema" not in o.get("facets", {}):
                raise Invalid(f"$.outputs[{i}]: a COMPLETE event's output needs the schema facet")
    return obj


def when(t: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(t.replace("Z", "+00:00").replace("z", "+00:00"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file")
    p.add_argument("--no-require-schema", action="store_true")
    p.add_argument("--allow-empty", action="store_true")
    a = p.parse_args()
    runs: dict[str, dict[str, Any]] = {}
    n, line = 0, 0
    try:
        with open(a.file, encoding="utf-8") as fh:
            for line, text in enumerate(fh, 1):
                if not text.strip():
                    continue
                try:
                    ev = json.loads(text)
                except ValueError as e:
                    raise Invalid(f"not JSON: {e}") from None
                validate_event(ev, not a.no_require_schema)
                n += 1
                rid, kind, job = ev["run"]["runId"], ev["eventType"], (ev["job"]["namespace"], ev["job"]["name"])
                r = runs.get(rid)
                if r is None:
                    if kind != "START":
                        raise Invalid(f"run {rid}: first event is {kind}, not START")
                    runs[rid] = {"job": job, "last": kind, "time": when(ev["eventTime"]), "ended": False}
                    continue
                if kind == "START":
                    raise Invalid(f"run {rid}: a second START")
                if r["ended"] and kind != "OTHER":
                    raise Invalid(f"run {rid}: {kind} after the run ended with {r['last']}")
                if job != r["job"]:
                    raise Invalid(f"run {rid}: job {job} differs from its START's {r['job']}")
                if when(ev["eventTime"]) < r["time"]:
                    raise Invalid(f"run {rid}: eventTime {ev['eventTime']} is before the previous event's")
                r.update(last=kind, time=when(ev["eventTime"]), ended=r["ended"] or kind in TERMINAL)
        if n == 0 and not a.allow_empty:
            raise Invalid("no events")
    except Exception as e:  # noqa: BLE001 - every failure is reported as one JSON line
        msg = str(e) if isinstance(e, Invalid) else f"{type(e).__name__}: {e}"
        print(json.dumps({"ok": False, "line": line, "error": msg}))
        return 1
    unfinished = sorted(k for k, r in runs.items() if not r["ended"])
    print(json.dumps({"events": n, "runs": len(runs), "unfinished_runs": unfinished,
                      "openlineage_python": client_version, "ok": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
