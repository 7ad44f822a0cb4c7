"""What every Python test root (tests/deploy, tests/image, tests/clock, tests/browser) needs to run
processes on loopback: a free port, a poller, and a child process stopped by its PID.

Each root puts this directory on `sys.path` and imports from here; nothing else is shared.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A loopback port nothing listens on right now (for a process that cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, probe, timeout: float = 30, every: float = 0.2):
    """Polls `probe` until it returns something truthy, and returns that; a probe that raises has
    just not succeeded yet. After `timeout` seconds, fails naming `what` and the last answer."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as e:  # noqa: BLE001 - not yet
            last = e
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Proc:
    """A child process with its output in a file, so that a full pipe can never block it; stopped
    by its PID, never by name."""

    def __init__(self, name: str, popen: subprocess.Popen, log: Path):
        self.name, self.popen, self.log = name, popen, log
        self.extra: dict = {}

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def lines(self) -> list[dict]:
        """Its JSON log lines so far."""
        return [json.loads(line) for line in self.output().splitlines() if line.startswith("{")]

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after 10 s; its exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        return self.popen.returncode


def start(name: str, argv: list[str], log: Path, env: dict | None = None, stdin=None) -> Proc:
    """Starts `argv` with stdout and stderr in `log` (and stdin from `stdin`, else nothing)."""
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
        )  # fmt: skip
    return Proc(name, popen, log)
