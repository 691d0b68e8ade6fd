"""GRU as fused Numba kernels for the CPU: the whole recurrence in one compiled loop per direction.

Same arguments and returns as ``reference.gru_reference``. Glossary: B batch, T steps, H units,
G = 3 gates (z, r, h), R = ``ROWS`` sequences per inner block, spread over the cores. The forward
saves the gates and the candidate's recurrent term (``h_h U_h + b'_h`` with ``reset_after``, else
``r * h_h``), as the other fused tier does. Float32 only.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from jenacast.rnn.ops.cpu_common import ONE, ROWS, as_array, check_input, fsigmoid, ftanh, jit, mask_array
from jenacast.rnn.ops.fused import gru_fused


@jit
def _gru_fwd(x, h0, w, bias, has_bias, m, has_mask, reverse, reset_after, hs, gates, cand):
    b_total, t_len, gh = x.shape
    hidden = gh // 3
    for block in numba.prange((b_total + ROWS - 1) // ROWS):
        b0 = block * ROWS
        rows = min(ROWS, b_total - b0)
        h = np.empty((ROWS, hidden), np.float32)
        hm = np.empty((ROWS, 3, hidden), np.float32)
        rec = np.empty((ROWS, gh), np.float32)
        for r in range(rows):
            h[r] = h0[b0 + r]
        matmul_gates = 3 if reset_after else 2  # reset_before multiplies h_h by r first
        for s in range(t_len):
            t = t_len - 1 - s if reverse else s
            for r in range(rows):
                for g in range(3):
                    gm = g if m.shape[0] > 1 else 0
                    for k in range(hidden):
                        hm[r, g, k] = h[r, k] * m[gm, b0 + r, k] if has_mask else h[r, k]
                for j in range(gh):
                    rec[r, j] = bias[j] if has_bias else np.float32(0.0)
            for g in range(matmul_gates):
                for k in range(hidden):
                    for r in range(rows):
                        a = hm[r, g, k]
                        for j in range(hidden):
                            rec[r, g * hidden + j] += a * w[k, g * hidden + j]
            for r in range(rows):
                b = b0 + r
                for j in range(hidden):
                    z = fsigmoid(x[b, t, j] + rec[r, j])
                    rg = fsigmoid(x[b, t, hidden + j] + rec[r, hidden + j])
                    gates[s, b, j] = z
                    gates[s, b, hidden + j] = rg
                    if reset_after:
                        cand[s, b, j] = rec[r, 2 * hidden + j]
                    else:
                        cand[s, b, j] = rg * hm[r, 2, j]
            if not reset_after:  # rec_h = (r * h_h) @ U_h, now that r is known
                for k in range(hidden):
                    for r in range(rows):
                        a = cand[s, b0 + r, k]
                        for j in range(hidden):
                            rec[r, 2 * hidden + j] += a * w[k, 2 * hidden + j]
            for r in range(rows):
                b = b0 + r
                for j in range(hidden):
                    z = gates[s, b, j]
                    rg = gates[s, b, hidden + j]
                    if reset_after:
                        hh = ftanh(x[b, t, 2 * hidden + j] + rg * rec[r, 2 * hidden + j])
                    else:
                        hh = ftanh(x[b, t, 2 * hidden + j] + rec[r, 2 * hidden + j])
                    gates[s, b, 2 * hidden + j] = hh
                    h[r, j] = z * h[r, j] + (ONE - z) * hh
                    hs[s, b, j] = h[r, j]


@jit
def _gru_bwd(d_hseq, d_hT, h0, w, m, has_mask, reset_after, gates, cand, hs, d_x, d_rec, dh0):
    t_len, b_total, gh = gates.shape
    hidden = gh // 3
    for block in numba.prange((b_total + ROWS - 1) // ROWS):
        b0 = block * ROWS
        rows = min(ROWS, b_total - b0)
        dh = np.empty((ROWS, hidden), np.float32)
        back = np.empty((ROWS, gh), np.float32)  # what flows back through each gate's recurrent matmul
        direct = np.empty((ROWS, hidden), np.float32)  # z * dh, plus (reset_before) the r * h_h path
        d_cand = np.empty((ROWS, hidden), np.float32)
        for r in range(rows):
            dh[r] = d_hT[b0 + r]
        for step in range(t_len):
            s = t_len - 1 - step
            for r in range(rows):
                b = b0 + r
                h_prev = hs[s - 1, b] if s > 0 else h0[b]
                for j in range(hidden):
                    dhj = dh[r, j] + d_hseq[b, s, j]
                    z = gates[s, b, j]
                    hh = gates[s, b, 2 * hidden + j]
                    d_z = dhj * (h_prev[j] - hh) * z * (ONE - z)
                    d_hh = dhj * (ONE - z) * (ONE - hh * hh)
                    d_x[s, b, j] = d_z
                    d_x[s, b, 2 * hidden + j] = d_hh
                    back[r, j] = d_z
                    direct[r, j] = dhj * z
            if reset_after:
                for r in range(rows):
                    b = b0 + r
                    for j in range(hidden):
                        rg = gates[s, b, hidden + j]
                        d_hh = d_x[s, b, 2 * hidden + j]
                        d_r = d_hh * cand[s, b, j] * rg * (ONE - rg)
                        d_x[s, b, hidden + j] = d_r
                        back[r, hidden + j] = d_r
                        back[r, 2 * hidden + j] = d_hh * rg
                        d_rec[s, b, j] = back[r, j]
                        d_rec[s, b, hidden + j] = d_r
                        d_rec[s, b, 2 * hidden + j] = d_hh * rg
            else:
                for r in range(rows):  # d(r * h_h) = d_hh @ U_h^T
                    b = b0 + r
                    for k in range(hidden):
                        acc = np.float32(0.0)
                        for j in range(hidden):
                            acc += d_x[s, b, 2 * hidden + j] * w[k, 2 * hidden + j]
                        d_cand[r, k] = acc
                    h_prev = hs[s - 1, b] if s > 0 else h0[b]
                    for k in range(hidden):
                        rg = gates[s, b, hidden + k]
                        m_h = m[2 if m.shape[0] > 1 else 0, b, k] if has_mask else np.float32(1.0)
                        d_r = d_cand[r, k] * h_prev[k] * m_h * rg * (ONE - rg)
                        d_x[s, b, hidden + k] = d_r
                        back[r, hidden + k] = d_r
                        direct[r, k] += d_cand[r, k] * rg * m_h
            back_gates = 3 if reset_after else 2
            for r in range(rows):
                b = b0 + r
                for k in range(hidden):
                    acc = direct[r, k]
                    for g in range(back_gates):
                        part = np.float32(0.0)
                        for j in range(hidden):
                            part += back[r, g * hidden + j] * w[k, g * hidden + j]
                        if has_mask:
                            part *= m[g if m.shape[0] > 1 else 0, b, k]
                        acc += part
                    dh[r, k] = acc
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
        _gru_fwd(as_array(xproj), as_array(h0), as_array(w_rec), bias, b_rec is not None, mask, has_mask, reverse,
                 reset_after, hs.numpy(), gates.numpy(), cand.numpy())
        return hs, gates, cand

    @staticmethod
    def backward(d_hseq, d_hT, h0, w_rec, rec_mask, gates, cand, hs, reset_after):
        t_len, b, gh = gates.shape
        d_x = torch.empty(t_len, b, gh)
        d_rec = torch.empty(t_len, b, gh) if reset_after else torch.empty(1, 1, 1)
        dh0 = torch.empty(b, gh // 3)
        mask, has_mask = mask_array(rec_mask)
        _gru_bwd(as_array(d_hseq), as_array(d_hT), as_array(h0), as_array(w_rec), mask, has_mask, reset_after,
                 as_array(gates), as_array(cand), as_array(hs), d_x.numpy(), d_rec.numpy(), dh0.numpy())
        return d_x, (d_rec if reset_after else None), dh0


def gru_cpu(xproj, h0, w_rec, b_rec=None, rec_mask=None, reverse=False, reset_after=True):
    return gru_fused(CpuGRUKernels, xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after)
