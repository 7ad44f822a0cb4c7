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
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

apt_updated=""
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$apt_updated" ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  # RUNLEVEL=1 keeps Debian's maintainer scripts from starting the Prometheus server as a service;
  # the tests start their own on loopback.
  $SUDO env RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  echo "--- installing promtool and prometheus (Debian package prometheus)"
  apt_install prometheus
fi

# A venv per requirements file: rebuilt only when tests/deploy/requirements.txt changes.
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "--- creating $VENV ($REQUIREMENTS)"
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    # Debian's own python3 ships venv separately.
    rm -rf "$VENV"
    apt_install python3-venv
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$want" >"$stamp"
fi

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
