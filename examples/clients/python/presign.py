"""Ask the sessionguard sidecar for a presigned S3 URL: `presign(...)` to copy into an app, and a
tiny CLI (`python presign.py BUCKET KEY EXPIRES_IN [--method M] [--min-expires-in S]`).

Standard library only (urllib), so it drops into any Python 3.10+ app container. It follows the
answer rule of README's "Calling it from your app":

- 200: the URL, returned as the sidecar's JSON (`url`, `headers` to send, the granted `expires_in`).
- 409 `session_too_short`: the session cannot cover `expires_in`. With `min_expires_in` the sidecar
  itself signs for what the session allows, down to it; a 409 then means not even that fits.
- 503 `overloaded` / `credentials_unavailable`: retried a bounded number of times, after
  `Retry-After` when the sidecar sends one, else after 1 s, 2 s, 4 s.
- anything else (400, 403, 405, 408, 413, 415, 500): a `SessionguardError` with the sidecar's
  `error` kind and the status, never retried (the same request gets the same answer).

The sidecar's `message` is for operators: it names buckets, keys, allow-list rules and expiry
times. It is logged here and kept on the error's `body`, never in `str(error)`; show an end user
`error.user_message` (generic) instead.

tests/deploy/test_client_snippets.py runs this file against a real `sessionguard demo`.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Optional

# Where the sidecar listens: task-definition.json sets SESSIONGUARD_URL for the app container.
# Every container of an awsvpc task shares loopback, so the default is the sidecar's own default.
DEFAULT_URL = "http://127.0.0.1:9780"

# Seconds before one request gives up. Above the sidecar's --check-timeout (10 s by default): a
# request that arrives before the sidecar's first credentials answer waits for it up to
# --check-timeout, then gets its URL or a 503. A client timeout equal to --check-timeout gives up
# just as that answer arrives. Raise it with --check-timeout.
CLIENT_TIMEOUT_SECONDS = 15.0

# How many times a 503 is retried (so at most MAX_503_RETRIES + 1 requests).
MAX_503_RETRIES = 3
# Backoff when a 503 has no Retry-After: 1 s, doubling, capped. No jitter: the sidecar answers
# waiting requests from one shared credentials refresh, so callers retrying together cost nothing.
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 4.0
# A Retry-After longer than this is not waited for: the 503 is raised instead. Waiting longer holds
# the end user's request; retrying sooner ignores what the sidecar asked.
MAX_RETRY_AFTER_SECONDS = 10.0

# What an end user sees when presigning fails, whatever the cause.
GENERIC_USER_MESSAGE = "The file link could not be created. Please try again in a moment."

# Kinds this client gives to failures that are not a sidecar answer.
KIND_TIMEOUT = "timeout"
KIND_UNREACHABLE = "unreachable"
KIND_UNEXPECTED = "unexpected_response"

log = logging.getLogger("sessionguard.client")


class SessionguardError(Exception):
    """The sidecar refused (or could not be asked). `kind` is its `error` (`forbidden`,
    `session_too_short`, ...) or one of KIND_*; `status` the HTTP status (None without an answer);
    `body` the sidecar's whole JSON, `message` included: log it, do not show it."""

    def __init__(self, status: Optional[int], kind: str, body: Optional[dict] = None):
        # Only status and kind reach str(): apps print exceptions, and `message` must not leak.
        super().__init__(f"sessionguard presign failed: {status} {kind}")
        self.status = status
        self.kind = kind
        self.body = body or {}

    @property
    def user_message(self) -> str:
        return GENERIC_USER_MESSAGE


