#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine or a warm one: installs what the tests need
# (promtool from Debian's prometheus package, the s3s-fs S3 server; scripts/test-deploy.sh adds a
# Python venv with botocore, moto and hadolint; scripts/test-image.sh adds podman and builds the
# image; scripts/test-browser.sh adds Debian's chromium,
# the pinned npm packages and a venv with Playwright; scripts/test-kubernetes.sh the pinned
# kubernetes-models packages), checks formatting and lints, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
export PATH="$HOME/.cargo/bin:$PATH"

# ip (iproute2): tests/it/eks.rs gives a network namespace of its own the Pod Identity agent's
# address, 169.254.170.23.
if ! command -v ip >/dev/null 2>&1; then
  echo "--- installing iproute2 (Debian)"
  apt_install iproute2
fi

# s3s-fs: the real S3-compatible server that verifies the presigned URLs' SigV4 signatures.
# Installed outside the checkout so later runs on this machine reuse it (~3 min to build).
tools="${SESSIONGUARD_TOOLS:-$HOME/.cache/sessionguard/tools}"
export S3S_FS="${S3S_FS:-$tools/bin/s3s-fs}"
if [ ! -x "$S3S_FS" ]; then
  echo "--- installing s3s-fs 0.14.1 into $tools"
  cargo install s3s-fs@0.14.1 --features binary --locked --root "$tools"
fi
"$S3S_FS" --version

# A venv with moto (tests/deploy/requirements.txt): the integration tests of the signing sources
# start moto's server from it (tests/moto/moto_server.py).
# It also installs promtool (Debian's prometheus package), which the Rust tests run too.
bash scripts/test-deploy.sh --setup-only
promtool --version | head -1
export MOTO_PYTHON="${MOTO_PYTHON:-$PWD/.venv-deploy/bin/python}"

echo "--- cargo fmt --check"
cargo fmt --all -- --check
echo "--- cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "--- cargo test"
cargo test --locked --all-targets
echo "--- deploy artifacts (Dockerfile, task-definition.json, Prometheus rules)"
bash scripts/test-deploy.sh
echo "--- Kubernetes manifests against the Kubernetes and prometheus-operator schemas (tests/kubernetes)"
bash scripts/test-kubernetes.sh
echo "--- the rotation's promise on one virtual clock (tests/clock)"
bash scripts/test-clock.sh
echo "--- the image, built with podman and run as ECS and Lambda run it (tests/image, tests/it/image.rs)"
bash scripts/test-image.sh
echo "--- browser: Uppy 6 in Chromium (tests/browser)"
bash scripts/test-browser.sh
