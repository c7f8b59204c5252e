#!/usr/bin/env bash
# Installs the Debian packages r2g2 needs when they are missing. Sourced by
# tools/test.sh and tools/demo.sh; safe to run again (it checks before installing).
# usage: tools/deps.sh [--data]   (--data adds dataset-fashion-mnist)

r2g2_missing_packages() {
  local pkg missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  for pkg in "${missing[@]}"; do echo "$pkg"; done
}

r2g2_install_deps() {
  local want=(cmake ninja-build g++ doctest-dev libopenblas-dev zlib1g-dev)
  [ "${1:-}" = "--data" ] && want+=(dataset-fashion-mnist)
  r2g2_install_apt_packages "${want[@]}"
}

# Installs the named Debian packages that are not installed yet.
r2g2_install_apt_packages() {
  local missing
  mapfile -t missing < <(r2g2_missing_packages "$@")
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "r2g2: installing missing packages: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "r2g2: need root (or sudo) to run: apt-get install -y ${missing[*]}" >&2
      return 1
    fi
  fi
  $sudo apt-get update -qq || { echo "r2g2: apt-get update failed" >&2; return 1; }
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { echo "r2g2: apt-get install ${missing[*]} failed" >&2; return 1; }
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  r2g2_install_deps "$@"
fi
