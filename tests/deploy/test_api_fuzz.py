"""openapi.yaml against the running daemon, fuzzed by schemathesis: no request, valid or not, gets a
5xx, and every answer has a status, a content type and a body that the spec documents.

Two runs: every operation with valid and invalid data, then POST /v1/presign with valid data only,
which is what reaches the signing path. The demo signs for `GET:reports/` and `PUT:uploads/`;
schemathesis_hooks.py steers generated buckets and durations towards those, so the 200 and 409
bodies are checked too, not only validation. Each run is bounded by a fixed number of examples per
operation and a fixed seed (SESSIONGUARD_FUZZ_SEED explores others), and by a time limit.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from conftest import REPO, run, start_demo, tool

SPEC = REPO / "openapi.yaml"
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
CONFIG = Path(__file__).with_name("schemathesis.toml")
PRESIGN_ALLOW = "GET:reports/,PUT:uploads/"
MAX_EXAMPLES = 100
SEED = int(os.environ.get("SESSIONGUARD_FUZZ_SEED", "1"))
# A run takes 2-10 s with the debug binary on 2 cores.
TIME_LIMIT_SECONDS = 60

# Every schemathesis check, among them not_a_server_error, status_code_conformance,
# content_type_conformance, response_schema_conformance, negative_data_rejection (schema-invalid
# requests get a 4xx) and unsupported_method (405 with Allow) - except positive_data_acceptance,
# which expects every schema-valid request to succeed. The server also applies rules a JSON schema
# cannot state: min_expires_in <= expires_in, each operation field only with its methods (PUT's
# signed headers, GET's response overrides), a KMS key only with KMS, one checksum, metadata names
# and size, a duration string of 1 s to 7 days. Those requests are correctly answered 400, which
# that check would report as failures.
EXCLUDED_CHECKS = "positive_data_acceptance"


def schemathesis(
    spec: Path, base_url: str, workdir: Path, *extra: str
) -> tuple[int, str, list[dict]]:
    """Runs schemathesis; returns its exit code, its output and the HAR entries it recorded."""
    har = workdir / "fuzz.har"
    har.unlink(missing_ok=True)
    argv = [
        tool("schemathesis"), "--config-file", str(CONFIG), "run", str(spec),
        "--url", base_url,
        "--checks", "all", "--exclude-checks", EXCLUDED_CHECKS,
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED),
        "--workers", "1",
        "--request-timeout", "5",
        "--generation-database", "none",
        # Failures then show the real response; the demo's credentials are fake.
        "--output-sanitize", "false",
        "--no-color",
        "--report", "har", "--report-har-path", str(har),
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "NO_COLOR": "1"}
    # cwd: schemathesis and hypothesis keep state in ./.schemathesis and ./.hypothesis.
    r = run(argv, timeout=TIME_LIMIT_SECONDS, cwd=workdir, env=env)
    entries = json.loads(har.read_text())["log"]["entries"] if har.exists() else []
    return r.returncode, r.stdout + r.stderr, entries


@pytest.fixture
def presign_demo(sessionguard_bin, tmp_path):
    proc = start_demo(
        sessionguard_bin, tmp_path / "demo.log", "--presign-allow", PRESIGN_ALLOW, session="2h"
    )
    yield proc
    proc.stop()


def presign_statuses(entries: list[dict]) -> Counter:
    """Statuses of the requests to /v1/presign, POST or any other method."""
    return Counter(
        e["response"]["status"] for e in entries if e["request"]["url"].endswith("/v1/presign")
    )


def assert_passed(code: int, output: str, daemon) -> None:
    assert code == 0, f"schemathesis failed (seed {SEED}):\n{output}"
    summary = re.search(r"(\d+) generated, (\d+) passed", output)
    assert summary and summary[1] == summary[2], output
    assert daemon.popen.poll() is None, f"the daemon died:\n{daemon.output()}"
    assert "panicked" not in daemon.output()


def test_api_matches_openapi_under_fuzzing(presign_demo, tmp_path):
    """Valid and invalid requests to every operation and method: no 5xx, nothing undocumented,
    invalid input rejected with a 4xx, other methods 405 with Allow."""
    base_url = f"http://{presign_demo.extra['listen']}"
    code, output, entries = schemathesis(SPEC, base_url, tmp_path, "--mode", "all")
    assert_passed(code, output, presign_demo)

    tested = {(e["request"]["method"], e["request"]["url"].removeprefix(base_url)) for e in entries}
    for path in ("/metrics", "/healthz", "/readyz", "/v1/credentials"):
        assert {("GET", path), ("HEAD", path)} <= tested, f"{path} not exercised"
    presign = presign_statuses(entries)
    for status in (400, 405, 415):
        assert presign[status] > 0, f"no request to /v1/presign got {status}: {dict(presign)}"


def test_presign_signing_path_matches_openapi(presign_demo, tmp_path):
    """Valid presign requests reach every outcome (signed, forbidden, session too short) and each
    answer matches its documented body."""
    base_url = f"http://{presign_demo.extra['listen']}"
    code, output, entries = schemathesis(
        SPEC, base_url, tmp_path, "--mode", "positive", "--include-path", "/v1/presign"
    )
    assert_passed(code, output, presign_demo)

    presign = presign_statuses(entries)
    for status in (200, 403, 409):
        assert presign[status] > 0, f"no request to /v1/presign got {status}: {dict(presign)}"
