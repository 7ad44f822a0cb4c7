"""One virtual clock for the sidecar, the rotation function and the AWS emulator.

Every process the test starts (moto's server, `sessionguard run`, `sessionguard rotate-keys`) runs
under Debian's libfaketimeMT, reading its offset from one file (`FAKETIME_TIMESTAMP_FILE`,
`FAKETIME_NO_CACHE=1`); writing `+SECONDS` there moves all their clocks, wall and monotonic, at
once (tokio's timers follow). This driver is not faked: it knows the offset it wrote, so virtual
now is real now plus that offset, and its own waits and timeouts stay real.

The driver plays Secrets Manager: it invokes the function's four steps through a Lambda runtime API
it serves on loopback, at the moments it chooses, with the tokens it makes.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "pyhelpers"))
from procs import free_port, start, wait_for  # noqa: E402,F401 - free_port and start, for the test
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
MOTO_SCRIPT = REPO / "tests" / "moto" / "moto_server.py"
REGION = "us-east-1"
# The keys the sidecar reads the secret with (its task credentials) and the function's role keys:
# moto, without IAM enforced, accepts any.
SIDECAR_KEYS = ("AKIASIDECARTASKROLE1", "sidecarTaskRoleSecretCanary0000000000000")
FUNCTION_KEYS = ("AKIAFUNCTIONROLE0001", "functionRoleSecretCanary00000000000000")


def binary() -> Path:
    path = Path(os.environ.get("SESSIONGUARD_BIN", REPO / "target" / "debug" / "sessionguard"))
    assert path.is_file(), f"{path} missing: run `cargo build --locked`"
    return path


class Clock:
    """The shared offset file; `now()` is virtual time as the faked processes see it."""

    def __init__(self, directory: Path):
        self.file = directory / "faketime"
        self.offset = 0.0
        self.file.write_text("+0\n")

    def env(self) -> dict:
        assert LIBFAKETIME.exists(), f"{LIBFAKETIME} missing: apt-get install libfaketime"
        return {
            "LD_PRELOAD": str(LIBFAKETIME),
            "FAKETIME_TIMESTAMP_FILE": str(self.file),
            "FAKETIME_NO_CACHE": "1",
        }

    def now(self) -> float:
        return time.time() + self.offset

    def to(self, virtual: float) -> None:
        """Moves every faked clock forward to `virtual` (never back)."""
        ahead = virtual - self.now()
        if ahead <= 0:
            return
        self.offset += ahead
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(f"+{int(round(self.offset))}\n")
        tmp.replace(self.file)


def clean_env(extra: dict) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    env.update(extra)
    return env


def poll(what: str, probe, timeout: float = 30):
    """Polls every 20 ms: the driver waits on the faked processes often and briefly."""
    return wait_for(what, probe, timeout=timeout, every=0.02)


class Moto:
    """tests/moto/moto_server.py on the virtual clock."""

    def __init__(self, clock: Clock, directory: Path):
        python = os.environ.get("MOTO_PYTHON", sys.executable)
        self.proc = subprocess.Popen(
            [python, str(MOTO_SCRIPT)], env={**os.environ, **clock.env()},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        line = self.proc.stdout.readline().strip()
        assert line.startswith("listening on "), f"moto did not start: {line!r}"
        self.url = line.removeprefix("listening on ")

    def client(self, service: str):
        return boto3.client(
            service, region_name=REGION, endpoint_url=self.url,
            aws_access_key_id="AKIATESTSETUP0000001", aws_secret_access_key="test-setup-secret",
        )  # fmt: skip

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


class RuntimeApi:
    """The Lambda runtime API (2018-06-01) on loopback, as tests/it/lambda.rs documents it: `next`
    long-polled, `response` and `error` answered 202."""

    def __init__(self, clock: Clock):
        self.events: queue.Queue = queue.Queue()
        self.answers: dict[str, queue.Queue] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                if self.path != "/2018-06-01/runtime/invocation/next":
                    return self.reply(404, {"errorType": "NotFound"})
                request_id, event = api.events.get()
                body = json.dumps(event).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("lambda-runtime-aws-request-id", request_id)
                self.send_header("lambda-runtime-deadline-ms", str(int((clock.now() + 120) * 1000)))
                self.send_header("lambda-runtime-invoked-function-arn",
                                 f"arn:aws:lambda:{REGION}:123456789012:function:rotate-keys")
                self.send_header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                parts = self.path.split("/")
                if len(parts) == 6 and parts[4] in api.answers and parts[5] in ("response", "error"):
                    api.answers[parts[4]].put((parts[5] == "response", body))
                    return self.reply(202, {"status": "OK"})
                return self.reply(202 if self.path.endswith("/init/error") else 404, {})

            def reply(self, status, doc):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.host_port = f"127.0.0.1:{self.server.server_address[1]}"

    def invoke(self, event: dict, timeout: float = 60) -> tuple[bool, object]:
        request_id = str(uuid.uuid4())
        self.answers[request_id] = queue.Queue()
        self.events.put((request_id, event))
        try:
            return self.answers[request_id].get(timeout=timeout)
        finally:
            del self.answers[request_id]

    def stop(self) -> None:
        self.server.shutdown()


def http(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    assert url.startswith("http://127.0.0.1:"), url
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"content-type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
