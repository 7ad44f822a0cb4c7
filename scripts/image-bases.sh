#!/usr/bin/env bash
# Local stand-ins for the two base images the Dockerfile names, so that podman can build it with
# `--pull=never` on a machine that reaches no image registry (only Debian's, PyPI's, npm's and
# crates.io's package mirrors):
#
#   gcr.io/distroless/cc-debian12:nonroot  what distroless cc publishes as its contents: the Debian 12
#       packages libc6, libssl3, libgcc-s1, libstdc++6, libgomp1, gcc-12-base, ca-certificates,
#       tzdata, netbase and base-files, unpacked without their maintainer scripts or dependencies
#       (distroless does the same with Bazel); /etc/ssl/certs/ca-certificates.crt made from the
#       Mozilla bundle as update-ca-certificates would; distroless's /etc/passwd and /etc/group
#       (root, nobody, nonroot 65532), /home/nonroot (0700, 65532) and /tmp (1777); no shell, no
#       package manager; the :nonroot config (USER 65532, WORKDIR /home/nonroot, PATH,
#       SSL_CERT_FILE).
#   rust:1.95.0-slim-bookworm  Debian 12 minbase with gcc, libc6-dev and ca-certificates (what the
#       official slim image installs) and this machine's Rust 1.95.0 toolchain where the official
#       image keeps it: RUSTUP_HOME=/usr/local/rustup, CARGO_HOME=/usr/local/cargo, cargo and rustc
#       on PATH. Unlike the official image it also trusts the CA of this machine's TLS-intercepting
#       registry proxy (from /usr/local/share/ca-certificates), or cargo could not download crates
#       in the build; the runtime stand-in never gets that CA.
#
# Same content, built here: these are stand-ins, not the published images. Each is rebuilt only
# when this script changes (a label holds its hash). Needs root, podman and mmdebstrap
# (scripts/test-image.sh installs them) and CONTAINERS_CONF from scripts/test-image.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

DISTROLESS=gcr.io/distroless/cc-debian12:nonroot
# The fully qualified names: `FROM rust:...` means Docker Hub's library/rust.
RUST=docker.io/library/rust:1.95.0-slim-bookworm
RUST_VERSION=1.95.0
recipe="$(sha256sum "$0" | cut -c1-16)"

work="$(mktemp -d)"
chmod 0755 "$work" # apt-get download drops privileges to _apt
trap 'rm -rf "$work"' EXIT

current() {  # the image exists and was made by this version of the script
  [ "$(podman image inspect --format '{{index .Labels "org.sessionguard.stand-in"}}' "$1" 2>/dev/null)" = "$recipe" ]
}

# Debian's archive as the host's apt sees it (the same mirror and snapshot as the machine).
sources() {
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
    if [ -f "$f" ]; then echo "$f"; fi
  done
}

distroless() {
  echo "--- building the local stand-in for $DISTROLESS"
  local root="$work/distroless" debs="$work/debs"
  mkdir -p "$root" "$debs"
  # The exact package set, without dependencies (ca-certificates would pull openssl and perl).
  (cd "$debs" && apt-get download -qq libc6 libssl3 libgcc-s1 libstdc++6 libgomp1 gcc-12-base \
    ca-certificates tzdata netbase base-files)
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$root"; done
  # Debian 12 is merged-/usr: base-files ships the directories, the links are made by the
  # installer (distroless makes them too).
  for d in bin sbin lib lib64; do
    [ -e "$root/$d" ] || ln -s "usr/$d" "$root/$d"
  done
  mkdir -p "$root/etc/ssl/certs" "$root/home/nonroot" "$root/tmp" "$root/var/lib/dpkg/status.d"
  find "$root/usr/share/ca-certificates/mozilla" -name '*.crt' | sort | xargs cat \
    >"$root/etc/ssl/certs/ca-certificates.crt"
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
EOF
  chown 65532:65532 "$root/home/nonroot"
  chmod 0700 "$root/home/nonroot"
  chmod 1777 "$root/tmp"
  # No shell, no package manager: what distroless leaves out of these packages' files.
  rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/sbin/update-ca-certificates" \
    "$root/usr/share/lintian" "$root/usr/share/bug"
  if [ -e "$root/bin/sh" ] || [ -e "$root/usr/bin/sh" ]; then
    echo "the distroless stand-in has a shell" >&2
    exit 1
  fi
  tar --numeric-owner -C "$root" -cf "$work/distroless.tar" .
  podman import -q \
    --change 'USER 65532' \
    --change 'WORKDIR /home/nonroot' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change "LABEL org.sessionguard.stand-in=$recipe" \
    "$work/distroless.tar" "$DISTROLESS" >/dev/null
}

rust() {
  echo "--- building the local stand-in for $RUST"
  local root="$work/rust"
  local toolchain="${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$RUST_VERSION-x86_64-unknown-linux-gnu"
  if [ ! -x "$toolchain/bin/rustc" ]; then
    toolchain="$(dirname "$(rustup which rustc)")/.."
  fi
  "$toolchain/bin/rustc" --version | grep -q "^rustc $RUST_VERSION " || {
    echo "no Rust $RUST_VERSION toolchain at $toolchain" >&2
    exit 1
  }
  # mmdebstrap reads the mirror from the host's apt sources (the same snapshot as the machine).
  local mirror=() list
  list="$(sources | head -1)"
  if [ -n "$list" ]; then mirror=(- ); fi
  mmdebstrap --quiet --variant=minbase --include=ca-certificates,gcc,libc6-dev \
    --skip=cleanup/reproducible bookworm "$root" "${mirror[@]}" <"${list:-/dev/null}"
  mkdir -p "$root/usr/local/rustup/toolchains" "$root/usr/local/cargo/bin"
  # The toolchain without its 800 MB of HTML docs (the official image has none either).
  tar -C "$toolchain" --exclude=./share/doc -cf - . |
    (mkdir -p "$root/usr/local/rustup/toolchains/$RUST_VERSION-x86_64-unknown-linux-gnu" &&
      tar -C "$root/usr/local/rustup/toolchains/$RUST_VERSION-x86_64-unknown-linux-gnu" -xf -)
  cp "$(command -v rustup)" "$root/usr/local/cargo/bin/rustup"
  for proxy in cargo rustc rustdoc; do
    ln -sf rustup "$root/usr/local/cargo/bin/$proxy"
  done
  printf 'default_toolchain = "%s-x86_64-unknown-linux-gnu"\nprofile = "minimal"\nversion = "12"\n' \
    "$RUST_VERSION" >"$root/usr/local/rustup/settings.toml"
  # The registry proxy's CA, for cargo's downloads in the build stage only.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null
  fi
  chmod -R a+w "$root/usr/local/rustup" "$root/usr/local/cargo"
  tar --numeric-owner -C "$root" -cf "$work/rust.tar" .
  podman import -q \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV RUST_VERSION=$RUST_VERSION" \
    --change "LABEL org.sessionguard.stand-in=$recipe" \
    "$work/rust.tar" "$RUST" >/dev/null
}

current "$DISTROLESS" || distroless
current "$RUST" || rust
# An earlier stand-in, now untagged.
podman image prune -f >/dev/null
for image in "$DISTROLESS" "$RUST"; do
  echo "$image: $(podman image inspect --format '{{.Size}}' "$image") bytes (local stand-in)"
done
