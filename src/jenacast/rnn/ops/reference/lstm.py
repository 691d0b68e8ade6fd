"""The LSTM specification: a plain autograd loop over time (Keras gate order i, f, c, o).

Arguments (every tier of this op takes the same):
    xproj    [B, T, 4H]  input projection ``x_g @ W_g + b_g`` per gate, input dropout applied
    h0, c0   [B, H]      initial state
    w_rec    [H, 4H]     Keras' recurrent_kernel
    rec_mask None, [B, H] or [4, B, H]: recurrent dropout mask(s) on h_{t-1}
    reverse  process the steps from last to first (Keras' go_backwards)
Returns ``(hseq [B, T, H] in processing order, h_T [B, H], c_T [B, H])``.
"""

from __future__ import annotations

import torch

GATES = 4


def lstm_reference(xproj, h0, c0, w_rec, rec_mask=None, reverse=False):
    steps = range(xproj.shape[1] - 1, -1, -1) if reverse else range(xproj.shape[1])
    h, c, outputs = h0, c0, []
    for t in steps:
        if rec_mask is None:
            recurrent = h @ w_rec
        else:
            masks = [rec_mask] * GATES if rec_mask.dim() == 2 else list(rec_mask)
            recurrent = torch.cat([(h * m) @ u for m, u in zip(masks, w_rec.chunk(GATES, dim=1))], dim=1)
        i, f, g, o = (xproj[:, t] + recurrent).chunk(GATES, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, dim=1), h, c
