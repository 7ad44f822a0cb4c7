"""docs/deploy.md's `docker run` lines, run as printed against the built image.

Runs inside the network namespace scripts/test-image.sh makes (`unshare -n`): the demo's
published port 9781 and the S3 server are the test's alone.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from docs import IMAGE, REPO, find, podman, shell

sys.path.insert(0, str(REPO / "tests" / "pyhelpers"))
from procs import free_port, wait_for  # noqa: E402

# The S3 server's one key pair (s3s-fs), handed to the one-shot `presign` as a user's keys.
S3_ACCESS_KEY = "AKIAIMAGETESTKEY0001"
S3_SECRET_KEY = "imageTestSecretKeyCanary0123456789abcdef"


def test_the_demo_runs_in_the_image_and_turns_healthy():
    """The "see it work" lines: `docker run --rm --name sg -p 9781:9781 sessionguard demo ...`
    serves the metrics on the published port, and `docker inspect` says healthy after the first
    probe (run by `podman healthcheck run`: its timer needs systemd, absent here)."""
    (demo,) = find("docker run --rm --name sg ")
    (metrics,) = find("curl -s http://127.0.0.1:9781/metrics")
    (inspect,) = find("docker inspect ")
    name = demo.text.split("--name ")[1].split()[0]
    podman("rm", "-f", "-t", "0", name)
    proc = subprocess.Popen(
        ["bash", "-c", f"exec {demo.text}"], env={**os.environ, "PATH": f"{Path(__file__).parent}:{os.environ['PATH']}"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        got = wait_for("the demo's metrics on 9781", lambda: shell(metrics.text).stdout, timeout=60)
        assert "sessionguard_credentials_remaining_seconds " in got, got
        assert shell(inspect.text).stdout.strip() == "starting"
        wait_for("the first probe to pass", lambda: podman("healthcheck", "run", name).returncode == 0)
        assert shell(inspect.text).stdout.strip() == "healthy"
    finally:
        podman("rm", "-f", "-t", "10", name)
        proc.wait(timeout=30)


def iam_policy_lines():
    return find("sessionguard iam-policy ")


@pytest.mark.parametrize("line", iam_policy_lines(), ids=lambda c: c.text[:90])
def test_iam_policy_lines_run_in_the_image(line, tmp_path):
    """Every `sessionguard iam-policy ...` line of docs/deploy.md, run as the doc offers,
    `docker run --rm sessionguard iam-policy ...`, writes what the doc prints after it."""
    command = "docker run --rm " + line.text
    r = shell(command, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (written,) = list(tmp_path.iterdir())
    if line.output is not None:
        assert json.loads(written.read_text()) == json.loads(line.output)
    else:
        json.loads(written.read_text())


@pytest.fixture
def s3_server(tmp_path):
    """s3s-fs on loopback with a `reports` bucket holding exports/q3.csv."""
    root = tmp_path / "s3"
    (root / "reports" / "exports").mkdir(parents=True)
    (root / "reports" / "exports" / "q3.csv").write_text("region,total\neu,42\n")
    port = free_port()
    proc = subprocess.Popen(
        [os.environ["S3S_FS"], "--host", "127.0.0.1", "--port", str(port),
         "--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY, str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for("s3s-fs", lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() or True)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_one_shot_presign_runs_in_the_image(s3_server):
    """The doc's `docker run ... sessionguard presign s3://...` with a user's keys in the shell:
    the URL on stdout, which the S3 server accepts. Only the S3 endpoint is added (this test's
    s3s-fs in place of AWS)."""
    (line,) = find("docker run --rm -e AWS_REGION ")
    assert " presign s3://" in line.text, line.text
    command = line.text.replace(
        "docker run --rm ",
        "docker run --rm --network host -e AWS_ENDPOINT_URL_S3 -e SESSIONGUARD_S3_FORCE_PATH_STYLE ",
        1,
    )
    r = shell(command, env={
        "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        "AWS_ENDPOINT_URL_S3": s3_server, "SESSIONGUARD_S3_FORCE_PATH_STYLE": "true",
    })  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    url = r.stdout.strip()
    assert url.startswith(s3_server + "/reports/exports/q3.csv?"), url
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.read() == b"region,total\neu,42\n"
