# Sourced by the scripts in this folder: how they install what they need on a fresh Debian 12
# machine, and stay quick where it is already there.

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

# Debian packages, with one `apt-get update` per script run. RUNLEVEL=1 keeps Debian's maintainer
# scripts from starting services (the Prometheus server): the tests start their own on loopback.
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  $SUDO env RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# npm (and node), from Debian when missing.
need_npm() {
  if ! command -v npm >/dev/null 2>&1; then
    echo "--- installing nodejs and npm (Debian)"
    apt_install nodejs npm
  fi
}

# A venv DIR with the pinned tools of REQUIREMENTS, rebuilt only when that file changes.
ensure_venv() {
  local venv="$1" requirements="$2"
  local stamp="$venv/.requirements.sha256"
  local want
  want="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "--- creating $venv ($requirements)"
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      # Debian's own python3 ships venv separately.
      rm -rf "$venv"
      apt_install python3-venv
      python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    echo "$want" >"$stamp"
  fi
}
