"""sessionguard's benchmark suite: one run, every figure of BENCHMARKS.md.

Measures, on loopback, with wrk and the daemon sharing this machine's cores:
  - req/s and p50/p99 latency of POST /v1/presign and of GET /healthz (the HTTP floor) of the same
    release daemon, and of a Python boto3 presign service (bench/boto3_presign_service.py), at 1
    and 64 connections; medians of RUNS runs of DURATION seconds each;
  - idle RSS, RSS after the load, the stripped release binary's size, the time from exec to the
    first /healthz 200, and the CPU the daemon uses over IDLE seconds with nothing to do.
Prints a markdown report on stdout. Everything it starts listens on 127.0.0.1 and is stopped by PID.

Environment: SESSIONGUARD_BIN (release binary), DURATION (default 10), RUNS (3), IDLE (60),
CONNECTIONS ("1,64").
"""

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.environ.get("SESSIONGUARD_BIN", "target/release/sessionguard")
DURATION = int(os.environ.get("DURATION", "10"))
RUNS = int(os.environ.get("RUNS", "3"))
IDLE = int(os.environ.get("IDLE", "60"))
CONNECTIONS = [int(c) for c in os.environ.get("CONNECTIONS", "1,64").split(",")]
BODY = '{"bucket":"reports","key":"bench/2026/q3 report.csv","expires_in":600}'
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except OSError:
        return None, b""


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def start_daemon():
    """Starts the release demo on a fixed free port; returns (process, port, exec-to-ready s)."""
    port = free_port()
    argv = [BIN, "demo", "--session", "12h", "--listen", f"127.0.0.1:{port}",
            "--log-format", "json", "--presign-allow", "GET:reports/bench/"]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        status, _ = get(f"http://127.0.0.1:{port}/healthz", timeout=0.2)
        if status == 200:
            ready = time.perf_counter() - started
            break
        if proc.poll() is not None or time.perf_counter() - started > 10:
            raise RuntimeError("daemon did not become healthy")
        time.sleep(0.001)
    # The first credentials check, so presigning works before the load starts.
    deadline = time.time() + 10
    while get(f"http://127.0.0.1:{port}/readyz")[0] != 200:
        if time.time() > deadline:
            raise RuntimeError("daemon did not become ready")
        time.sleep(0.01)
    return proc, port, ready


def start_boto3():
    python = os.environ.get("BENCH_PYTHON", sys.executable)
    proc = subprocess.Popen([python, "bench/boto3_presign_service.py"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(proc.stdout.readline())
    return proc, port


def wrk(url, connections, lua=None):
    argv = ["wrk", "-t", str(min(2, connections)), "-c", str(connections),
            "-d", f"{DURATION}s", "--latency", url]
    if lua:
        argv[1:1] = ["-s", lua]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def latency(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(g) for g in m.groups())
    return {"rps": rps, "p50": latency(50), "p99": latency(99), "errors": errors}


def median_of(runs):
    return {k: statistics.median(r[k] for r in runs) if k != "errors" else sum(r[k] for r in runs)
            for k in runs[0]}


def main():
    lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lua.write('wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\n'
              f"wrk.body = '{BODY}'\n")
    lua.close()
    size = os.path.getsize(BIN)
    daemon, port, ready = start_daemon()
    boto, boto_port = start_boto3()
    procs = [daemon, boto]
    try:
        time.sleep(2)
        idle_rss = rss_kib(daemon.pid)
        cpu_before = cpu_seconds(daemon.pid)
        time.sleep(IDLE)
        idle_cpu = cpu_seconds(daemon.pid) - cpu_before
        results = {}
        for c in CONNECTIONS:
            for name, url, script in [
                ("healthz", f"http://127.0.0.1:{port}/healthz", None),
                ("presign", f"http://127.0.0.1:{port}/v1/presign", lua.name),
                ("boto3", f"http://127.0.0.1:{boto_port}/v1/presign", lua.name),
            ]:
                results[(name, c)] = median_of([wrk(url, c, script) for _ in range(RUNS)])
        loaded_rss = rss_kib(daemon.pid)
        boto_rss = rss_kib(boto.pid)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
        os.unlink(lua.name)

    print(f"Runs: {RUNS} x {DURATION} s per figure (medians), wrk with min(2, connections) threads.\n")
    print("| target | connections | req/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for (name, c), r in results.items():
        label = {"healthz": "sessionguard GET /healthz (HTTP floor)",
                 "presign": "sessionguard POST /v1/presign",
                 "boto3": "Python http.server + boto3 presign"}[name]
        print(f"| {label} | {c} | {r['rps']:.0f} | {r['p50']:.3f} | {r['p99']:.3f} | {r['errors']} |")
    top = max(CONNECTIONS)
    print()
    print("| figure | value | target |")
    print("|---|---|---|")
    ratio = results[("presign", top)]["rps"] / results[("healthz", top)]["rps"]
    boto_ratio = results[("presign", top)]["rps"] / results[("boto3", top)]["rps"]
    print(f"| presign / healthz req/s at {top} connections | {ratio:.1%} | >= 40% |")
    print(f"| presign / boto3 service req/s at {top} connections | {boto_ratio:.1f}x | >= 15x |")
    print(f"| presign p99 at {top} connections | {results[('presign', top)]['p99']:.2f} ms | <= 5 ms |")
    print(f"| idle RSS | {idle_rss / 1024:.1f} MiB | <= 12 MiB |")
    print(f"| RSS after the load | {loaded_rss / 1024:.1f} MiB | <= 25 MiB |")
    print(f"| boto3 service RSS after the load | {boto_rss / 1024:.1f} MiB | (peer) |")
    print(f"| stripped release binary | {size / 1e6:.1f} MB | |")
    print(f"| exec to first /healthz 200 | {ready * 1000:.0f} ms | <= 50 ms |")
    print(f"| CPU over {IDLE} idle seconds | {idle_cpu:.2f} s | ~0 (no busy polling) |")
    errors = sum(r["errors"] for r in results.values())
    if errors:
        print(f"\n{errors} errors during the load", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
