"""The backend registry: one name per implementation tier of the recurrent ops.

* ``reference``: plain autograd loop, the specification;
* ``fwbw``: hand-written backward in torch, the structure the fused kernels port;
* ``cpu``: fused Numba kernels for the CPU (float32);
* ``triton``: persistent fused GPU kernels (``pip install 'jenacast[gpu]'``);
* ``auto``: the fastest tier available for the input's device, resolved once per device type and
  logged (logger ``jenacast``), never switched silently; it trusts the ``triton`` tier only after each
  layer configuration's first call matched ``fwbw`` (``selfcheck``), and falls back with a warning.

Every tier of an op takes the same arguments and returns the same outputs (see the reference). The fused tiers
(``cpu``, ``triton``) run ``fused``'s autograd around their kernels, which satisfy ``protocol``'s
``LstmKernels``/``GruKernels`` (``tier_kernels``).
"""

from __future__ import annotations

import importlib.util
import logging

import torch

from jenacast.rnn.ops import selfcheck, tuning
from jenacast.rnn.ops.fwbw.gru import gru_fwbw
from jenacast.rnn.ops.fwbw.lstm import lstm_fwbw
from jenacast.rnn.ops.projection import projected, projected_pair
from jenacast.rnn.ops.protocol import TierKernels
from jenacast.rnn.ops.reference.gru import gru_reference
from jenacast.rnn.ops.reference.lstm import lstm_reference
from jenacast.rnn.ops.tuning import KernelOptions, options, set_options

log = logging.getLogger("jenacast")

TIERS = ("reference", "fwbw", "cpu", "triton")
FUSED_TIERS = ("cpu", "triton")  # the tiers whose ops are ``fused``'s autograd around kernels (``tier_kernels``)
# the tiers whose layers take a packed batch's ``lengths`` (triton: single directions, see ``get_pair_layer_op``)
LENGTH_TIERS = ("reference", "cpu", "triton")
BACKENDS = ("auto", *TIERS)
_AUTO_PREFERENCE = {"cuda": ("triton", "fwbw"), "cpu": ("cpu", "fwbw")}
_MODULE = {"triton": "triton", "cpu": "numba"}
_INSTALL_HINT = {"triton": "pip install 'jenacast[gpu]'", "cpu": "pip install numba"}
_resolved: dict[str, str] = {}
_warned_dtypes: set = set()
_warned_lengths: set = set()  # the tiers "auto" replaced for a packed batch, said once each


def available(tier: str) -> bool:
    """Whether ``tier``'s optional dependency is installed."""
    return tier not in _MODULE or importlib.util.find_spec(_MODULE[tier]) is not None


def install_hint(tier: str) -> str:
    """The command that installs what ``tier`` needs."""
    return _INSTALL_HINT[tier]


def _require(tier: str) -> None:
    if tier in _MODULE and not available(tier):
        raise ValueError(f"backend {tier!r} needs {_MODULE[tier]}, which is not installed: {_INSTALL_HINT[tier]}.")


def tier_ops(tier: str) -> dict:
    """``{"lstm": fn, "gru": fn}`` of one tier (the Triton tier is imported on first use)."""
    if tier == "reference":
        return {"lstm": lstm_reference, "gru": gru_reference}
    if tier == "fwbw":
        return {"lstm": lstm_fwbw, "gru": gru_fwbw}
    _require(tier)
    if tier == "cpu":
        from jenacast.rnn.ops.cpu.gru import gru_cpu
        from jenacast.rnn.ops.cpu.lstm import lstm_cpu

        return {"lstm": lstm_cpu, "gru": gru_cpu}
    if tier == "triton":
        from jenacast.rnn.ops.triton.gru import gru_triton
        from jenacast.rnn.ops.triton.lstm import lstm_triton

        return {"lstm": lstm_triton, "gru": gru_triton}
    raise ValueError(f"unknown backend {tier!r}; expected one of {', '.join(BACKENDS)}.")


def tier_kernels(tier: str) -> TierKernels:
    """A fused tier's kernels of each cell, what ``fused`` runs its ops on (``protocol``: the ``triton`` tier's
    also run a bidirectional layer's two directions together); imported on first use."""
    if tier not in FUSED_TIERS:
        raise ValueError(f"backend {tier!r} has no fused kernels; expected one of {', '.join(FUSED_TIERS)}.")
    _require(tier)
    if tier == "cpu":
        from jenacast.rnn.ops.cpu.gru import CpuGRUKernels
        from jenacast.rnn.ops.cpu.lstm import CpuLSTMKernels

        return TierKernels(CpuLSTMKernels, CpuGRUKernels)
    from jenacast.rnn.ops.triton.gru import TritonGRUKernels
    from jenacast.rnn.ops.triton.lstm import TritonLSTMKernels

    return TierKernels(TritonLSTMKernels, TritonGRUKernels)


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
        preference = _AUTO_PREFERENCE.get(kind, ("fwbw",))
        chosen = next(t for t in preference if available(t))
        skipped = [t for t in preference[: preference.index(chosen)]]
        why = "".join(f"; {t} is not installed ({_INSTALL_HINT[t]})" for t in skipped)
        log.info("jenacast: backend 'auto' on %s uses %r%s", kind, chosen, why)
        _resolved[kind] = chosen
    return _resolved[kind]


