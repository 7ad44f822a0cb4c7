#!/usr/bin/env bash
# The image, built and run (tests/image and tests/it/image.rs): builds the Dockerfile, unchanged,
# with podman from Debian's packages, by the very commands docs/deploy.md prints (`docker` is
# podman here, tests/image/docker), then runs the image as ECS and Lambda run it.
#
# No image registry can be reached from these machines, so the two base images the Dockerfile
# names are local stand-ins with the same content, made by scripts/image-bases.sh from Debian's
# packages and this machine's Rust toolchain, and the build never pulls (CONTAINERS_CONF below).
#
# Two phases:
#  1. on the machine's network (the builder downloads crates from crates.io):
#     tests/image/test_build.py builds the image with docs/deploy.md's commands, and shows that a
#     target the builder does not copy fails the build;
#  2. inside a network namespace of its own (`unshare -n`), where loopback also carries ECS's
#     169.254.170.2: tests/image/test_run.py runs docs/deploy.md's `docker run` lines, and
#     `cargo test --test it image::` the container as ECS and Lambda run it.
# Extra arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
export PATH="$HOME/.cargo/bin:$PATH"

tools="${SESSIONGUARD_TOOLS:-$HOME/.cache/sessionguard/tools}"
mkdir -p "$tools"

missing=()
for tool in podman buildah runc mmdebstrap unshare ip; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "--- installing podman, buildah, runc, mmdebstrap (Debian packages; missing: ${missing[*]})"
  apt_install podman buildah runc mmdebstrap uidmap \
    containernetworking-plugins iptables iproute2 util-linux ca-certificates
fi
podman --version

# What this kind of machine needs (FACTS): runc (crun fails: "cgroups in hybrid mode not
# supported"), no default ulimits (podman cannot apply them here), cgroupfs and a file event log
# (no systemd), and never a pull: every image is local.
export CONTAINERS_CONF="$tools/containers.conf"
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
pull_policy = "never"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF

bash scripts/image-bases.sh
bash scripts/test-deploy.sh --setup-only
export S3S_FS="${S3S_FS:-$tools/bin/s3s-fs}"
export MOTO_PYTHON="${MOTO_PYTHON:-$PWD/.venv-deploy/bin/python}"
export PYTHONDONTWRITEBYTECODE=1

# The host's crate downloads seed the builder's registry cache mount (buildah keeps a cache mount
# without an id under /var/tmp/buildah-cache/<its target>), so a cold machine downloads each crate
# once, not once for the tests and again for the image.
registry="${CARGO_HOME:-$HOME/.cargo}/registry"
mount=/var/tmp/buildah-cache/usr/local/cargo/registry
if [ -d "$registry/cache" ]; then
  mkdir -p "$mount"
  cp -rn "$registry/index" "$registry/cache" "$mount/" 2>/dev/null || true
fi

echo "--- the image, built by docs/deploy.md's commands (tests/image/test_build.py)"
.venv-deploy/bin/python -m pytest -q -p no:cacheprovider -rs tests/image/test_build.py "$@"

# The image the run tests use: what docs/deploy.md's `docker build -t sessionguard .` tagged.
export SESSIONGUARD_IMAGE=localhost/sessionguard:latest
# Built before entering the namespace, where crates.io cannot be reached.
cargo test --locked --test it --no-run -q 2>/dev/null || cargo test --locked --test it --no-run

echo "--- the image, run as ECS and Lambda run it (in a network namespace of its own)"
unshare --net -- bash -euo pipefail -c '
  ip link set lo up
  ip addr add 169.254.170.2/32 dev lo
  .venv-deploy/bin/python -m pytest -q -p no:cacheprovider -rs tests/image/test_run.py "$@"
  cargo test --locked --offline --test it image:: -- --ignored --test-threads 1
' image-tests "$@"
