"""GRU as fused Numba kernels for the CPU: the whole recurrence in one compiled loop per direction.

Same arguments and returns as ``reference.gru_reference``. Glossary: B batch, T steps, H units,
G = 3 gates (z, r, h), R = ``ROWS`` sequences per inner block, spread over the cores. Each
sequence's masks are folded into its own copy of the recurrent kernel (``masked_weights``), so each
step's recurrent product is one SIMD matvec per sequence. The forward saves the gates and the
candidate's recurrent term (``h_h U_h + b'_h`` with ``reset_after``, else ``r * h_h``), as the
other fused tier does. Float32 only.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from jenacast.rnn.ops.cpu_common import (ONE, ROWS, as_array, check_input, fsigmoid, ftanh, jit, mask_array, masked_weights,
                                          optional_array, weight_grad_from_rows)
from jenacast.rnn.ops.fused import gru_fused, gru_grads_from_steps


@jit
def _gru_fwd(x, h0, weff, bias, has_bias, m, has_mask, reverse, reset_after, hs, gates, cand):
    b_total, t_len, gh = x.shape
    hidden = gh // 3
    per_row = weff.shape[0] > 1
    # reset_before multiplies h_h by r before U_h: that product waits until r is known
    matmul_cols = gh if reset_after else 2 * hidden
    for block in numba.prange((b_total + ROWS - 1) // ROWS):
        b0 = block * ROWS
        rows = min(ROWS, b_total - b0)
        h = np.empty((ROWS, hidden), np.float32)
        rec = np.empty((ROWS, gh), np.float32)
        for r in range(rows):
            h[r] = h0[b0 + r]
        for s in range(t_len):
            t = t_len - 1 - s if reverse else s
            for r in range(rows):
                b = b0 + r
                wr = weff[b if per_row else 0]
                rr = rec[r]
                for j in range(gh):
                    rr[j] = bias[j] if has_bias else np.float32(0.0)
                for k in range(hidden):
                    a = h[r, k]
                    for j in range(matmul_cols):
                        rr[j] += a * wr[k, j]
                for j in range(hidden):
                    z = fsigmoid(x[b, t, j] + rr[j])
                    rg = fsigmoid(x[b, t, hidden + j] + rr[hidden + j])
                    gates[s, b, j] = z
                    gates[s, b, hidden + j] = rg
                    if reset_after:
                        cand[s, b, j] = rr[2 * hidden + j]
                    else:
                        m_h = m[2 if m.shape[0] > 1 else 0, b, j] if has_mask else np.float32(1.0)
                        cand[s, b, j] = rg * h[r, j] * m_h
                if not reset_after:  # rec_h = (r * h_h) @ U_h = sum_k r[k] h[k] weff[b, k, h-slice]
                    for k in range(hidden):
                        a = gates[s, b, hidden + k] * h[r, k]
                        for j in range(hidden):
                            rr[2 * hidden + j] += a * wr[k, 2 * hidden + j]
                for j in range(hidden):
                    z = gates[s, b, j]
                    rg = gates[s, b, hidden + j]
                    if reset_after:
                        hh = ftanh(x[b, t, 2 * hidden + j] + rg * rr[2 * hidden + j])
                    else:
                        hh = ftanh(x[b, t, 2 * hidden + j] + rr[2 * hidden + j])
                    gates[s, b, 2 * hidden + j] = hh
                    h[r, j] = z * h[r, j] + (ONE - z) * hh
                    hs[s, b, j] = h[r, j]


@jit
def _gru_bwd(d_hseq, has_dseq, d_hT, h0, weff, reverse, reset_after, gates, cand, hs, d_x, dh0, dw_rows, db_rows):
    t_len, b_total, gh = gates.shape
    hidden = gh // 3
    per_row = weff.shape[0] > 1
    back_cols = gh if reset_after else 2 * hidden
    for block in numba.prange((b_total + ROWS - 1) // ROWS):
        b0 = block * ROWS
        rows = min(ROWS, b_total - b0)
        dh = np.empty((ROWS, hidden), np.float32)
        back = np.empty(gh, np.float32)  # what flows back through each gate's recurrent matmul
        direct = np.empty(hidden, np.float32)  # z * dh, plus (reset_before) the r * h_h path
        for r in range(rows):
            dh[r] = d_hT[b0 + r]
            if reset_after:
                dw_rows[b0 + r] = 0.0
                db_rows[b0 + r] = 0.0
        for step in range(t_len):
            s = t_len - 1 - step
            t = t_len - 1 - s if reverse else s
            for r in range(rows):
                b = b0 + r
                wr = weff[b if per_row else 0]
                h_prev = hs[s - 1, b] if s > 0 else h0[b]
                for j in range(hidden):
                    dhj = (dh[r, j] + d_hseq[b, s, j]) if has_dseq else dh[r, j]
                    z = gates[s, b, j]
                    hh = gates[s, b, 2 * hidden + j]
                    d_z = dhj * (h_prev[j] - hh) * z * (ONE - z)
                    d_hh = dhj * (ONE - z) * (ONE - hh * hh)
                    d_x[b, t, j] = d_z  # batch-major, input order: the projection's gradient needs no copy
                    d_x[b, t, 2 * hidden + j] = d_hh
                    back[j] = d_z
                    direct[j] = dhj * z
                if reset_after:
                    for j in range(hidden):
                        rg = gates[s, b, hidden + j]
                        d_hh = d_x[b, t, 2 * hidden + j]
                        d_r = d_hh * cand[s, b, j] * rg * (ONE - rg)
                        d_x[b, t, hidden + j] = d_r
                        back[hidden + j] = d_r
                        back[2 * hidden + j] = d_hh * rg
                else:
                    # e[k] = sum_j d_hh[j] weff[b, k, h-slice] = mask_h[k] * (d_hh @ U_h^T)[k]
                    for k in range(hidden):
                        e = np.float32(0.0)
                        for j in range(hidden):
                            e += d_x[b, t, 2 * hidden + j] * wr[k, 2 * hidden + j]
                        rg = gates[s, b, hidden + k]
                        d_r = e * h_prev[k] * rg * (ONE - rg)
                        d_x[b, t, hidden + k] = d_r
                        back[hidden + k] = d_r
                        direct[k] += e * rg
                for k in range(hidden):
                    acc = direct[k]
                    for j in range(back_cols):
                        acc += back[j] * wr[k, j]
                    dh[r, k] = acc
                if reset_after:  # this sequence's share of dU, h_{t-1}^T d_rec (masks applied once, outside), and of db
                    db_rows[b] += back
                    for k in range(hidden):
                        a = h_prev[k]
                        row = dw_rows[b, k]
                        for j in range(gh):
                            row[j] += a * back[j]
        for r in range(rows):
            dh0[b0 + r] = dh[r]


class CpuGRUKernels:
    """The two recurrences for ``fused.gru_fused``."""

    @staticmethod
    def forward(xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after):
        check_input(xproj)
        b, t_len, gh = xproj.shape
        hidden = gh // 3
        hs = torch.empty(t_len, b, hidden)
        gates = torch.empty(t_len, b, gh)
        cand = torch.empty(t_len, b, hidden)
        mask, has_mask = mask_array(rec_mask)
        bias = as_array(b_rec) if b_rec is not None else np.zeros(gh, np.float32)
        _gru_fwd(as_array(xproj), as_array(h0), masked_weights(w_rec, rec_mask, 3), bias, b_rec is not None, mask,
                 has_mask, reverse, reset_after, hs.numpy(), gates.numpy(), cand.numpy())
        return hs, gates, cand

    @staticmethod
    def backward(d_hseq, d_hT, h0, w_rec, has_bias, rec_mask, gates, cand, hs, reverse, reset_after):
        t_len, b, gh = gates.shape
        d_x = torch.empty(b, t_len, gh)
        dh0 = torch.empty(b, gh // 3)
        dw_rows = torch.empty(b, gh // 3, gh) if reset_after else torch.empty(1, 1, 1)
        db_rows = torch.empty(b, gh) if reset_after else torch.empty(1, 1)
        d_seq, has_dseq = optional_array(d_hseq)
        _gru_bwd(d_seq, has_dseq, as_array(d_hT), as_array(h0), masked_weights(w_rec, rec_mask, 3), reverse,
                 reset_after, as_array(gates), as_array(cand), as_array(hs), d_x.numpy(), dh0.numpy(), dw_rows.numpy(),
                 db_rows.numpy())
        if not reset_after:  # the r * h_h path: the weight gradient from matmuls over all steps
            d_steps = d_x.transpose(0, 1)
            _, d_w, _ = gru_grads_from_steps(d_steps.flip(0) if reverse else d_steps, None, h0, hs, cand, rec_mask,
                                             reverse, False, False)
            return d_x, dh0, d_w, None
        return d_x, dh0, weight_grad_from_rows(dw_rows, rec_mask, 3), (db_rows.sum(0) if has_bias else None)


def gru_cpu(xproj, h0, w_rec, b_rec=None, rec_mask=None, reverse=False, reset_after=True):
    return gru_fused(CpuGRUKernels, xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after)
