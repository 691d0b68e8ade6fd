"""A recurrent layer's input projection: each gate's ``(x * mask_g) @ W_g + b_g`` for every step at once.

``x`` is ``[B, T, F]``, ``kernel`` Keras' ``[F, G*H]``, ``mask`` None, ``[B, F]`` (shared by the gates)
or ``[G, B, F]``. The result is ``[B, T, G*H]`` as a view of time-major memory ``[T, B, G*H]``: the
fused kernels read (and write the gradient of) one step of every sequence as one contiguous block,
and a stacked layer's input, the time-major outputs of the layer below, needs no copy. Every tier
but ``cpu`` projects this way (the ``cpu`` tier projects inside its kernels, see ``cpu.layer``).

A layer may be called with fewer input rows than states (``h0``'s batch a multiple of ``x``'s): each input row
then feeds that many consecutive sequences, as Monte Carlo samples of one window do (``forecast.mc``);
:func:`repeated_rows` spells the input out where a tier has no cheaper way.
"""

from __future__ import annotations

import torch


def row_copies(x: torch.Tensor, batch: int) -> int:
    """How many sequences of states of ``batch`` rows each row of ``x`` ``[B, T, F]`` feeds."""
    if batch % x.shape[0]:
        raise ValueError(f"the states' batch {batch} is not a multiple of the input's {x.shape[0]}.")
    return batch // x.shape[0]


def repeated_rows(x: torch.Tensor, batch: int) -> torch.Tensor:
    """``x`` ``[B, T, F]`` with each row repeated (:func:`row_copies`) for states of ``batch`` rows."""
    copies = row_copies(x, batch)
    return x if copies == 1 else x.repeat_interleave(copies, dim=0)


def project_torch(
    x: torch.Tensor, mask: torch.Tensor | None, kernel: torch.Tensor, bias: torch.Tensor, gates: int
) -> torch.Tensor:
    b, t, f = x.shape
    x_steps = x.transpose(0, 1)  # [T, B, F]
    if mask is None or mask.dim() == 2:
        if mask is not None:
            x_steps = x_steps * mask
        return torch.addmm(bias, x_steps.reshape(t * b, f), kernel).view(t, b, -1).transpose(0, 1)
    h = kernel.shape[1] // gates
    masked = (x_steps.unsqueeze(0) * mask.unsqueeze(1)).reshape(gates, t * b, f)  # [G, T*B, F]
    per_gate = torch.bmm(masked, kernel.view(f, gates, h).transpose(0, 1))  # [G, T*B, H]
    return (per_gate.transpose(0, 1).reshape(t, b, gates * h) + bias).transpose(0, 1)


def projected(cell: str, op):
    """A tier's whole layer (the ``cpu`` tier's signature, see ``cpu.layer``): this projection, then ``op``.
    ``lengths`` (a packed batch's, see ``reference.lstm``) reaches only the ops that take it (``LENGTH_TIERS``)."""
    if cell == "lstm":

        def lstm_layer(x, in_mask, kernel, bias, h0, c0, w_rec, rec_mask=None, reverse=False, lengths=None):
            xproj = project_torch(repeated_rows(x, h0.shape[0]), in_mask, kernel, bias, 4)
            if lengths is None:
                return op(xproj, h0, c0, w_rec, rec_mask, reverse)
            return op(xproj, h0, c0, w_rec, rec_mask, reverse, lengths=lengths)

        return lstm_layer

    def gru_layer(
        x, in_mask, kernel, b_in, h0, w_rec, b_rec=None, rec_mask=None, reverse=False, reset_after=True, lengths=None
    ):
        xproj = project_torch(repeated_rows(x, h0.shape[0]), in_mask, kernel, b_in, 3)
        if lengths is None:
            return op(xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after)
        return op(xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after, lengths=lengths)

    return gru_layer


def projected_pair(cell: str, op):
    """A bidirectional layer's two directions through a pair op (``lstm_triton_pair``, ``gru_triton_pair``): each
    direction's layer arguments ``(x, in_mask, kernel, bias, *rest)`` projected as above, then the shared ones
    (``reverse``, GRU's ``reset_after``)."""
    gates = 4 if cell == "lstm" else 3

    def pair_layer(first, second, *shared):
        return op(
            *(
                (project_torch(x, in_mask, kernel, bias, gates), *rest)
                for x, in_mask, kernel, bias, *rest in (first, second)
            ),
            *shared,
        )

    return pair_layer
