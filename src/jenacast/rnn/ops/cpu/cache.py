"""Where Numba caches the CPU tier's compiled kernels: set before anything imports numba.

By default under jenacast's cache folder (site-packages may be read-only), in a subfolder named
after the source of every file in this folder: Numba checks only each kernel's own file, so a change
in a helper module (``simd``, ``common``) would otherwise reuse stale machine code. ``NUMBA_CACHE_DIR``
set by the user wins. Numba reads it once, at import: this package's ``__init__`` calls
:func:`configure` before any of its modules imports numba.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def kernel_source_digest() -> str:
    digest = hashlib.sha1()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def configure() -> None:
    if "NUMBA_CACHE_DIR" not in os.environ:
        from jenacast.paths import cache_dir

        os.environ["NUMBA_CACHE_DIR"] = str(cache_dir() / "numba" / kernel_source_digest())
