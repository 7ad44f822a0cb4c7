"""Uppy 6 (`@uppy/core` and `@uppy/aws-s3` from npm) in Debian's Chromium, signing every S3 request
through sessionguard's `POST /v1/presign/uppy` exactly as `signRequest` receives it.

One origin serves everything, as an app's own backend would: a test-local proxy serves the page,
forwards the signing route to sessionguard and every other request to s3s-fs with the `Host` header
kept, so the browser needs no CORS and the signatures (which cover the host) stay valid. s3s-fs
verifies every SigV4 signature and expiry. The task credentials come from a test-local endpoint
speaking the ECS container credentials protocol, read by the daemon through aws-config as in ECS.
Everything listens on 127.0.0.1; every process is stopped by its PID.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PAGE = HERE / "page"
sys.path.insert(0, str(REPO / "tests" / "pyhelpers"))
from procs import free_port, start, wait_for  # noqa: E402
MiB = 1024 * 1024
ACCESS_KEY = "ASIABROWSERTEST00001"
SECRET_KEY = "browserTestSecretKey0123456789abcdefghij"


def pattern(size: int) -> bytes:
    """The bytes page/main.js uploads."""
    return bytes((i * 7 + (i >> 12)) % 251 for i in range(size))


def serve(handler_class) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Credentials:
    """The ECS container credentials endpoint: the one key pair s3s-fs knows, with a session whose
    remaining lifetime the test sets."""

    lifetime = timedelta(hours=1)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            expires = datetime.now(timezone.utc) + Credentials.lifetime
            body = json.dumps({
                "RoleArn": "arn:aws:iam::123456789012:role/browser-test",
                "AccessKeyId": ACCESS_KEY,
                "SecretAccessKey": SECRET_KEY,
                "Token": "browser-test-session-token",
                "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass


def complete_with_location(method: str, path: str, status: int, body: bytes) -> bytes:
    """s3s-fs 0.14.1 answers CompleteMultipartUpload with Bucket, Key and ETag but without the
    `Location` real S3 sends (and @uppy/aws-s3 requires); add S3's own form of it. The object
    itself is still checked byte for byte on s3s-fs's disk."""
    if method != "POST" or status != 200 or b"<CompleteMultipartUploadResult" not in body:
        return body
    if b"<Location>" in body:
        return body
    location = f"{Origin.url}{path.split('?')[0]}".encode()
    start = body.index(b">", body.index(b"<CompleteMultipartUploadResult")) + 1
    return body[:start] + b"<Location>" + location + b"</Location>" + body[start:]


