"""LSTM, GRU and Bidirectional with Keras 3 semantics, on batch-first input ``[B, T, F]``.

Weights are held in Keras' layout (``kernel [F, G*H]``, ``recurrent_kernel [H, G*H]``, bias), are
initialised as Keras does (glorot_uniform, orthogonal, zeros, unit forget bias) and can be
exchanged with Keras through ``load_keras_weights`` / ``keras_weights``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from jenacast.rnn import ops
from jenacast.rnn.masks import MASK_MODES, DropoutMasks, sample_masks


def _check_rate(name: str, rate: float) -> float:
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {rate!r}.")
    return float(rate)


class _Recurrent(nn.Module):
    """What LSTM and GRU share: arguments, weights and masks."""

    GATES = 0
    CELL = ""
    # How many sequences each input row feeds (set by ``forecast.mc`` for Monte Carlo samples of one window):
    # the states and masks then have ``copies`` times the input's batch, and a tier may project each row once.
    input_copies = 1

    def __init__(
        self,
        input_size: int,
        units: int,
        *,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        go_backwards: bool = False,
        return_state: bool = False,
        mask_mode: str = "per_gate",
        backend: str = "auto",
    ):
        super().__init__()
        for name, value in (("input_size", input_size), ("units", units)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if mask_mode not in MASK_MODES:
            raise ValueError(f"unknown mask_mode {mask_mode!r}; expected one of {', '.join(MASK_MODES)}.")
        self.input_size, self.units = int(input_size), int(units)
        self.dropout = _check_rate("dropout", dropout)
        self.recurrent_dropout = _check_rate("recurrent_dropout", recurrent_dropout)
        self.return_sequences, self.go_backwards, self.return_state = return_sequences, go_backwards, return_state
        self.mask_mode = mask_mode
        self.backend = ops.check_backend(backend)
        self.kernel = nn.Parameter(torch.empty(self.input_size, self.GATES * self.units))
        self.recurrent_kernel = nn.Parameter(torch.empty(self.units, self.GATES * self.units))

    def config(self) -> dict:
        """The constructor arguments, so that a copy (e.g. Bidirectional's backward layer) can be made."""
        return dict(
            input_size=self.input_size,
            units=self.units,
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            return_sequences=self.return_sequences,
            go_backwards=self.go_backwards,
            return_state=self.return_state,
            mask_mode=self.mask_mode,
            backend=self.backend,
        )

    @property
    def output_size(self) -> int:
        return self.units

    def reset_parameters(self) -> None:
        with torch.no_grad():
            nn.init.xavier_uniform_(self.kernel)  # glorot_uniform over the whole [F, G*H] matrix
            nn.init.orthogonal_(self.recurrent_kernel)  # orthogonal (gain 1) over the whole [H, G*H] matrix

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.units}"]
        for name in ("dropout", "recurrent_dropout"):
            if getattr(self, name):
                parts.append(f"{name}={getattr(self, name)}")
        for name in ("return_sequences", "go_backwards", "return_state"):
            if getattr(self, name):
                parts.append(f"{name}=True")
        if self.mask_mode != "per_gate":
            parts.append(f"mask_mode={self.mask_mode!r}")
        return ", ".join(parts) + f", backend={self.backend!r}"

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__} expects input of shape [batch, time, {self.input_size}], got {list(x.shape)}."
            )
        if x.shape[1] < 1:
            raise ValueError(f"{type(self).__name__} needs at least one time step, got shape {list(x.shape)}.")

    def batch(self, x: torch.Tensor) -> int:
        """The number of sequences a call on ``x`` ``[B, T, F]`` runs (see ``input_copies``)."""
        return x.shape[0] * self.input_copies

    def sample_masks(self, x: torch.Tensor) -> DropoutMasks:
        """The masks a training call on ``x`` ``[B, T, F]`` draws (from torch's global generator)."""
        return sample_masks(
            gates=self.GATES,
            batch=self.batch(x),
            input_size=self.input_size,
            units=self.units,
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            mask_mode=self.mask_mode,
            like=x,
        )

    def _masks(self, x: torch.Tensor, masks: DropoutMasks | None) -> DropoutMasks:
        """Explicit masks are used as given (in any mode); otherwise drawn in training mode only."""
        b = self.batch(x)
        if masks is None:
            if not self.training or (self.dropout == 0 and self.recurrent_dropout == 0):
                return DropoutMasks()
            return self.sample_masks(x)
        for kind, mask, size in (("input", masks.input, self.input_size), ("recurrent", masks.recurrent, self.units)):
            if mask is not None and tuple(mask.shape) not in ((b, size), (self.GATES, b, size)):
                raise ValueError(
                    f"the {kind} dropout mask must have shape [{b}, {size}] or [{self.GATES}, {b}, {size}], "
                    f"got {list(mask.shape)}."
                )
        return masks

    def _finish(self, hseq: torch.Tensor, states: tuple[torch.Tensor, ...]):
        output = hseq if self.return_sequences else states[0]
        return (output, *states) if self.return_state else output

    def load_keras_weights(self, weights) -> None:
        """Import ``[kernel, recurrent_kernel, bias]`` as returned by Keras' ``layer.get_weights()``."""
        params = (self.kernel, self.recurrent_kernel, self.bias)
        if len(weights) != len(params):
            raise ValueError(f"{type(self).__name__} expects {len(params)} Keras weights, got {len(weights)}.")
        arrays = []
        for name, w, param in zip(("kernel", "recurrent_kernel", "bias"), weights, params):
            w = torch.as_tensor(np.asarray(w), dtype=param.dtype)
            if w.shape != param.shape:
                raise ValueError(f"Keras {name} must have shape {tuple(param.shape)}, got {tuple(w.shape)}.")
            arrays.append(w)
        with torch.no_grad():
            for param, w in zip(params, arrays):
                param.copy_(w)

    def keras_weights(self) -> list[np.ndarray]:
        """``[kernel, recurrent_kernel, bias]`` as Keras' ``layer.set_weights()`` takes them."""
        return [p.detach().cpu().numpy().copy() for p in (self.kernel, self.recurrent_kernel, self.bias)]


