"""The app-side client snippets (examples/clients/python/presign.py, examples/clients/node/presign.mjs)
keep README's answer rule ("Calling it from your app") against a real `sessionguard demo`: a 200
is a URL, a 409 becomes a shorter URL only when `min_expires_in` allows it, a 403 or 400 is an
error carrying the sidecar's `error` kind, and a 503 is retried a bounded number of times after
`Retry-After` (or an exponential backoff). A 503 cannot be had from the demo on demand, so those
tests point the snippets at a stub HTTP server on 127.0.0.1 that replays the sidecar's real
answers, byte for byte: `overloaded` from a demo whose 256 connections the test takes,
`credentials_unavailable` from `sessionguard run` whose credentials endpoint is down, and a 200
from the demo.

Every test runs once per snippet: the Python one in-process (imported from its file), the Node
one as `node client_snippets_driver.mjs SPEC`, whose JSON line the tests read. Both find the
sidecar through SESSIONGUARD_URL, as an app container of task-definition.json does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import REPO, first_json_line, run, sessionguard_env, start, start_demo, tool, wait_for

PY_SNIPPET = REPO / "examples" / "clients" / "python" / "presign.py"
NODE_SNIPPET = REPO / "examples" / "clients" / "node" / "presign.mjs"
NODE_DRIVER = Path(__file__).resolve().parent / "client_snippets_driver.mjs"
README = REPO / "README.md"

# The demo: 10-minute sessions, rotated with a fifth (2 min) left, and a 10 s margin, so a URL of
# up to ~100 s is always signed and one of an hour never is (a 409 with 100 to 590 s available).
DEMO_SESSION = "10m"
DEMO_MARGIN = "10s"
DEMO_ALLOW = "GET:reports/"
SHORT = 60  # seconds: always signed
LONG = 3600  # seconds: never signed in full
TOO_LONG_MINIMUM = 1800  # seconds: more than any demo session has left after the margin

CLIENTS = ("python", "node")


def load_python_snippet():
    """The Python snippet as a module, imported from its file like an app that copied it would."""
    spec = importlib.util.spec_from_file_location("sessionguard_presign_snippet", PY_SNIPPET)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PY = load_python_snippet()


def seconds(humantime: str) -> float:
    """A humantime duration as the daemon prints it (`10s`, `1m 30s`, `500ms`) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600}
    parts = re.findall(r"(\d+)\s*(ms|min|s|m|h)", humantime)
    assert parts, humantime
    return sum(int(n) * units[u] for n, u in parts)


@dataclass
class Outcome:
    """One `presign` call of either snippet: the 200 JSON, or the error's status, kind and body;
    and every wait (seconds) the snippet asked for between 503 retries."""

    ok: bool
    result: dict | None = None
    status: int | None = None
    kind: str | None = None
    body: dict = field(default_factory=dict)
    text: str = ""  # str(error) / error.message: what an app would print
    user_message: str = ""
    sleeps: list = field(default_factory=list)


