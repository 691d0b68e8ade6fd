"""Where a chapter model's CPU training step spends its time, down to the kernels' instructions.

    python benchmarks/profile_cpu_kernels.py [--model stacked-gru] [--seconds 12] [--annotate 40] [--eval]

Needs Linux ``perf`` (Debian: linux-perf; timer sampling, so no hardware counters are needed).
Numba's compiled code is invisible to perf: this script compiles the kernels afresh (an empty
cache, so that their LLVM modules stay in memory), writes ``/tmp/perf-PID.map`` naming every
compiled function, samples the running step with ``perf record -p``, prints the share of each
function, and with ``--annotate N`` the N hottest instructions of the hottest kernel body, read back
from memory and disassembled with objdump. On 2026-11-29 this found the stacked GRU's lower layer
waiting on a batch-first sequence gradient (half of its backward on one load).
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import os
import subprocess
import sys
import tempfile
import time


def compiled_functions(dispatchers) -> list[tuple[int, str]]:
    """``(address, symbol)`` of every function compiled for ``dispatchers``' signatures (parfor bodies,
    inlined helpers' callees), sorted by address. Needs code compiled in this process, not loaded
    from Numba's cache: a cached library keeps only machine code."""
    found, seen = set(), set()

    def walk(library):
        if id(library) in seen:
            return
        seen.add(id(library))
        for function in library._final_module.functions:
            if not function.is_declaration:
                address = library.get_pointer_to_function(function.name)
                if address:
                    found.add((address, function.name))
        for linked in getattr(library, "_linking_libraries", []):
            walk(linked)

    for dispatcher in dispatchers:
        for result in dispatcher.overloads.values():
            walk(result.library)
    return sorted(found)


def write_perf_map(functions: list[tuple[int, str]], path: str) -> list[tuple[int, int, str]]:
    """perf's JIT map (``START SIZE NAME`` in hex); a function ends where the next begins (at most 1 MiB)."""
    entries = []
    for i, (address, name) in enumerate(functions):
        end = functions[i + 1][0] if i + 1 < len(functions) else address + 65536
        entries.append((address, min(end - address, 1 << 20), name))
    with open(path, "w") as out:
        out.writelines(f"{a:x} {s:x} {n}\n" for a, s, n in entries)
    return entries


def annotate(entry: tuple[int, int, str], samples: collections.Counter, top: int, listing_path: str | None) -> None:
    address, size, name = entry
    with tempfile.NamedTemporaryFile(suffix=".bin") as code:
        code.write(ctypes.string_at(address, size))
        code.flush()
        listing = subprocess.run(
            ["objdump", "-D", "-b", "binary", "-m", "i386:x86-64", f"--adjust-vma={address:#x}", code.name],
            capture_output=True,
            text=True,
        ).stdout.splitlines()
    total = sum(samples.values())
    if listing_path:  # the whole body with each instruction's samples, to read a hotspot in its loop
        with open(listing_path, "w") as out:
            for line in listing:
                head = line.split(":", 1)[0].strip()
                hit = samples.get(int(head, 16), 0) if head and all(c in "0123456789abcdef" for c in head) else 0
                out.write(f"{hit:7d}  {line.strip()}\n")
    rows = []
    for line in listing:
        head = line.split(":", 1)[0].strip()
        if head and all(c in "0123456789abcdef" for c in head) and samples.get(int(head, 16)):
            rows.append((samples[int(head, 16)], line.strip()))
    print(f"\nhottest instructions of {name[:100]} ({total} samples):")
    for count, line in sorted(rows, reverse=True)[:top]:
        print(f"{count:7d} {100 * count / total:5.1f}%  {line}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="stacked-gru")
    parser.add_argument("--seconds", type=float, default=12.0, help="sampling time after warm-up")
    parser.add_argument("--annotate", type=int, default=0, metavar="N", help="print the N hottest instructions")
    parser.add_argument(
        "--body",
        type=int,
        default=1,
        metavar="K",
        help="with --annotate: the K-th busiest kernel body (1: the busiest)",
    )
    parser.add_argument(
        "--listing",
        metavar="FILE",
        help="with --annotate: write the hottest body's whole listing, each instruction with its samples",
    )
    parser.add_argument("--eval", action="store_true", help="profile the evaluation forward (no gradient) instead")
    args = parser.parse_args(argv)
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="jenacast-profile-")  # before numba is imported
    import torch

    from jenacast.bench import evaluation_step, training_step
    from jenacast.models import build
    from jenacast.rnn.ops.cpu import gru as gru_cpu
    from jenacast.rnn.ops.cpu import lstm as lstm_cpu
    from jenacast.rnn.ops.cpu import simd as cpu_simd
    from jenacast.training.memory import keep_freed_memory
    from jenacast.training.optim import KerasRMSprop

    keep_freed_memory()
    torch.manual_seed(0)
    model = build(args.model, 14, backend="cpu").train(not args.eval)
    batch = torch.randn(256, 120, 14)
    step = (
        evaluation_step(model, batch)
        if args.eval
        else training_step(model, KerasRMSprop(model.parameters()), batch, torch.randn(256) * 8)
    )

    print(f"compiling and warming up {args.model} ...", flush=True)
    for _ in range(3):
        step()
    kernels = [gru_cpu._gru_fwd, gru_cpu._gru_bwd, lstm_cpu._lstm_fwd, lstm_cpu._lstm_bwd, cpu_simd.accumulate]
    entries = write_perf_map(compiled_functions(kernels), f"/tmp/perf-{os.getpid()}.map")
    data = tempfile.mktemp(suffix=".perf")
    try:  # the steps run here, in the main thread, as in training, while perf samples the whole process
        perf = subprocess.Popen(
            [
                "perf",
                "record",
                "-q",
                "-e",
                "cpu-clock",
                "-F",
                "4000",
                "-p",
                str(os.getpid()),
                "-o",
                data,
                "--",
                "sleep",
                str(args.seconds),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    except FileNotFoundError:
        print("perf is not installed (Debian: apt-get install linux-perf).")
        return 1
    steps, started = 0, time.perf_counter()
    while perf.poll() is None:
        step()
        steps += 1
    if perf.returncode != 0 or not os.path.exists(data):
        print(f"perf record failed: {perf.stderr.read().decode().strip()[:300]} (perf_event_paranoid must allow it)")
        return 1
    print(f"{steps} steps in {time.perf_counter() - started:.1f} s while sampling")
    report = subprocess.run(
        ["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym", "--stdio", "--percent-limit", "0.3"],
        capture_output=True,
        text=True,
    ).stdout
    print(
        "\n".join(line[:150] for line in report.splitlines() if "%" in line and not line.startswith("#"))
        if report
        else "perf report printed nothing"
    )
    if args.annotate:
        ips = subprocess.run(["perf", "script", "-i", data, "-F", "ip"], capture_output=True, text=True).stdout.split()
        samples = collections.Counter(int(ip, 16) for ip in ips)
        bodies = [
            e
            for e in entries
            if "parfor_gufunc" in e[2]
            and not e[2].startswith(("cfunc", "_ZN7cpython"))
            and "__gufunc__" not in e[2]
            and ".kernel." not in e[2]
        ]
        if bodies:
            ranked = sorted(bodies, key=lambda e: -sum(c for a, c in samples.items() if e[0] <= a < e[0] + e[1]))
            hottest = ranked[min(args.body, len(ranked)) - 1]
            annotate(
                hottest,
                collections.Counter({a: c for a, c in samples.items() if hottest[0] <= a < hottest[0] + hottest[1]}),
                args.annotate,
                args.listing,
            )
    os.unlink(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
