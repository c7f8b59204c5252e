#!/usr/bin/env bash
# The one check to run on a machine with an NVIDIA GPU (written for the lent H200: 16
# cores, CMake, g++ and nvcc, no network, no doctest installed).
#
#   tools/gpu-check.sh            # logs under ./gpu-check-out (or $OUT when set)
#
# Steps: record the environment; configure a Release build with CMAKE_CUDA_ARCHITECTURES=90
# in build-gpu/; build everything; run every ctest suite (the GPU suite must now PASS, not
# skip); run the GPU test executable under compute-sanitizer memcheck and racecheck (a
# subset: the sanitizers slow kernels 10-100x); run `r2g2 bench kernels`. Every step
# writes its own log; a failing step does not stop the later ones. A summary table (step,
# status, seconds, log) is printed last and saved as summary.txt; the exit status is
# non-zero if any step failed.
#
# doctest comes from third_party/doctest/doctest.h (copy /usr/include/doctest/doctest.h
# there before carrying the tree over); tests/CMakeLists.txt searches third_party/.
#
# Knobs (environment): OUT, BUILD_DIR (default build-gpu), JOBS (default nproc),
# CUDA_ARCH (default 90), CTEST_TIMEOUT (per suite, default 600), SANITIZER_TIMEOUT
# (per sanitizer run, default 200), SKIP_SANITIZERS=1, SKIP_BENCH=1.
# shellcheck disable=SC2317  # functions below are invoked indirectly through run_step
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$PWD/gpu-check-out}
BUILD=${BUILD_DIR:-$ROOT/build-gpu}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
CUDA_ARCH=${CUDA_ARCH:-90}
CTEST_TIMEOUT=${CTEST_TIMEOUT:-600}
SANITIZER_TIMEOUT=${SANITIZER_TIMEOUT:-200}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

STEP_NAMES=()
STEP_STATUS=()
STEP_SECONDS=()
STEP_LOGS=()
FAILED=0

now() { date +%s.%N; }

# run_step NAME LOGFILE COMMAND...: runs COMMAND with stdout and stderr in $OUT/LOGFILE.
run_step() {
  local name=$1 log=$OUT/$2
  shift 2
  echo "[gpu-check] $name ..."
  local start end rc
  start=$(now)
  { echo "\$ $*"; "$@"; } >"$log" 2>&1
  rc=$?
  end=$(now)
  record "$name" "$rc" "$start" "$end" "$log"
  return "$rc"
}

# record NAME RC START END LOG: one row of the summary.
record() {
  local name=$1 rc=$2 log=$5 status seconds
  seconds=$(awk -v a="$3" -v b="$4" 'BEGIN { printf "%.1f", b - a }')
  if [[ $rc == 0 ]]; then
    status=PASS
  elif [[ $rc == skip ]]; then
    status=SKIP
  else
    status="FAIL($rc)"
    FAILED=1
  fi
  STEP_NAMES+=("$name")
  STEP_STATUS+=("$status")
  STEP_SECONDS+=("$seconds")
  STEP_LOGS+=("${log#"$OUT"/}")
  echo "[gpu-check] $name: $status in ${seconds}s (log: $log)"
}

skip_step() {  # skip_step NAME REASON
  local t
  t=$(now)
  echo "$2" >"$OUT/$1.log"
  record "$1" skip "$t" "$t" "$OUT/$1.log"
}

