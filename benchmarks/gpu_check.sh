#!/usr/bin/env bash
# One GPU session: the GPU tests, the kernel benchmarks and the chapter at the book's epochs, in one go.
# Run from the repository root on a CUDA machine with torch and triton installed:
#   bash benchmarks/gpu_check.sh [OUT_DIR]        (OUT_DIR default: gpu-check; at most 10 files land there)
# Everything ends within DEADLINE seconds (default 560); the summary table is printed last.
set -uo pipefail
OUT=${1:-gpu-check}
mkdir -p "$OUT"
export PYTHONPATH=src PYTHONUNBUFFERED=1 JENACAST_CACHE=${JENACAST_CACHE:-/tmp/jenacast-cache}
PY=${PYTHON:-python3}
CHAPTER=${CHAPTER_DIR:-/tmp/jenacast-gpu-chapter}
start=$(date +%s)
left() { echo $(( ${DEADLINE:-560} - ($(date +%s) - start) )); }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
$PY -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"

echo "== GPU tests"
timeout 170 $PY -m pytest -q -p no:cacheprovider tests/rnn/test_gpu.py tests/rnn/test_ops.py tests/training/test_step_gpu.py \
  -k "triton or gpu or cuda" > "$OUT/tests.txt" 2>&1
tail -5 "$OUT/tests.txt"

echo "== bench ($(left) s left)"
timeout 130 $PY -m jenacast.cli bench --device cuda --models lstm,lstm-dropout,stacked-gru,bidirectional,dense,conv \
  --backends triton,fwbw,torch --repeats 20 > "$OUT/bench.txt" 2>&1
cat "$OUT/bench.txt"

echo "== TF32 dots: accuracy and speed of the Triton kernels ($(left) s left)"
JENACAST_TRITON_PRECISION=tf32 timeout 45 $PY -m pytest -q -p no:cacheprovider tests/rnn/test_gpu.py \
  -k "(32 and per_gate) or chapter_layers" > "$OUT/tests-tf32.txt" 2>&1
tail -3 "$OUT/tests-tf32.txt"
JENACAST_TRITON_PRECISION=tf32 timeout 40 $PY -m jenacast.cli bench --device cuda --models lstm-dropout,stacked-gru,bidirectional \
  --backends triton --repeats 20 2>&1 | sed 's/triton    /triton-tf32/' > "$OUT/bench-tf32.txt"
cat "$OUT/bench-tf32.txt"

echo "== chapter, book epochs, synthetic data ($(left) s left)"
rm -rf "$CHAPTER"
backend=auto
graph=""
grep -qE "^(FAILED|ERROR) tests/rnn" "$OUT/tests.txt" && backend=fwbw && echo "Triton tests failed: the chapter runs on fwbw"
grep -qE "^(FAILED|ERROR) tests/training/test_step_gpu" "$OUT/tests.txt" && graph=--no-cuda-graph \
  && echo "CUDA-graph tests failed: the chapter runs eagerly"
timeout $(( $(left) - 15 )) $PY -m jenacast.cli chapter --device cuda --backend $backend $graph --dataset synthetic \
  --out "$CHAPTER" > "$OUT/chapter.txt" 2>&1
echo "chapter exit $? after $(( $(date +%s) - start )) s"
for f in results.json report.md comparison.png; do [ -f "$CHAPTER/$f" ] && cp "$CHAPTER/$f" "$OUT/"; done
(cd "$CHAPTER" && tar -czf - --exclude='*.pt' runs) > "$OUT/chapter-runs.tgz" 2>/dev/null

echo "== summary ($(( $(date +%s) - start )) s)"
grep -E "passed|failed|error" "$OUT/tests.txt" | tail -1
echo "TF32 tests: $(grep -E "passed|failed|error|skipped" "$OUT/tests-tf32.txt" | tail -1)"
grep -E "ms/batch" "$OUT/bench.txt" "$OUT/bench-tf32.txt"
$PY - "$CHAPTER" <<'PYEOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
results = out / "results.json"
if results.exists():
    for name, m in json.loads(results.read_text())["models"].items():
        print(f"{name:<14} val {m['val_mae']:.3f} test {m['test_mae']:.3f} epochs {m['epochs']} s/epoch {m['seconds_per_epoch'] or 0:.2f}")
else:
    for metrics in sorted(out.glob("runs/*/seed-0/metrics.json")):
        m = json.loads(metrics.read_text())
        print(f"{m['model']:<14} val {m['best_val_mae']:.3f} test {m['test_mae']:.3f} epochs {m['epochs_run']} "
              f"s/epoch {m['seconds_per_epoch']:.2f} (partial chapter)")
PYEOF
