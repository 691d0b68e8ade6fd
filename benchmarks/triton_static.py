"""What the Triton kernels compile to on a Hopper GPU, without one: registers, spills and each time loop's body.

Runs the Triton tier's layers on CPU tensors at the chapter's sizes, but every kernel launch
compiles for sm_90 (with the specialisation a real launch would get: which integer arguments are
1 or multiples of 16, which pointers are aligned) instead of running. For each kernel it prints
the registers per thread, spilled bytes, and the body of its time loop in the machine code (SASS):
instructions, barriers (``BAR``, each a wait for all warps), shared-memory loads and stores
(layout conversions and the dots' operands), FMAs and tensor-core MMAs; and, from the Triton GPU
IR, the layout conversions and shared-memory allocations inside the loop. These are the
latency-bound loops' costs per time step, known before any GPU time is spent.

    PYTHONPATH=src python benchmarks/triton_static.py [--layout rows|tiles] [--warps 4] [--precision ieee|tf32]
        [--ir DIR]

Use the Triton version of the GPU machine (``pip install --target DIR triton==X`` and put DIR
first on PYTHONPATH): code generation differs between versions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource, make_backend
from triton.compiler import compile as triton_compile
from triton.runtime.jit import JITFunction, create_function_from_signature

TARGET = GPUTarget("cuda", 90, 32)
BIN = Path(triton.__file__).parent / "backends" / "nvidia" / "bin"
compiled: list[tuple[str, object]] = []


def compile_instead_of_run(self, *args, grid, warmup, **kwargs):
    """Stands in for ``JITFunction.run``: the binder's specialisation, then a compile for ``TARGET``."""
    backend = make_backend(TARGET)
    binder = create_function_from_signature(self.signature, self.params, backend)
    bound_args, specialization, options = binder(*args, **kwargs)
    options, signature, constexprs, attrs = self._pack_args(backend, kwargs, bound_args, specialization, options)
    kernel = triton_compile(ASTSource(self, signature, constexprs, attrs), target=TARGET, options=options.__dict__)
    compiled.append((self.fn.__name__, kernel))
    return kernel


