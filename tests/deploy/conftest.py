"""Shared helpers for the deploy tests: repo paths, the real binary, processes on loopback.

Every process a test starts listens on 127.0.0.1 only and is stopped by its PID when the test (or
module) ends, whatever happened. The sessionguard binary always runs with instance metadata off,
empty AWS config files and a fixed region, so nothing reaches AWS.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "pyhelpers"))
from procs import Proc, free_port, start, wait_for  # noqa: E402,F401 - re-exported to the tests
TASK_DEFINITION = REPO / "task-definition.json"
# The same task with the sidecar signing URLs with an IAM user's keys it reads from Secrets Manager.
TASK_DEFINITION_SECRETS_MANAGER = REPO / "task-definition-secrets-manager.json"
TASK_DEFINITIONS = (TASK_DEFINITION, TASK_DEFINITION_SECRETS_MANAGER)
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
GRAFANA_DASHBOARD = REPO / "deploy" / "grafana" / "sessionguard.json"

# boto3/botocore in this process: never look at a developer's profiles or instance metadata.
os.environ["AWS_CONFIG_FILE"] = "/dev/null"
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def tool(name: str) -> str:
    """An executable from this venv (pytest's own bin dir) or PATH; scripts/test-deploy.sh installs
    every one the tests use, so a missing tool is a failure, not a skip."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found; run scripts/test-deploy.sh, which installs it")
    return found


def run(argv: list[str], timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    assert url.startswith("http://127.0.0.1:"), f"tests only talk to loopback, not {url}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_post_json(url: str, body, timeout: float = 5) -> tuple[int, dict]:
    """POSTs `body` as JSON; returns the status and the parsed JSON answer."""
    assert url.startswith("http://127.0.0.1:"), f"tests only talk to loopback, not {url}"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def start_moto(log: Path, env: dict | None = None) -> tuple[Proc, str]:
    """moto's server (from this venv) on a free loopback port, answering: the process and its URL."""
    port = free_port()
    proc = start("moto_server", [tool("moto_server"), "-H", "127.0.0.1", "-p", str(port)], log, env=env)
    url = f"http://127.0.0.1:{port}"

    def answers():
        assert proc.popen.poll() is None, proc.output()
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=2) as r:
            return r.status == 200

    try:
        wait_for("moto_server to answer", answers, timeout=30)
    except BaseException:
        proc.stop()
        raise
    return proc, url


