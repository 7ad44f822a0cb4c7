#!/usr/bin/env bash
# The promise on one virtual clock (tests/clock): the sidecar, `rotate-keys` and moto's server moved
# days forward together by Debian's libfaketime (its libfaketimeMT variant, driven by one timestamp
# file), with the test playing Secrets Manager. Installs libfaketime when missing; uses the deploy
# venv (moto, boto3) and target/debug/sessionguard. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
export PATH="$HOME/.cargo/bin:$PATH"

if [ ! -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ]; then
  echo "--- installing libfaketime (Debian package)"
  apt_install libfaketime faketime
fi
bash scripts/test-deploy.sh --setup-only
if [ -z "${SESSIONGUARD_BIN:-}" ] && [ ! -x target/debug/sessionguard ]; then
  cargo build --locked
fi
export MOTO_PYTHON="${MOTO_PYTHON:-$PWD/.venv-deploy/bin/python}"
export PYTHONDONTWRITEBYTECODE=1
echo "--- pytest tests/clock (one virtual clock)"
exec .venv-deploy/bin/python -m pytest -q -p no:cacheprovider -rs tests/clock "$@"
