#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine or a warm one: installs what the tests need
# (promtool from Debian's prometheus package), checks formatting and lints, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

if ! command -v promtool >/dev/null 2>&1; then
  echo "--- installing promtool (Debian package prometheus)"
  export DEBIAN_FRONTEND=noninteractive
  # RUNLEVEL=1 keeps Debian's maintainer scripts from starting the Prometheus server.
  apt-get update -qq
  RUNLEVEL=1 apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
promtool --version | head -1

echo "--- cargo fmt --check"
cargo fmt --all -- --check
echo "--- cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "--- cargo test"
cargo test --locked --all-targets
