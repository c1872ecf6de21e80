#!/usr/bin/env bash
# Install what a fresh Debian 12 box lacks for the demo and the tests, and nothing it already has.
# System packages via apt (root or sudo), the project itself into .venv (editable, with dev tools).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3 python3-venv python3-dev build-essential
  ffmpeg mosquitto mosquitto-clients
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
  gstreamer1.0-plugins-bad gstreamer1.0-x
  chromium
  # The hub's PostgreSQL backend is tested against a real server (issue 16); see
  # scripts/setup-test-postgres.sh. CCTV_SKIP_POSTGRES=1 leaves PostgreSQL out.
  postgresql postgresql-contrib
  # the shaped site link of the tests and bench/link.py (devkit/netlink): tc, nft, ethtool
  iproute2 nftables ethtool
)
if [ "${CCTV_SKIP_POSTGRES:-0}" = 1 ]; then
  APT_PACKAGES=("${APT_PACKAGES[@]/postgresql*/}")
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  [ -n "$pkg" ] || continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "${CCTV_SKIP_POSTGRES:-0}" != 1 ]; then
  bash scripts/setup-test-postgres.sh
fi

# The broker package starts a system Mosquitto on :1883; the demo and tests start their own on a
# free port, so that one is left as it is.

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "install-deps: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "install-deps: installing the project and its Python dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
echo "install-deps: ready"
