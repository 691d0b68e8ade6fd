"""``VariationalLSTM`` and ``VariationalGRU``: ``nn.LSTM`` and ``nn.GRU`` with recurrent dropout.

The constructor, ``forward(input, hx)``, the returned shapes and the parameters (names, shapes, gate orders,
initialisation) are torch's, so that a model swaps ``nn.LSTM`` for ``VariationalLSTM`` in one line and an
``nn.LSTM``'s state dict loads unchanged. Each layer and direction runs as one of jenacast's whole-layer ops
(``ops.get_layer_op``: the fused CPU or GPU kernels), with Keras' variational dropout:

* ``recurrent_dropout``: a mask on ``h_{t-1}`` per gate (or one shared), fixed across time steps;
* ``input_dropout``: the same on each layer's input (Keras' ``dropout``);
* ``dropout``: torch's, between layers (a fresh mask per element, not on the last layer's output).

Masks are drawn in training mode only; in ``eval()`` explicit ``masks=`` (``sample_masks``) still apply, which
is Monte Carlo dropout.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from jenacast.rnn import ops
from jenacast.rnn.dropin import dropout as dropin_masks
from jenacast.rnn.dropin.inputs import read_input, read_state, write_output, write_state
from jenacast.rnn.dropin.layout import gru_arguments, gru_gates_to_keras, lstm_arguments
from jenacast.rnn.masks import MASK_MODES, DropoutMasks


def _rate(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}.")
    return float(value)


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return value


class _VariationalRNN(nn.Module):
    """What the two modules share: arguments, parameters, the loop over layers and directions."""

    GATES = 0
    CELL = ""
    TORCH_CLASS: type[nn.Module] = nn.Module

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        recurrent_dropout: float = 0.0,
        input_dropout: float = 0.0,
        mask_mode: str = "per_gate",
        backend: str = "auto",
        device=None,
        dtype=None,
    ):
        super().__init__()
        if proj_size != 0:  # (torch's GRU takes the argument too, and refuses it)
            raise ValueError(f"{type(self).__name__} does not support proj_size (got {proj_size!r}); use proj_size=0.")
        self.proj_size = 0
        self.input_size = _positive("input_size", input_size)
        self.hidden_size = _positive("hidden_size", hidden_size)
        self.num_layers = _positive("num_layers", num_layers)
        self.bias, self.batch_first, self.bidirectional = bool(bias), bool(batch_first), bool(bidirectional)
        self.dropout = _rate("dropout", dropout)
        self.recurrent_dropout = _rate("recurrent_dropout", recurrent_dropout)
        self.input_dropout = _rate("input_dropout", input_dropout)
        if mask_mode not in MASK_MODES:
            raise ValueError(f"unknown mask_mode {mask_mode!r}; expected one of {', '.join(MASK_MODES)}.")
        self.mask_mode = mask_mode
        self.backend = ops.check_backend(backend)
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(  # as torch warns: its dropout acts between layers only
                f"dropout={self.dropout} acts between layers and num_layers=1; use recurrent_dropout or "
                "input_dropout for dropout within the layer.",
                stacklevel=2,
            )
        factory = {"device": device, "dtype": dtype}
        gh = self.GATES * self.hidden_size
        # registered in nn.LSTM's order, so that the same seed initialises the same weights
        for layer in range(self.num_layers):
            for suffix in self._suffixes():
                width = self.layer_input_size(layer)
                names = [f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"]
                shapes = [(gh, width), (gh, self.hidden_size)]
                if self.bias:
                    names += [f"bias_ih_l{layer}{suffix}", f"bias_hh_l{layer}{suffix}"]
                    shapes += [(gh,), (gh,)]
                for name, shape in zip(names, shapes):
                    self.register_parameter(name, nn.Parameter(torch.empty(shape, **factory)))
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.num_directions * self.hidden_size

    def reset_parameters(self) -> None:
        """torch's initialisation: every parameter uniform in ``+-1/sqrt(hidden_size)``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def flatten_parameters(self) -> None:
        """Nothing to do (no cuDNN weight buffer); kept so that code written for ``nn.LSTM`` runs unchanged."""

    def direction_parameters(self, layer: int, direction: int) -> tuple:
        """``(weight_ih, weight_hh, bias_ih, bias_hh)`` of one layer and direction (biases None without bias)."""
        suffix = self._suffixes()[direction]
        return tuple(
            getattr(self, f"{kind}_l{layer}{suffix}", None) for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        )

    def sample_masks(self, batch_size: int, like: torch.Tensor | None = None) -> list[list[DropoutMasks]]:
        """Masks for one call on a batch of ``batch_size`` (``masks[layer][direction]``, see ``dropin.dropout``),
        in ``like``'s (else the parameters') dtype and device; for Monte Carlo dropout in ``eval()``."""
        return dropin_masks.draw(self, _positive("batch_size", batch_size), self.weight_hh_l0 if like is None else like)

    def _masks(self, masks, batch: int, like: torch.Tensor) -> list[list[DropoutMasks]]:
        if masks is not None:
            return dropin_masks.checked(self, masks, batch)
        if self.training and (self.input_dropout > 0 or self.recurrent_dropout > 0):
            return dropin_masks.draw(self, batch, like)
        return [[DropoutMasks()] * self.num_directions for _ in range(self.num_layers)]

    def _run(self, input, initial: tuple, masks):
        """The layers over ``read_input``'s batch from the ``initial`` states (``(h_0, c_0)`` or ``(h_0,)``, each
        None or torch's shape): ``(output in the input's form, the last states as torch returns them)``."""
        name = type(self).__name__
        batch = read_input(input, self.batch_first, self.input_size, self.weight_hh_l0.dtype, name)
        x, lengths = batch.x, batch.lengths
        count = self.num_layers * self.num_directions
        states = [read_state(s, batch, count, self.hidden_size, f"{name}'s {w}_0") for s, w in zip(initial, "hc")]
        states = [s if s is not None else x.new_zeros(count, x.shape[0], self.hidden_size) for s in states]
        masks = self._masks(masks, x.shape[0], x)
        op = ops.get_layer_op(self.CELL, self.backend, x.device, x.dtype, lengths=lengths is not None)
        pair_op = None
        if self.bidirectional and lengths is None:
            pair_op = ops.get_pair_layer_op(self.CELL, self.backend, x.device, x.dtype)
        finals = []
        for layer in range(self.num_layers):
            args = [
                self._layer_args(layer, d, x, [s[layer * self.num_directions + d] for s in states], masks[layer][d])
                for d in range(self.num_directions)
            ]
            if pair_op is not None:
                results = pair_op(args[0], args[1], *self._shared_args(False))
            else:
                extra = {} if lengths is None else {"lengths": lengths}
                results = [op(*a, *self._shared_args(d == 1), **extra) for d, a in enumerate(args)]
            # outputs in input order (a reverse direction's come in processing order), time-major memory
            sequences = [(r[0] if d == 0 else r[0].flip(1)).transpose(0, 1) for d, r in enumerate(results)]
            x = (sequences[0] if len(sequences) == 1 else torch.cat(sequences, dim=-1)).transpose(0, 1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
            finals.extend(results)
        last = [torch.stack([r[i] for r in finals]) for i in range(1, len(finals[0]))]
        return write_output(x, batch, self.batch_first), [write_state(s, batch) for s in last]

    @classmethod
    def from_torch(cls, module: nn.Module, **kwargs):
        """A copy of ``module`` (an ``nn.LSTM`` or ``nn.GRU``, its weights, device and dtype) with the keyword
        arguments of this class (``recurrent_dropout=``, ...)."""
        if type(module) is not cls.TORCH_CLASS:
            expected = cls.TORCH_CLASS.__name__
            raise TypeError(f"{cls.__name__}.from_torch takes an {expected}, got {type(module).__name__}.")
        if getattr(module, "proj_size", 0):
            raise ValueError(f"{cls.__name__} has no proj_size (the module has proj_size={module.proj_size}).")
        weight = module.weight_hh_l0
        copy = cls(
            module.input_size,
            module.hidden_size,
            module.num_layers,
            module.bias,
            module.batch_first,
            float(module.dropout),
            module.bidirectional,
            device=weight.device,
            dtype=weight.dtype,
            **kwargs,
        )
        copy.load_state_dict(module.state_dict())
        return copy

    def to_torch(self) -> nn.Module:
        """The ``nn.LSTM``/``nn.GRU`` with these weights (and ``dropout``; it has no recurrent dropout)."""
        weight = self.weight_hh_l0
        module = self.TORCH_CLASS(
            self.input_size,
            self.hidden_size,
            self.num_layers,
            self.bias,
            self.batch_first,
            self.dropout,
            self.bidirectional,
            device=weight.device,
            dtype=weight.dtype,
        )
        module.load_state_dict(self.state_dict())
        return module

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.hidden_size}"]
        defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0, "bidirectional": False}
        defaults.update({"recurrent_dropout": 0.0, "input_dropout": 0.0, "mask_mode": "per_gate", "backend": "auto"})
        parts += [f"{k}={getattr(self, k)!r}" for k, v in defaults.items() if getattr(self, k) != v]
        return ", ".join(parts)


