#!/usr/bin/env bash
# Makes docs/session.png from a real run (about three minutes): the demo with 40 s sessions, a
# Prometheus server scraping it every second, a client asking for presigned URLs ten times a
# second, then range queries plotted by scripts/picture.py (matplotlib, pinned in
# scripts/picture-requirements.txt, in a venv in .venv-picture/). Works from a clean checkout on
# Debian 12: installs Debian's prometheus package if missing and builds the binary with cargo.
# Extra arguments go to scripts/picture.py (--help).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

VENV=.venv-picture
REQUIREMENTS=scripts/picture-requirements.txt
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  # RUNLEVEL=1 keeps Debian's maintainer scripts from starting Prometheus as a service.
  $SUDO env RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! command -v prometheus >/dev/null 2>&1; then
  echo "--- installing prometheus (Debian package prometheus)"
  apt_install prometheus
fi

# A venv per requirements file: rebuilt only when the file changes.
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "--- creating $VENV ($REQUIREMENTS)"
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    apt_install python3-venv
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$want" >"$stamp"
fi

echo "--- cargo build --locked"
cargo build --locked
binary="${CARGO_TARGET_DIR:-target}/debug/sessionguard"

echo "--- the run (about three minutes)"
export PYTHONDONTWRITEBYTECODE=1
exec "$VENV/bin/python" scripts/picture.py --binary "$binary" --out docs/session.png "$@"
