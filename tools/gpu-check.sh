#!/usr/bin/env bash
# gpu-check: run this first whenever a machine with an NVIDIA GPU is available. It builds
# the gpu preset, runs every ctest suite (the GPU suite must pass there, not skip), runs
# the GPU suite under compute-sanitizer memcheck, racecheck and synccheck, runs the kernel
# lab and the estimator/model benchmarks with short settings, and ends with a one-page
# summary, printed and saved, with the full logs beside it.
#
#   OUT=/some/dir tools/gpu-check.sh   # summary and logs in /some/dir
#   tools/gpu-check.sh                 # summary in build-gpu/gpu-check-summary.txt
#
# Files (at most 8, all directly in the folder, so that a runner that brings back only a
# few files from $OUT gets them all): gpu-check-summary.txt, gpu-check-setup.log
# (environment, configure, build, `r2g2 info`), gpu-check-ctest.log,
# gpu-check-{memcheck,racecheck,synccheck}.log, gpu-check-bench.log.
#
# doctest: tests/CMakeLists.txt looks for doctest/doctest.h under third_party/ (then .deps/
# and the system paths). A GPU machine without doctest gets it from the tree: put the
# header at third_party/doctest/doctest.h (this script copies /usr/include/doctest/doctest.h
# there whenever that exists, so one run on a development machine prepares it) and take
# third_party/ along when the tree is copied: .gitignore leaves it out of the tracked files.
#
# Exit status: 0 everything passed; 1 something failed, or no usable GPU; 2 nothing failed
# but a check could not finish (a sanitizer timed out or is unsupported, a step had no
# time left).
#
# Time budget on the H200 machine (16 cores). Every step runs under `timeout`; besides its
# own limit, a step is cut short where it would eat into the minimum the steps after it
# need, so the whole run ends within BUDGET seconds (465 s: under 8 minutes, with room for
# the 10 s grace each stopped step gets):
#
#   step                                               expected    limit   kept for later
#   environment, doctest, nvidia-smi                        5 s      30 s
#   configure (cmake --preset gpu)                         15 s     120 s      300 s
#   build r2g2, the CLI and test_gpu, then the rest       150 s     330 s      200 s
#   ctest -j$JOBS (every suite, 120 s each at most)        70 s     150 s      125 s
#   compute-sanitizer memcheck | racecheck | synccheck    100 s     120 s       65 s
#     (side by side; each runs its subset of test_gpu as
#      a few groups that share the tool's time)
#   r2g2 bench kernels (short settings)                    40 s      90 s       25 s
#   r2g2 bench estimators --device cuda                    15 s      45 s       10 s
#   r2g2 bench models --device cuda                        30 s      60 s       10 s
#   tools/bench-vs-torch.sh --device cuda (when python3    60 s      90 s
#     has a CUDA build of torch)
#   cuda graph check (test_models "CUDA graph*": eager     10 s      30 s       10 s
#     and replayed Bayesian MLP steps agree, both timed)
#   r2g2 bench cpu                                         10 s      30 s
#   expected in all: about 410 s
#
# Knobs (environment): OUT; BUILD_DIR (build-gpu); JOBS (nproc); BUDGET (465);
# TIME_SCALE (1: an integer that multiplies every limit and the budget, for slow machines);
# CUDA_ARCH (the preset's 90); SKIP_SANITIZERS=1; SKIP_BENCH=1; SANITIZER_PARALLEL (auto:
# side by side unless the GPU is in an exclusive compute mode); BENCH_KERNELS_ARGS.
set -u -o pipefail

# The whole body is one compound command, so bash reads all of it before running any: a
# run is not thrown off by the file being edited (or replaced by a checkout) meanwhile.
{

case ${1:-} in
  -h | --help)
    sed -n '2,/^set -u/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || exit 1
cd "$ROOT" || exit 1

BUILD=${BUILD_DIR:-$ROOT/build-gpu}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
TIME_SCALE=${TIME_SCALE:-1}
[[ $TIME_SCALE =~ ^[1-9][0-9]*$ ]] || TIME_SCALE=1
BUDGET=${BUDGET:-$((465 * TIME_SCALE))}
BENCH_KERNELS_ARGS=${BENCH_KERNELS_ARGS:---reps 10 --large 16777216 --gemm 4096 --mlp-steps 30}

if [[ -n ${OUT:-} ]]; then REPORT=$OUT; else REPORT=$BUILD; fi
if ! mkdir -p "$REPORT" 2>/dev/null || ! [[ -w $REPORT ]]; then
  echo "gpu-check: cannot write to $REPORT; using a temporary folder" >&2
  REPORT=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check-report.XXXXXX")
fi
REPORT=$(cd "$REPORT" && pwd)
SUMMARY=$REPORT/gpu-check-summary.txt
LOG_SETUP=$REPORT/gpu-check-setup.log
LOG_CTEST=$REPORT/gpu-check-ctest.log
LOG_BENCH=$REPORT/gpu-check-bench.log
san_log() { echo "$REPORT/gpu-check-$1.log"; }
for f in "$SUMMARY" "$LOG_SETUP" "$LOG_CTEST" "$LOG_BENCH" "$(san_log memcheck)" "$(san_log racecheck)" \
  "$(san_log synccheck)"; do
  : >"$f"
done
# Scratch files stay out of $REPORT so that it holds only the files listed above.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX") || exit 1

# ---- bookkeeping -------------------------------------------------------------------------

STEP_ROWS=()  # "name|status|seconds|note", status: pass, fail, skip, timeout, incomplete
FAILS=()      # what makes the verdict FAIL
GAPS=()       # what makes it INCOMPLETE (nothing failed, something did not finish)
CURRENT=start
BG_PIDS=()

say() { printf '[gpu-check %3ds] %s\n' "$SECONDS" "$*"; }

record() {  # record NAME STATUS SECONDS NOTE
  STEP_ROWS+=("$1|$2|$3|$4")
  say "$1: $2${4:+ ($4)} in ${3}s"
}

