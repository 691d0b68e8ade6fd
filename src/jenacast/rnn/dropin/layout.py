"""``nn.LSTM``/``nn.GRU``'s parameters as the kernels' Keras-shaped arguments.

torch holds, per layer and direction, ``weight_ih [G*H, F]``, ``weight_hh [G*H, H]``, ``bias_ih`` and ``bias_hh``
``[G*H]``, gates ``i, f, g, o`` (LSTM) and ``r, z, n`` (GRU). The kernels take Keras' ``kernel [F, G*H]``,
``recurrent_kernel [H, G*H]`` and biases, gates ``i, f, c, o`` (the same order) and ``z, r, h``. torch's GRU is
Keras' ``reset_after=True`` form with a recurrent bias; torch's LSTM adds its two biases, which Keras holds as one.

The conversion runs at every call, inside autograd (transposes and a few kB of copies), so that the parameters
stay torch's own tensors: state dicts, optimizers, weight tying and ``nn.utils`` see an ``nn.LSTM``'s.
"""

from __future__ import annotations

import torch

# torch's GRU gates r, z, n in Keras' order z, r, h
GRU_TO_KERAS = (1, 0, 2)


def gru_gates_to_keras(t: torch.Tensor) -> torch.Tensor:
    """A GRU tensor whose first dimension holds the three gates (``[3H, ...]`` blocks or ``[3, ...]``
    masks) in Keras' order."""
    if t.shape[0] == 3:
        return t[list(GRU_TO_KERAS)]
    return t.view(3, t.shape[0] // 3, *t.shape[1:])[list(GRU_TO_KERAS)].reshape(t.shape)


def lstm_arguments(w_ih, w_hh, b_ih, b_hh):
    """``(kernel [F, 4H], bias [4H], recurrent_kernel [H, 4H])``; zero bias where torch has none."""
    bias = w_ih.new_zeros(w_ih.shape[0]) if b_ih is None else b_ih + b_hh
    return w_ih.t(), bias, w_hh.t()


def gru_arguments(w_ih, w_hh, b_ih, b_hh):
    """``(kernel [F, 3H], input bias [3H], recurrent_kernel [H, 3H], recurrent bias [3H] or None)``."""
    kernel = gru_gates_to_keras(w_ih).t()
    w_rec = gru_gates_to_keras(w_hh).t()
    if b_ih is None:
        return kernel, w_ih.new_zeros(w_ih.shape[0]), w_rec, None
    return kernel, gru_gates_to_keras(b_ih), w_rec, gru_gates_to_keras(b_hh)