find_tool() {  # the first of the names that is a command, else empty
  local c
  for c in "$@"; do
    if command -v "$c" >/dev/null 2>&1; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

NVCC=$(find_tool nvcc /usr/local/cuda/bin/nvcc) || NVCC=""
SANITIZER=$(find_tool compute-sanitizer /usr/local/cuda/bin/compute-sanitizer \
  /usr/local/cuda/compute-sanitizer/compute-sanitizer) || SANITIZER=""
GENERATOR=()
if command -v ninja >/dev/null 2>&1; then GENERATOR=(-G Ninja); fi

# ---- 1. environment ------------------------------------------------------------------
environment() {
  echo "date: $(date -u)"
  echo "host: $(uname -a)"
  echo "root: $ROOT  build: $BUILD  jobs: $JOBS  arch: sm_$CUDA_ARCH"
  echo "git: $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo '(not a git checkout)')"
  git -C "$ROOT" status --short 2>/dev/null | head -50
  echo "--- nvidia-smi"
  nvidia-smi || echo "(nvidia-smi failed)"
  echo "--- nvcc: ${NVCC:-not found}"
  [[ -n $NVCC ]] && "$NVCC" --version
  echo "--- compute-sanitizer: ${SANITIZER:-not found}"
  [[ -n $SANITIZER ]] && "$SANITIZER" --version
  echo "--- cmake"
  cmake --version
  echo "--- g++"
  g++ --version
  echo "--- generator: ${GENERATOR[*]:-Unix Makefiles}"
  [[ -n $NVCC ]] || { echo "nvcc not found: a CUDA build is impossible"; return 1; }
  nvidia-smi -L >/dev/null 2>&1 || { echo "no GPU visible to nvidia-smi"; return 1; }
}
run_step environment environment.log environment

# ---- 2. doctest ----------------------------------------------------------------------
doctest_header() {
  if [[ -f $ROOT/third_party/doctest/doctest.h ]]; then
    echo "using $ROOT/third_party/doctest/doctest.h"
  elif [[ -f /usr/include/doctest/doctest.h ]]; then
    echo "using the system's /usr/include/doctest/doctest.h"
  else
    echo "doctest.h not found: copy it to $ROOT/third_party/doctest/doctest.h"
    return 1
  fi
}
run_step doctest doctest.log doctest_header

# ---- 3. configure --------------------------------------------------------------------
configure() {
  local extra=()
  # CMake before 3.26 does not know nvcc's C++20 flag (CUDA_STANDARD 20); tell it.
  local v
  v=$(cmake --version | awk 'NR == 1 { print $3 }')
  if [[ $(printf '%s\n3.26\n' "$v" | sort -V | head -1) != 3.26 ]]; then
    extra+=(-DCMAKE_CUDA20_STANDARD_COMPILE_OPTION=-std=c++20 -DCMAKE_CUDA20_EXTENSION_COMPILE_OPTION=-std=c++20)
  fi
  cmake -S "$ROOT" -B "$BUILD" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" -DCMAKE_CUDA_COMPILER="$NVCC" -DR2G2_ENABLE_CUDA=ON "${extra[@]}" || return 1
  grep -q "r2g2: CUDA backend ON" "$OUT/configure.log" || { echo "configure did not enable CUDA"; return 1; }
}
run_step configure configure.log configure
CONFIGURED=$?

# ---- 4. build ------------------------------------------------------------------------
# Keep going past a failing target: one broken file must not cost the whole device run,
# so the later steps use whatever executables were built.
KEEP_GOING=(-k)
[[ ${#GENERATOR[@]} -gt 0 ]] && KEEP_GOING=(-k 0)
if [[ $CONFIGURED == 0 ]]; then
  run_step build build.log cmake --build "$BUILD" -j "$JOBS" -- "${KEEP_GOING[@]}"
else
  skip_step build "configure failed"
fi
GPU_TEST=$BUILD/tests/test_gpu
HAVE_TESTS=1
[[ $CONFIGURED == 0 && -x $GPU_TEST ]] || HAVE_TESTS=0

# ---- 5. ctest ------------------------------------------------------------------------
if [[ $CONFIGURED == 0 ]]; then
  # Suites run in parallel: the GPU suite shares the device with nothing heavier than the
  # CPU suites' own work.
  run_step ctest ctest.log ctest --test-dir "$BUILD" --output-on-failure --timeout "$CTEST_TIMEOUT" -j 4
  # ctest counts a skipped suite as a success; on this machine the GPU suite must run.
  gpu_suite_ran() {
    grep -E "test_gpu " "$OUT/ctest.log"
    if grep -qE "test_gpu .*(Skipped|Not Run)" "$OUT/ctest.log"; then
      echo "test_gpu was SKIPPED: the GPU suite did not see a usable device"
      grep -E "^SKIPPED" "$OUT/ctest.log"
      return 1
    fi
    grep -qE "test_gpu .*Passed" "$OUT/ctest.log" || { echo "test_gpu did not pass"; return 1; }
  }
  run_step gpu-suite-ran gpu-suite-ran.log gpu_suite_ran
else
  skip_step ctest "configure failed"
  skip_step gpu-suite-ran "configure failed"
fi

# ---- 6. sanitizers -------------------------------------------------------------------
# R2G2_CUDA_NO_CACHE=1: every tensor is its own cudaMalloc of its exact size, so memcheck
# sees true bounds (the caching allocator would hide overruns inside a rounded block).
# R2G2_UNDER_SANITIZER=1: the GPU tests shrink their ~1e6-element cases. Test cases named
# "slow: ..." (the MLP, the >2^31-element sizes) and the estimator training steps are
# left out of memcheck; racecheck runs the cases whose kernels use shared memory.
sanitize() {  # sanitize TOOL DOCTEST_FILTERS...
  local tool=$1
  shift
  R2G2_CUDA_NO_CACHE=1 R2G2_UNDER_SANITIZER=1 timeout "$SANITIZER_TIMEOUT" \
    "$SANITIZER" --tool "$tool" --error-exitcode 99 --print-limit 50 "$GPU_TEST" "$@"
  local rc=$?
  [[ $rc == 124 ]] && echo "timed out after ${SANITIZER_TIMEOUT}s"
  [[ $rc == 77 ]] && echo "the GPU suite skipped itself: no device"
  return "$rc"
}
if [[ ${SKIP_SANITIZERS:-0} == 1 ]]; then
  skip_step memcheck "SKIP_SANITIZERS=1"
  skip_step racecheck "SKIP_SANITIZERS=1"
elif [[ $HAVE_TESTS == 0 ]]; then
  skip_step memcheck "no GPU test executable"
  skip_step racecheck "no GPU test executable"
elif [[ -z $SANITIZER ]]; then
  t=$(now)
  echo "compute-sanitizer not found" >"$OUT/memcheck.log"
  record memcheck 127 "$t" "$t" "$OUT/memcheck.log"
  skip_step racecheck "compute-sanitizer not found"
else
  run_step memcheck memcheck.log sanitize memcheck \
    "--test-case-exclude=slow:*,Bayesian MLP training*"
  # racecheck looks at shared memory: the kernels that use it are the block reductions
  # (sums, max, log-softmax, losses), the tiled GEMM, the conv/pool kernels and CG.
  run_step racecheck racecheck.log sanitize racecheck \
    "--test-case=ops: reductions*,ops: log_softmax*,determinism:*,cuda gemm: cuBLAS*,cuda max_pool2d*,CUDA batched CG*"
fi

# ---- 7. kernel benchmark -------------------------------------------------------------
if [[ ${SKIP_BENCH:-0} == 1 ]]; then
  skip_step bench-kernels "SKIP_BENCH=1"
elif [[ $CONFIGURED == 0 && -x $BUILD/r2g2 ]]; then
  run_step bench-kernels bench-kernels.log timeout 300 "$BUILD/r2g2" bench kernels
else
  skip_step bench-kernels "no r2g2 executable"
fi

# ---- summary -------------------------------------------------------------------------
{
  printf '\n%-16s %-10s %9s  %s\n' step status seconds log
  printf '%-16s %-10s %9s  %s\n' ---- ------ ------- ---
  for i in "${!STEP_NAMES[@]}"; do
    printf '%-16s %-10s %9s  %s\n' "${STEP_NAMES[$i]}" "${STEP_STATUS[$i]}" "${STEP_SECONDS[$i]}" \
      "${STEP_LOGS[$i]}"
  done
  if [[ $FAILED == 0 ]]; then echo "gpu-check: all steps passed (logs in $OUT)"; else
    echo "gpu-check: FAILED (logs in $OUT)"
  fi
} | tee "$OUT/summary.txt"
exit "$FAILED"
