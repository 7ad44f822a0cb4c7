#!/usr/bin/env bash
# The benchmark suite in one command: bench/run.sh
# Installs wrk (Debian) and a venv with boto3 (.venv-bench) when missing, builds the release
# binary, runs the in-process criterion benchmark, then bench/suite.py (wrk against the daemon,
# its /healthz floor and a boto3 presign service; memory, start-up time, idle CPU).
# Environment: DURATION (s per wrk run, default 10), RUNS (3), IDLE (60), CONNECTIONS ("1,64").
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

if ! command -v wrk >/dev/null 2>&1; then
  echo "--- installing wrk" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
if [ ! -x .venv-bench/bin/python ]; then
  echo "--- creating .venv-bench (boto3)" >&2
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt
fi

echo "--- cargo build --release" >&2
cargo build --release --locked >&2
echo "--- criterion: in-process cost of one presign" >&2
cargo bench --locked --bench presign -- --noplot 2>&1 | grep -E "time:|^[a-z_]+$" || true
echo "--- load (wrk), memory, start-up, idle CPU" >&2
BENCH_PYTHON=.venv-bench/bin/python SESSIONGUARD_BIN=target/release/sessionguard \
  .venv-bench/bin/python bench/suite.py
