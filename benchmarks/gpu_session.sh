#!/usr/bin/env bash
# One device call: GPU tests, transform and pre-training throughput. Logs and JSON go to $OUT
# (or benchmarks/out). Needs only the image's python3 with torch + numpy (+ pytest).
set -u
OUT=${OUT:-benchmarks/out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
PY=${PYTHON:-python3}
{
  date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
  $PY -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), 'numpy', numpy.__version__)"
  nproc; free -g | head -2
} 2>&1 | tee "$OUT/machine.txt"
echo "== GPU tests"
timeout 240 $PY -m pytest -q -p no:cacheprovider -m "not slow" \
  tests/genesis_core/transforms tests/genesis_core/training tests/genesis_core/models \
  tests/genesis_core/test_metrics.py tests/genesis_core/test_evaluation.py 2>&1 | tee "$OUT/pytest.txt" | tail -25
echo "== transforms"
timeout 150 $PY benchmarks/transforms.py --device cuda --seconds 6 --json "$OUT/transforms.json" 2>&1 | tee "$OUT/transforms.txt"
echo "== pretrain"
timeout 300 $PY benchmarks/pretrain.py --device cuda --batches ${BATCHES:-32,64,128} --compile default --profile --json "$OUT/pretrain.json" 2>&1 | tee "$OUT/pretrain.txt"