class LSTM(_Recurrent):
    """Keras' ``LSTM`` (gate order i, f, c, o) with per-gate input and recurrent dropout.

    ``forward(x [B, T, F], initial_state=(h0, c0), masks=DropoutMasks(...))`` returns ``[B, H]``
    (the last processed step), ``[B, T, H]`` with ``return_sequences`` (in processing order, as
    Keras does with ``go_backwards``), and ``(output, h, c)`` with ``return_state``.
    """

    GATES = 4
    CELL = "lstm"

    def __init__(self, input_size: int, units: int, **kwargs):
        super().__init__(input_size, units, **kwargs)
        self.bias = nn.Parameter(torch.empty(self.GATES * self.units))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        with torch.no_grad():
            self.bias.zero_()
            self.bias[self.units : 2 * self.units] = 1.0  # unit_forget_bias

    def forward(self, x: torch.Tensor, initial_state=None, masks: DropoutMasks | None = None):
        # each gate's (x * mask_g) @ W_g + b_g for every step, then the recurrence (see ops.get_layer_op)
        op = ops.get_layer_op("lstm", self.backend, x.device, x.dtype)
        hseq, h, c = op(*self.layer_args(x, initial_state, masks), *self.shared_args())
        return self._finish(hseq, (h, c))

    def shared_args(self) -> tuple:
        """The layer op's last arguments, which a bidirectional pair shares (the second direction reversed)."""
        return (self.go_backwards,)

    def layer_args(self, x: torch.Tensor, initial_state=None, masks: DropoutMasks | None = None) -> tuple:
        """The layer op's arguments before :meth:`shared_args`:
        ``(x, in_mask, kernel, bias, h0, c0, w_rec, rec_mask)``."""
        self._check_input(x)
        masks = self._masks(x, masks)
        if initial_state is None:
            h0 = c0 = x.new_zeros(self.batch(x), self.units)
        else:
            h0, c0 = initial_state
        return x, masks.input, self.kernel, self.bias, h0, c0, self.recurrent_kernel, masks.recurrent


class GRU(_Recurrent):
    """Keras' ``GRU`` (gate order z, r, h; ``reset_after=True`` by default, cuDNN's form) with
    per-gate input and recurrent dropout. Returns like :class:`LSTM`, with ``(output, h)`` states."""

    GATES = 3
    CELL = "gru"

    def __init__(self, input_size: int, units: int, *, reset_after: bool = True, **kwargs):
        super().__init__(input_size, units, **kwargs)
        self.reset_after = reset_after
        # Keras: bias [2, 3H] (input row, recurrent row) with reset_after, else [3H].
        self.bias = nn.Parameter(
            torch.empty((2, self.GATES * self.units) if reset_after else (self.GATES * self.units,))
        )
        self.reset_parameters()

    def config(self) -> dict:
        return {**super().config(), "reset_after": self.reset_after}

    def reset_parameters(self) -> None:
        super().reset_parameters()
        with torch.no_grad():
            self.bias.zero_()

    def forward(self, x: torch.Tensor, initial_state=None, masks: DropoutMasks | None = None):
        op = ops.get_layer_op("gru", self.backend, x.device, x.dtype)
        hseq, h = op(*self.layer_args(x, initial_state, masks), *self.shared_args())
        return self._finish(hseq, (h,))

    def shared_args(self) -> tuple:
        """As :meth:`LSTM.shared_args`."""
        return self.go_backwards, self.reset_after

    def layer_args(self, x: torch.Tensor, initial_state=None, masks: DropoutMasks | None = None) -> tuple:
        """``(x, in_mask, kernel, input_bias, h0, w_rec, recurrent_bias, rec_mask)`` (see :meth:`LSTM.layer_args`)."""
        self._check_input(x)
        masks = self._masks(x, masks)
        h0 = x.new_zeros(self.batch(x), self.units) if initial_state is None else initial_state
        if isinstance(h0, (tuple, list)):
            (h0,) = h0
        input_bias, recurrent_bias = (self.bias[0], self.bias[1]) if self.reset_after else (self.bias, None)
        return x, masks.input, self.kernel, input_bias, h0, self.recurrent_kernel, recurrent_bias, masks.recurrent