def retry_after_seconds(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """A Retry-After header as seconds to wait: delta-seconds (`1`) or an HTTP date; None when
    absent or unreadable (then the exponential backoff applies)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def backoff_seconds(retry: int, retry_after: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """How long to wait before retry number `retry` (1-based) of a 503, or None to give up.

    A plain function of values, so the rule is tested as a table (test_client_snippets.py)."""
    if retry > MAX_503_RETRIES:
        return None
    asked = retry_after_seconds(retry_after, now)
    if asked is not None:
        return asked if asked <= MAX_RETRY_AFTER_SECONDS else None
    return min(BACKOFF_FIRST_SECONDS * 2 ** (retry - 1), BACKOFF_CAP_SECONDS)


def _post(url: str, body: dict, timeout: float) -> tuple[int, dict, Optional[str]]:
    """POSTs JSON; returns (status, JSON body, Retry-After). Never through a proxy: the sidecar is
    on loopback, and urllib would otherwise honour HTTP_PROXY for it."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        try:
            with opener.open(request, timeout=timeout) as r:
                status, raw, retry_after = r.status, r.read(), r.headers.get("retry-after")
        except urllib.error.HTTPError as e:  # a 4xx or 5xx: still the sidecar's JSON answer
            with e:
                status, raw, retry_after = e.code, e.read(), e.headers.get("retry-after")
    except TimeoutError as e:  # socket.timeout is TimeoutError since Python 3.10
        raise SessionguardError(None, KIND_TIMEOUT) from e
    except urllib.error.URLError as e:
        if isinstance(e.reason, TimeoutError):
            raise SessionguardError(None, KIND_TIMEOUT) from e
        # Not retried: a sidecar that refuses connections is not running, and ECS replaces it.
        raise SessionguardError(None, KIND_UNREACHABLE) from e
    except OSError as e:  # e.g. the connection closed before an answer
        raise SessionguardError(None, KIND_UNREACHABLE) from e
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise SessionguardError(status, KIND_UNEXPECTED) from e
    if not isinstance(doc, dict):
        raise SessionguardError(status, KIND_UNEXPECTED)
    return status, doc, retry_after


def presign(
    bucket: str,
    key: str,
    expires_in: int,
    method: str = "GET",
    *,
    min_expires_in: Optional[int] = None,
    shorten: str = "sidecar",
    base_url: Optional[str] = None,
    timeout: float = CLIENT_TIMEOUT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    **fields: Any,
) -> dict:
    """A presigned URL for `method` on s3://bucket/key lasting `expires_in` seconds: the sidecar's
    200 JSON (`url`, `method`, `headers` to send with it, `expires_in` granted, `expires_at`).

    `min_expires_in` (seconds) is the shortest URL the caller accepts when the session cannot
    cover `expires_in`; None means exactly `expires_in` or an error. `shorten` says who shortens:
    - "sidecar" (the way to do it): `min_expires_in` goes in the request, and the sidecar signs for
      what the session allows, down to it, in one round trip.
    - "client": the request asks for exactly `expires_in`; on a 409 whose `available_seconds`
      reaches `min_expires_in`, one more request asks for `available_seconds`. Two round trips, for
      a caller that wants the refusal first; the retry still carries `min_expires_in`, since the
      session has a second or so less left by the time it arrives.
    Other request fields (`content_type`, `version_id`, ...) go in `fields` as the sidecar names
    them. `sleep` waits between 503 retries (tests record it). Raises SessionguardError.
    """
    if shorten not in ("sidecar", "client"):
        raise ValueError(f"shorten must be 'sidecar' or 'client', not {shorten!r}")
    url = (base_url or os.environ.get("SESSIONGUARD_URL") or DEFAULT_URL).rstrip("/") + "/v1/presign"
    body = {"bucket": bucket, "key": key, "method": method, "expires_in": expires_in, **fields}
    if min_expires_in is not None and shorten == "sidecar":
        body["min_expires_in"] = min_expires_in

    shortened_once = False
    retry = 0
    while True:
        status, doc, retry_after = _post(url, body, timeout)
        kind = doc.get("error", KIND_UNEXPECTED)
        if status == 200:
            return doc
        if status == 409 and kind == "session_too_short" and shorten == "client" and not shortened_once:
            available = doc.get("available_seconds")
            if min_expires_in is not None and isinstance(available, int) and available >= min_expires_in:
                log.info("session too short for %ss; asking for %ss", expires_in, available)
                body = {**body, "expires_in": available, "min_expires_in": min_expires_in}
                shortened_once = True
                continue
        if status == 503:
            retry += 1
            wait = backoff_seconds(retry, retry_after)
            if wait is not None:
                log.warning("sessionguard answered 503 %s; retry %d in %.1fs", kind, retry, wait)
                sleep(wait)
                continue
        # Operators read `message` in the logs; the caller shows error.user_message.
        log.warning("sessionguard refused: %s %s: %s", status, kind, doc.get("message"))
        raise SessionguardError(status, kind, doc)


def main(argv: Optional[list[str]] = None) -> int:
    """The CLI: prints the 200 JSON on stdout; on a refusal, status and kind on stderr, exit 1."""
    import argparse

    parser = argparse.ArgumentParser(description="Ask the sessionguard sidecar for a presigned S3 URL.")
    parser.add_argument("bucket")
    parser.add_argument("key")
    parser.add_argument("expires_in", type=int, help="seconds")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--min-expires-in", type=int, help="seconds: accept a URL this short")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    try:
        answer = presign(
            args.bucket, args.key, args.expires_in, args.method, min_expires_in=args.min_expires_in
        )
    except SessionguardError as e:
        print(f"{e} ({e.user_message})", file=sys.stderr)
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
