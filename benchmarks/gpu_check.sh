#!/usr/bin/env bash
# One borrowed GPU, one script: the GPU tests, the benchmarks and the chapter at the book's epochs, in one go.
# Run from the repository root on a CUDA machine with torch and triton installed:
#   bash benchmarks/gpu_check.sh [OUT_DIR]        (OUT_DIR default: gpu-check; 8 files at most land there)
# Everything ends within DEADLINE seconds (default 560); the summary table is printed last.
# Order: what decides the chapter's settings first (tests), the numbers the issue asks for (bench, the
# chapter), then comparisons that only inform the next change (the tiles kernels, TF32 dots).
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

echo "== GPU tests: both Triton kernel layouts at the chapter's sizes, paired directions, the weight-gradient kernel, auto's first-use check, CUDA-graphed steps against eager ones"
# four processes where pytest-xdist is installed: most of this is compiling kernels, which then runs on four cores
XDIST=$($PY -c "import xdist" 2>/dev/null && echo "-n 4")
timeout 170 $PY -m pytest -q -p no:cacheprovider $XDIST tests/rnn/test_gpu.py tests/rnn/test_triton_pair.py \
  tests/rnn/test_triton_weight_grad.py tests/rnn/test_selfcheck.py tests/training/test_step_gpu.py > "$OUT/tests.txt" 2>&1
tail -5 "$OUT/tests.txt"
# a failing newer piece falls back to the code before it, for everything below
# (the kernels' options, jenacast.rnn.ops.options, reach the commands below through JENACAST_KERNEL_OPTIONS)
fallback=""
grep -qE "^(FAILED|ERROR) tests/rnn/test_triton_weight_grad" "$OUT/tests.txt" && fallback="$fallback,triton_weight_grad=torch" \
  && echo "weight-gradient kernel tests failed: triton_weight_grad=torch from here on"
grep -qE "^(FAILED|ERROR) tests/rnn/test_triton_pair" "$OUT/tests.txt" && fallback="$fallback,triton_paired=false" \
  && echo "paired-direction tests failed: triton_paired=false from here on"
export JENACAST_KERNEL_OPTIONS="${fallback#,}"

echo "== bench, rows kernels ($(left) s left)"
timeout 100 $PY -m jenacast.cli bench --device cuda --models lstm,lstm-dropout,stacked-gru,bidirectional,dense,conv \
  --backends triton,fwbw,torch --repeats 20 > "$OUT/bench.txt" 2>&1
cat "$OUT/bench.txt"
echo "== bench, tiles kernels (float32 and TF32 dots), the torch weight gradient, unpaired directions ($(left) s left)"
for precision in ieee tf32; do
  JENACAST_KERNEL_OPTIONS="$JENACAST_KERNEL_OPTIONS,triton_layout=tiles,triton_precision=$precision" timeout 30 $PY -m jenacast.cli bench --device cuda \
    --models lstm-dropout,stacked-gru,bidirectional --backends triton --repeats 20 2>&1 | grep "ms/batch" \
    | sed "s/triton    /tiles-$precision/"
done > "$OUT/bench-tiles.txt"
# the weight-gradient kernel and the paired launch switched off, one at a time, beside the rows numbers above
JENACAST_KERNEL_OPTIONS="$JENACAST_KERNEL_OPTIONS,triton_weight_grad=torch" timeout 30 $PY -m jenacast.cli bench --device cuda --models lstm-dropout,stacked-gru \
  --backends triton --repeats 20 2>&1 | grep "ms/batch" | sed "s/triton    /dw-torch  /" >> "$OUT/bench-tiles.txt"
JENACAST_KERNEL_OPTIONS="$JENACAST_KERNEL_OPTIONS,triton_paired=false" timeout 30 $PY -m jenacast.cli bench --device cuda --models bidirectional --backends triton \
  --repeats 20 2>&1 | grep "ms/batch" | sed "s/triton    /unpaired  /" >> "$OUT/bench-tiles.txt"
cat "$OUT/bench-tiles.txt"

