"""Where jenacast keeps what it downloads and compiles: one folder, shared by the data and the kernels."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$JENACAST_CACHE`` if set, else the platform's user cache folder for jenacast."""
    env = os.environ.get("JENACAST_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("jenacast"))