MERGE_MODES = ("concat", "sum", "mul", "ave")


class Bidirectional(nn.Module):
    """Keras' ``Bidirectional``: ``layer`` forwards and a copy with its own weights and the opposite
    ``go_backwards``; with ``return_sequences`` the backward output is flipped back in time before
    the merge (``concat``: forward then backward; ``sum``, ``mul``, ``ave``).

    ``masks`` may be a pair ``(forward_masks, backward_masks)``. With ``return_state`` the result is
    ``(output, *forward_states, *backward_states)``.
    """

    def __init__(self, layer: _Recurrent, merge_mode: str = "concat"):
        super().__init__()
        if not isinstance(layer, _Recurrent):
            raise ValueError(f"Bidirectional wraps an LSTM or GRU layer, got {type(layer).__name__}.")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"unknown merge_mode {merge_mode!r}; expected one of {', '.join(MERGE_MODES)}.")
        self.merge_mode = merge_mode
        self.forward_layer = layer
        self.backward_layer = type(layer)(**{**layer.config(), "go_backwards": not layer.go_backwards})

    @property
    def output_size(self) -> int:
        return self.forward_layer.units * (2 if self.merge_mode == "concat" else 1)

    def forward(self, x: torch.Tensor, initial_state=None, masks=None):
        fwd_masks, bwd_masks = masks if masks is not None else (None, None)
        fwd_state, bwd_state = initial_state if initial_state is not None else (None, None)
        pair_op = self._pair_op(x)
        if pair_op is None:
            fwd = self.forward_layer(x, fwd_state, fwd_masks)
            bwd = self.backward_layer(x, bwd_state, bwd_masks)
        else:
            fwd_args = self.forward_layer.layer_args(x, fwd_state, fwd_masks)
            bwd_args = self.backward_layer.layer_args(x, bwd_state, bwd_masks)
            (fwd_seq, *fwd_last), (bwd_seq, *bwd_last) = pair_op(fwd_args, bwd_args, *self.forward_layer.shared_args())
            fwd = self.forward_layer._finish(fwd_seq, tuple(fwd_last))
            bwd = self.backward_layer._finish(bwd_seq, tuple(bwd_last))
        states = ()
        if self.forward_layer.return_state:
            (fwd, *fwd_states), (bwd, *bwd_states) = fwd, bwd
            states = (*fwd_states, *bwd_states)
        if self.forward_layer.return_sequences:
            bwd = bwd.flip(1)
        if self.merge_mode == "concat":
            out = torch.cat([fwd, bwd], dim=-1)
        elif self.merge_mode == "sum":
            out = fwd + bwd
        elif self.merge_mode == "mul":
            out = fwd * bwd
        else:
            out = (fwd + bwd) / 2
        return (out, *states) if states else out

    def _pair_op(self, x: torch.Tensor):
        """Both directions in one call where the tier runs them together (``ops.get_pair_layer_op``), else None."""
        if self.backward_layer.backend != self.forward_layer.backend:
            return None
        return ops.get_pair_layer_op(self.forward_layer.CELL, self.forward_layer.backend, x.device, x.dtype)

    def load_keras_weights(self, weights) -> None:
        """The forward layer's Keras weights followed by the backward layer's (Keras' order)."""
        half = len(weights) // 2
        if len(weights) != 6:
            raise ValueError(f"Bidirectional expects 6 Keras weights (3 per direction), got {len(weights)}.")
        self.forward_layer.load_keras_weights(weights[:half])
        self.backward_layer.load_keras_weights(weights[half:])

    def keras_weights(self) -> list[np.ndarray]:
        return self.forward_layer.keras_weights() + self.backward_layer.keras_weights()