def sass_lines(cubin: bytes) -> tuple[list[str], dict[str, int]]:
    """The SASS instructions, and each branch label's index among them."""
    with tempfile.NamedTemporaryFile(suffix=".cubin", delete=False) as f:
        f.write(cubin)
    text = subprocess.run([str(BIN / "nvdisasm"), "-c", f.name], capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    lines: list[str] = []
    labels: dict[str, int] = {}
    for line in text.splitlines():
        label = re.match(r"^\s*(\.L_x_\d+):", line)
        if label:
            labels[label.group(1)] = len(lines)
        elif re.search(r"/\*[0-9a-f]{4,}\*/", line):
            lines.append(line)
    return lines, labels


def opcode(line: str) -> str:
    body = re.sub(r"^.*?/\*[0-9a-f]{4,}\*/\s*", "", line).strip()
    if body.startswith("@"):
        body = body.split(None, 1)[1] if " " in body else ""
    return body.split()[0].rstrip(";").split(".")[0] if body else ""


def longest_loop(lines: list[str], labels: dict[str, int]) -> list[str]:
    """The instructions of the largest backward branch's body (the time loop)."""
    best: list[str] = []
    for i, line in enumerate(lines):
        target = re.search(r"BRA\s+`\((\.L_x_\d+)\)", line)
        start = labels.get(target.group(1)) if target else None
        if start is not None and start <= i and i + 1 - start > len(best):
            best = lines[start : i + 1]
    return best


def resources(cubin: bytes) -> tuple[int, int]:
    """``(registers per thread, spilled bytes per thread)``."""
    with tempfile.NamedTemporaryFile(suffix=".cubin", delete=False) as f:
        f.write(cubin)
    text = subprocess.run([str(BIN / "cuobjdump"), "-res-usage", f.name], capture_output=True, text=True).stdout
    os.unlink(f.name)
    m = re.search(r"REG:(\d+).*?LOCAL:(\d+)", text)
    return int(m.group(1)), int(m.group(2))


PICKED = ("BAR", "LDS", "STS", "FFMA", "HMMA", "MUFU", "LDG", "STG", "SHFL")


def analyse(name: str, kernel, ir_dir: Path | None = None) -> dict:
    """One compiled kernel's registers, spills and time-loop statistics (see the module's docstring)."""
    lines, labels = sass_lines(kernel.asm["cubin"])
    loop = longest_loop(lines, labels)
    counts: dict[str, int] = {}
    for line in loop:
        counts[opcode(line)] = counts.get(opcode(line), 0) + 1
    ttgir = kernel.asm["ttgir"]
    body = ttgir[ttgir.find("scf.for") :]
    regs, spill = resources(kernel.asm["cubin"])
    if ir_dir is not None:
        ir_dir.mkdir(parents=True, exist_ok=True)
        (ir_dir / f"{name}.ttgir").write_text(ttgir)
        (ir_dir / f"{name}.sass").write_text("\n".join(lines))
    return {
        "kernel": name,
        "registers": regs,
        "spill_bytes": spill,
        "shared_bytes": kernel.metadata.shared,
        "loop_instructions": len(loop),
        **{op: counts.get(op, 0) for op in PICKED},
        "layout_conversions": body.count("ttg.convert_layout"),
        "shared_allocs": body.count("ttg.local_alloc"),
    }


def compile_layers(ir_dir: Path | None = None) -> list[dict]:
    """Run the Triton tier's LSTM(32), LSTM(16), GRU(32), bidirectional LSTM(16) and GRU(32) forward, backward (the
    recurrence and the weight gradient, ``dw``) and evaluation forward, every
    launch compiled for sm_90 instead (the layout and precision from the environment); one :func:`analyse`
    per kernel."""
    JITFunction.run = compile_instead_of_run
    import jenacast.rnn.ops.triton.common as common
    from jenacast.rnn.ops.triton import gru as gru
    from jenacast.rnn.ops.triton import lstm as lstm

    for module in (common, gru, lstm):
        module.check_device = lambda tensor: None
    b, t = 256, 120
    cases = [
        ("lstm32", lambda: lstm.lstm_triton(*lstm_args(b, t, 32))),
        ("lstm16", lambda: lstm.lstm_triton(*lstm_args(b, t, 16))),
        ("gru32", lambda: gru.gru_triton(*gru_args(b, t, 32))),
        # the chapter's Bidirectional(LSTM(16)): both directions in one launch (rows; tiles launches each)
        ("bilstm16", lambda: lstm.lstm_triton_pair(lstm_args(b, t, 16)[:5], lstm_args(b, t, 16)[:5])[0]),
        ("bigru32", lambda: gru.gru_triton_pair(gru_args(b, t, 32)[:5], gru_args(b, t, 32)[:5])[0]),
    ]
    reports = []
    for label, call in cases:
        compiled.clear()
        out = call()
        torch.autograd.backward(out[0], torch.zeros_like(out[0]))
        parts = {}  # the first of each kernel (the tiles run a pair as two launches, dw runs once per direction)
        for name, kernel in compiled:
            parts.setdefault("fwd" if "fwd" in name else "bwd" if "bwd" in name else "dw", kernel)
        reports += [analyse(f"{label}-{part}", kernel, ir_dir) for part, kernel in parts.items()]
        compiled.clear()
        with torch.no_grad():  # the evaluation forward (nothing saved for a backward)
            call()
        reports.append(analyse(f"{label}-eval", compiled[0][1], ir_dir))
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", default="rows", choices=("rows", "tiles"), help="the kernels' layout")
    parser.add_argument("--warps", default="4", help="warps per program of the tiles kernels")
    parser.add_argument("--precision", default="ieee", choices=("ieee", "tf32"))
    parser.add_argument("--ir", type=Path, help="write each kernel's Triton GPU IR and SASS here")
    parser.add_argument("--json", action="store_true", help="print the reports as a JSON list")
    args = parser.parse_args()
    from jenacast.rnn import ops

    ops.set_options(triton_layout=args.layout, triton_warps=int(args.warps), triton_precision=args.precision)
    reports = compile_layers(args.ir)
    if args.json:
        print(json.dumps(reports))
        return
    shape = "1 warp" if args.layout == "rows" else f"{args.warps} warps, {args.precision} dots"
    print(f"Triton {triton.__version__}, sm_90, {args.layout} kernels ({shape}); batch 256 x 120 steps, per-gate masks")
    for r in reports:
        print(
            f"{r['kernel']:<10} regs {r['registers']}, spill {r['spill_bytes']} B, smem {r['shared_bytes']} B; "
            f"loop: {r['loop_instructions']} instructions, "
            + ", ".join(f"{op} {r[op]}" for op in PICKED)
            + f"; IR: {r['layout_conversions']} layout conversions, {r['shared_allocs']} shared allocs"
        )
    sys.stdout.flush()


def lstm_args(b: int, t: int, h: int):
    tensors = [torch.zeros(b, t, 4 * h), torch.zeros(b, h), torch.zeros(b, h), torch.zeros(h, 4 * h)]
    return [x.requires_grad_() for x in tensors] + [torch.ones(4, b, h), False]


def gru_args(b: int, t: int, h: int):
    tensors = [torch.zeros(b, t, 3 * h), torch.zeros(b, h), torch.zeros(h, 3 * h), torch.zeros(3 * h)]
    return [x.requires_grad_() for x in tensors] + [torch.ones(3, b, h), False, True]


if __name__ == "__main__":
    main()