def _tier_for(backend: str, device: torch.device, dtype: torch.dtype, lengths: bool = False) -> str:
    """The tier that runs: the fused kernels run float32, so "auto" uses ``fwbw`` for other dtypes (and says so
    once); a packed batch (``lengths``) runs on a tier that takes lengths, ``reference`` where the chosen one
    does not (said once)."""
    tier = resolve(backend, device)
    if backend == "auto" and tier in ("cpu", "triton") and dtype != torch.float32:
        if dtype not in _warned_dtypes:
            _warned_dtypes.add(dtype)
            log.info("jenacast: backend 'auto' uses 'fwbw' for %s (the fused kernels run float32)", dtype)
        tier = "fwbw"
    if lengths and tier not in LENGTH_TIERS:
        if tier not in _warned_lengths:
            _warned_lengths.add(tier)
            log.info("jenacast: packed sequences run the 'reference' tier (%r takes no lengths)", tier)
        tier = "reference"
    return tier


def get_op(cell: str, backend: str, device: torch.device, dtype: torch.dtype = torch.float32):
    """The function implementing ``cell`` ("lstm" or "gru") for ``backend`` on ``device``."""
    return tier_ops(_tier_for(backend, device, dtype))[cell]


def get_layer_op(
    cell: str, backend: str, device: torch.device, dtype: torch.dtype = torch.float32, lengths: bool = False
):
    """The whole layer, input projection and recurrence (see ``cpu.layer`` for the signatures): the ``cpu``
    tier projects inside its kernels, the others project with torch (``projection``) and call ``get_op``'s op.
    With ``lengths`` (a packed batch) the op takes ``lengths=`` (``LENGTH_TIERS``)."""
    tier = _tier_for(backend, device, dtype, lengths)
    op = tier_ops(tier)[cell]  # raises the install hint of a missing tier
    if tier == "cpu":
        from jenacast.rnn.ops.cpu.layer import gru_layer_cpu, lstm_layer_cpu

        return lstm_layer_cpu if cell == "lstm" else gru_layer_cpu
    layer = projected(cell, op)
    if backend == "auto" and tier == "triton":
        # fwbw takes no lengths: a packed batch's first call is checked against the reference
        against = "reference" if lengths else "fwbw"
        checked_against = projected(cell, tier_ops(against)[cell])
        return selfcheck.checked(cell, layer, checked_against, _falls_back(device), against)
    return layer


def get_pair_layer_op(cell: str, backend: str, device: torch.device, dtype: torch.dtype = torch.float32):
    """A bidirectional layer's two directions as one call, where a tier runs them together (the ``triton`` tier:
    one launch per recurrence for both, see ``triton.lstm``); None where the directions run one by one (and for a
    packed batch, whose ``lengths`` the pair ops do not take: ``dropin`` calls this only without lengths)."""
    if _tier_for(backend, device, dtype) != "triton" or not tuning.current().triton_paired:
        return None  # (the triton_paired option off runs the directions one by one, for measuring both)
    from jenacast.rnn.ops.triton.gru import gru_triton_pair
    from jenacast.rnn.ops.triton.lstm import lstm_triton_pair

    pair = projected_pair(cell, lstm_triton_pair if cell == "lstm" else gru_triton_pair)
    if backend == "auto":
        fwbw_layer = projected(cell, tier_ops("fwbw")[cell])

        def fwbw_pair(first, second, reverse, *rest):
            return fwbw_layer(*first, reverse, *rest), fwbw_layer(*second, not reverse, *rest)

        return selfcheck.checked(f"bidirectional {cell}", pair, fwbw_pair, _falls_back(device))
    return pair


def _falls_back(device: torch.device):
    """What a failed first-use check of the Triton tier does: "auto" on ``device``'s type uses ``fwbw`` from then on."""

    def fall_back() -> None:
        _resolved[device.type] = "fwbw"

    return fall_back


__all__ = [
    "BACKENDS",
    "FUSED_TIERS",
    "LENGTH_TIERS",
    "TIERS",
    "KernelOptions",
    "options",
    "set_options",
    "available",
    "install_hint",
    "check_backend",
    "get_op",
    "get_layer_op",
    "get_pair_layer_op",
    "gru_reference",
    "lstm_reference",
    "resolve",
    "tier_kernels",
    "tier_ops",
]