class Origin:
    """The app's origin: the page, the signing route (to sessionguard), S3 (to s3s-fs)."""

    sessionguard: tuple[str, int] = ("127.0.0.1", 0)
    s3: tuple[str, int] = ("127.0.0.1", 0)
    url = ""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            upstream = Origin.sessionguard if self.path.startswith("/v1/") else Origin.s3
            connection = http.client.HTTPConnection(*upstream, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = complete_with_location(self.command, self.path, response.status, response.read())
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            connection.close()

        def do_GET(self):  # noqa: N802
            files = {"/": "index.html", "/dist/bundle.js": "dist/bundle.js"}
            if self.path in files:
                data = (PAGE / files[self.path]).read_bytes()
                kind = "text/html" if self.path == "/" else "text/javascript"
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.forward()

        do_PUT = do_POST = do_DELETE = do_HEAD = forward  # noqa: N815

        def log_message(self, *args):
            pass


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """s3s-fs, the credentials endpoint, the origin and sessionguard, started once per module."""
    tmp = tmp_path_factory.mktemp("browser")
    root = tmp / "s3"
    (root / "uploads").mkdir(parents=True)
    s3_port = free_port()
    s3 = start(
        "s3s-fs", [os.environ["S3S_FS"], "--host", "127.0.0.1", "--port", str(s3_port),
         "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY, str(root)],
        tmp / "s3s-fs.log",
    )  # fmt: skip
    credentials = serve(Credentials.Handler)
    origin = serve(Origin.Handler)
    Origin.s3 = ("127.0.0.1", s3_port)
    origin_url = f"http://127.0.0.1:{origin.server_address[1]}"
    Origin.url = origin_url
    daemon_port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://127.0.0.1:{credentials.server_address[1]}/creds",
        "AWS_ENDPOINT_URL_S3": origin_url,
    }
    binary = os.environ.get("SESSIONGUARD_BIN", str(REPO / "target" / "debug" / "sessionguard"))
    daemon = start(
        "sessionguard", [binary, "run", "--listen", f"127.0.0.1:{daemon_port}", "--log-format", "json",
         "--interval", "1s", "--no-identity", "--s3-force-path-style",
         "--presign-allow", "PUT:uploads/uploads/"],
        tmp / "sessionguard.log", env=env,
    )  # fmt: skip
    Origin.sessionguard = ("127.0.0.1", daemon_port)

    def ready():
        c = http.client.HTTPConnection("127.0.0.1", daemon_port, timeout=2)
        c.request("GET", "/readyz")
        return c.getresponse().status == 200

    wait_for("sessionguard /readyz", ready)
    wait_for("s3s-fs", lambda: socket.create_connection(("127.0.0.1", s3_port), timeout=1).close() or True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield {
            "browser": browser,
            "origin": origin_url,
            "root": root,
            "daemon": ("127.0.0.1", daemon_port),
            "log": tmp / "sessionguard.log",
        }
        browser.close()
    daemon.stop()
    s3.stop()
    origin.shutdown()
    credentials.shutdown()


def session_lasts(stack, lifetime: timedelta) -> None:
    """Serves sessions of `lifetime` from now on and waits until the daemon's check has seen one."""
    Credentials.lifetime = lifetime

    def seen():
        c = http.client.HTTPConnection(*stack["daemon"], timeout=2)
        c.request("GET", "/v1/credentials")
        remaining = json.loads(c.getresponse().read())["signing"]["remaining_seconds"]
        return remaining is not None and abs(remaining - lifetime.total_seconds()) < 5

    wait_for(f"the daemon to check a {lifetime} session", seen)


def upload(stack, **options) -> dict:
    page = stack["browser"].new_page()
    try:
        page.goto(stack["origin"] + "/")
        page.wait_for_function("document.getElementById('status').textContent === 'ready'")
        return page.evaluate("(options) => window.runUpload(options)", options)
    finally:
        page.close()


def leftovers(root: Path) -> list[str]:
    """Multipart uploads s3s-fs still holds (its own bookkeeping files)."""
    return sorted(p.name for p in root.rglob(".upload*"))


def test_multipart_and_single_uploads(stack):
    """A 12 MiB file goes up as a three-part multipart upload and a 100 KiB file in one PUT; what
    s3s-fs stores is byte-identical."""
    big = upload(stack, name="big.bin", size=12 * MiB)
    assert big.get("successful") == ["big.bin"], big
    assert big["parts"] == 3, big
    methods = [(s["request"]["method"], "uploadId" in s["request"]) for s in big["signed"]]
    assert ("POST", False) in methods and ("POST", True) in methods, methods
    assert (stack["root"] / "uploads" / "uploads" / "big.bin").read_bytes() == pattern(12 * MiB)

    small = upload(stack, name="small.bin", size=100 * 1024)
    assert small.get("successful") == ["small.bin"], small
    assert [s["request"]["method"] for s in small["signed"]] == ["PUT"], small
    assert (stack["root"] / "uploads" / "uploads" / "small.bin").read_bytes() == pattern(100 * 1024)
    assert leftovers(stack["root"]) == []


def test_cancelled_upload_is_aborted(stack):
    """An upload cancelled after its first part is aborted: s3s-fs holds no upload afterwards."""
    outcome = upload(stack, name="cancelled.bin", size=15 * MiB, cancelAfterParts=1)
    assert outcome.get("cancelled"), outcome
    wait_for("the abort to reach s3s-fs", lambda: leftovers(stack["root"]) == [], timeout=10)
    assert not (stack["root"] / "uploads" / "uploads" / "cancelled.bin").exists()
    assert any(
        s["request"]["method"] == "DELETE" and "uploadId" in s["request"] for s in outcome["signed"]
    ), outcome


def test_short_sessions_shorten_part_urls(stack):
    """With a session shorter than --uppy-expires-in the part URLs are shortened and the upload
    still completes; with one shorter than --uppy-min-expires-in, Uppy reports the refusal."""
    session_lasts(stack, timedelta(minutes=8))
    outcome = upload(stack, name="short.bin", size=11 * MiB)
    assert outcome.get("successful") == ["short.bin"], outcome
    granted = [s["expires_in"] for s in outcome["signed"]]
    assert all(g < 15 * 60 for g in granted), granted
    assert (stack["root"] / "uploads" / "uploads" / "short.bin").read_bytes() == pattern(11 * MiB)

    session_lasts(stack, timedelta(seconds=90))
    refused = upload(stack, name="refused.bin", size=11 * MiB)
    assert refused.get("failed"), refused
    assert "409 session_too_short" in refused["failed"][0]["error"], refused
    session_lasts(stack, timedelta(hours=1))
