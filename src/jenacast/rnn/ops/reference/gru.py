"""The GRU specification: a plain autograd loop over time (Keras gate order z, r, h).

Arguments (every tier of this op takes the same):
    xproj    [B, T, 3H]  input projection ``x_g @ W_g + b_g`` per gate, input dropout applied
    h0       [B, H]      initial state
    w_rec    [H, 3H]     Keras' recurrent_kernel
    b_rec    [3H] or None  the recurrent bias (``reset_after=True``; Keras' bias row 1)
    rec_mask None, [B, H] or [3, B, H]: recurrent dropout mask(s) on h_{t-1}
    reverse  process the steps from last to first (Keras' go_backwards)
    reset_after  apply the reset gate after the recurrent matmul (Keras' default, cuDNN's form)
    lengths  None or [B] integers: each sequence's own number of steps (see ``reference.lstm``)
Returns ``(hseq [B, T, H] in processing order, h_T [B, H])``.

    z = s(x_z + h_z U_z + b'_z),  r = s(x_r + h_r U_r + b'_r)
    reset_after:   hh = tanh(x_h + r * (h_h U_h + b'_h))
    reset_before:  hh = tanh(x_h + (r * h_h) U_h)
    h' = z * h + (1 - z) * hh        (h_g = h * mask_g; the z * h term is never masked)
"""

from __future__ import annotations

import torch

from jenacast.rnn.ops.common import step_mask

GATES = 3


def gru_reference(xproj, h0, w_rec, b_rec=None, rec_mask=None, reverse=False, reset_after=True, lengths=None):
    steps = range(xproj.shape[1] - 1, -1, -1) if reverse else range(xproj.shape[1])
    u_z, u_r, u_h = w_rec.chunk(GATES, dim=1)
    h, outputs = h0, []
    for t in steps:
        if rec_mask is None:
            h_z = h_r = h_h = h
        elif rec_mask.dim() == 2:
            h_z = h_r = h_h = h * rec_mask
        else:
            h_z, h_r, h_h = (h * m for m in rec_mask)
        x_z, x_r, x_h = xproj[:, t].chunk(GATES, dim=1)
        rec_z, rec_r = h_z @ u_z, h_r @ u_r
        if b_rec is not None:
            b_z, b_r, b_h = b_rec.chunk(GATES)
            rec_z, rec_r = rec_z + b_z, rec_r + b_r
        z = torch.sigmoid(x_z + rec_z)
        r = torch.sigmoid(x_r + rec_r)
        if reset_after:
            rec_h = h_h @ u_h
            if b_rec is not None:
                rec_h = rec_h + b_h
            hh = torch.tanh(x_h + r * rec_h)
        else:
            hh = torch.tanh(x_h + (r * h_h) @ u_h)
        h_new = z * h + (1 - z) * hh
        h = h_new if lengths is None else torch.where((t < lengths).unsqueeze(1), h_new, h)
        outputs.append(h)
    hseq = torch.stack(outputs, dim=1)
    if lengths is not None:
        hseq = hseq * step_mask(lengths, xproj.shape[1], reverse, hseq)
    return hseq, h
