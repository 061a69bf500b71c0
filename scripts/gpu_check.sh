#!/usr/bin/env bash
# The GPU path in one go, on a machine with CUDA: the gpu-marked tests, then the benchmark's GPU rows.
# Writes every figure to gpu_check.txt (or $1). Sized to stay under 10 minutes on one GPU (it has not run yet:
# no GPU was available to this project); nothing here runs without CUDA.
#
#   pip install torch  # the build that matches the machine's CUDA, first
#   pip install -e '.[dev]' && scripts/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu_check.txt}"
python - <<'PY' | tee "$out"
import torch
assert torch.cuda.is_available(), "no CUDA device: the GPU check needs one"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}")
PY
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
python -m pytest -m gpu -v -p no:cacheprovider 2>&1 | tee -a "$out"
tests=${PIPESTATUS[0]}
python benchmarks/benchmark.py --gpu --seeds 3 --reps 2 --protocol-seeds 1 --protocol-epochs 1 2>&1 | tee -a "$out"
bench=${PIPESTATUS[0]}
echo "gpu tests exit ${tests}, benchmark exit ${bench}; figures in ${out}" | tee -a "$out"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
