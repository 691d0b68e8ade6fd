"""LSTM as fused Numba kernels for the CPU: the whole recurrence in one compiled loop per direction.

Same arguments and returns as ``reference.lstm_reference``. Glossary: B batch, T steps, H units,
G = 4 gates (i, f, c, o), R = ``ROWS`` sequences per inner block. Blocks of sequences are spread
over the cores (``numba.prange``). Each sequence's dropout masks are folded into its own copy of
the recurrent kernel (``masked_weights``), so each step is one matvec of length 4H per sequence,
whose inner loop runs as SIMD. Float32 only.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from jenacast.rnn.ops.cpu_common import (ONE, ROWS, as_array, check_input, fsigmoid, ftanh, jit, masked_weights,
                                          optional_array, weight_grad_from_rows)
from jenacast.rnn.ops.fused import lstm_fused


@jit
def _lstm_fwd(x, h0, c0, weff, reverse, hs, gates, cells):
    b_total, t_len, gh = x.shape
    hidden = gh // 4
    per_row = weff.shape[0] > 1
    for block in numba.prange((b_total + ROWS - 1) // ROWS):
        b0 = block * ROWS
        rows = min(ROWS, b_total - b0)
        h = np.empty((ROWS, hidden), np.float32)
        c = np.empty((ROWS, hidden), np.float32)
        pre = np.empty((ROWS, gh), np.float32)
        for r in range(rows):
            h[r] = h0[b0 + r]
            c[r] = c0[b0 + r]
        for s in range(t_len):
            t = t_len - 1 - s if reverse else s
            for r in range(rows):
                b = b0 + r
                wr = weff[b if per_row else 0]
                pr = pre[r]
                pr[:] = x[b, t]
                for k in range(hidden):
                    a = h[r, k]
                    for j in range(gh):
                        pr[j] += a * wr[k, j]
            for r in range(rows):
                b = b0 + r
                for j in range(hidden):
                    i = fsigmoid(pre[r, j])
                    f = fsigmoid(pre[r, hidden + j])
                    g_ = ftanh(pre[r, 2 * hidden + j])
                    o = fsigmoid(pre[r, 3 * hidden + j])
                    cc = f * c[r, j] + i * g_
                    hh = o * ftanh(cc)
                    c[r, j] = cc
                    h[r, j] = hh
                    gates[s, b, j] = i
                    gates[s, b, hidden + j] = f
                    gates[s, b, 2 * hidden + j] = g_
                    gates[s, b, 3 * hidden + j] = o
                    cells[s, b, j] = cc
                    hs[s, b, j] = hh


@jit
def _lstm_bwd(d_hseq, has_dseq, d_hT, d_cT, h0, c0, weff, reverse, gates, cells, hs, d_x, dh0, dc0, dw_rows):
    t_len, b_total, gh = gates.shape
    hidden = gh // 4
    per_row = weff.shape[0] > 1
    for block in numba.prange((b_total + ROWS - 1) // ROWS):
        b0 = block * ROWS
        rows = min(ROWS, b_total - b0)
        dh = np.empty((ROWS, hidden), np.float32)
        dc = np.empty((ROWS, hidden), np.float32)
        d = np.empty((ROWS, gh), np.float32)
        for r in range(rows):
            dh[r] = d_hT[b0 + r]
            dc[r] = d_cT[b0 + r]
            dw_rows[b0 + r] = 0.0
        for step in range(t_len):
            s = t_len - 1 - step
            t = t_len - 1 - s if reverse else s
            for r in range(rows):
                b = b0 + r
                c_prev = cells[s - 1, b] if s > 0 else c0[b]
                for j in range(hidden):
                    dhj = (dh[r, j] + d_hseq[b, s, j]) if has_dseq else dh[r, j]
                    i = gates[s, b, j]
                    f = gates[s, b, hidden + j]
                    g_ = gates[s, b, 2 * hidden + j]
                    o = gates[s, b, 3 * hidden + j]
                    tanh_c = ftanh(cells[s, b, j])
                    dcj = dc[r, j] + dhj * o * (ONE - tanh_c * tanh_c)
                    d[r, j] = dcj * g_ * i * (ONE - i)
                    d[r, hidden + j] = dcj * c_prev[j] * f * (ONE - f)
                    d[r, 2 * hidden + j] = dcj * i * (ONE - g_ * g_)
                    d[r, 3 * hidden + j] = dhj * tanh_c * o * (ONE - o)
                    dc[r, j] = dcj * f
                d_x[b, t] = d[r]  # batch-major, input order: the projection's gradient needs no copy
                # this sequence's share of dU: h_{t-1}^T d_t (its masks are applied once, outside)
                h_prev = hs[s - 1, b] if s > 0 else h0[b]
                dr = d[r]
                for k in range(hidden):
                    a = h_prev[k]
                    row = dw_rows[b, k]
                    for j in range(gh):
                        row[j] += a * dr[j]
            # dh_{t-1}[k] = sum_g mask_g[k] * sum_j d_g[j] U[k, g*H + j] = d . weff[b, k]
            for r in range(rows):
                wr = weff[b0 + r if per_row else 0]
                dr = d[r]
                for k in range(hidden):
                    acc = np.float32(0.0)
                    for j in range(gh):
                        acc += dr[j] * wr[k, j]
                    dh[r, k] = acc
        for r in range(rows):
            dh0[b0 + r] = dh[r]
            dc0[b0 + r] = dc[r]


class CpuLSTMKernels:
    """The two recurrences for ``fused.lstm_fused``."""

    @staticmethod
    def forward(xproj, h0, c0, w_rec, rec_mask, reverse):
        check_input(xproj)
        b, t_len, gh = xproj.shape
        hidden = gh // 4
        hs = torch.empty(t_len, b, hidden)
        gates = torch.empty(t_len, b, gh)
        cells = torch.empty(t_len, b, hidden)
        _lstm_fwd(as_array(xproj), as_array(h0), as_array(c0), masked_weights(w_rec, rec_mask, 4), reverse,
                  hs.numpy(), gates.numpy(), cells.numpy())
        return hs, gates, cells

    @staticmethod
    def backward(d_hseq, d_hT, d_cT, h0, c0, w_rec, rec_mask, gates, cells, hs, reverse):
        t_len, b, gh = gates.shape
        d_x = torch.empty(b, t_len, gh)
        dh0, dc0 = torch.empty(b, gh // 4), torch.empty(b, gh // 4)
        dw_rows = torch.empty(b, gh // 4, gh)
        d_seq, has_dseq = optional_array(d_hseq)
        _lstm_bwd(d_seq, has_dseq, as_array(d_hT), as_array(d_cT), as_array(h0), as_array(c0),
                  masked_weights(w_rec, rec_mask, 4), reverse, as_array(gates), as_array(cells), as_array(hs),
                  d_x.numpy(), dh0.numpy(), dc0.numpy(), dw_rows.numpy())
        return d_x, dh0, dc0, weight_grad_from_rows(dw_rows, rec_mask, 4)


def lstm_cpu(xproj, h0, c0, w_rec, rec_mask=None, reverse=False):
    return lstm_fused(CpuLSTMKernels, xproj, h0, c0, w_rec, rec_mask, reverse)
