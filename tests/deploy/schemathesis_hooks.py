"""Schemathesis hooks for test_api_fuzz.py, loaded through SCHEMATHESIS_HOOKS.

openapi.yaml allows any well-formed bucket name, any non-empty string as a duration, any key, and
every operation field with any method, so a fuzzer left alone almost never sends a request the demo
would sign: nearly every POST /v1/presign ends as 400 or 403, and the signing path with its 200 and
409 bodies goes untested. In three requests out of four, this hook moves a generated body towards
one the demo signs: the bucket becomes the one its method may use under the demo's
`--presign-allow GET:reports/,PUT:uploads/` (the other one otherwise, which keeps 403 covered),
string durations become real ones, control characters leave the key, and the fields of other
methods leave the body (a GET loses `content_type` and `metadata`, a PUT `version_id`; a KMS key
without KMS and all checksums but one go too). The fourth request keeps what the generator made,
so validation is still fuzzed.

Only values that are already schema-valid are replaced or removed, by other schema-valid ones: the
invalid part of a negative case reaches the server untouched, and the server still has to reject
it.
"""

from __future__ import annotations

import json
import re
import unicodedata
import zlib
from pathlib import Path

import jsonschema
import schemathesis
import yaml

PRESIGN = "/v1/presign"
# The rules the test starts the demo with (`GET` also allows HEAD; nothing allows DELETE).
ALLOWED = {"GET": "reports", "HEAD": "reports", "PUT": "uploads"}
SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi.yaml").read_text())
SCHEMAS = SPEC["components"]["schemas"]


def _methods(schema: dict) -> tuple:
    if "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    return tuple(schema.get("x-methods", ()))


# The methods each operation field applies to (the server answers 400 for any other), as
# openapi.yaml's `x-methods` lists them (a Rust test holds those to the server's declaration).
FIELD_METHODS = {
    name: _methods(schema)
    for name, schema in SCHEMAS["PresignRequest"]["properties"].items()
    if _methods(schema)
}
CHECKSUMS = tuple(name for name in FIELD_METHODS if name.startswith("checksum_"))
# openapi.yaml's PresignRequest.bucket.
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
# Durations the server accepts: some within the demo's 2h session (200), some beyond it (409, or
# a shorter URL when min_expires_in allows), up to SigV4's 7 days.
DURATIONS = ["1", "90s", "10m", "1h", "1h 30m", "3h", "12h", "2d", "7d"]


def _valid_bucket(value) -> bool:
    return isinstance(value, str) and 3 <= len(value) <= 63 and bool(BUCKET.match(value))


def _valid(field: str, value) -> bool:
    """Whether `value` is schema-valid for PresignRequest's `field`."""
    schema = SCHEMAS["PresignRequest"]["properties"][field]
    if "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        return False
    return True


class _Dice:
    """Choices derived from the body itself, so a seed reproduces a run (hash() is salted)."""

    def __init__(self, body: dict):
        self.bits = zlib.crc32(json.dumps(body, sort_keys=True, default=repr).encode())

    def roll(self, sides: int) -> int:
        value = self.bits % sides
        self.bits //= sides
        return value


@schemathesis.hook
def map_body(context, body):
    operation = context.operation
    if operation is None or operation.path != PRESIGN or operation.method.upper() != "POST":
        return body
    if not isinstance(body, dict):
        return body
    dice = _Dice(body)
    if dice.roll(4) == 0:
        return body
    body = dict(body)
    method = body.get("method", "GET")
    if _valid_bucket(body.get("bucket")):
        allowed = ALLOWED.get(method, "reports")
        other = "uploads" if allowed == "reports" else "reports"
        body["bucket"] = other if dice.roll(4) == 0 else allowed
    for field in ("expires_in", "min_expires_in"):
        value = body.get(field)
        if isinstance(value, str) and value:
            body[field] = DURATIONS[dice.roll(len(DURATIONS))]
    key = body.get("key")
    if isinstance(key, str):
        body["key"] = "".join("_" if unicodedata.category(c) == "Cc" else c for c in key)
    for field, methods in FIELD_METHODS.items():
        if field in body and method not in methods and _valid(field, body[field]):
            del body[field]
    kms = body.get("server_side_encryption") in ("aws:kms", "aws:kms:dsse")
    if "sse_kms_key_id" in body and not kms and _valid("sse_kms_key_id", body["sse_kms_key_id"]):
        del body["sse_kms_key_id"]
    for extra in [c for c in CHECKSUMS if c in body][1:]:
        if _valid(extra, body[extra]):
            del body[extra]
    return body