def call(client: str, base_url: str, bucket: str, key: str, expires_in: int, *, real_sleep: bool = True,
         **options) -> Outcome:
    """`presign(bucket, key, expires_in, **options)` of `client`, with SESSIONGUARD_URL=base_url.
    Options use the Python names (`min_expires_in`, `shorten`, `method`, `timeout` in seconds);
    the Node call gets them in its own spelling."""
    assert base_url.startswith("http://127.0.0.1:"), base_url
    if client == "python":
        sleeps: list = []

        def sleep(s):
            sleeps.append(s)
            if real_sleep:
                time.sleep(s)

        saved = os.environ.get("SESSIONGUARD_URL")
        os.environ["SESSIONGUARD_URL"] = base_url
        try:
            return Outcome(ok=True, result=PY.presign(bucket, key, expires_in, sleep=sleep, **options),
                           sleeps=sleeps)
        except PY.SessionguardError as e:
            return Outcome(ok=False, status=e.status, kind=e.kind, body=e.body, text=str(e),
                           user_message=e.user_message, sleeps=sleeps)
        finally:
            if saved is None:
                os.environ.pop("SESSIONGUARD_URL", None)
            else:
                os.environ["SESSIONGUARD_URL"] = saved

    names = {"min_expires_in": "minExpiresIn", "shorten": "shorten", "method": "method"}
    node_options = {names[k]: v for k, v in options.items() if k in names}
    if "timeout" in options:
        node_options["timeoutMs"] = int(options["timeout"] * 1000)
    spec = {"call": {"bucket": bucket, "key": key, "expiresIn": expires_in, "options": node_options},
            "realSleep": real_sleep}
    out = node_driver(spec, env={"SESSIONGUARD_URL": base_url})
    if out["ok"]:
        return Outcome(ok=True, result=out["result"], sleeps=out["sleeps"])
    e = out["error"]
    return Outcome(ok=False, status=e["status"], kind=e["kind"], body=e["body"], text=e["message"],
                   user_message=e["userMessage"], sleeps=out["sleeps"])


