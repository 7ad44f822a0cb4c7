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
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

if ! command -v prometheus >/dev/null 2>&1; then
  echo "--- installing prometheus (Debian package prometheus)"
  apt_install prometheus
fi

ensure_venv "$VENV" "$REQUIREMENTS"

echo "--- cargo build --locked"
cargo build --locked
binary="${CARGO_TARGET_DIR:-target}/debug/sessionguard"

echo "--- the run (about three minutes)"
export PYTHONDONTWRITEBYTECODE=1
exec "$VENV/bin/python" scripts/picture.py --binary "$binary" --out docs/session.png "$@"
