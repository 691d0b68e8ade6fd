"""What a fused tier (``cpu``, ``triton``) provides to the autograd glue in ``fused``, and the named records it is
called with.

A tier's kernels are a namespace (a class of static methods) per cell that satisfies :class:`LstmKernels` or
:class:`GruKernels`; one that runs a bidirectional layer's two directions together also satisfies
:class:`LstmPairKernels` or :class:`GruPairKernels`. The records are NamedTuples: still tuples (what
``save_for_backward`` and the kernels' launches take), their fields named where the glue reads them. Saved
tensors are time-major in processing order: gates ``[T, B, G*H]``, states ``[T, B, H]``; see ``fused``.
``tests/rnn/test_protocol.py`` keeps every registered tier's kernels to these signatures.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from torch import Tensor


class LstmInputs(NamedTuple):
    """One LSTM direction's forward arguments (the input projection ``[B, T, 4H]``, the initial states, the
    recurrent kernel, the recurrent mask: None, ``[B, H]`` or ``[4, B, H]``)."""

    xproj: Tensor
    h0: Tensor
    c0: Tensor
    w_rec: Tensor
    rec_mask: Tensor | None


class LstmOutputs(NamedTuple):
    """An LSTM forward's results: the outputs ``[T, B, H]``, the last states, and what the backward reads (None
    where ``save`` was false)."""

    hs: Tensor
    h_last: Tensor
    c_last: Tensor
    gates: Tensor | None
    cells: Tensor | None


class LstmSaved(NamedTuple):
    """What an LSTM forward saves for its backward."""

    h0: Tensor
    c0: Tensor
    w_rec: Tensor
    rec_mask: Tensor | None
    gates: Tensor
    cells: Tensor
    hs: Tensor


class LstmBackward(NamedTuple):
    """An LSTM backward's arguments but the direction: the gradients of the outputs (None where the output was not
    used), then :class:`LstmSaved`'s fields."""

    d_hseq: Tensor | None
    d_hT: Tensor | None
    d_cT: Tensor | None
    h0: Tensor
    c0: Tensor
    w_rec: Tensor
    rec_mask: Tensor | None
    gates: Tensor
    cells: Tensor
    hs: Tensor


class LstmGrads(NamedTuple):
    """An LSTM backward's results: the input projection's gradient ``[B, T, 4H]``, the initial states', ``dU``."""

    d_xproj: Tensor
    dh0: Tensor
    dc0: Tensor
    d_w: Tensor


class GruInputs(NamedTuple):
    """One GRU direction's forward arguments (as :class:`LstmInputs`, with the recurrent bias or None)."""

    xproj: Tensor
    h0: Tensor
    w_rec: Tensor
    b_rec: Tensor | None
    rec_mask: Tensor | None


class GruOutputs(NamedTuple):
    """A GRU forward's results: the outputs, the last state, the gates and the candidate's recurrent term (None
    where ``save`` was false)."""

    hs: Tensor
    h_last: Tensor
    gates: Tensor | None
    cand: Tensor | None


class GruSaved(NamedTuple):
    """What a GRU forward saves for its backward."""

    h0: Tensor
    w_rec: Tensor
    rec_mask: Tensor | None
    gates: Tensor
    cand: Tensor
    hs: Tensor


class GruBackward(NamedTuple):
    """A GRU backward's arguments but the direction and ``reset_after``."""

    d_hseq: Tensor | None
    d_hT: Tensor | None
    h0: Tensor
    w_rec: Tensor
    has_bias: bool
    rec_mask: Tensor | None
    gates: Tensor
    cand: Tensor
    hs: Tensor


def gru_backward_args(d_hseq, d_hT, saved: GruSaved, has_bias: bool) -> GruBackward:
    """A GRU backward's arguments from the gradients of the outputs and what the forward saved."""
    return GruBackward(d_hseq, d_hT, saved.h0, saved.w_rec, has_bias, saved.rec_mask, saved.gates, saved.cand, saved.hs)


class GruGrads(NamedTuple):
    """A GRU backward's results: as :class:`LstmGrads`, and the recurrent bias's gradient (None without one)."""

    d_xproj: Tensor
    dh0: Tensor
    d_w: Tensor
    d_b: Tensor | None


class LstmKernels(Protocol):
    """An LSTM's two recurrences (``fused.lstm_fused``); ``save=False`` (evaluation) lets the forward skip writing
    what only the backward reads; ``lengths`` None or a packed batch's ``[B]`` (``reference.lstm``: the kernels
    keep a sequence's state past its length, saved as each such step's, and pass its gradients through there)."""

    @staticmethod
    def forward(xproj, h0, c0, w_rec, rec_mask, reverse: bool, save: bool, lengths=None) -> LstmOutputs: ...

    @staticmethod
    def backward(
        d_hseq, d_hT, d_cT, h0, c0, w_rec, rec_mask, gates, cells, hs, reverse: bool, lengths=None
    ) -> LstmGrads: ...


class LstmPairKernels(LstmKernels, Protocol):
    """Also a bidirectional layer's two directions, one launch each way (``fused.lstm_fused_pair``); ``second``
    runs in the order opposite to ``reverse``."""

    @staticmethod
    def forward_pair(
        first: LstmInputs, second: LstmInputs, reverse: bool, save: bool
    ) -> tuple[LstmOutputs, LstmOutputs]: ...

    @staticmethod
    def backward_pair(first: LstmBackward, second: LstmBackward, reverse: bool) -> tuple[LstmGrads, LstmGrads]: ...


class GruKernels(Protocol):
    """A GRU's two recurrences (``fused.gru_fused``)."""

    @staticmethod
    def forward(
        xproj, h0, w_rec, b_rec, rec_mask, reverse: bool, reset_after: bool, save: bool, lengths=None
    ) -> GruOutputs: ...

    @staticmethod
    def backward(
        d_hseq,
        d_hT,
        h0,
        w_rec,
        has_bias: bool,
        rec_mask,
        gates,
        cand,
        hs,
        reverse: bool,
        reset_after: bool,
        lengths=None,
    ) -> GruGrads: ...


class GruPairKernels(GruKernels, Protocol):
    """Also a bidirectional layer's two directions (``fused.gru_fused_pair``)."""

    @staticmethod
    def forward_pair(
        first: GruInputs, second: GruInputs, reverse: bool, reset_after: bool, save: bool
    ) -> tuple[GruOutputs, GruOutputs]: ...

    @staticmethod
    def backward_pair(
        first: GruBackward, second: GruBackward, reverse: bool, reset_after: bool
    ) -> tuple[GruGrads, GruGrads]: ...


class TierKernels(NamedTuple):
    """A fused tier's kernels of each cell."""

    lstm: LstmKernels
    gru: GruKernels
