"""The LSTM specification: a plain autograd loop over time (Keras gate order i, f, c, o).

Arguments (every tier of this op takes the same):
    xproj    [B, T, 4H]  input projection ``x_g @ W_g + b_g`` per gate, input dropout applied
    h0, c0   [B, H]      initial state
    w_rec    [H, 4H]     Keras' recurrent_kernel
    rec_mask None, [B, H] or [4, B, H]: recurrent dropout mask(s) on h_{t-1}
    reverse  process the steps from last to first (Keras' go_backwards)
    lengths  None or [B] integers: sequence b has only its first lengths[b] steps (a packed batch); at the steps
             after them its state stays as it is and its outputs are zero, so its final state is its own last
             step's and, processed in reverse, it starts from h0 at its own last step
Returns ``(hseq [B, T, H] in processing order, h_T [B, H], c_T [B, H])``.
"""

from __future__ import annotations

import torch

from jenacast.rnn.ops.common import step_mask

GATES = 4


def lstm_reference(xproj, h0, c0, w_rec, rec_mask=None, reverse=False, lengths=None):
    steps = range(xproj.shape[1] - 1, -1, -1) if reverse else range(xproj.shape[1])
    h, c, outputs = h0, c0, []
    for t in steps:
        if rec_mask is None:
            recurrent = h @ w_rec
        else:
            masks = [rec_mask] * GATES if rec_mask.dim() == 2 else list(rec_mask)
            recurrent = torch.cat([(h * m) @ u for m, u in zip(masks, w_rec.chunk(GATES, dim=1))], dim=1)
        i, f, g, o = (xproj[:, t] + recurrent).chunk(GATES, dim=1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        if lengths is None:
            h, c = h_new, c_new
        else:
            live = (t < lengths).unsqueeze(1)
            h, c = torch.where(live, h_new, h), torch.where(live, c_new, c)
        outputs.append(h)
    hseq = torch.stack(outputs, dim=1)
    if lengths is not None:
        hseq = hseq * step_mask(lengths, xproj.shape[1], reverse, hseq)
    return hseq, h, c
