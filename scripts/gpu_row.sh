#!/usr/bin/env bash
# Issue 25's GPU row, as one command for a lent GPU machine: the CUDA tests, then one
# converged usps-mnist run of the optimal prior on the GPU (the same code as the CPU rows,
# device "cuda"), then its row of the run-times table beside the CPU runs'.
#
#   bash scripts/gpu_row.sh DATA_ROOT [CONFIG] [DEVICE]
#
# DATA_ROOT holds usps/ and mnist/ as ../shared/data does (copy them into an ignored
# folder of the checkout, e.g. .gpu-data, and carry it); CONFIG defaults to the fast
# protocol's configs/converged/usps-mnist.toml; DEVICE to cuda (cpu tries the script
# here). Runs the package from src/ without installing it. The run goes to runs/gpu (kept
# on a warm machine: a second call resumes it); what comes back is written flat under
# $OUT (or ./gpu-row where OUT is unset): the run's result.json, curves.csv and
# config.json, the tests' log and run_times.md.
set -euo pipefail
data_root=${1:?usage: gpu_row.sh DATA_ROOT [CONFIG] [DEVICE]}
config=${2:-configs/converged/usps-mnist.toml}
device=${3:-cuda}
out=${OUT:-gpu-row}
python=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 OPTPRIOR_DATA=$data_root

"$python" - "$device" <<'EOF' | tee "$out/device.txt"
import sys, torch
device = sys.argv[1]
if device.startswith("cuda") and not torch.cuda.is_available():
    sys.exit(f"torch {torch.__version__} sees no CUDA device")
name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
print(f"torch {torch.__version__}, device {device}: {name}")
EOF
"$python" -m pytest -q -p no:cacheprovider tests/test_devices.py 2>&1 | tee "$out/tests.log"

runs=runs/gpu
"$python" -m optprior.cli reproduce usps-mnist --config "$config" --methods optimal \
    --seeds 1 --device "$device" --out "$runs" --data-root "$data_root" --quiet
run=$runs/usps-mnist/optimal/seed-0
cp "$run/result.json" "$run/curves.csv" "$run/config.json" "$out/"
"$python" benchmarks/run_times.py cpu=docs/results/converged-fast "$device=$runs" \
    | tee "$out/run_times.md"