class VariationalLSTM(_VariationalRNN):
    """``nn.LSTM`` with recurrent dropout: ``VariationalLSTM(input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, *, recurrent_dropout=0.0,
    input_dropout=0.0, mask_mode="per_gate", backend="auto")``.

    ``forward(input, hx=None, masks=None)`` returns ``(output, (h_n, c_n))`` as ``nn.LSTM`` does, for tensors
    (batched or not) and ``PackedSequence``s; ``masks`` are explicit dropout masks (``sample_masks``).
    ``proj_size`` must be 0 (projections are not supported).
    """

    GATES = 4
    CELL = "lstm"
    TORCH_CLASS = nn.LSTM

    def forward(self, input, hx=None, masks=None):
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError("VariationalLSTM's hx must be a pair (h_0, c_0), as nn.LSTM takes it.")
        output, (h_n, c_n) = self._run(input, (None, None) if hx is None else tuple(hx), masks)
        return output, (h_n, c_n)

    def _layer_args(self, layer, direction, x, state, masks: DropoutMasks):
        """The LSTM layer op's arguments but ``reverse``: ``(x, in_mask, kernel, bias, h0, c0, w_rec, rec_mask)``."""
        kernel, bias, w_rec = lstm_arguments(*self.direction_parameters(layer, direction))
        h0, c0 = state
        return x, masks.input, kernel, bias, h0, c0, w_rec, masks.recurrent

    @staticmethod
    def _shared_args(reverse: bool) -> tuple:
        return (reverse,)


class VariationalGRU(_VariationalRNN):
    """``nn.GRU`` with recurrent dropout: the arguments of :class:`VariationalLSTM` (``proj_size`` refused, as
    ``nn.GRU`` does); ``forward(input, hx=None, masks=None)`` returns ``(output, h_n)``."""

    GATES = 3
    CELL = "gru"
    TORCH_CLASS = nn.GRU

    def forward(self, input, hx=None, masks=None):
        output, (h_n,) = self._run(input, (hx,), masks)
        return output, h_n

    def _layer_args(self, layer, direction, x, state, masks: DropoutMasks):
        """``(x, in_mask, kernel, input_bias, h0, w_rec, recurrent_bias, rec_mask)`` in Keras' gate order."""
        kernel, b_in, w_rec, b_rec = gru_arguments(*self.direction_parameters(layer, direction))
        in_mask, rec_mask = (
            m if m is None or m.dim() == 2 else gru_gates_to_keras(m) for m in (masks.input, masks.recurrent)
        )
        (h0,) = state
        return x, in_mask, kernel, b_in, h0, w_rec, b_rec, rec_mask

    @staticmethod
    def _shared_args(reverse: bool) -> tuple:
        return reverse, True  # torch's GRU is Keras' reset_after=True