def node_driver(spec: dict, env: dict | None = None) -> dict:
    """The driver's JSON answer to `spec`; fails with its stderr when it does not exit 0."""
    proc = run([tool("node"), str(NODE_DRIVER), json.dumps(spec)], timeout=60,
               env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the demo and the stub -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(sessionguard_bin, tmp_path_factory):
    proc = start_demo(
        sessionguard_bin, tmp_path_factory.mktemp("client-snippets") / "demo.log",
        "--presign-allow", DEMO_ALLOW, "--presign-margin", DEMO_MARGIN,
        session=DEMO_SESSION,
    )  # fmt: skip
    yield proc
    proc.stop()


def demo_url(demo) -> str:
    return f"http://{demo.extra['listen']}"


def presign_lines(demo, key: str, count: int) -> list[dict]:
    """The demo's first `count` `presign issued`/`presign refused` lines for `key`, in order
    (the daemon writes its lines from a background thread, so they are waited for)."""

    def probe():
        lines = []
        for line in demo.output().splitlines():
            if line.startswith("{"):
                obj = json.loads(line)
                if obj.get("message") in ("presign issued", "presign refused") and obj.get("key") == key:
                    lines.append(obj)
        return lines if len(lines) >= count else None

    return wait_for(f"{count} presign lines for {key}", probe, timeout=10)


def every_presign_line(demo, key: str) -> list[dict]:
    """Every `presign` line for `key` so far, once the daemon has written all of them: a presign
    sent after the caller's own requests were answered is logged after theirs, so its line closes
    the count."""
    sentinel = f"exports/sentinel-{time.monotonic_ns()}.csv"
    status, _, _ = post(demo_url(demo), {"bucket": "reports", "key": sentinel, "expires_in": SHORT})
    assert status == 200
    presign_lines(demo, sentinel, 1)
    lines = []
    for line in demo.output().splitlines():
        if line.startswith("{"):
            obj = json.loads(line)
            if obj.get("message") in ("presign issued", "presign refused") and obj.get("key") == key:
                lines.append(obj)
    return lines


def post(base_url: str, body: dict) -> tuple[int, dict, bytes]:
    """POST /v1/presign: the status, the Retry-After header (if any) and the body as sent."""
    import http.client

    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        conn.request("POST", "/v1/presign", json.dumps(body), {"content-type": "application/json"})
        reply = conn.getresponse()
        headers = {"Retry-After": reply.getheader("retry-after")} if reply.getheader("retry-after") else {}
        return reply.status, headers, reply.read()
    finally:
        conn.close()


class Stub:
    """An HTTP server on 127.0.0.1 answering POST /v1/presign from a script of (status, headers,
    body), the last one repeated; it records when each request arrived (monotonic seconds)."""

    def __init__(self, script, delay: float = 0):
        self.script = script
        self.delay = delay
        self.arrivals: list[float] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the name http.server calls
                self.rfile.read(int(self.headers.get("content-length", 0)))
                stub.arrivals.append(time.monotonic())
                status, headers, body = stub.script[min(len(stub.arrivals), len(stub.script)) - 1]
                time.sleep(stub.delay)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a client that timed out has gone

            def log_message(self, *args):  # keep pytest's output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    """stub(script, delay=0) -> a started Stub, stopped when the test ends."""
    started = []

    def make(script, delay: float = 0):
        s = Stub(script, delay)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


ASKED = {"bucket": "reports", "key": "exports/a.csv", "expires_in": SHORT}


@pytest.fixture(scope="module")
def real(demo, sessionguard_bin, tmp_path_factory) -> dict:
    """The sidecar's own answers, as (status, headers, body bytes): `signed` (200) and
    `overloaded` (503, while the test holds the demo's 256 connections) from the demo,
    `unavailable` (503) from `sessionguard run` whose credentials endpoint refuses connections."""
    answers = {"signed": post(demo_url(demo), ASKED)}
    host, port = demo.extra["listen"].split(":")
    held = [socket.create_connection((host, int(port))) for _ in range(256)]
    try:
        answers["overloaded"] = wait_for(
            "the demo's 256 connections taken", lambda: (a := post(demo_url(demo), ASKED))[0] == 503 and a,
            timeout=5, every=0.05)  # fmt: skip
    finally:
        for conn in held:
            conn.close()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = closed.getsockname()[1]
    closed.close()
    env = sessionguard_env({"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://127.0.0.1:{dead}/v1/credentials"})
    argv = [str(sessionguard_bin), "run", "--listen", "127.0.0.1:0", "--log-format", "json",
            "--presign-allow", DEMO_ALLOW]  # fmt: skip
    proc = start("sessionguard run", argv, tmp_path_factory.mktemp("unavailable") / "run.log", env=env)
    try:
        started = first_json_line(proc, "sessionguard started")
        answers["unavailable"] = post(f"http://{started['listen']}", ASKED)
    finally:
        proc.stop()
    assert [answers[k][0] for k in ("signed", "overloaded", "unavailable")] == [200, 503, 503], answers
    assert json.loads(answers["overloaded"][2])["error"] == "overloaded"
    assert json.loads(answers["unavailable"][2])["error"] == "credentials_unavailable"
    return answers


# --- against the demo ----------------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_a_url_the_session_covers_is_signed(client, demo):
    """A URL shorter than the session's time left comes back as the sidecar's 200: the URL of the
    object, for the method asked, lasting what was asked."""
    got = call(client, demo_url(demo), "reports", f"exports/{client}-200.csv", SHORT)
    assert got.ok, got
    object_url = f"https://reports.s3.us-east-1.amazonaws.com/exports/{client}-200.csv"
    assert got.result["url"].startswith(object_url + "?")
    assert (got.result["method"], got.result["expires_in"], got.result["headers"]) == ("GET", SHORT, {})


@pytest.mark.parametrize("client", CLIENTS)
def test_min_expires_in_lets_the_sidecar_shorten_the_url(client, demo):
    """The primary way: `min_expires_in` goes in the request, and a URL longer than the session
    is signed for what it allows, in one request the daemon logs as shortened."""
    key = f"exports/{client}-shortened.csv"
    got = call(client, demo_url(demo), "reports", key, LONG, min_expires_in=SHORT)
    assert got.ok, got
    assert SHORT <= got.result["expires_in"] < LONG
    [line] = presign_lines(demo, key, 1)
    assert (line["message"], line["shortened"], line["requested_seconds"]) == ("presign issued", True, LONG)


@pytest.mark.parametrize("client", CLIENTS)
def test_a_409_is_retried_once_with_available_seconds_when_the_client_shortens(client, demo):
    """shorten="client": the first request asks for exactly `expires_in` and gets a 409; the one
    retry asks for its `available_seconds` (allowed: it is above `min_expires_in`) and is signed."""
    key = f"exports/{client}-client-shortened.csv"
    got = call(client, demo_url(demo), "reports", key, LONG, min_expires_in=SHORT, shorten="client")
    assert got.ok, got
    assert SHORT <= got.result["expires_in"] < LONG
    refused, issued = presign_lines(demo, key, 2)
    assert (refused["message"], refused["reason"], refused["requested_seconds"]) == (
        "presign refused", "session_too_short", LONG)
    # The retry asked for what the 409 said was available (the sidecar may grant a second less).
    assert issued["message"] == "presign issued"
    assert issued["requested_seconds"] == refused["available_seconds"]
    assert issued["granted_seconds"] == got.result["expires_in"]
    assert len(every_presign_line(demo, key)) == 2, "one retry, no more"


@pytest.mark.parametrize("shorten", ["sidecar", "client"])
@pytest.mark.parametrize("client", CLIENTS)
def test_a_409_is_an_error_when_no_shorter_url_is_allowed(client, shorten, demo):
    """Without `min_expires_in`, or with one the session cannot cover, the answer is an error
    carrying `session_too_short`, its status and what could be granted, after a single request."""
    for minimum in (None, TOO_LONG_MINIMUM):
        key = f"exports/{client}-{shorten}-{minimum}-409.csv"
        options = {"shorten": shorten} if minimum is None else {"shorten": shorten, "min_expires_in": minimum}
        got = call(client, demo_url(demo), "reports", key, LONG, **options)
        assert not got.ok, got
        assert (got.status, got.kind) == (409, "session_too_short"), got
        assert 0 < got.body["available_seconds"] < TOO_LONG_MINIMUM
        assert got.sleeps == []
        assert len(presign_lines(demo, key, 1)) == 1


@pytest.mark.parametrize("client", CLIENTS)
def test_a_403_is_an_error_with_kind_forbidden_and_no_message(client, demo):
    """A bucket no --presign-allow rule covers is an error of kind `forbidden`, never retried; the
    sidecar's message (which names the allow-list) stays on the body, out of the error's text."""
    got = call(client, demo_url(demo), "private", "a.csv", SHORT)
    assert not got.ok, got
    assert (got.status, got.kind) == (403, "forbidden")
    assert "presign-allow" in got.body["message"]
    assert got.body["message"] not in got.text and DEMO_ALLOW not in got.text
    assert got.text == "sessionguard presign failed: 403 forbidden"
    assert got.user_message == PY.GENERIC_USER_MESSAGE
    assert got.sleeps == []


@pytest.mark.parametrize("client", CLIENTS)
def test_a_400_is_an_error_naming_invalid_request(client, demo):
    """A malformed request (`expires_in` of 0) is an error of kind `invalid_request`, not retried."""
    got = call(client, demo_url(demo), "reports", f"exports/{client}-400.csv", 0)
    assert (got.ok, got.status, got.kind) == (False, 400, "invalid_request"), got
    assert got.body["field"] == "expires_in"
    assert got.sleeps == []


def test_the_client_timeout_is_above_the_demos_check_timeout(demo):
    """Both snippets wait longer than the daemon's --check-timeout (read from its start line), so
    a request held until the first credentials answer is not given up just as that answer comes."""
    check_timeout = seconds(demo.extra["check_timeout"])
    assert check_timeout == 10, "the default --check-timeout"
    node = node_driver({})["constants"]
    assert PY.CLIENT_TIMEOUT_SECONDS > check_timeout
    assert node["CLIENT_TIMEOUT_MS"] / 1000 > check_timeout
    assert PY.CLIENT_TIMEOUT_SECONDS == node["CLIENT_TIMEOUT_MS"] / 1000, "one rule for both"


def test_the_clis_print_the_url_or_a_generic_error(demo):
    """`python presign.py` and `node presign.mjs` print the 200 JSON and exit 0, or print status,
    kind and the generic message (not the sidecar's) and exit 1."""
    env = {**os.environ, "SESSIONGUARD_URL": demo_url(demo)}
    for argv in ([tool("python"), str(PY_SNIPPET)], [tool("node"), str(NODE_SNIPPET)]):
        ok = run([*argv, "reports", "exports/cli.csv", str(LONG), "--min-expires-in", str(SHORT)], env=env)
        assert ok.returncode == 0, ok.stderr
        assert SHORT <= json.loads(ok.stdout)["expires_in"] < LONG
        refused = run([*argv, "private", "a.csv", str(SHORT)], env=env)
        assert refused.returncode == 1, (refused.stdout, refused.stderr)
        last = refused.stderr.strip().splitlines()[-1]
        assert last == f"sessionguard presign failed: 403 forbidden ({PY.GENERIC_USER_MESSAGE})"


# --- 503s and timeouts, against a stub -----------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_a_503_with_retry_after_is_retried_after_it(client, stub, real):
    """The sidecar's 503 `overloaded` (`Retry-After: 1`) twice, then its 200: three requests, the
    snippet waiting the second asked before each retry (the stub saw them at least about a second
    apart), and the URL is the one the sidecar answered."""
    overloaded = real["overloaded"]
    assert overloaded[1] == {"Retry-After": "1"}, overloaded
    server = stub([overloaded, overloaded, real["signed"]])
    got = call(client, server.url, "reports", "exports/a.csv", SHORT)
    assert got.ok, got
    assert got.result == json.loads(real["signed"][2])
    assert len(server.arrivals) == 3
    assert got.sleeps == [1, 1]
    gaps = [b - a for a, b in zip(server.arrivals, server.arrivals[1:])]
    assert all(gap >= 0.9 for gap in gaps), gaps


@pytest.mark.parametrize("client", CLIENTS)
def test_a_503_without_retry_after_backs_off_exponentially(client, stub, real):
    """The sidecar's 503 `credentials_unavailable` with its Retry-After dropped on the way (a
    proxy in between), twice, then its 200: retried after 1 s, then 2 s (the waits are recorded,
    not slept)."""
    status, _, body = real["unavailable"]
    server = stub([(status, {}, body), (status, {}, body), real["signed"]])
    got = call(client, server.url, "reports", "exports/a.csv", SHORT, real_sleep=False)
    assert got.ok, got
    assert len(server.arrivals) == 3
    assert got.sleeps == [1, 2]


@pytest.mark.parametrize("client", CLIENTS)
def test_503s_are_retried_a_bounded_number_of_times(client, stub, real):
    """A sidecar that keeps answering its 503 `credentials_unavailable` gets MAX_503_RETRIES
    retries, each after its Retry-After (the task source's recheck spacing), then the error
    carries its kind and status; a Retry-After longer than the snippet waits is raised at once."""
    status, headers, body = real["unavailable"]
    spacing = int(headers["Retry-After"])
    assert spacing == json.loads(body)["retry_after_seconds"]
    server = stub([real["unavailable"]])
    got = call(client, server.url, "reports", "exports/a.csv", SHORT, real_sleep=False)
    assert (got.ok, got.status, got.kind) == (False, 503, "credentials_unavailable"), got
    assert len(server.arrivals) == PY.MAX_503_RETRIES + 1 == 4
    assert got.sleeps == [spacing] * 3

    later = stub([(status, {"Retry-After": "60"}, body)])
    got = call(client, later.url, "reports", "exports/a.csv", SHORT, real_sleep=False)
    assert (got.ok, got.status, got.kind, got.sleeps) == (False, 503, "credentials_unavailable", [])
    assert len(later.arrivals) == 1


@pytest.mark.parametrize("client", CLIENTS)
def test_a_sidecar_that_does_not_answer_is_a_timeout(client, stub, real):
    """A request with no answer within the client timeout (here 0.5 s) is an error of kind
    `timeout`, not retried."""
    server = stub([real["signed"]], delay=3)
    got = call(client, server.url, "reports", "exports/a.csv", SHORT, timeout=0.5)
    assert (got.ok, got.status, got.kind, got.sleeps) == (False, None, "timeout", []), got
    assert len(server.arrivals) == 1


# The 503 rule as a table: (retry number, Retry-After header, now in Unix seconds) -> seconds to
# wait before that retry, or None to give up. The same table holds both snippets' backoff function.
NOW = 1_795_000_000
BACKOFF_TABLE = [
    (1, None, NOW, 1),
    (2, None, NOW, 2),
    (3, None, NOW, 4),
    (4, None, NOW, None),  # MAX_503_RETRIES spent
    (1, "1", NOW, 1),
    (3, "1", NOW, 1),
    (4, "1", NOW, None),
    (1, "0", NOW, 0),
    (1, "10", NOW, 10),
    (1, "11", NOW, None),  # longer than MAX_RETRY_AFTER_SECONDS: give up rather than hold the user
    (1, "soon", NOW, 1),  # unreadable: the exponential backoff
    (2, "Sun, 06 Nov 1994 08:49:37 GMT", NOW, 0),  # a date in the past: retry now
    (1, time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(NOW + 3)), NOW, 3),
]