# step_limit CAP RESERVE: seconds the next step may run: CAP (scaled), shortened so that
# RESERVE (scaled) seconds of the budget stay for the steps after it; 0 when under 10 s.
step_limit() {
  local cap=$(($1 * TIME_SCALE)) avail=$((BUDGET - SECONDS - $2 * TIME_SCALE))
  ((avail < cap)) && cap=$avail
  ((cap < 10)) && cap=0
  echo "$cap"
}

# run_cmd LOG LIMIT COMMAND...: appends the command's output to LOG, stops it after LIMIT
# seconds (then kills it 10 s later), returns its status (124 or 137: timed out).
# `timeout` leads a process group of its own, which a signal to this script does not
# reach, and bash runs a trap only once the foreground command is done: so the command
# runs in the background, `wait` (which a trapped signal interrupts) waits for it, and
# on_signal stops every `timeout` listed in $WORK/pids.
run_cmd() {
  local log=$1 limit=$2 t0=$SECONDS rc pid
  shift 2
  printf '\n==== %s  $ %s   [limit %ss]\n' "$(date +%H:%M:%S)" "$*" "$limit" >>"$log"
  timeout -k 10 "$limit" "$@" >>"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >>"$WORK/pids"
  wait "$pid"
  rc=$?
  if ((rc == 124 || rc == 137)); then printf '==== TIMED OUT after %ss\n' "$limit" >>"$log"; fi
  printf '==== exit status %s after %ss\n' "$rc" "$((SECONDS - t0))" >>"$log"
  return "$rc"
}

timed_out() { (($1 == 124 || $1 == 137)); }

trim() { sed 's/^ *//; s/ *$//' <<<"$1"; }

first_existing() {  # the first argument that is an executable file
  local c
  for c in "$@"; do [[ -n $c && -x $c && ! -d $c ]] && { echo "$c"; return 0; }; done
  return 1
}

# ---- 1. environment ----------------------------------------------------------------------

CURRENT=environment
t0=$SECONDS
mapfile -t versioned_nvcc < <(printf '%s\n' /usr/local/cuda-*/bin/nvcc | sort -Vr)
NVCC=$(first_existing "${CUDACXX:-}" "$(command -v nvcc 2>/dev/null)" /usr/local/cuda/bin/nvcc \
  "${versioned_nvcc[@]}") || NVCC=""
if [[ -n $NVCC ]]; then
  # CMake's check_language(CUDA) honours CUDACXX; PATH also finds the toolkit's other tools.
  export CUDACXX=$NVCC
  PATH=$(dirname "$NVCC"):$PATH
fi
SANITIZER=$(first_existing "$(command -v compute-sanitizer 2>/dev/null)" \
  "${NVCC:+$(dirname "$NVCC")/compute-sanitizer}" \
  "${NVCC:+$(dirname "$(dirname "$NVCC")")/compute-sanitizer/compute-sanitizer}" \
  /usr/local/cuda/compute-sanitizer/compute-sanitizer) || SANITIZER=""
SMI=$(first_existing "$(command -v nvidia-smi 2>/dev/null)" /usr/local/nvidia/bin/nvidia-smi /usr/bin/nvidia-smi) ||
  SMI=""
NINJA=$(command -v ninja 2>/dev/null) || NINJA=""

GPU_NAME="" GPU_DRIVER="" GPU_MEM="" GPU_MODE="" GPU_WHY=""
if [[ -z $SMI ]]; then
  GPU_WHY="nvidia-smi not found"
else
  smi_out=$(timeout -k 5 30 "$SMI" --query-gpu=name,driver_version,memory.total,compute_mode \
    --format=csv,noheader 2>&1)
  smi_rc=$?
  if ((smi_rc == 0)) && [[ -n $smi_out && $smi_out != *"No devices"* ]]; then
    IFS=',' read -r GPU_NAME GPU_DRIVER GPU_MEM GPU_MODE <<<"$(head -1 <<<"$smi_out")"
    GPU_NAME=$(trim "$GPU_NAME") GPU_DRIVER=$(trim "$GPU_DRIVER")
    GPU_MEM=$(trim "$GPU_MEM") GPU_MODE=$(trim "$GPU_MODE")
    GPU_COUNT=$(grep -c . <<<"$smi_out")
  else
    GPU_WHY="nvidia-smi: $(head -1 <<<"${smi_out:-exit status $smi_rc}")"
  fi
fi
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) || GIT_REV="(no git)"
GIT_DIRTY=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -c .) || GIT_DIRTY=0
CMAKE_VERSION=$(cmake --version 2>/dev/null | awk 'NR == 1 { print $3 }')
NVCC_VERSION=$([[ -n $NVCC ]] && "$NVCC" --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\), V\([0-9.]*\).*/\2/p')
GXX_VERSION=$(g++ -dumpfullversion 2>/dev/null)
{
  echo "date: $(date -u '+%F %T UTC')   host: $(uname -srm)   cores: $(nproc 2>/dev/null)   jobs: $JOBS"
  echo "root: $ROOT   build: $BUILD   report: $REPORT"
  echo "git: $GIT_REV, $GIT_DIRTY changed or untracked paths"
  git -C "$ROOT" status --short 2>/dev/null | head -40
  echo "budget: ${BUDGET}s (time scale $TIME_SCALE)"
  echo "nvcc: ${NVCC:-not found} ${NVCC_VERSION}"
  echo "compute-sanitizer: ${SANITIZER:-not found}"
  [[ -n $SANITIZER ]] && timeout 20 "$SANITIZER" --version 2>&1 | tail -2
  echo "cmake: $CMAKE_VERSION   ninja: ${NINJA:-not found}   g++: $GXX_VERSION"
  echo "--- nvidia-smi"
  if [[ -n $SMI ]]; then timeout -k 5 30 "$SMI" 2>&1; else echo "not found"; fi
  free -g 2>/dev/null | head -2
} >>"$LOG_SETUP" 2>&1
HAVE_GPU=0 GPU_OK=0
if [[ -n $GPU_NAME ]]; then
  HAVE_GPU=1
  say "GPU: $GPU_NAME (driver $GPU_DRIVER, $GPU_MEM, compute mode $GPU_MODE)"
else
  say "NO GPU visible ($GPU_WHY): building and running the CPU suites only; the summary will say so"
fi
[[ -z $NVCC ]] && say "nvcc not found: the build will have no CUDA backend"
record environment pass $((SECONDS - t0)) ""

