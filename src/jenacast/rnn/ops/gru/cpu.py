"""GRU as fused Numba kernels for the CPU: the whole recurrence in one compiled loop per direction.

Same arguments and returns as ``reference.gru_reference``. Glossary: B batch, T steps, H units,
G = 3 gates (z, r, h), R = ``ROWS`` sequences per block, spread over the cores. As in the LSTM
kernels, each step masks the state per gate and multiplies it with the shared recurrent kernel
through ``cpu_simd.accumulate``. The forward saves the gates and the candidate's recurrent term
(``h_h U_h + b'_h`` with ``reset_after``, else ``r * h_h``, the coefficient of ``U_h``), as the other
fused tier does. The projection and its gradient are time-major ``[T, B, 3H]``. Float32 only.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from jenacast.rnn.ops.cpu_common import (ONE, ROWS, STEPS_PER_DW, add_into, as_array, check_input, copy_into, fill,
                                          fsigmoid, ftanh, jit, mask_array, mask_states, optional_array,
                                          per_gate_transposed, time_major, unmask_into)
from jenacast.rnn.ops.cpu_simd import accumulate, offset_tables
from jenacast.rnn.ops.fused import gru_fused


@jit
def _gru_fwd(x, h0, w, bias, has_bias, m, has_mask, reverse, reset_after, save, hs, h_last, gates, cand):
    t_len, b_total, gh = x.shape
    hidden = gh // 3
    w_flat = w.reshape(-1)
    # reset_before multiplies h_h by r before U_h: that product waits until r is known
    first_cols = gh if reset_after else 2 * hidden
    for block in numba.prange((b_total + ROWS - 1) // ROWS):
        b0 = block * ROWS
        rows = min(ROWS, b_total - b0)
        h = np.empty((ROWS, hidden), np.float32)
        rec = np.empty((ROWS, gh), np.float32)
        hm = np.empty((ROWS, 3, hidden), np.float32)
        z_r = np.empty((ROWS, 2 * hidden), np.float32)
        rec_flat, hm_flat = rec.reshape(-1), hm.reshape(-1)
        tables = offset_tables()
        for r in range(rows):
            copy_into(h[r], h0[b0 + r])
        for s in range(t_len):
            t = t_len - 1 - s if reverse else s
            for r in range(rows):
                if has_bias:
                    copy_into(rec[r], bias)
                else:
                    fill(rec[r], np.float32(0.0))
                mask_states(hm, r, h[r], m, b0 + r, has_mask)
            accumulate(rec_flat, gh, rows, first_cols, hm_flat, 0, 3 * hidden, hidden, 1, hidden, w_flat, gh, hidden,
                       tables)
            for r in range(rows):
                b = b0 + r
                xr, rr, zr, hmr = x[t, b], rec[r], z_r[r], hm[r, 2]
                # outputs written in the loops themselves (without save, into a scratch row), as in the LSTM
                gs, cs = gates[s if save else 0, b], cand[s if save else 0, b]
                for j in range(hidden):
                    z = fsigmoid(xr[j] + rr[j])
                    rg = fsigmoid(xr[hidden + j] + rr[hidden + j])
                    zr[j], zr[hidden + j], gs[j], gs[hidden + j] = z, rg, z, rg
                if not reset_after:
                    for j in range(hidden):
                        hmr[j] *= zr[hidden + j]  # r * h_h, the coefficient of U_h
            if not reset_after:
                accumulate(rec_flat[2 * hidden:], gh, rows, hidden, hm_flat, 2 * hidden, 3 * hidden, hidden, 1, hidden,
                           w_flat[2 * hidden:], gh, hidden, tables)
            for r in range(rows):
                b = b0 + r
                xr, rr, zr, hr, hmr = x[t, b], rec[r], z_r[r], h[r], hm[r, 2]
                gs, cs = gates[s if save else 0, b], cand[s if save else 0, b]
                for j in range(hidden):
                    rec_h = rr[2 * hidden + j]
                    hh = ftanh(xr[2 * hidden + j] + (zr[hidden + j] * rec_h if reset_after else rec_h))
                    z = zr[j]
                    hr[j] = z * hr[j] + (ONE - z) * hh
                    gs[2 * hidden + j] = hh
                    cs[j] = rec_h if reset_after else hmr[j]
                copy_into(hs[s, b], hr)
        for r in range(rows):
            copy_into(h_last[b0 + r], h[r])


@jit
def _gru_bwd(d_hseq, has_dseq, d_hT, h0, w_gt, m, has_mask, reverse, reset_after, gates, cand, hs, d_x, dh0, dw_blocks,
             db_blocks):
    t_len, b_total, gh = gates.shape
    hidden = gh // 3
    w_flat = w_gt.reshape(-1)
    back_cols = gh if reset_after else 2 * hidden  # the gates whose masked product carries dh back
    for block in numba.prange((b_total + ROWS - 1) // ROWS):
        b0 = block * ROWS
        rows = min(ROWS, b_total - b0)
        dh = np.empty((ROWS, hidden), np.float32)
        direct = np.empty((ROWS, hidden), np.float32)  # z * dh, plus (reset_before) the r * h_h path
        # what multiplies each gate's coefficients in dU, and the coefficients, kept for STEPS_PER_DW steps
        d_steps = np.zeros((STEPS_PER_DW * ROWS, gh), np.float32)
        hm = np.zeros((STEPS_PER_DW * ROWS, 3, hidden), np.float32)
        back = np.zeros((ROWS, gh), np.float32)
        e = np.zeros((ROWS, hidden), np.float32)
        d_hhs = np.empty((ROWS, hidden), np.float32)
        d_steps_flat, back_flat, hm_flat, e_flat = d_steps.reshape(-1), back.reshape(-1), hm.reshape(-1), e.reshape(-1)
        dw, db = dw_blocks[block], db_blocks[block]
        fill(dw.reshape(-1), np.float32(0.0))
        fill(db, np.float32(0.0))
        tables = offset_tables()
        for r in range(rows):
            copy_into(dh[r], d_hT[b0 + r])
        for step in range(t_len):
            s = t_len - 1 - step
            t = t_len - 1 - s if reverse else s
            slot = step % STEPS_PER_DW
            d = d_steps[slot * rows:(slot + 1) * rows]
            d_flat = d.reshape(-1)
            for r in range(rows):
                b = b0 + r
                if has_dseq:
                    add_into(dh[r], d_hseq[b, s])
                gs, dr, dhr, dxr, dhhr = gates[s, b], d[r], dh[r], d_x[t, b], d_hhs[r]
                h_prev = hs[s - 1, b] if s > 0 else h0[b]
                for j in range(hidden):
                    z, hh = gs[j], gs[2 * hidden + j]
                    d_z = dhr[j] * (h_prev[j] - hh) * z * (ONE - z)
                    d_hh = dhr[j] * (ONE - z) * (ONE - hh * hh)
                    dxr[j], dxr[2 * hidden + j] = d_z, d_hh
                    dr[j], dhhr[j] = d_z, d_hh
                    direct[r, j] = dhr[j] * z
                mask_states(hm, slot * rows + r, h_prev, m, b, has_mask)
                if reset_after:
                    cr = cand[s, b]
                    for j in range(hidden):
                        rg, d_hh = gs[hidden + j], dhhr[j]
                        d_r = d_hh * cr[j] * rg * (ONE - rg)
                        dxr[hidden + j] = d_r
                        dr[hidden + j] = d_r
                        dr[2 * hidden + j] = d_hh * rg
                    add_into(db, dr)
                else:
                    copy_into(dr[2 * hidden:], dhhr)
                    copy_into(hm[slot * rows + r, 2], cand[s, b])  # U_h's coefficient was r * h_h
            if not reset_after:  # e = mask_h * (d_hh @ U_h^T), the gradient reaching r * h_h
                fill(e_flat, np.float32(0.0))
                accumulate(e_flat, hidden, rows, hidden, d_flat, 2 * hidden, gh, hidden, 1, hidden,
                           w_flat[2 * hidden:], gh, hidden, tables)
                for r in range(rows):
                    b = b0 + r
                    gs, dxr, dr, er = gates[s, b], d_x[t, b], d[r], e[r]
                    h_prev = hs[s - 1, b] if s > 0 else h0[b]
                    for k in range(hidden):
                        ek = er[k] * m[2 if m.shape[0] > 1 else 0, b, k] if has_mask else er[k]
                        rg = gs[hidden + k]
                        d_r = ek * h_prev[k] * rg * (ONE - rg)
                        dxr[hidden + k] = d_r
                        dr[hidden + k] = d_r
                        direct[r, k] += ek * rg
            if slot == STEPS_PER_DW - 1 or step == t_len - 1:
                accumulate(dw.reshape(-1), gh, hidden, gh, hm_flat, 0, 1, hidden, 3 * hidden, hidden, d_steps_flat, gh,
                           (slot + 1) * rows, tables)
            fill(back_flat, np.float32(0.0))
            accumulate(back_flat, gh, rows, back_cols, d_flat, 0, gh, hidden, 1, hidden, w_flat, gh, hidden, tables)
            for r in range(rows):
                unmask_into(dh[r], back[r, :back_cols], m, b0 + r, has_mask)
                add_into(dh[r], direct[r])
        for r in range(rows):
            copy_into(dh0[b0 + r], dh[r])


class CpuGRUKernels:
    """The two recurrences for ``fused.gru_fused``."""

    @staticmethod
    def forward(xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after, save):
        check_input(xproj)
        b, t_len, gh = xproj.shape
        hidden = gh // 3
        hs, h_last = torch.empty(t_len, b, hidden), torch.empty(b, hidden)
        gates = torch.empty(t_len if save else 1, b, gh)  # without save, one step's scratch
        cand = torch.empty(t_len if save else 1, b, hidden)
        mask, has_mask = mask_array(rec_mask)
        bias = as_array(b_rec) if b_rec is not None else np.zeros(gh, np.float32)
        _gru_fwd(time_major(xproj), as_array(h0), as_array(w_rec), bias, b_rec is not None, mask, has_mask, reverse,
                 reset_after, save, hs.numpy(), h_last.numpy(), gates.numpy(), cand.numpy())
        return hs, h_last, (gates if save else None), (cand if save else None)

    @staticmethod
    def backward(d_hseq, d_hT, h0, w_rec, has_bias, rec_mask, gates, cand, hs, reverse, reset_after):
        t_len, b, gh = gates.shape
        hidden = gh // 3
        blocks = (b + ROWS - 1) // ROWS
        d_x = torch.empty(t_len, b, gh)
        dh0 = torch.empty(b, hidden)
        dw_blocks, db_blocks = torch.empty(blocks, hidden, gh), torch.empty(blocks, gh)
        d_seq, has_dseq = optional_array(d_hseq)
        mask, has_mask = mask_array(rec_mask)
        _gru_bwd(d_seq, has_dseq, as_array(d_hT), as_array(h0), per_gate_transposed(w_rec, 3), mask, has_mask, reverse,
                 reset_after, as_array(gates), as_array(cand), as_array(hs), d_x.numpy(), dh0.numpy(),
                 dw_blocks.numpy(), db_blocks.numpy())
        return d_x.transpose(0, 1), dh0, dw_blocks.sum(0), (db_blocks.sum(0) if has_bias else None)


def gru_cpu(xproj, h0, w_rec, b_rec=None, rec_mask=None, reverse=False, reset_after=True):
    return gru_fused(CpuGRUKernels, xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after)
