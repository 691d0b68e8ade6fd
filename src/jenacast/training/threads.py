"""How many threads a run computes with: torch's and Numba's, set together.

A run's numbers depend on its thread count: oneDNN's convolutions, some of torch's reductions and the CPU
kernels' block size (``rnn.ops.cpu.common.block_rows``) all split their work by thread, and so their
summation order. Pinning both libraries to the same count therefore makes a run bit for bit the same in any
process, the chapter's own or a Ray worker's, and keeps two runs sharing a machine from oversubscribing it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from jenacast.errors import ConfigError, literal


def available_threads() -> int:
    """The most threads Numba may use in this process (its pool's size, the cores by default)."""
    import numba

    return numba.config.NUMBA_NUM_THREADS


def check_threads(threads: int | None) -> None:
    """Refuse, in one sentence, a thread count this process cannot pin."""
    if threads is None:
        return
    if not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"{{threads}} must be a positive integer, got {literal(repr(threads))}.", worded=True)
    if threads > available_threads():
        raise ConfigError(
            f"{{threads}} {threads} is more than the {available_threads()} this machine's processes may use.",
            worded=True,
        )


@contextlib.contextmanager
def pinned_threads(threads: int | None) -> Iterator[None]:
    """torch and Numba compute with ``threads`` threads inside the block (None: as they are), as before after
    it. Numba's count holds for the calling thread, so call this in the thread that trains."""
    if threads is None:
        yield
        return
    import numba

    check_threads(threads)
    before = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(threads)
    numba.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        numba.set_num_threads(before[1])
