#!/usr/bin/env bash
# The training benchmark on a CUDA GPU, one command, a few minutes:
#   experiments/bench_train_gpu.sh            (from the checkout, after `make install`)
# Checks the CUDA path of the engine (autocast bf16 / fp16 with a gradient scaler, channels_last,
# torch.compile, pinned memory; one process) and measures images/s on the GPU against
# the same machine's CPU; writes experiments/results/bench_train_gpu.md.
# Needs a CUDA build of torch (make installs the CPU build that constraints.txt pins): install
# torch 2.13.0 for the machine's CUDA version as https://pytorch.org/get-started/locally/ says.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "bench_train_gpu: nvidia-smi not found"
"$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "bench_train_gpu: torch " + torch.__version__ + " sees no CUDA device (a CPU build, or no GPU); install a CUDA build of torch")'
"$PY" experiments/bench_train.py --device cuda --sections engine,loader --steps 100 --width 1.0 --resolution 64 \
    --batch 256 --out experiments/results/bench_train_gpu.md
