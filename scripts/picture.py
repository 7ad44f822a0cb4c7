"""Draws docs/session.png from a real run of the demo, scraped by a real Prometheus.

The demo issues 40 s sessions (a new one 8 s before expiry) and signs with a 10 s margin; a client
asks it for 15 s URLs ten times a second, plus a forbidden and an invalid request now and then.
A 15 s URL fits while the session has more than 25 s left, so the answers turn from `issued` to
`session_too_short` in the second half of every tooth of the sawtooth. After the run, range
queries fetch the remaining time and the answers per second, and matplotlib plots them one above
the other.

Every process listens on 127.0.0.1 only and is stopped by its PID at the end. Run it through
scripts/picture.sh, which builds the binary and this script's venv.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SESSION_SECONDS = 40
MARGIN_SECONDS = 10
ASKED_SECONDS = 15
WARN_BELOW_SECONDS = 20
DEMO_FLAGS = [
    "demo", "--session", f"{SESSION_SECONDS}s", "--interval", "1s",
    "--presign-margin", f"{MARGIN_SECONDS}s", "--warn-below", f"{WARN_BELOW_SECONDS}s",
    "--presign-allow", "GET:reports/", "--log-format", "json", "--listen", "127.0.0.1:0",
]  # fmt: skip
# What the client asks for, by tick (ten ticks a second): a 15 s download every tick, a key outside
# the allow-list every tenth tick, a malformed request every twentieth.
ASK = {"bucket": "reports", "key": "exports/daily.csv", "expires_in": f"{ASKED_SECONDS}s"}
FORBIDDEN = {"bucket": "payroll", "key": "2026/12.csv", "expires_in": f"{ASKED_SECONDS}s"}
INVALID = {"bucket": "reports", "key": "exports/daily.csv", "expires_in": "tomorrow"}
TICK = 0.1
COLORS = {
    "issued": "#2ca02c",
    "session_too_short": "#ff7f0e",
    "forbidden": "#9467bd",
    "invalid": "#1f77b4",
    "unavailable": "#d62728",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> dict:
    assert url.startswith("http://127.0.0.1:"), url
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def post(url: str, body: dict) -> int:
    assert url.startswith("http://127.0.0.1:"), url
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def wait_for(what: str, probe, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = probe()
        except (OSError, ValueError, KeyError):
            found = None
        if found:
            return found
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def query_range(prom: str, expr: str, start: float, end: float) -> list:
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": "1s"})
    doc = get(f"{prom}/api/v1/query_range?{params}")
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


def run(binary: Path, seconds: float, workdir: Path) -> dict:
    """Runs the demo, Prometheus and the client; returns the series to plot."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_REGION": "us-east-1",
    }
    demo_log = (workdir / "demo.log").open("wb")
    demo = subprocess.Popen([str(binary), *DEMO_FLAGS], stdout=demo_log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env)
    prom_proc = None
    try:
        def started():
            for line in (workdir / "demo.log").read_text().splitlines():
                if line.startswith("{") and json.loads(line).get("message") == "sessionguard started":
                    return json.loads(line)["listen"]
            assert demo.poll() is None, "the demo exited"
            return None

        listen = wait_for("the demo to start", started, 30)
        port = free_port()
        (workdir / "prometheus.yml").write_text(json.dumps({
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [{"job_name": "sessionguard", "static_configs": [{"targets": [listen]}]}],
        }))
        prom_log = (workdir / "prometheus.log").open("wb")
        prom_proc = subprocess.Popen(
            ["prometheus", f"--config.file={workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--log.level=warn"],
            stdout=prom_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        prom = f"http://127.0.0.1:{port}"
        up = urllib.parse.urlencode({"query": 'up{job="sessionguard"} == 1'})
        wait_for("the first scrape", lambda: get(f"{prom}/api/v1/query?{up}")["data"]["result"], 60)

        presign = f"http://{listen}/v1/presign"
        start = time.time()
        begin = time.monotonic()
        answers: dict[int, int] = {}
        tick = 0
        print(f"asking {presign} for URLs for {seconds:.0f}s", flush=True)
        while time.monotonic() - begin < seconds:
            for body, every in ((ASK, 1), (FORBIDDEN, 10), (INVALID, 20)):
                if tick % every == 0:
                    status = post(presign, body)
                    answers[status] = answers.get(status, 0) + 1
            tick += 1
            # Paced, not polled: the client's next request is due at a fixed time.
            time.sleep(max(0.0, begin + tick * TICK - time.monotonic()))
        end = time.time()
        print(f"answers by status: {dict(sorted(answers.items()))}", flush=True)
        # One more scrape after the last request.
        time.sleep(2)
        return {
            "start": start,
            "end": end,
            "remaining": query_range(prom, "sessionguard_credentials_remaining_seconds", start, end),
            "rotations": query_range(prom, "sessionguard_credentials_rotations_total", start, end),
            "answers": query_range(
                prom, "sum by (result) (rate(sessionguard_presign_requests_total[3s]))", start, end
            ),
        }
    finally:
        if prom_proc is not None:
            stop(prom_proc)
        stop(demo)


def points(series: dict, start: float) -> tuple[list[float], list[float]]:
    return [float(t) - start for t, _ in series["values"]], [float(v) for _, v in series["values"]]


def plot(data: dict, out: Path) -> None:
    start = data["start"]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6.4), sharex=True, gridspec_kw={"height_ratios": [3, 2]}, dpi=110
    )
    [remaining] = data["remaining"]
    xs, ys = points(remaining, start)
    rotations = points(data["rotations"][0], start)[1]
    top.plot(xs, ys, color="#1f77b4", linewidth=2, label="remaining session time")
    top.axhline(ASKED_SECONDS + MARGIN_SECONDS, color="#ff7f0e", linestyle=":", linewidth=1.5,
                label=f"{ASKED_SECONDS}s URL + {MARGIN_SECONDS}s margin: below it, refused")
    top.axhline(WARN_BELOW_SECONDS, color="#d62728", linestyle="--", linewidth=1,
                label=f"--warn-below {WARN_BELOW_SECONDS}s")
    top.set_ylim(0, SESSION_SECONDS + 14)
    top.set_ylabel("seconds left")
    rotated = int(rotations[-1] - rotations[0]) if rotations else 0
    top.set_title(
        f"sessionguard demo: {SESSION_SECONDS}s sessions, {rotated} rotations; "
        f"a client asks for {ASKED_SECONDS}s URLs 10 times a second",
        fontsize=11,
    )
    top.legend(loc="upper center", fontsize=8, ncol=3, framealpha=0.9)
    top.grid(alpha=0.3)

    order = [r for r in COLORS if any(s["metric"]["result"] == r for s in data["answers"])]
    by_result = {s["metric"]["result"]: points(s, start) for s in data["answers"]}
    shown = [r for r in order if max(by_result[r][1], default=0) > 0]
    grid = by_result[shown[0]][0]
    bottom.stackplot(
        grid,
        [by_result[r][1] for r in shown],
        labels=shown,
        colors=[COLORS[r] for r in shown],
        alpha=0.85,
    )
    peak = max(sum(v) for v in zip(*(by_result[r][1] for r in shown)))
    bottom.set_ylim(0, peak * 1.45)  # room for the legend above the stack
    bottom.set_ylabel("presign answers / s")
    bottom.set_xlabel("seconds since the client started")
    bottom.legend(loc="upper center", fontsize=8, ncol=len(shown), framealpha=0.9)
    bottom.grid(alpha=0.3)
    bottom.set_xlim(0, data["end"] - start)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", type=Path, help="the sessionguard binary")
    parser.add_argument("--out", type=Path, default=Path("docs/session.png"))
    parser.add_argument("--seconds", type=float, default=170, help="how long the client asks")
    parser.add_argument("--data", type=Path, help="also write the queried series here (JSON)")
    parser.add_argument("--replot", type=Path, help="plot series written by --data; no run")
    args = parser.parse_args()
    if args.replot:
        data = json.loads(args.replot.read_text())
    else:
        if not args.binary:
            parser.error("--binary is required for a run")
        with tempfile.TemporaryDirectory(prefix="sessionguard-picture-") as tmp:
            data = run(args.binary, args.seconds, Path(tmp))
        if args.data:
            args.data.write_text(json.dumps(data))
    plot(data, args.out)


if __name__ == "__main__":
    main()
