"""Schemathesis hooks for crates/cli/tests/openapi_fuzz.rs (loaded through SCHEMATHESIS_HOOKS).

Steward takes NDJSON bodies (event ingest, item and consent imports); schemathesis has no
serializer for application/x-ndjson, so the generated text goes out as it is (UTF-8).
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, list):
        return "".join(json.dumps(line) + "\n" for line in value).encode("utf-8")
    return (json.dumps(value) + "\n").encode("utf-8")
