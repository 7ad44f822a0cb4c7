"""Schemathesis hooks for test_api_fuzz.py, loaded through SCHEMATHESIS_HOOKS.

openapi.yaml allows any well-formed bucket name, any non-empty string as a duration, any key and a
content_type with either method, so a fuzzer left alone almost never sends a request the demo would
sign: nearly every POST /v1/presign ends as 400 or 403, and the signing path with its 200 and 409
bodies goes untested. In three requests out of four, this hook moves a generated body towards one
the demo signs: the bucket becomes the one its method may use under the demo's
`--presign-allow GET:reports/,PUT:uploads/` (the other one otherwise, which keeps 403 covered),
string durations become real ones, control characters leave the key, and a GET loses its
content_type. The fourth request keeps what the generator made, so validation is still fuzzed.

Only values that are already schema-valid are replaced, by other schema-valid ones: the invalid
part of a negative case reaches the server untouched, and the server still has to reject it.
"""

from __future__ import annotations

import json
import re
import unicodedata
import zlib

import schemathesis

PRESIGN = "/v1/presign"
# The rules the test starts the demo with.
ALLOWED = {"GET": "reports", "PUT": "uploads"}
# openapi.yaml's PresignRequest.bucket.
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
# Durations the server accepts: some within the demo's 2h session (200), some beyond it (409, or
# a shorter URL when min_expires_in allows), up to SigV4's 7 days.
DURATIONS = ["1", "90s", "10m", "1h", "1h 30m", "3h", "12h", "2d", "7d"]


def _valid_bucket(value) -> bool:
    return isinstance(value, str) and 3 <= len(value) <= 63 and bool(BUCKET.match(value))


def _valid_content_type(value) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 256


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
    if method == "GET" and _valid_content_type(body.get("content_type")):
        del body["content_type"]
    return body
