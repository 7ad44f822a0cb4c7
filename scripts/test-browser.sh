#!/usr/bin/env bash
# Uppy 6 in a real browser (tests/browser/test_uppy.py): installs what it needs on a fresh Debian
# machine (Debian's chromium, the pinned npm packages, a venv with pytest and Playwright for
# Python), bundles the page with esbuild, and runs the test against the debug binary.
# Environment: S3S_FS (the s3s-fs binary; scripts/test.sh sets it), SESSIONGUARD_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

if ! command -v chromium >/dev/null 2>&1; then
  echo "--- installing chromium (Debian)"
  apt_install chromium
fi
chromium --version

need_npm
echo "--- npm ci (tests/browser: @uppy/core, @uppy/aws-s3, esbuild)"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)

ensure_venv .venv-browser tests/browser/requirements.txt

export SESSIONGUARD_BIN="${SESSIONGUARD_BIN:-$PWD/target/debug/sessionguard}"
[ -x "$SESSIONGUARD_BIN" ] || cargo build --locked
echo "--- browser test (Chromium + Uppy)"
.venv-browser/bin/python -m pytest -q -p no:cacheprovider tests/browser "$@"