# ---- summary -----------------------------------------------------------------------------
# Rewritten after every step, so that a run stopped from outside still leaves one.

SUITE_ROWS=()   # "name|status|seconds" from ctest
SAN_LINES=()    # one per sanitizer tool
LAB_LINES=()    # kernel-lab figures
BENCH_LINES=()  # estimator and CPU benchmark figures
BUILD_NOTE="" CUDA_BACKEND="?" CUDNN="?" BLAS="?" R2G2_DEVICES="" R2G2_WHY=""

suite_table() {
  local row name status secs group
  declare -A g_total=() g_pass=() g_skip=() g_bad=()
  local -a groups=()
  for row in "${SUITE_ROWS[@]}"; do
    IFS='|' read -r name status secs <<<"$row"
    if [[ $name == test_* ]]; then
      printf '  %-22s %-26s %7s s\n' "$name" "$status" "$secs"
      continue
    fi
    group=${name%%_*}
    [[ -z ${g_total[$group]:-} ]] && groups+=("$group")
    g_total[$group]=$((${g_total[$group]:-0} + 1))
    case $status in
      passed) g_pass[$group]=$((${g_pass[$group]:-0} + 1)) ;;
      skipped) g_skip[$group]=$((${g_skip[$group]:-0} + 1)) ;;
      *) g_bad[$group]="${g_bad[$group]:-}${g_bad[$group]:+, }$name ($status)" ;;
    esac
  done
  for group in "${groups[@]}"; do
    local line="${g_pass[$group]:-0} passed"
    [[ -n ${g_skip[$group]:-} ]] && line+=", ${g_skip[$group]} skipped"
    [[ -n ${g_bad[$group]:-} ]] && line+=", FAILED: ${g_bad[$group]}"
    printf '  %-22s %s\n' "${group}_* (${g_total[$group]})" "$line"
  done
}

