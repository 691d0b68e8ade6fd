"""Self-describing checkpoints, loadable with ``torch.load(weights_only=True)``.

A checkpoint holds everything needed to rebuild, evaluate or resume a run from its folder alone:
``{format, version, config, model_state, optimizer_state, epoch, best_val_loss, best_epoch,
mean, std, dataset, history, torch_rng}``. It is written atomically.
"""

from __future__ import annotations

import errno
import os
import shutil
import warnings
from pathlib import Path

import torch

from jenacast import __version__
from jenacast._atomic import atomic_path
from jenacast.errors import CheckpointError

FORMAT = "jenacast-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path: Path, **content) -> None:
    payload = {"format": FORMAT, "version": FORMAT_VERSION, "jenacast_version": __version__, **content}
    with atomic_path(path) as tmp:
        try:
            torch.save(payload, tmp)
        except RuntimeError as exc:  # torch reports a failed write (a full disk) as a RuntimeError of its own
            full = shutil.disk_usage(Path(path).parent).free < 64 * 2**20
            reason = os.strerror(errno.ENOSPC) if full else f"the write failed ({str(exc).splitlines()[0][:120]})"
            raise OSError(errno.ENOSPC if full else errno.EIO, reason, str(tmp)) from None


def load_checkpoint(path: Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint; is this a jenacast run folder?")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles before failing on them
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or damaged files
        raise CheckpointError(f"{path} is not a readable jenacast checkpoint ({type(exc).__name__}).") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a jenacast checkpoint.")
    if payload.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by jenacast {payload.get('jenacast_version', '?')} in checkpoint format "
            f"{payload.get('version')}; this jenacast ({__version__}) reads format {FORMAT_VERSION}."
        )
    return payload
