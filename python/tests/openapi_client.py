"""Drives the live server through the client openapi-python-client generated from its
/openapi.json (crates/cli/tests/openapi_fuzz.rs): lists the schemas, ingests an event and
resolves its subject, each an authenticated call through the generated functions and models.

Usage: openapi_client.py BASE_URL TENANT KEY, with the generated package `steward_api` on
PYTHONPATH. Prints one JSON line with what it read; exits non-zero on any surprise.
"""

import datetime
import json
import sys

from steward_api import AuthenticatedClient
from steward_api.api.default import (
    get_schemas_of_tenant,
    post_events_of_tenant,
    post_subjects_resolve_of_tenant,
)
from steward_api.models import Event, IngestReport, Resolve, SchemaVersions, Subject
from steward_api.models.event_properties_type_0 import EventPropertiesType0


def main() -> None:
    base, tenant, key = sys.argv[1:4]
    client = AuthenticatedClient(base_url=base, token=key, raise_on_unexpected_status=True)

    schemas = get_schemas_of_tenant.sync(tenant, client=client)
    assert isinstance(schemas, SchemaVersions), f"schemas: {schemas!r}"
    types = sorted(s.event_type for s in schemas.schemas)

    properties = EventPropertiesType0.from_dict({"track_id": "generated-client-track", "ms_played": 1})
    event = Event(
        event_id="generated-client-1",
        type_="play",
        subject="generated-client-person",
        time=datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.timezone.utc),
        properties=properties,
    )
    report = post_events_of_tenant.sync(tenant, client=client, body=[event])
    assert isinstance(report, IngestReport), f"ingest: {report!r}"

    subject = post_subjects_resolve_of_tenant.sync(
        tenant, client=client, body=Resolve(external_id="generated-client-person")
    )
    assert isinstance(subject, Subject), f"resolve: {subject!r}"

    print(json.dumps({
        "event_types": types,
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "subject": subject.subject,
    }))


if __name__ == "__main__":
    main()
