"""Every fused tier's kernels keep ``protocol``'s signatures (what ``fused`` calls them with), and the named records
agree with those signatures."""

import inspect

import pytest

from jenacast.rnn.ops import FUSED_TIERS, available, tier_kernels
from jenacast.rnn.ops.protocol import (
    GruBackward,
    GruInputs,
    GruKernels,
    GruPairKernels,
    GruSaved,
    LstmBackward,
    LstmInputs,
    LstmKernels,
    LstmPairKernels,
    LstmSaved,
)

PROTOCOLS = {"lstm": (LstmKernels, LstmPairKernels), "gru": (GruKernels, GruPairKernels)}
PAIRED_TIERS = ("triton",)  # get_pair_layer_op runs their forward_pair/backward_pair


def _methods(protocol) -> list[str]:
    return [name for name in vars(protocol) if not name.startswith("_") and callable(getattr(protocol, name))]


def _parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def drift(kernels, protocol) -> list[str]:
    """How ``kernels`` differ from ``protocol``'s methods (missing ones, other parameter names or order)."""
    problems = []
    for name in _methods(protocol):
        method = getattr(kernels, name, None)
        if method is None:
            problems.append(f"{name}: missing")
        elif _parameters(method) != _parameters(getattr(protocol, name)):
            problems.append(f"{name}{inspect.signature(method)} != {name}{inspect.signature(getattr(protocol, name))}")
    return problems


@pytest.mark.parametrize("tier", FUSED_TIERS)
@pytest.mark.parametrize("cell", sorted(PROTOCOLS))
def test_every_tier_keeps_the_protocol(tier, cell):
    if not available(tier):
        pytest.skip(f"needs the {tier} tier's dependency")
    kernels = getattr(tier_kernels(tier), cell)
    single, pair = PROTOCOLS[cell]
    assert drift(kernels, single) == []
    if tier in PAIRED_TIERS or hasattr(kernels, "forward_pair") or hasattr(kernels, "backward_pair"):
        assert drift(kernels, pair) == []


def test_the_check_sees_a_drifted_tier():
    class Drifted:
        @staticmethod
        def forward(xproj, h0, c0, w_rec, mask, reverse, save):  # mask: renamed
            pass

    forward, backward = drift(Drifted, LstmKernels)
    assert forward.startswith("forward(xproj, h0, c0, w_rec, mask, ") and backward == "backward: missing"


def test_the_records_are_the_methods_arguments():
    """A direction's records unpack into the single-direction methods (the pair methods' fallback does)."""
    # the methods' trailing arguments: the direction (GRU: reset_after), the forward's save, a packed batch's lengths
    assert _parameters(LstmKernels.forward)[:-3] == list(LstmInputs._fields)
    assert _parameters(GruKernels.forward)[:-4] == list(GruInputs._fields)
    assert _parameters(LstmKernels.backward)[:-2] == list(LstmBackward._fields)
    assert _parameters(GruKernels.backward)[:-3] == list(GruBackward._fields)
    assert LstmBackward._fields == ("d_hseq", "d_hT", "d_cT", *LstmSaved._fields)
    assert set(GruBackward._fields) == {"d_hseq", "d_hT", "has_bias", *GruSaved._fields}


def test_unknown_or_unfused_tier():
    with pytest.raises(ValueError, match="no fused kernels"):
        tier_kernels("fwbw")
