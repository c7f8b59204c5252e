#!/usr/bin/env bash
# Times one training step of the paper's models in r2g2 and in plain PyTorch, on the same
# machine and shapes, and prints one table: model, estimator, r2g2 ms, PyTorch ms, ratio.
#
# usage: tools/bench-vs-torch.sh [--device cpu|cuda] [--steps 10] [--warmup 2]
#                                [--models mlp,vgg11,vae1,vae2,vae3] [--width-divisor 1]
#
# Installs what is missing (the build tools; Debian's python3-torch, which is only the
# reference, never a test dependency), builds the release preset's r2g2 program, runs
# `r2g2 bench models --json` and tools/torch_reference.py, one after the other.
# Environment: R2G2_NUM_THREADS (both frameworks get this many threads; default: nproc),
# R2G2_BUILD_DIR (build there instead of build/release), R2G2_TORCH_PYTHON (the Python
# whose torch is the reference; default /usr/bin/python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

device=cpu steps=10 warmup=2 models=mlp,vgg11,vae1,vae2,vae3 divisor=1
while [ $# -gt 0 ]; do
  case "$1" in
    --device | --steps | --warmup | --models | --width-divisor)
      [ $# -ge 2 ] || { echo "bench-vs-torch: $1 needs a value" >&2; exit 2; }
      case "$1" in
        --device) device=$2 ;; --steps) steps=$2 ;; --warmup) warmup=$2 ;;
        --models) models=$2 ;; --width-divisor) divisor=$2 ;;
      esac
      shift 2 ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-vs-torch: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$device" in cpu | cuda) ;; *) echo "bench-vs-torch: --device must be cpu or cuda, got '$device'" >&2; exit 2 ;; esac
for value in "$steps" "$divisor"; do
  [[ "$value" =~ ^[1-9][0-9]*$ ]] || { echo "bench-vs-torch: --steps and --width-divisor take positive integers, got '$value'" >&2; exit 2; }
done
[[ "$warmup" =~ ^[0-9]+$ ]] || { echo "bench-vs-torch: --warmup takes a non-negative integer, got '$warmup'" >&2; exit 2; }

# shellcheck source=tools/deps.sh
source tools/deps.sh
python=${R2G2_TORCH_PYTHON:-/usr/bin/python3}
r2g2_install_deps || { echo "bench-vs-torch: cannot install the build tools" >&2; exit 1; }
if [ "$python" = /usr/bin/python3 ] && ! "$python" -c 'import torch, numpy' 2>/dev/null; then
  r2g2_install_apt_packages python3-torch python3-numpy ||
    { echo "bench-vs-torch: cannot install python3-torch (the PyTorch reference); set R2G2_TORCH_PYTHON to a Python with torch" >&2; exit 1; }
fi
"$python" -c 'import torch' 2>/dev/null ||
  { echo "bench-vs-torch: $python cannot import torch; set R2G2_TORCH_PYTHON to a Python with torch" >&2; exit 1; }
if [ "$device" = cuda ] && ! "$python" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
  echo "bench-vs-torch: $python's torch $("$python" -c 'import torch; print(torch.__version__)') sees no CUDA device" \
       "(Debian's python3-torch is CPU-only); set R2G2_TORCH_PYTHON to a Python with a CUDA build of torch" >&2
  exit 1
fi

if [ -n "${R2G2_BUILD_DIR:-}" ]; then
  build=$R2G2_BUILD_DIR
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" --target r2g2_cli
else
  build=build/release
  cmake --preset release >/dev/null
  cmake --build --preset release --target r2g2_cli
fi

threads=${R2G2_NUM_THREADS:-$(nproc)}
export R2G2_NUM_THREADS=$threads
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$build/r2g2" bench models --device "$device" --steps "$steps" --warmup "$warmup" --models "$models" \
  --width-divisor "$divisor" --json "$out/r2g2.json" >"$out/r2g2.txt" ||
  { cat "$out/r2g2.txt"; echo "bench-vs-torch: r2g2 bench models failed" >&2; exit 1; }
"$python" tools/torch_reference.py --device "$device" --steps "$steps" --warmup "$warmup" --models "$models" \
  --width-divisor "$divisor" --threads "$threads" >"$out/torch.jsonl" ||
  { echo "bench-vs-torch: tools/torch_reference.py failed" >&2; exit 1; }

cat "$out/r2g2.txt"
echo
"$python" - "$out/r2g2.json" "$out/torch.jsonl" <<'EOF'
import json, os, platform, subprocess, sys, time
ours = json.load(open(sys.argv[1]))
lines = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
torch_setting, torch_rows = lines[0], {(r["model"], r["estimator"]): r for r in lines[1:]}
cpu = "unknown CPU"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {platform.node()}: {os.cpu_count()} CPUs ({cpu}),"
      f" load {os.getloadavg()[0]:.2f}")
if ours["device"] != "cpu":
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True)
    print(f"GPU: {gpu.stdout.strip() or 'unknown'}")
print(f"r2g2 on {ours['device']}: threads={ours['threads']}, matmul {ours['matmul']};  PyTorch {torch_setting['version']}"
      f" on {torch_setting['device']}: threads={torch_setting['threads']};  median of {ours['steps']} steps after"
      f" {ours['warmup']} warm-up, width divisor {ours['width_divisor']}")
print(f"{'model':<7} {'estimator':<11} {'batch':>5} {'r2g2 ms':>10} {'PyTorch ms':>11} {'r2g2/PyTorch':>13}")
for row in ours["rows"]:
    ref = torch_rows.get((row["model"], row["estimator"]))
    ref_ms = f"{ref['median_ms']:.2f}" if ref else "-"
    ratio = f"{row['median_ms'] / ref['median_ms']:.2f}" if ref else "-"
    print(f"{row['model']:<7} {row['estimator']:<11} {row['batch']:>5} {row['median_ms']:>10.2f} {ref_ms:>11} {ratio:>13}")
print("PyTorch r2g2 rows are the paper's formulation (CG for eps*, stopgrad(h - h*) + h*); r2g2's own rows use"
      " its closed forms and solvers (estimators/README.md).")
EOF
