"""Instructions per request of the whole daemon, counted by callgrind (BENCHMARKS.md).

For each binary and each kind of request, starts `valgrind --tool=callgrind BINARY demo ...` twice,
once answering N requests and once 2N, all over one keep-alive connection after a warm-up, stops it
with SIGTERM (by its PID) and reads the total instructions (`Ir`) of the run from callgrind's output.
What start-up, the warm-up and shutdown cost is the same in both runs, so

    instructions per request = (Ir(2N) - Ir(N)) / N

Instruction counts do not move with the neighbours on a shared machine as req/s do; what is left is
the daemon's own time-driven work (the log writer's wake-ups while lines keep coming), which is why
each configuration is measured RUNS times.

Kinds: `presign` (one `POST /v1/presign`), `batch` (one `POST /v1/presign/batch` of 100 requests,
reported per batch and per item) and `healthz` (`GET /healthz`, the HTTP floor).

    python3 bench/callgrind.py before=/path/to/old/sessionguard after=target/release/sessionguard
    python3 bench/callgrind.py --kinds presign --n-presign 500 --runs 1 target/release/sessionguard

Prints one line per measurement as it goes, then a markdown table. The daemon is the demo with
12 h sessions, `--interval 1h` (no periodic check lands inside a run) and presigning allowed for
`GET:reports/bench/`, as bench/suite.py runs it; its stdout and stderr go to /dev/null. Python 3
standard library only; needs valgrind.
"""

import argparse
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

BODY = '{"bucket":"reports","key":"bench/2026/q3 report.csv","expires_in":600}'
BATCH_SIZE = 100
BATCH_BODY = json.dumps(
    {"requests": [{"bucket": "reports", "key": f"bench/2026/item {i:03}.csv", "expires_in": 600}
                  for i in range(BATCH_SIZE)]},
    separators=(",", ":"))
WARMUP = 20
JSON = {"content-type": "application/json"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_of(port, path, timeout):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


def wait_for(proc, port, path, deadline):
    """Polls PATH until it answers 200; fails if the daemon exits or DEADLINE passes."""
    while status_of(port, path, timeout=2.0) != 200:
        if proc.poll() is not None:
            raise RuntimeError(f"the daemon exited with {proc.returncode} before {path} answered 200")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not answer 200 in time")
        time.sleep(0.05)


def check_answer(kind, status, body):
    if status != 200:
        raise RuntimeError(f"{kind}: status {status}: {body[:300]!r}")
    if kind == "batch":
        results = json.loads(body)["results"]
        bad = [r["status"] for r in results if r["status"] != 200]
        if len(results) != BATCH_SIZE or bad:
            raise RuntimeError(f"batch: {len(results)} results, statuses not 200: {bad[:5]}")
    elif kind == "presign" and b'"url"' not in body:
        raise RuntimeError(f"presign: no url in {body[:300]!r}")


def send(conn, kind):
    if kind == "presign":
        conn.request("POST", "/v1/presign", body=BODY, headers=JSON)
    elif kind == "batch":
        conn.request("POST", "/v1/presign/batch", body=BATCH_BODY, headers=JSON)
    else:
        conn.request("GET", "/healthz")
    response = conn.getresponse()
    body = response.read()
    if response.getheader("connection", "").lower() == "close":
        raise RuntimeError(f"{kind}: the daemon closed the keep-alive connection")
    return response.status, body


def instructions(label, binary, kind, count, out_dir):
    """Ir of one whole daemon run that answers WARMUP then COUNT requests of KIND."""
    port = free_port()
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", label)
    out = os.path.join(out_dir, f"callgrind.{name}.{kind}.{count}.{time.time_ns()}")
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, "demo",
            "--session", "12h", "--interval", "1h", "--listen", f"127.0.0.1:{port}",
            "--log-format", "json", "--presign-allow", "GET:reports/bench/"]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SESSIONGUARD_", "AWS_")) and k != "RUST_LOG"}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 120
        wait_for(proc, port, "/healthz", deadline)
        # The first credentials check, so that every request below is answered by the same path.
        wait_for(proc, port, "/readyz", deadline)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(WARMUP):
            check_answer(kind, *send(conn, kind))
        for _ in range(count):
            check_answer(kind, *send(conn, kind))
        conn.close()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    total = None
    with open(out) as f:
        for line in f:
            m = re.match(r"(summary|totals):\s+(\d+)", line)
            if m:
                total = int(m.group(2))
    if total is None:
        raise RuntimeError(f"no summary/totals line in {out}")
    return total, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("binaries", nargs="+", metavar="[LABEL=]BINARY")
    parser.add_argument("--kinds", default="presign,batch,healthz")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--n-presign", type=int, default=1500)
    parser.add_argument("--n-batch", type=int, default=100)
    parser.add_argument("--n-healthz", type=int, default=1500)
    parser.add_argument("--out-dir", default=None,
                        help="where callgrind's outputs are kept (default: a temporary directory)")
    args = parser.parse_args()
    binaries = [b.split("=", 1) if "=" in b else (b, b) for b in args.binaries]
    kinds = args.kinds.split(",")
    counts = {"presign": args.n_presign, "batch": args.n_batch, "healthz": args.n_healthz}
    out_dir = args.out_dir or tempfile.mkdtemp(prefix="sessionguard-callgrind-")
    os.makedirs(out_dir, exist_ok=True)
    print(f"callgrind outputs in {out_dir}", file=sys.stderr)

    per_request = {}
    # Binaries alternate within each run, so both see the same minutes of the machine.
    for run in range(args.runs):
        for kind in kinds:
            n = counts[kind]
            for label, binary in binaries:
                ir_n, _ = instructions(label, binary, kind, n, out_dir)
                ir_2n, _ = instructions(label, binary, kind, 2 * n, out_dir)
                value = (ir_2n - ir_n) / n
                per_request.setdefault((label, kind), []).append(value)
                extra = f", {value / BATCH_SIZE:,.0f} per item" if kind == "batch" else ""
                print(f"run {run + 1} {label} {kind}: Ir({n}) = {ir_n:,}, Ir({2 * n}) = {ir_2n:,}"
                      f" -> {value:,.0f} per request{extra}", file=sys.stderr, flush=True)

    def k(values, scale=1):
        return ", ".join(f"{v / scale / 1e6:.2f}M" if v / scale >= 1e6 else f"{v / scale / 1e3:.1f}k"
                         for v in values)

    columns = {"presign": "`POST /v1/presign`",
               "batch": f"`POST /v1/presign/batch` ({BATCH_SIZE} items): per batch | per item",
               "healthz": "`GET /healthz`"}
    header = ["binary"] + [columns[kind] for kind in kinds]
    print("| " + " | ".join(header) + " |")
    print("|---" + "|---:" * sum(2 if kind == "batch" else 1 for kind in kinds) + "|")
    for label, _ in binaries:
        cells = [label]
        for kind in kinds:
            values = per_request[(label, kind)]
            cells.append(k(values))
            if kind == "batch":
                cells.append(k(values, BATCH_SIZE))
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