def test_the_backoff_rule_is_one_table_for_both_snippets():
    """retry_after_seconds/backoff_seconds (Python) and backoffSeconds (Node) agree with the table."""
    py = [PY.backoff_seconds(retry, header, now) for retry, header, now, _ in BACKOFF_TABLE]
    node = node_driver({"backoff": [[r, h, now * 1000] for r, h, now, _ in BACKOFF_TABLE]})["backoff"]
    want = [w for *_, w in BACKOFF_TABLE]
    assert py == want
    assert node == want


# --- README --------------------------------------------------------------------------------------


def readme_section(heading: str) -> str:
    text = README.read_text()
    start = text.index(heading)
    # The next heading of the same or a higher level (a `# comment` in a code block is not one).
    ends = [i for i in (text.find(h, start + len(heading)) for h in ("\n## ", "\n### ")) if i != -1]
    return text[start:min(ends, default=len(text))]


def test_readme_points_at_the_snippets_with_the_answer_rule():
    """README's "Calling it from your app" sits between the presign status table and "What a rule
    allows", links both snippets (which exist) and states the rule for 200, 409, 503 and 4xx."""
    text = README.read_text()
    here = text.index("### Calling it from your app")
    assert text.index("| 503 | `credentials_unavailable` |") < here < text.index("### What a rule allows")
    section = readme_section("### Calling it from your app")
    for path in (PY_SNIPPET, NODE_SNIPPET):
        rel = path.relative_to(REPO).as_posix()
        assert f"]({rel})" in section
    for status in ("| 200 |", "| 409 ", "| 503 ", "| 400, 403"):
        assert status in section, status


def test_readme_uppy_forwarding_snippets_read_sessionguard_url():
    """The backend snippets that forward Uppy's request read SESSIONGUARD_URL and time out after
    the snippets' 15 s, not a hard-coded address and a 10 s that equals --check-timeout."""
    section = readme_section("### Large uploads from the browser")
    blocks = re.findall(r"```(js|python)\n(.*?)```", section, re.S)
    forwarding = [code for _, code in blocks if "/v1/presign/uppy" in code]
    assert len(forwarding) == 2, blocks
    for code in forwarding:
        assert "127.0.0.1:9780" in code  # only as the default of SESSIONGUARD_URL
        assert re.search(r"SESSIONGUARD_URL.{0,40}127\.0\.0\.1:9780", code), code
        assert re.search(r"SESSIONGUARD_TIMEOUT(_MS)? = 15(_000)?\n", code), code
        uses = ("AbortSignal.timeout(SESSIONGUARD_TIMEOUT_MS)", "timeout=SESSIONGUARD_TIMEOUT)")
        assert any(use in code for use in uses), code
