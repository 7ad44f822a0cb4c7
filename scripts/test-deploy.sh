#!/usr/bin/env bash
# The deploy artifacts' tests (tests/deploy): Dockerfile, task-definition.json, deploy/prometheus.
# Installs what they need on a fresh Debian 12 machine and is quick when it is already there:
# promtool and prometheus (Debian's prometheus package), a venv in .venv-deploy/ with the pinned
# tools of tests/deploy/requirements.txt, and target/debug/sessionguard. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

VENV=.venv-deploy
REQUIREMENTS=tests/deploy/requirements.txt
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  echo "--- installing promtool and prometheus (Debian package prometheus)"
  apt_install prometheus
fi

ensure_venv "$VENV" "$REQUIREMENTS"

# scripts/test.sh sets up the venv first: the Rust integration tests start moto from it.
if [ "${1:-}" = "--setup-only" ]; then
  exit 0
fi

if [ -z "${SESSIONGUARD_BIN:-}" ] && [ ! -x target/debug/sessionguard ]; then
  echo "--- cargo build --locked"
  cargo build --locked
fi

echo "--- pytest tests/deploy"
# No .pytest_cache or __pycache__ in the work tree.
export PYTHONDONTWRITEBYTECODE=1
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider -rs tests/deploy "$@"