echo "== chapter, book epochs, synthetic data ($(left) s left)"
rm -rf "$CHAPTER"
backend=auto
graph=""
layout=rows
if grep -qE "^(FAILED|ERROR) tests/rnn/test_gpu.py.*rows" "$OUT/tests.txt"; then
  layout=tiles && echo "rows-kernel tests failed: the chapter runs the tiles kernels"
  grep -qE "^(FAILED|ERROR) tests/rnn/test_gpu.py.*tiles" "$OUT/tests.txt" && backend=fwbw \
    && echo "tiles-kernel tests failed too: the chapter runs on fwbw"
fi
grep -qE "^(FAILED|ERROR) tests/training/test_step_gpu" "$OUT/tests.txt" && graph=--no-cuda-graph \
  && echo "CUDA-graph tests failed: the chapter runs eagerly"
chapter_start=$(date +%s)
JENACAST_KERNEL_OPTIONS="$JENACAST_KERNEL_OPTIONS,triton_layout=$layout" timeout $(( $(left) - 40 )) $PY -m jenacast.cli chapter --device cuda --backend $backend \
  $graph --dataset synthetic --out "$CHAPTER" > "$OUT/chapter.txt" 2>&1
chapter_exit=$?
chapter_seconds=$(( $(date +%s) - chapter_start ))
echo "chapter exit $chapter_exit after $chapter_seconds s (layout $layout, backend $backend ${graph:-with CUDA graphs})"
grep -h "first-use check" "$OUT/chapter.txt"  # "auto" fell back to fwbw: the chapter's timing is not the kernels'
for f in results.json comparison.png; do [ -f "$CHAPTER/$f" ] && cp "$CHAPTER/$f" "$OUT/"; done
(cd "$CHAPTER" && tar -czf - --exclude='*.pt' runs report.md) > "$OUT/chapter-runs.tgz" 2>/dev/null

if [ "$(left)" -gt 45 ]; then
  echo "== TF32 dots' accuracy, tiles kernels ($(left) s left)"
  JENACAST_KERNEL_OPTIONS="$JENACAST_KERNEL_OPTIONS,triton_layout=tiles,triton_precision=tf32" timeout $(( $(left) - 10 )) $PY -m pytest -q -p no:cacheprovider \
    tests/rnn/test_gpu.py -k "tiles and ((32 and per_gate) or chapter_layers)" 2>&1 | tail -3 | tee -a "$OUT/tests.txt"
fi

if [ "$(left)" -gt 60 ]; then
  echo "== profile: each kernel of the graphed steps, each layout's op alone and the steps, as CUDA graphs ($(left) s left)"
  timeout $(( $(left) - 10 )) $PY benchmarks/gpu_profile.py --quick > "$OUT/profile.txt" 2>&1
  cat "$OUT/profile.txt"
fi

echo "== summary ($(( $(date +%s) - start )) s)"
grep -E "passed|failed|error" "$OUT/tests.txt" | tail -2
grep -hE "ms/batch" "$OUT/bench.txt" "$OUT/bench-tiles.txt"
grep -h "first-use check" "$OUT/chapter.txt" 2>/dev/null
$PY - "$CHAPTER" "$OUT/bench.txt" "$chapter_exit" "$chapter_seconds" <<'PYEOF'
import json, pathlib, re, sys
out = pathlib.Path(sys.argv[1])
# issue 6's targets against this run: ms per batch (the rows kernels, as training runs the step) and the chapter
bench = {}
for line in pathlib.Path(sys.argv[2]).read_text().splitlines() if pathlib.Path(sys.argv[2]).exists() else []:
    found = re.match(r"(\S+)\s+(\S+)\s+([0-9.]+) ms/batch", line)
    if found:
        bench[found[1], found[2]] = float(found[3])
for model, target in (("lstm-dropout", 1.0), ("stacked-gru", 1.5), ("bidirectional", 1.5)):
    ms, cudnn = bench.get((model, "triton")), bench.get((model, "torch"))
    verdict = "not measured" if ms is None else ("met" if ms <= target else "missed")
    print(f"target {model:<14} {ms if ms is not None else float('nan'):6.3f} ms/batch (target {target}, cuDNN without "
          f"recurrent dropout {cudnn if cudnn is not None else float('nan'):.3f}): {verdict}")
done = sys.argv[3] == "0" and (out / "results.json").exists()
print(f"target chapter        {int(sys.argv[4])} s (target 300): "
      f"{('met' if int(sys.argv[4]) <= 300 else 'missed') if done else 'not finished'}")
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