write_summary() {  # write_summary FINAL [WHY-UNFINISHED]
  local final=$1 why=${2:-} verdict rc_word row name status secs times=""
  for row in "${STEP_ROWS[@]}"; do
    IFS='|' read -r name status secs _ <<<"$row"
    times+="${times:+, }$name ${secs}s"
    [[ $status != pass ]] && times+=" ($status)"
  done
  if ((${#FAILS[@]} > 0)); then verdict="FAIL"; elif ((${#GAPS[@]} > 0 || !final)); then
    verdict="INCOMPLETE"
  else
    verdict="PASS"
  fi
  {
    echo "r2g2 gpu-check   $(date -u '+%F %T UTC')   $GIT_REV ($GIT_DIRTY local changes)   $(uname -n)"
    if ((HAVE_GPU)); then
      echo "device: $GPU_NAME, driver $GPU_DRIVER, $GPU_MEM, compute mode $GPU_MODE${GPU_COUNT:+, $GPU_COUNT GPU(s)}"
    elif ((GPU_OK)); then
      echo "device: not listed by nvidia-smi ($GPU_WHY), but r2g2 can use it"
    else
      echo "device: NO GPU ($GPU_WHY)"
    fi
    echo "r2g2 sees: ${R2G2_DEVICES:-?} CUDA device(s)${R2G2_WHY:+ ($R2G2_WHY)}"
    echo "tools: nvcc ${NVCC_VERSION:-none}, cmake $CMAKE_VERSION, g++ $GXX_VERSION, ${NINJA:+ninja, }$JOBS jobs;" \
      "CUDA backend $CUDA_BACKEND, cuDNN $CUDNN, OpenBLAS $BLAS"
    echo "build: ${BUILD_NOTE:-not run}"
    echo
    echo "suites (ctest):"
    if ((${#SUITE_ROWS[@]} > 0)); then suite_table; else echo "  not run"; fi
    echo
    echo "compute-sanitizer over tests/test_gpu (subsets; R2G2_UNDER_SANITIZER=1, R2G2_CUDA_NO_CACHE=1):"
    if ((${#SAN_LINES[@]} > 0)); then printf '  %s\n' "${SAN_LINES[@]}"; else echo "  not run"; fi
    echo
    echo "kernel lab (r2g2 bench kernels $BENCH_KERNELS_ARGS):"
    if ((${#LAB_LINES[@]} > 0)); then printf '  %s\n' "${LAB_LINES[@]}"; else echo "  not run"; fi
    if ((${#BENCH_LINES[@]} > 0)); then
      echo
      printf '%s\n' "${BENCH_LINES[@]}"
    fi
    echo
    echo "times: $times"
    echo "total: ${SECONDS}s of a ${BUDGET}s budget"
    if ((final)); then
      if ((!HAVE_GPU && !GPU_OK)); then
        echo "VERDICT: $verdict: NO GPU, so only the CPU side was checked"
      else
        echo "VERDICT: $verdict"
      fi
    else
      [[ -z $why ]] && why="the run stopped after '${name:-start}', in the step after it"
      echo "VERDICT: $verdict (unfinished: $why; the above is all it got to)"
    fi
    ((${#FAILS[@]} > 0)) && printf '  failed: %s\n' "${FAILS[@]}"
    ((${#GAPS[@]} > 0)) && printf '  not finished: %s\n' "${GAPS[@]}"
    echo "logs: $REPORT/gpu-check-*.log"
  } >"$WORK/summary" 2>&1
  cp "$WORK/summary" "$SUMMARY" 2>/dev/null
  case $verdict in PASS) rc_word=0 ;; FAIL) rc_word=1 ;; *) rc_word=2 ;; esac
  return "$rc_word"
}

# shellcheck disable=SC2317  # reached through the trap
on_signal() {
  local pid
  for pid in "${BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  if [[ -f $WORK/pids ]]; then
    while read -r pid; do kill -TERM "$pid" 2>/dev/null; done <"$WORK/pids"
  fi
  GAPS+=("interrupted during $CURRENT")
  write_summary 0 "interrupted during '$CURRENT'"
  local rc=$?
  cat "$SUMMARY"
  rm -rf "$WORK"
  exit "$rc"
}
trap on_signal INT TERM HUP
trap 'rm -rf "$WORK"' EXIT
write_summary 0

# ---- 2. doctest --------------------------------------------------------------------------

CURRENT=doctest
t0=$SECONDS
if [[ -f $ROOT/third_party/doctest/doctest.h ]]; then
  echo "doctest: $ROOT/third_party/doctest/doctest.h" >>"$LOG_SETUP"
  record doctest pass $((SECONDS - t0)) ""
elif [[ -f /usr/include/doctest/doctest.h ]]; then
  # Kept in the tree (ignored by git) so that a copy carried to a GPU machine has it.
  mkdir -p "$ROOT/third_party/doctest" &&
    cp /usr/include/doctest/doctest.h "$ROOT/third_party/doctest/doctest.h" &&
    echo "doctest: copied /usr/include/doctest/doctest.h to third_party/doctest/" >>"$LOG_SETUP"
  record doctest pass $((SECONDS - t0)) "copied the system header to third_party/doctest/"
elif [[ -f $ROOT/.deps/doctest/doctest.h ]]; then
  record doctest pass $((SECONDS - t0)) ".deps/doctest/doctest.h"
else
  echo "doctest.h not found: put it at third_party/doctest/doctest.h" >>"$LOG_SETUP"
  record doctest fail $((SECONDS - t0)) "doctest.h missing: put it at third_party/doctest/doctest.h"
  FAILS+=("doctest.h missing (third_party/doctest/doctest.h): no test suite can be built")
fi

# ---- 3. configure ------------------------------------------------------------------------

CURRENT=configure
t0=$SECONDS
cmake_at_least() { [[ $(printf '%s\n%s\n' "$1" "$CMAKE_VERSION" | sort -V | head -1) == "$1" ]]; }
GENERATOR="Unix Makefiles"
[[ -n $NINJA ]] && GENERATOR=Ninja
CONFIG_ARGS=()
if [[ -n $NINJA && $BUILD == "$ROOT/build-gpu" ]] && cmake_at_least 3.25; then
  CONFIG_ARGS=(--preset gpu)
else
  # What the gpu preset sets, for a CMake without presets v6, no ninja or another folder.
  CONFIG_ARGS=(-S "$ROOT" -B "$BUILD" -G "$GENERATOR" -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
fi
[[ -n ${CUDA_ARCH:-} ]] && CONFIG_ARGS+=(-DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH")
cache=$BUILD/CMakeCache.txt
if [[ -f $cache ]]; then
  # A cache from another checkout, another generator, or from before nvcc was found cannot
  # be reused (CMake refuses the first two and never looks for nvcc again after the third).
  c_home=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$cache")
  c_gen=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$cache")
  c_nvcc=$(sed -n 's/^CMAKE_CUDA_COMPILER:[A-Z]*=//p' "$cache")
  if [[ $c_home != "$ROOT" || $c_gen != "$GENERATOR" || (-n $NVCC && ($c_nvcc == *NOTFOUND* || -z $c_nvcc)) ]]; then
    echo "removing a stale CMake cache (source '$c_home', generator '$c_gen', nvcc '$c_nvcc')" >>"$LOG_SETUP"
    rm -rf "$cache" "$BUILD/CMakeFiles"
  fi
fi
CONFIGURED=0
lim=$(step_limit 120 300)
if ((lim == 0)); then
  record configure skip 0 "no time left"
  GAPS+=("configure: no time left")
else
  run_cmd "$LOG_SETUP" "$lim" cmake "${CONFIG_ARGS[@]}"
  rc=$?
  CUDA_BACKEND=$(grep -o 'r2g2: CUDA backend [A-Z]*' "$LOG_SETUP" | tail -1 | awk '{ print $4 }')
  CUDA_BACKEND=${CUDA_BACKEND:-?}
  if ((rc == 0)); then
    CONFIGURED=1
    CUDNN=$(sed -n 's/^R2G2_CUDNN_LIBRARY:FILEPATH=//p' "$cache" 2>/dev/null)
    [[ -z $CUDNN || $CUDNN == *NOTFOUND* ]] && CUDNN="not found (conv2d uses im2col + gemm)" || CUDNN=yes
    [[ $CUDA_BACKEND == OFF ]] && CUDNN=n/a
    BLAS=$(grep -o 'OpenBLAS behind the CPU matmul [A-Z]*' "$LOG_SETUP" | tail -1 | awk '{ print $6 }')
    record configure pass $((SECONDS - t0)) "CUDA backend $CUDA_BACKEND"
    if ((HAVE_GPU)) && [[ $CUDA_BACKEND != ON ]]; then
      FAILS+=("configure: a GPU is here but the CUDA backend is $CUDA_BACKEND (nvcc: ${NVCC:-not found})")
    fi
  elif timed_out $rc; then
    record configure timeout $((SECONDS - t0)) ""
    FAILS+=("configure timed out")
  else
    record configure fail $((SECONDS - t0)) "exit status $rc"
    FAILS+=("configure failed: $(grep -m1 'CMake Error' "$LOG_SETUP" | cut -c1-120)")
  fi
fi
write_summary 0

# ---- 4. build ----------------------------------------------------------------------------
# The library, the CLI and the GPU suite first, so that a short budget or a broken test file
# elsewhere still leaves what the device checks need; then the default target, which is
# exactly what ctest runs (the other suites, test_kernels_cuda, the install test's inputs).
# Keep going past a failing target: the later steps use whatever was built.

CURRENT=build
t0=$SECONDS
KEEP_GOING=(-k)
[[ $GENERATOR == Ninja ]] && KEEP_GOING=(-k 0)
build_failures() {  # the objects or targets that failed, from the build log
  if [[ $GENERATOR == Ninja ]]; then
    grep '^FAILED: ' "$LOG_SETUP" | awk '{ print $2 }' | sed 's|.*/||' | sort -u
  else
    grep -o 'Error [0-9]* *$\|\*\*\* \[[^]]*\]' "$LOG_SETUP" | sed 's/.*\[//; s/\]//' | sort -u
  fi
}
BUILD_RAN=0
if ((!CONFIGURED)); then
  record build skip 0 "not configured"
  BUILD_NOTE="not run: not configured"
else
  if ((HAVE_GPU)); then reserve=200; else reserve=100; fi
  lim=$(step_limit 330 "$reserve")
  if ((lim == 0)); then
    record build skip 0 "no time left"
    GAPS+=("build: no time left")
  else
    build_start=$SECONDS
    BUILD_RAN=1
    run_cmd "$LOG_SETUP" "$lim" cmake --build "$BUILD" -j "$JOBS" --target r2g2 r2g2_cli test_gpu -- \
      "${KEEP_GOING[@]}"
    rc1=$?
    rc2=skipped
    lim=$((lim - (SECONDS - build_start)))
    if timed_out $rc1; then
      :
    elif ((lim >= 10)); then
      run_cmd "$LOG_SETUP" "$lim" cmake --build "$BUILD" -j "$JOBS" -- "${KEEP_GOING[@]}"
      rc2=$?
    fi
    failed=$(build_failures | head -6 | paste -sd' ' -)
    secs=$((SECONDS - t0))
    if [[ $rc1 == 0 && $rc2 == 0 ]]; then
      BUILD_NOTE="passed in ${secs}s (r2g2, r2g2 CLI, test_gpu, then all)"
      record build pass "$secs" ""
    elif timed_out "$rc1" || { [[ $rc2 != skipped ]] && timed_out "$rc2"; } || [[ $rc2 == skipped ]]; then
      BUILD_NOTE="TIMED OUT after ${secs}s${failed:+; failed: $failed}"
      record build timeout "$secs" ""
      FAILS+=("build did not finish in its ${secs}s")
    else
      BUILD_NOTE="FAILED in ${secs}s: ${failed:-see gpu-check-setup.log}"
      record build fail "$secs" "$failed"
      FAILS+=("build: $failed")
    fi
  fi
fi
# Executables left by an earlier run are not this tree's: use them only after a build.
CLI=$BUILD/r2g2
GPU_TEST=$BUILD/tests/test_gpu
[[ $BUILD_RAN == 1 && -x $CLI ]] || CLI=""
[[ $BUILD_RAN == 1 && -x $GPU_TEST ]] || GPU_TEST=""

# What the build itself says about the device: the probe also checks that this build has a
# kernel image the GPU can run.
GPU_OK=0
if [[ -n $CLI ]]; then
  timeout -k 5 60 "$CLI" info >"$WORK/info" 2>&1
  { printf '\n==== r2g2 info\n'; cat "$WORK/info"; } >>"$LOG_SETUP"
  R2G2_DEVICES=$(sed -n 's/^cuda devices: \([0-9]*\).*/\1/p' "$WORK/info")
  R2G2_WHY=$(sed -n '/^cuda devices: 0/{n;s/^ *(\(.*\))$/\1/p}' "$WORK/info")
  [[ ${R2G2_DEVICES:-0} -gt 0 ]] && GPU_OK=1
  if ((HAVE_GPU && !GPU_OK)); then
    FAILS+=("nvidia-smi shows $GPU_NAME but r2g2 cannot use it: ${R2G2_WHY:-see gpu-check-setup.log}")
  fi
elif ((HAVE_GPU)); then
  GPU_OK=1  # no CLI to ask; the later steps say what they can
fi
((HAVE_GPU || GPU_OK)) || FAILS+=("no GPU: $GPU_WHY")
write_summary 0

# ---- 5. ctest ----------------------------------------------------------------------------

CURRENT=ctest
t0=$SECONDS
if ((!CONFIGURED)); then
  record ctest skip 0 "not configured"
else
  if ((GPU_OK)); then reserve=125; else reserve=35; fi
  lim=$(step_limit 150 "$reserve")
  if ((lim == 0)); then
    record ctest skip 0 "no time left"
    GAPS+=("ctest: no time left")
  else
    ctest --test-dir "$BUILD" -N 2>/dev/null | sed -n 's/^ *Test *#[0-9]*: *\([^ ]*\).*/\1/p' >"$WORK/tests"
    run_cmd "$LOG_CTEST" "$lim" ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" \
      --timeout $((120 * TIME_SCALE))
    rc=$?
    # One line per finished test: "  3/32 Test  #8: test_gpu ......***Skipped   0.05 sec".
    awk '/Test +#[0-9]+: / && / sec *$/ {
        line = $0; sub(/^.*Test +#[0-9]+: /, "", line)
        name = line; sub(/ .*/, "", name)
        rest = substr(line, length(name) + 1); sub(/^ \.*/, "", rest); gsub(/\*\*\*/, "", rest)
        n = split(rest, w, " "); status = w[1]; for (i = 2; i <= n - 2; ++i) status = status " " w[i]
        print name "|" status "|" w[n - 1]
      }' "$LOG_CTEST" >"$WORK/results"
    n_fail=0 n_total=0
    while read -r name; do
      [[ -z $name ]] && continue
      n_total=$((n_total + 1))
      row=$(grep -m1 "^$name|" "$WORK/results")
      if [[ -z $row ]]; then
        status="not finished"
        secs="-"
      else
        IFS='|' read -r _ status secs <<<"$row"
      fi
      case $status in
        Passed) status=passed ;;
        Skipped) status=skipped ;;
        *) status="FAILED: $status" n_fail=$((n_fail + 1)) ;;
      esac
      SUITE_ROWS+=("$name|$status|$secs")
      if [[ $status == FAILED* ]]; then FAILS+=("ctest $name: ${status#FAILED: }"); fi
      if [[ $name == test_gpu && $status == skipped ]] && ((HAVE_GPU)); then
        FAILS+=("test_gpu skipped itself although a GPU is here")
      fi
    done <"$WORK/tests"
    if ((n_total == 0)); then
      record ctest fail $((SECONDS - t0)) "no tests listed"
      FAILS+=("ctest listed no tests")
    elif timed_out $rc; then
      record ctest timeout $((SECONDS - t0)) "stopped at its limit"
    elif ((n_fail > 0 || rc != 0)); then
      record ctest fail $((SECONDS - t0)) "$n_fail of $n_total failed"
    else
      record ctest pass $((SECONDS - t0)) "$n_total tests"
    fi
  fi
fi
write_summary 0

# ---- 6. compute-sanitizer ----------------------------------------------------------------
# The GPU suite's own sizes shrink under R2G2_UNDER_SANITIZER=1, and R2G2_CUDA_NO_CACHE=1
# makes every tensor its own cudaMalloc of its exact size, so that memcheck sees the true
# bounds (a cached, rounded-up block would hide an overrun). Test cases left out everywhere:
# the "slow: ..." ones and the Bayesian MLP training steps (too long under the tools), the
# one that asks cudaMalloc for 512 TiB on purpose (an API error memcheck would count), and
# the emulated kernels, which run on the host.
#
# Each tool runs its groups one after another, a group getting at most twice its fair share
# of what is left, so one slow group cannot starve the rest. racecheck and synccheck watch
# only r2g2's own kernels (--kernel-name kns=r2g2): the kernels that use shared memory,
# barriers or warp shuffles; cuBLAS and cuDNN are NVIDIA's to check.

SAN_EXCLUDE="--test-case-exclude=slow:*,Bayesian MLP training*,runtime: a CUDA failure*,emulated*"
MEMCHECK_FILES="*test_gpu_ops.cpp,*test_gpu_determinism.cpp,*test_gpu_errors.cpp,*test_gpu_random.cpp,*test_gpu_runtime.cpp"
MEMCHECK_GROUPS=(
  "ops, random, runtime|--source-file=$MEMCHECK_FILES"
  "gemm, conv, pooling|--source-file=*test_gpu_gemm_conv.cpp"
  "estimators, CG, r2g2 conv|--source-file=*test_gpu_estimators.cpp,*test_gpu_conv_estimators.cpp"
  # Whatever test files come later, so that memcheck covers them too.
  "other files|--source-file-exclude=$MEMCHECK_FILES,*test_gpu_gemm_conv.cpp,*test_gpu_estimators.cpp,*test_gpu_conv_estimators.cpp,*emulated*,*test_gpu_host_logic.cpp"
)
SHARED_GROUPS=(
  "reductions, softmax|--test-case=ops: reductions*,ops: log_softmax*,determinism:*"
  "im2col, max_pool2d|--test-case=cuda im2col*,cuda max_pool2d*"
  "CG|--test-case=CUDA batched CG*,CUDA: systems CG*"
  "r2g2 conv|--test-case=conv cuda:*"
  "gemm_blocked tiles|--test-case=cuda gemm: cuBLAS and every*"
)

# sanitize TOOL DEADLINE (absolute, in $SECONDS) GROUP...: writes the tool's result line to
# $WORK/san-TOOL and its status word (clean, errors, failed, timeout, unsupported, empty,
# notime) to $WORK/san-TOOL.status.
sanitize() {
  local tool=$1 deadline=$2
  shift 2
  local log n_groups=$# left_groups=$# group label filter limit rc out cases errs worst=clean
  local details=() total_cases=0 total_errs=0 t0=$SECONDS extra=()
  log=$(san_log "$tool")
  [[ $tool != memcheck ]] && extra=(--kernel-name kns=r2g2)
  for group in "$@"; do
    label=${group%%|*} filter=${group#*|}
    local left=$((deadline - SECONDS))
    limit=$((2 * left / left_groups))
    ((limit > left - 10 * (left_groups - 1))) && limit=$((left - 10 * (left_groups - 1)))
    ((limit < 10)) && limit=$((left < 10 ? 0 : 10))
    left_groups=$((left_groups - 1))
    if ((limit < 10)); then
      details+=("$label: no time")
      [[ $worst == clean || $worst == empty ]] && worst=notime
      continue
    fi
    out=$WORK/$tool-out
    : >"$out"
    run_cmd "$out" "$limit" env R2G2_UNDER_SANITIZER=1 R2G2_CUDA_NO_CACHE=1 "$SANITIZER" --tool "$tool" \
      "${extra[@]}" --error-exitcode 99 --print-limit 30 "$GPU_TEST" --no-colors "$filter" "$SAN_EXCLUDE"
    rc=$?
    cat "$out" >>"$log"
    cases=$(sed -n 's/^\[doctest\] test cases: *\([0-9]*\).*/\1/p' "$out" | tail -1)
    errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) error.*/\1/p; s/.*RACECHECK SUMMARY:.*(\([0-9]*\) error.*/\1/p' \
      "$out" | tail -1)
    if [[ -z $errs ]]; then  # stopped before its summary: count the reports it printed
      errs=$(grep -E '^========= [A-Z]' "$out" | grep -cvE "COMPUTE-SANITIZER|SUMMARY|Target application|Warning|didn't terminate")
    fi
    total_cases=$((total_cases + ${cases:-0}))
    total_errs=$((total_errs + errs))
    if grep -qiE 'device not supported|not supported on this (device|platform)' "$out"; then
      details+=("$label: sanitizer does not support this device")
      [[ $worst =~ ^(clean|empty|notime)$ ]] && worst=unsupported
    elif ((rc == 99 || errs > 0)); then
      details+=("$label: $errs error(s)$(timed_out $rc && echo ', then timed out')")
      worst=errors
    elif timed_out $rc; then
      details+=("$label: timed out after ${limit}s${cases:+ ($cases cases)}")
      [[ $worst =~ ^(clean|empty|notime|unsupported)$ ]] && worst=timeout
    elif ((rc != 0)); then
      details+=("$label: exit status $rc$(grep -q 'Status: FAILURE' "$out" && echo ' (test failures)')")
      [[ $worst != errors ]] && worst=failed
    elif [[ ${cases:-0} == 0 && $label != "other files" ]]; then
      # A filter that matches nothing checks nothing: a test was renamed.
      details+=("$label: no test case matched")
      [[ $worst == clean ]] && worst=empty
    fi
  done
  local word
  case $worst in
    clean) word="clean" ;;
    errors) word="ERRORS FOUND ($total_errs)" ;;
    failed) word="FAILED" ;;
    timeout) word="TIMED OUT" ;;
    unsupported) word="UNSUPPORTED" ;;
    empty) word="INCOMPLETE" ;;
    notime) word="INCOMPLETE" ;;
  esac
  local text
  text=$(printf '%-10s %-18s %d groups, %d test cases, %ds' "$tool" "$word" "$n_groups" "$total_cases" \
    $((SECONDS - t0)))
  ((${#details[@]} > 0)) && text+=$(printf '; %s' "${details[@]}")
  echo "$text" >"$WORK/san-$tool"
  echo "$worst" >"$WORK/san-$tool.status"
}

CURRENT=sanitizers
t0=$SECONDS
TOOLS=(memcheck racecheck synccheck)
san_skip() {  # san_skip REASON KIND(gap|fail|none)
  local tool
  for tool in "${TOOLS[@]}"; do
    SAN_LINES+=("$(printf '%-10s %s' "$tool" "not run: $1")")
    echo "not run: $1" >>"$(san_log "$tool")"
  done
  case $2 in gap) GAPS+=("compute-sanitizer: $1") ;; fail) FAILS+=("compute-sanitizer: $1") ;; esac
  record sanitizers skip $((SECONDS - t0)) "$1"
}
if [[ ${SKIP_SANITIZERS:-0} == 1 ]]; then
  san_skip "SKIP_SANITIZERS=1" gap
elif ((!GPU_OK)); then
  san_skip "no GPU" none
elif [[ -z $GPU_TEST ]]; then
  san_skip "tests/test_gpu was not built" fail
elif [[ -z $SANITIZER ]]; then
  san_skip "compute-sanitizer not found" gap
else
  lim=$(step_limit 120 65)
  if ((lim == 0)); then
    san_skip "no time left" gap
  else
    deadline=$((SECONDS + lim))
    parallel=${SANITIZER_PARALLEL:-auto}
    if [[ $parallel == auto ]]; then
      parallel=1
      [[ $GPU_MODE == *xclusive* || $GPU_MODE == Prohibited ]] && parallel=0
    fi
    say "compute-sanitizer: memcheck, racecheck, synccheck $( ((parallel)) && echo 'side by side' || echo 'in turn'), ${lim}s"
    if ((parallel)); then
      sanitize memcheck "$deadline" "${MEMCHECK_GROUPS[@]}" &
      BG_PIDS+=($!)
      sanitize racecheck "$deadline" "${SHARED_GROUPS[@]}" &
      BG_PIDS+=($!)
      sanitize synccheck "$deadline" "${SHARED_GROUPS[@]}" &
      BG_PIDS+=($!)
      for pid in "${BG_PIDS[@]}"; do wait "$pid"; done
      BG_PIDS=()
    else
      share=$((lim / 3))
      sanitize memcheck $((SECONDS + share + share / 2)) "${MEMCHECK_GROUPS[@]}"
      sanitize racecheck $((SECONDS + (deadline - SECONDS) / 2)) "${SHARED_GROUPS[@]}"
      sanitize synccheck "$deadline" "${SHARED_GROUPS[@]}"
    fi
    san_status=pass
    for tool in "${TOOLS[@]}"; do
      line=$(cat "$WORK/san-$tool" 2>/dev/null) || line="$tool: no result"
      status=$(cat "$WORK/san-$tool.status" 2>/dev/null) || status=failed
      SAN_LINES+=("$line")
      case $status in
        clean) ;;
        errors | failed)
          FAILS+=("compute-sanitizer $tool: $status")
          san_status=fail
          ;;
        *)
          GAPS+=("compute-sanitizer $tool: $status")
          [[ $san_status == pass ]] && san_status=incomplete
          ;;
      esac
    done
    record sanitizers "$san_status" $((SECONDS - t0)) ""
  fi
fi
write_summary 0

# ---- 7. benchmarks -----------------------------------------------------------------------

# bench NAME CAP RESERVE ARGS...: runs `r2g2 bench ARGS` into the bench log; the output is
# also left in $WORK/NAME for the summary. Returns its status (or 200: not run).
bench() {
  local name=$1 cap=$2 reserve=$3 t0=$SECONDS rc lim
  shift 3
  CURRENT="bench $name"
  lim=$(step_limit "$cap" "$reserve")
  if ((lim == 0)); then
    record "bench-$name" skip 0 "no time left"
    GAPS+=("bench $name: no time left")
    return 200
  fi
  : >"$WORK/$name"
  run_cmd "$WORK/$name" "$lim" "$CLI" bench "$@"
  rc=$?
  cat "$WORK/$name" >>"$LOG_BENCH"
  if ((rc == 0)); then
    record "bench-$name" pass $((SECONDS - t0)) ""
  elif timed_out $rc; then
    record "bench-$name" timeout $((SECONDS - t0)) ""
    GAPS+=("bench $name timed out after ${lim}s")
  else
    record "bench-$name" fail $((SECONDS - t0)) "exit status $rc"
    FAILS+=("r2g2 bench $name: exit status $rc")
  fi
  return "$rc"
}

# The last (largest) row of each kernel of interest, the GEMM ratio lines and the verdict.
lab_figures() {
  local f=$1
  grep -m1 '^device [0-9]*:' "$f"
  awk '
    /^(unary exp|binary add|reduce_sum \(all\)|log_softmax|cross_entropy|gather_rows|philox_normal|adam_step|max_pool2d|conv2d forward) +f32 / {
      key = $0; sub(/ +f32 .*/, "", key); last[key] = $0; if (!(key in order)) { order[key] = ++n; keys[n] = key }
    }
    /^MLP 784-1024-1024-10 step/ { mlp = $0 }
    /^gemm_blocked \/ cuBLAS at/ { ratio[++nr] = $0 }
    / FAIL \(err / { fail[++nf] = $0 }
    /^all checks passed|check\(s\) FAILED/ { verdict = $0 }
    END {
      for (i = 1; i <= n; ++i) print substr(last[keys[i]], 1, 118)
      if (mlp != "") print substr(mlp, 1, 118)
      for (i = 1; i <= nr; ++i) print ratio[i]
      for (i = 1; i <= nf && i <= 5; ++i) print "FAIL: " substr(fail[i], 1, 112)
      if (verdict != "") print verdict; else print "(no verdict line: the lab did not finish)"
    }' "$f"
}

if [[ ${SKIP_BENCH:-0} == 1 ]]; then
  record bench skip 0 "SKIP_BENCH=1"
  LAB_LINES+=("not run: SKIP_BENCH=1")
elif [[ -z $CLI ]]; then
  record bench skip 0 "r2g2 was not built"
  LAB_LINES+=("not run: r2g2 was not built")
  FAILS+=("r2g2 CLI not built: no benchmarks")
else
  if ((GPU_OK)); then
    # shellcheck disable=SC2086  # the arguments are words on purpose
    bench kernels 90 25 kernels $BENCH_KERNELS_ARGS
    rc=$?
    if ((rc != 200)); then
      mapfile -t LAB_LINES < <(lab_figures "$WORK/kernels")
      grep -q 'no usable CUDA device\|built without CUDA' "$WORK/kernels" &&
        FAILS+=("bench kernels found no usable device: $(grep -m1 'r2g2 bench kernels' "$WORK/kernels" | cut -c1-100)")
    fi
    write_summary 0
    bench estimators 45 10 estimators --device cuda --bench-steps 10
    if [[ -s $WORK/estimators ]]; then
      BENCH_LINES+=("estimators (r2g2 bench estimators --device cuda --bench-steps 10; steps/s):")
      BENCH_LINES+=("  $(awk '/^steps\/s of one/ { hdr = $0 } NF == 3 && $2 ~ /^[0-9.]+$/ { s = s sprintf("%s %s  ", $1, $2) }
        END { print (s == "" ? "(no figures)" : s) }' "$WORK/estimators")")
    fi
    write_summary 0
    bench models 60 10 models --device cuda --steps 5 --warmup 2
    if [[ -s $WORK/models ]]; then
      BENCH_LINES+=("models (r2g2 bench models --device cuda; median ms/step):")
      while IFS= read -r line; do BENCH_LINES+=("  $(trim "$line" | cut -c1-116)"); done \
        < <(grep -E '^(mlp|vgg11|vae[123]) ' "$WORK/models")
    fi
    # PyTorch beside r2g2 on the same shapes, where this machine's python3 has a CUDA torch.
    t0=$SECONDS
    lim=$(step_limit 90 0)
    if ((lim > 0)) && "${R2G2_TORCH_PYTHON:-python3}" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
      : >"$WORK/torch"
      R2G2_BUILD_DIR=$BUILD R2G2_TORCH_PYTHON=${R2G2_TORCH_PYTHON:-python3} \
        run_cmd "$WORK/torch" "$lim" tools/bench-vs-torch.sh --device cuda --steps 5 --warmup 2
      rc=$?
      cat "$WORK/torch" >>"$LOG_BENCH"
      record bench-vs-torch "$( ((rc == 0)) && echo pass || echo fail)" $((SECONDS - t0)) "exit status $rc"
      BENCH_LINES+=("r2g2 / PyTorch (tools/bench-vs-torch.sh --device cuda):")
      while IFS= read -r line; do BENCH_LINES+=("  $(trim "$line" | cut -c1-116)"); done \
        < <(grep -E '^(mlp|vgg11|vae[123]) ' "$WORK/torch")
    else
      record bench-vs-torch skip 0 "no time left or no python3 with a CUDA build of torch"
    fi
    write_summary 0
    # BayesTrainer's CUDA-graph mode: the Bayesian MLP trained from one seed with eager
    # steps and with a captured, replayed step must agree bit for bit (losses, parameters,
    # noise offsets, a NaN batch refused alike); the step time of each goes to the summary.
    CURRENT="cuda graph"
    t0=$SECONDS
    lim=$(step_limit 30 10)
    MODELS_TEST=$BUILD/tests/test_models
    if ((lim == 0)); then
      record cuda-graph skip 0 "no time left"
      GAPS+=("cuda graph check: no time left")
    elif [[ ! -x $MODELS_TEST ]]; then
      record cuda-graph fail 0 "tests/test_models was not built"
      FAILS+=("cuda graph check: tests/test_models was not built")
    else
      : >"$WORK/graph"
      run_cmd "$WORK/graph" "$lim" "$MODELS_TEST" --no-colors "--test-case=CUDA graph*"
      rc=$?
      cat "$WORK/graph" >>"$LOG_BENCH"
      if ((rc == 0)) && grep -q '^cuda graph timing:' "$WORK/graph"; then
        record cuda-graph pass $((SECONDS - t0)) ""
      elif timed_out $rc; then
        record cuda-graph timeout $((SECONDS - t0)) ""
        GAPS+=("cuda graph check timed out after ${lim}s")
      else
        record cuda-graph fail $((SECONDS - t0)) "exit status $rc"
        FAILS+=("cuda graph check: eager and replayed steps differ, or the capture failed (exit status $rc)")
      fi
      BENCH_LINES+=("cuda graph (tests/test_models --test-case='CUDA graph*'; eager vs replayed step):")
      if line=$(grep -m1 '^cuda graph timing:' "$WORK/graph"); then
        BENCH_LINES+=("  ${line#cuda graph timing: }")
      else
        BENCH_LINES+=("  (no timing line: see gpu-check-bench.log)")
      fi
    fi
    write_summary 0
  else
    record bench-kernels skip 0 "no GPU"
    LAB_LINES+=("not run: no GPU")
  fi
  bench cpu 30 0 cpu
  if [[ -s $WORK/cpu ]]; then
    BENCH_LINES+=("cpu (r2g2 bench cpu):")
    while IFS= read -r line; do BENCH_LINES+=("  $(trim "$line" | cut -c1-116)"); done \
      < <(grep -E 'sgemm|MLP|matmul behind' "$WORK/cpu")
  fi
fi

# ---- the end -----------------------------------------------------------------------------

CURRENT=summary
# A runner that brings back files under a size limit must still get every log.
for f in "$LOG_SETUP" "$LOG_CTEST" "$LOG_BENCH" "$(san_log memcheck)" "$(san_log racecheck)" \
  "$(san_log synccheck)"; do
  if [[ -f $f ]] && (($(stat -c %s "$f" 2>/dev/null || echo 0) > 12 * 1024 * 1024)); then
    { head -c $((4 * 1024 * 1024)) "$f"; printf '\n\n[... cut to fit: the middle of this log is left out ...]\n\n'
      tail -c $((6 * 1024 * 1024)) "$f"; } >"$WORK/cut" && mv "$WORK/cut" "$f"
  fi
done
write_summary 1
status=$?
echo
cat "$SUMMARY"
exit "$status"
}