def sessionguard_env(extra: dict | None = None) -> dict:
    """A clean environment for the binary: no inherited AWS_* or SESSIONGUARD_* variables."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    env.update(extra or {})
    # No instance metadata and no profiles, whatever a caller passes.
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_CONFIG_FILE"] = "/dev/null"
    env["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
    return env


@pytest.fixture(scope="session")
def sessionguard_bin() -> Path:
    path = Path(os.environ.get("SESSIONGUARD_BIN", REPO / "target" / "debug" / "sessionguard"))
    if not path.is_file():
        pytest.fail(f"{path} missing: run `cargo build --locked` (scripts/test-deploy.sh does)")
    return path


def first_json_line(proc: Proc, message: str, timeout: float = 15) -> dict:
    """The first JSON log line of `proc` whose message is `message`."""

    def probe():
        if proc.popen.poll() is not None:
            pytest.fail(f"{proc.name} exited {proc.popen.returncode}:\n{proc.output()}")
        for line in proc.output().splitlines():
            if line.startswith("{"):
                obj = json.loads(line)
                if obj.get("message") == message:
                    return obj
        return None

    return wait_for(f"{proc.name} to log {message!r}", probe, timeout)


def start_demo(binary: Path, log: Path, *args: str, session: str = "2m") -> Proc:
    """`sessionguard demo` on a free loopback port; proc.extra["listen"] is its address."""
    argv = [
        str(binary), "demo", "--session", session, "--interval", "1s",
        "--log-format", "json", "--listen", "127.0.0.1:0", *args,
    ]  # fmt: skip
    proc = start("sessionguard demo", argv, log, env=sessionguard_env())
    try:
        started = first_json_line(proc, "sessionguard started")
    except BaseException:
        proc.stop()
        raise
    assert started["listen"].startswith("127.0.0.1:"), started
    proc.extra.update(started)
    return proc


@pytest.fixture
def demo(sessionguard_bin, tmp_path):
    proc = start_demo(sessionguard_bin, tmp_path / "demo.log")
    yield proc
    proc.stop()


# --- a real Prometheus scraping the real daemon ---------------------------------------------------

# The demo's sessions in the Prometheus run: short, so that a rotation shows within half a minute
# (the endpoint hands out a new session with a fifth left, 24 s in), with a margin that leaves
# room to sign 5 s URLs for most of each session.
STACK_SESSION = "30s"
STACK_MARGIN = "5s"
STACK_ALLOW = "GET:reports/"
# A presign body for each answer of a demo that allows only STACK_ALLOW, and its status.
PRESIGNS = {
    "issued": ({"bucket": "reports", "key": "exports/a.csv", "expires_in": "5s"}, 200),
    "session_too_short": ({"bucket": "reports", "key": "exports/a.csv", "expires_in": "1h"}, 409),
    "forbidden": ({"bucket": "private", "key": "a.csv", "expires_in": "5s"}, 403),
    "invalid": ({"bucket": "reports", "key": "exports/a.csv", "expires_in": "soon"}, 400),
}
PRESIGN_ROUNDS = 3


@dataclass
class Stack:
    prometheus: str  # http://127.0.0.1:PORT
    demo: Proc
    started: float  # Unix time the demo was started
    presigns: Counter  # answers the fixture got, by `result`


def prom_api(url: str, path: str, **params) -> dict:
    """`data` of a Prometheus HTTP API answer; fails on an error answer."""
    status, body = http_get(f"{url}{path}?{urllib.parse.urlencode(params, doseq=True)}")
    assert status == 200, body
    doc = json.loads(body)
    assert doc["status"] == "success", doc
    return doc["data"]


def drive_presigns(listen: str, rounds: int) -> Counter:
    """Asks the demo on `listen` for each answer of PRESIGNS `rounds` times; returns the answers
    by `result`, as the daemon counts them. A 5 s URL asked for in the second before a rotation is
    refused (and counted so); it is asked again until signed."""
    url = f"http://{listen}/v1/presign"
    got: Counter = Counter()

    # The `result` label of each status (the body's `error` of a 400 is `invalid_request`).
    results = {200: "issued", 400: "invalid", 403: "forbidden", 409: "session_too_short"}

    def answer(body):
        status, doc = http_post_json(url, body)
        assert status in results, (status, doc)
        got[results[status]] += 1
        return status

    for _ in range(rounds):
        for result, (body, status) in PRESIGNS.items():
            if result == "issued":
                wait_for("a 5s URL to be signed", lambda: answer(body) == 200, timeout=10, every=0.2)
            else:
                assert answer(body) == status, result
    return got


@pytest.fixture(scope="session")
def prometheus_stack(sessionguard_bin, tmp_path_factory) -> Stack:
    """The demo (30 s sessions, checks every second, presigning GET:reports/ with a 5 s margin)
    and Debian's prometheus server scraping it every second with alerts.yml loaded, both on
    loopback and stopped at the end. Once Prometheus has the first scrape, the demo has been asked
    for PRESIGN_ROUNDS presigns of each answer (issued, session_too_short, forbidden, invalid).
    Shared by test_prometheus.py and test_grafana_dashboard.py."""
    tmp = tmp_path_factory.mktemp("prometheus")
    started = time.time()
    demo = start_demo(
        sessionguard_bin, tmp / "demo.log",
        "--presign-allow", STACK_ALLOW, "--presign-margin", STACK_MARGIN,
        session=STACK_SESSION,
    )  # fmt: skip
    prom = None
    try:
        port = free_port()
        config = tmp / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(ALERTS)],
                    "scrape_configs": [
                        {
                            "job_name": "sessionguard",
                            "static_configs": [{"targets": [demo.extra["listen"]]}],
                        }
                    ],
                }
            )
        )
        argv = [
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ]
        prom = start("prometheus", argv, tmp / "prometheus.log")
        url = f"http://127.0.0.1:{port}"

        def ready():
            assert prom.popen.poll() is None, prom.output()
            return http_get(url + "/-/ready")[0] == 200

        wait_for("prometheus to be ready", ready, timeout=30)

        def scraped():
            return prom_api(url, "/api/v1/query", query='up{job="sessionguard"} == 1')["result"]

        wait_for("the first scrape of the demo", scraped, timeout=30, every=0.25)
        presigns = drive_presigns(demo.extra["listen"], PRESIGN_ROUNDS)
        yield Stack(prometheus=url, demo=demo, started=started, presigns=presigns)
    finally:
        if prom is not None:
            prom.stop()
        demo.stop()


# --- the deploy files, parsed --------------------------------------------------------------------


def task_definition(path: Path = TASK_DEFINITION) -> dict:
    """A task definition file, parsed afresh (callers may edit it): task-definition.json unless
    `path` names another, e.g. TASK_DEFINITION_SECRETS_MANAGER."""
    return json.loads(Path(path).read_text())


@pytest.fixture(params=TASK_DEFINITIONS, ids=lambda path: path.name)
def task_definition_path(request) -> Path:
    """Each task definition file in turn: a test taking this runs once per file."""
    return request.param


def container(td: dict, name: str) -> dict:
    matches = [c for c in td["containerDefinitions"] if c["name"] == name]
    assert len(matches) == 1, f"expected one container named {name!r}"
    return matches[0]


def container_env(td: dict, name: str) -> dict:
    """A container's `environment` as a dict; fails if a name is set twice."""
    pairs = [(e["name"], e["value"]) for e in container(td, name).get("environment", [])]
    env = dict(pairs)
    assert len(env) == len(pairs), f"{name}: a variable is set twice in `environment`"
    return env


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, ...
    args: str  # the rest of the logical line, continuations joined
    stage: int  # index of the FROM it belongs to


def dockerfile_instructions(text: str) -> list[Instruction]:
    """Logical Dockerfile lines: comments dropped, backslash continuations joined."""
    out: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continuation is dropped by Docker too
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical = (pending + line).strip()
        pending = ""
        keyword, _, args = logical.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append(Instruction(keyword, args.strip(), stage))
    return out


def exec_form(args: str) -> list[str]:
    """The JSON array of an exec-form instruction; fails for shell form."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(a, str) for a in value), args
    return value


def env_pairs(args: str) -> dict:
    """`ENV A=1 B="two words"` as a dict."""
    pairs = {}
    for token in shlex.split(args):
        key, sep, value = token.partition("=")
        assert sep, f"ENV in the legacy `ENV key value` form: {args!r}"
        pairs[key] = value
    return pairs
