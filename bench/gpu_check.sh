#!/usr/bin/env bash
# GPU check for a lent GPU machine (e.g. one H200), under 8 minutes including set-up:
#   1. installs the project (make setup: .venv with the pinned packages, ptxas from nvidia-cuda-nvcc),
#   2. assembles every kernel's PTX with ptxas for sm_90 (pytest test/unit/test_gpu_kernels.py),
#   3. runs the float-format kernels (fp8 by PTX cvt on sm_89+, NVFP4, MXFP4) and checks them bit-identical
#      to the CPU build (bench/formats_gpu_check.py),
#   4. runs MiniLM and SmolLM2 W8A8 on the GPU through the CUDA driver, checks the outputs bit-identical
#      to the CPU build, and times them against PyTorch bf16 and torch._int_mm on the GPU (a table).
# Without a GPU it prints what it would run and that no GPU was found, and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

STEPS=(
  "make setup"
  ".venv/bin/python -m pytest -q -p no:logging test/unit/test_gpu_kernels.py"
  ".venv/bin/python bench/formats_gpu_check.py --models mlp,tiny-llama --recipes fp8,nvfp4,mxfp4-w4a4"
  ".venv/bin/python bench/gpu_check.py --models minilm,smollm2 --seq 32 --reps 5"
)

gpu_found() {
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q "^GPU " && return 0
  python3 -c "import ctypes, sys; l = ctypes.CDLL('libcuda.so.1'); n = ctypes.c_int(0); \
sys.exit(0 if l.cuInit(0) == 0 and l.cuDeviceGetCount(ctypes.byref(n)) == 0 and n.value > 0 else 1)" 2>/dev/null
}

if ! gpu_found; then
  echo "gpu_check: no GPU found (no nvidia-smi device, no usable libcuda.so.1); would run:"
  for s in "${STEPS[@]}"; do echo "  $s"; done
  exit 0
fi

nvidia-smi -L
for s in "${STEPS[@]}"; do
  left=$((470 - SECONDS))  # the whole check, set-up included, stays under 8 minutes
  echo "+ $s   (${left}s left)"
  timeout "$left" bash -c "$s"
done
