#!/usr/bin/env bash
# Installs the test dependencies when missing, builds, and runs every test suite with ctest.
#   tools/test.sh            release build (CUDA compiled when nvcc exists), then asan, then tsan;
#                            the emulated CUDA kernel suite then runs in asan and tsan only
#   tools/test.sh release    only the release build and its tests
#   tools/test.sh asan       only the AddressSanitizer + UBSan build (clang) of the CPU suites,
#                            with a short run of each libFuzzer target (tests/fuzz)
#   tools/test.sh tsan       only the ThreadSanitizer build of the emulated CUDA kernel suite
# Suites that need a GPU (or a data set that is absent) report themselves as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
r2g2_install_deps --data
# tools/plot.py's test draws with Debian's matplotlib (skipped where it cannot be installed).
r2g2_install_apt_packages python3-matplotlib || echo "tools/test.sh: python3-matplotlib missing; tools_plot_report will be skipped"

presets=("$@")
[ "${#presets[@]}" -eq 0 ] && presets=(release asan tsan)
# The asan preset builds with clang, whose libFuzzer the fuzz targets link.
if [[ " ${presets[*]} " == *" asan "* ]]; then
  r2g2_install_apt_packages clang libclang-rt-14-dev
fi
jobs=$(nproc 2>/dev/null || echo 2)
# When the sanitizer presets run the emulated CUDA kernel suite (test_kernels_cuda), the
# release build leaves it out: a third compilation of every kernel adds a minute to CI.
release_emulated=ON
if [[ " ${presets[*]} " == *" asan "* && " ${presets[*]} " == *" tsan "* ]]; then
  release_emulated=OFF
fi

for preset in "${presets[@]}"; do
  case "$preset" in
    release|debug|asan|tsan) ;;
    *) echo "tools/test.sh: unknown preset '$preset' (release, debug, asan or tsan)" >&2; exit 2 ;;
  esac
  echo "== r2g2: configure and build ($preset)"
  configure=(--preset "$preset")
  [ "$preset" = release ] && configure+=("-DR2G2_EMULATED_KERNEL_TESTS=$release_emulated")
  cmake "${configure[@]}" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "== r2g2: ctest ($preset)"
  ctest --preset "$preset" -j "$jobs"
done
