#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz, two at a time.
#   tools/fuzz.sh [seconds] [target...]   default: 60 seconds each, every target
# Builds the asan preset's fuzz targets first (clang; R2G2_FUZZ_BUILD_DIR names another
# build tree configured the same way). Each target starts from a scratch copy of its seed
# corpus (tests/fuzz/corpus/<target>/ is never written), prints its executions, and a crash,
# leak or timeout makes the script exit non-zero, naming the input that reproduces it.
# R2G2_FUZZ_RUNS=N stops a target after N executions instead of after the seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
seconds=${1:-60}
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "tools/fuzz.sh: seconds must be a whole number, got '$seconds'" >&2; exit 2; }
shift $(( $# > 0 ? 1 : 0 ))

build=${R2G2_FUZZ_BUILD_DIR:-$repo/build/asan}
if [ -z "${R2G2_FUZZ_BUILD_DIR:-}" ]; then
  cmake --preset asan >/dev/null
fi
table=$build/tests/fuzz/targets.txt
[ -f "$table" ] || { echo "tools/fuzz.sh: $table missing: configure $build with -DR2G2_FUZZ=ON (clang)" >&2; exit 2; }

declare -A max_len
all=()
while read -r name len; do
  max_len[$name]=$len
  all+=("$name")
done <"$table"
targets=("$@")
[ "${#targets[@]}" -eq 0 ] && targets=("${all[@]}")
for t in "${targets[@]}"; do
  [ -n "${max_len[$t]:-}" ] || { echo "tools/fuzz.sh: unknown target '$t'; known: ${all[*]}" >&2; exit 2; }
done

cmake --build "$build" --target $(printf 'fuzz_%s ' "${targets[@]}")

work=$(mktemp -d "${TMPDIR:-/tmp}/r2g2-fuzz.XXXXXX")
echo "== tools/fuzz.sh: ${targets[*]}, ${seconds} s each, two at a time; scratch in $work"

run_one() {
  local t=$1 dir=$work/$1
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp -r "$repo/tests/fuzz/corpus/$t/." "$dir/corpus/"
  local limit=(-max_total_time="$seconds")
  [ -n "${R2G2_FUZZ_RUNS:-}" ] && limit=(-runs="$R2G2_FUZZ_RUNS")
  (cd "$dir" && "$build/tests/fuzz/fuzz_$t" "${limit[@]}" -seed=1 -max_len="${max_len[$t]}" \
      -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$dir/artifacts/" corpus >"$dir/log" 2>&1)
}

pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  # Two at a time: wait for the older of the two before starting a third.
  if [ "${#pids[@]}" -ge 2 ]; then
    wait "${pids[0]}" || true
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || true; done

failed=0
printf '%-20s %14s %10s %s\n' target executions exec/s result
for t in "${targets[@]}"; do
  log=$work/$t/log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  artifact=$(find "$work/$t/artifacts" -type f | head -1)
  if [ -n "$artifact" ] || ! grep -q '^stat::number_of_executed_units' "$log"; then
    failed=1
    printf '%-20s %14s %10s FAILED: reproduce with %s %s (log: %s)\n' "$t" "${execs:--}" "${rate:--}" \
      "$build/tests/fuzz/fuzz_$t" "${artifact:-<no artifact>}" "$log"
  else
    printf '%-20s %14s %10s ok\n' "$t" "$execs" "$rate"
  fi
done
[ "$failed" -eq 0 ] && echo "== tools/fuzz.sh: no crash, leak or timeout; scratch corpora kept in $work"
exit "$failed"
