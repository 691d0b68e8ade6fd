"""Where Numba caches the CPU tier's compiled kernels: set before anything imports numba.

By default under jenacast's cache folder (site-packages may be read-only), in a subfolder named
after the kernels' source: Numba checks only each kernel's own file, so a change in a helper
module (``cpu_simd``, ``cpu_common``) would otherwise reuse stale machine code. ``NUMBA_CACHE_DIR``
set by the user wins. Numba reads it once, at import: ``jenacast.rnn.ops`` calls
:func:`configure` first thing.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def kernel_source_digest() -> str:
    ops = Path(__file__).parent
    digest = hashlib.sha1()
    for path in sorted([*ops.glob("cpu_*.py"), *ops.glob("*/cpu.py")]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def configure() -> None:
    if "NUMBA_CACHE_DIR" not in os.environ:
        from jenacast.data.cache import cache_dir

        os.environ["NUMBA_CACHE_DIR"] = str(cache_dir() / "numba" / kernel_source_digest())
