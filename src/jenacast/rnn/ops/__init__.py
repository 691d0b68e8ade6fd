"""The backend registry: one name per implementation tier of the recurrent ops.

* ``reference``: plain autograd loop, the specification;
* ``fwbw``: hand-written backward in torch, the structure the fused kernels port;
* ``auto``: the fastest tier available for the input's device, resolved once per device type and
  logged (logger ``jenacast``), never switched silently.
"""

from __future__ import annotations

import logging

import torch

from jenacast.rnn.ops.gru.fwbw import gru_fwbw
from jenacast.rnn.ops.gru.reference import gru_reference
from jenacast.rnn.ops.lstm.fwbw import lstm_fwbw
from jenacast.rnn.ops.lstm.reference import lstm_reference

log = logging.getLogger("jenacast")

_OPS = {
    "reference": {"lstm": lstm_reference, "gru": gru_reference},
    "fwbw": {"lstm": lstm_fwbw, "gru": gru_fwbw},
}
BACKENDS = ("auto", *_OPS)
_AUTO_PREFERENCE = {"cpu": ("fwbw",), "cuda": ("fwbw",)}
_resolved: dict[str, str] = {}


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}.")
    return name


def resolve(name: str, device: torch.device) -> str:
    """The concrete tier for ``name`` on ``device`` ("auto" picks, once per device type, and logs it)."""
    check_backend(name)
    if name != "auto":
        return name
    kind = device.type
    if kind not in _resolved:
        _resolved[kind] = next(b for b in _AUTO_PREFERENCE.get(kind, ("fwbw",)) if b in _OPS)
        log.info("jenacast: backend 'auto' on %s uses %r", kind, _resolved[kind])
    return _resolved[kind]


def get_op(cell: str, backend: str, device: torch.device):
    """The function implementing ``cell`` ("lstm" or "gru") for ``backend`` on ``device``."""
    return _OPS[resolve(backend, device)][cell]


__all__ = ["BACKENDS", "check_backend", "get_op", "gru_fwbw", "gru_reference", "lstm_fwbw", "lstm_reference", "resolve"]
