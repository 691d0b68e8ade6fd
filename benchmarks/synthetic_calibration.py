"""How close the synthetic dataset comes to the real Jena data's published statistics, seed by seed.

    python benchmarks/synthetic_calibration.py [--seeds 10] [--markdown]

Prints, per calibration target (``jenacast.data.calibration``), the real value, seed 0's value and the
worst distance over seeds 0..N-1 as a share of the tolerance (1.0 is on the edge), then how many seeds
meet every target.
"""

from __future__ import annotations

import argparse
import time

from jenacast.data.calibration import compare_to_jena
from jenacast.data.synthetic import generate_synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    parser.add_argument("--markdown", action="store_true", help="a Markdown table")
    args = parser.parse_args()
    per_seed = []
    for seed in range(args.seeds):
        started = time.perf_counter()
        table = generate_synthetic(seed)
        generated = time.perf_counter() - started
        checks = compare_to_jena(table)
        per_seed.append(checks)
        failed = [c.name for c in checks if not c.ok]
        print(
            f"seed {seed}: generated in {generated:.2f} s; baseline val {checks[-2].value:.3f} test "
            f"{checks[-1].value:.3f}; " + (f"off target: {', '.join(failed)}" if failed else "every target met"),
            flush=True,
        )
    first = per_seed[0]
    if args.markdown:
        print(
            f"\n| target | real | seed 0 | worst share of the tolerance, seeds 0-{args.seeds - 1} |\n|---|---|---|---|"
        )
    for index, check in enumerate(first):
        worst = max(checks[index].share for checks in per_seed)
        if args.markdown:
            print(f"| {check.name} | {check.target:g} | {check.value:.3f} | {worst:.2f} |")
        else:
            print(f"{check.name:38s} real {check.target:9.3f}  seed 0 {check.value:9.3f}  worst share {worst:.2f}")
    passing = sum(all(c.ok for c in checks) for checks in per_seed)
    print(f"\n{passing} of {args.seeds} seeds meet every target")


if __name__ == "__main__":
    main()
