"""LSTM as fused Numba kernels for the CPU: the whole recurrence in one compiled loop per direction.

Same arguments and returns as ``reference.lstm_reference``. Glossary: B batch, T steps, H units,
G = 4 gates (i, f, c, o), R = ``ROWS`` sequences per block; blocks are spread over the cores
(``numba.prange``). Each step masks the state once per gate (``hm[r, g] = h[r] * mask_g[r]``) and
multiplies it with the shared recurrent kernel through ``cpu_simd.accumulate`` (accumulators in
registers, two sequences per weight load). The input projection and its gradient are time-major
``[T, B, G*H]`` in input order, the layout the layers project into. Float32 only.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from jenacast.rnn.ops.cpu_common import (ONE, ROWS, STEPS_PER_DW, add_into, as_array, check_input, copy_into, fill,
                                          fsigmoid, ftanh, jit, mask_array, mask_states, optional_array,
                                          per_gate_transposed, time_major, unmask_into)
from jenacast.rnn.ops.cpu_simd import accumulate, offset_tables
from jenacast.rnn.ops.fused import lstm_fused


@jit
def _lstm_fwd(x, h0, c0, w, m, has_mask, reverse, save, hs, h_last, c_last, gates, cells):
    t_len, b_total, gh = x.shape
    hidden = gh // 4
    w_flat = w.reshape(-1)
    for block in numba.prange((b_total + ROWS - 1) // ROWS):
        b0 = block * ROWS
        rows = min(ROWS, b_total - b0)
        h = np.empty((ROWS, hidden), np.float32)
        c = np.empty((ROWS, hidden), np.float32)
        pre = np.empty((ROWS, gh), np.float32)
        hm = np.empty((ROWS, 4, hidden), np.float32)
        pre_flat, hm_flat = pre.reshape(-1), hm.reshape(-1)
        tables = offset_tables()
        for r in range(rows):
            copy_into(h[r], h0[b0 + r])
            copy_into(c[r], c0[b0 + r])
        for s in range(t_len):
            t = t_len - 1 - s if reverse else s
            for r in range(rows):
                copy_into(pre[r], x[t, b0 + r])
                mask_states(hm, r, h[r], m, b0 + r, has_mask)
            # pre[r, g*H + j] += sum_k hm[r, g, k] * U[k, g*H + j]
            accumulate(pre_flat, gh, rows, gh, hm_flat, 0, 4 * hidden, hidden, 1, hidden, w_flat, gh, hidden, tables)
            for r in range(rows):
                b = b0 + r
                pr, cr, hr = pre[r], c[r], h[r]
                # written in the loop itself (without save, into a scratch row): a local copy written there
                # and copied out after measured 2x slower for the whole kernel (the loop stayed scalar)
                gs, cs = gates[s if save else 0, b], cells[s if save else 0, b]
                for j in range(hidden):
                    i = fsigmoid(pr[j])
                    f = fsigmoid(pr[hidden + j])
                    g_ = ftanh(pr[2 * hidden + j])
                    o = fsigmoid(pr[3 * hidden + j])
                    cc = f * cr[j] + i * g_
                    cr[j] = cc
                    hr[j] = o * ftanh(cc)
                    gs[j], gs[hidden + j], gs[2 * hidden + j], gs[3 * hidden + j], cs[j] = i, f, g_, o, cc
                copy_into(hs[s, b], hr)
        for r in range(rows):
            copy_into(h_last[b0 + r], h[r])
            copy_into(c_last[b0 + r], c[r])


@jit
def _lstm_bwd(d_hseq, has_dseq, d_hT, d_cT, h0, c0, w_gt, m, has_mask, reverse, gates, cells, hs, d_x, dh0, dc0,
              dw_blocks):
    t_len, b_total, gh = gates.shape
    hidden = gh // 4
    w_flat = w_gt.reshape(-1)
    for block in numba.prange((b_total + ROWS - 1) // ROWS):
        b0 = block * ROWS
        rows = min(ROWS, b_total - b0)
        dh = np.empty((ROWS, hidden), np.float32)
        dc = np.empty((ROWS, hidden), np.float32)
        back = np.empty((ROWS, gh), np.float32)  # each gate's share of dh before its mask: d_g @ U_g^T
        # dU's products wait for STEPS_PER_DW steps: one call then does STEPS_PER_DW * rows terms per
        # accumulator (one step's rows alone left the call overhead at half the backward's time)
        hm = np.zeros((STEPS_PER_DW * ROWS, 4, hidden), np.float32)  # h_{t-1} * mask_g, per step and row
        d_steps = np.zeros((STEPS_PER_DW * ROWS, gh), np.float32)
        back_flat, hm_flat, d_steps_flat = back.reshape(-1), hm.reshape(-1), d_steps.reshape(-1)
        dw = dw_blocks[block]
        fill(dw.reshape(-1), np.float32(0.0))
        tables = offset_tables()
        for r in range(rows):
            copy_into(dh[r], d_hT[b0 + r])
            copy_into(dc[r], d_cT[b0 + r])
        for step in range(t_len):
            s = t_len - 1 - step
            t = t_len - 1 - s if reverse else s
            slot = step % STEPS_PER_DW
            for r in range(rows):
                b = b0 + r
                if has_dseq:
                    add_into(dh[r], d_hseq[b, s])
                gs, cs = gates[s, b], cells[s, b]
                c_prev = cells[s - 1, b] if s > 0 else c0[b]
                dr, dhr, dcr = d_x[t, b], dh[r], dc[r]  # written in place, as the forward writes its gates
                for j in range(hidden):
                    i, f, g_, o = gs[j], gs[hidden + j], gs[2 * hidden + j], gs[3 * hidden + j]
                    tanh_c = ftanh(cs[j])
                    dcj = dcr[j] + dhr[j] * o * (ONE - tanh_c * tanh_c)
                    dr[j] = dcj * g_ * i * (ONE - i)
                    dr[hidden + j] = dcj * c_prev[j] * f * (ONE - f)
                    dr[2 * hidden + j] = dcj * i * (ONE - g_ * g_)
                    dr[3 * hidden + j] = dhr[j] * tanh_c * o * (ONE - o)
                    dcr[j] = dcj * f
                mask_states(hm, slot * rows + r, hs[s - 1, b] if s > 0 else h0[b], m, b, has_mask)
                copy_into(d_steps[slot * rows + r], dr)
            d_flat = d_x[t, b0:b0 + rows].reshape(-1)  # this step's d of the block's rows, contiguous
            if slot == STEPS_PER_DW - 1 or step == t_len - 1:
                # dU[k, col] += sum_n hm[n, gate(col), k] * d[n, col] over the waiting steps' rows n
                accumulate(dw.reshape(-1), gh, hidden, gh, hm_flat, 0, 1, hidden, 4 * hidden, hidden, d_steps_flat, gh,
                           (slot + 1) * rows, tables)
            # back[r, g*H + k] = sum_n d[r, g*H + n] U[k, g*H + n]; dh = sum_g mask_g * back_g
            fill(back_flat, np.float32(0.0))
            accumulate(back_flat, gh, rows, gh, d_flat, 0, gh, hidden, 1, hidden, w_flat, gh, hidden, tables)
            for r in range(rows):
                unmask_into(dh[r], back[r], m, b0 + r, has_mask)
        for r in range(rows):
            copy_into(dh0[b0 + r], dh[r])
            copy_into(dc0[b0 + r], dc[r])


class CpuLSTMKernels:
    """The two recurrences for ``fused.lstm_fused``."""

    @staticmethod
    def forward(xproj, h0, c0, w_rec, rec_mask, reverse, save):
        check_input(xproj)
        b, t_len, gh = xproj.shape
        hidden = gh // 4
        hs = torch.empty(t_len, b, hidden)
        h_last, c_last = torch.empty(b, hidden), torch.empty(b, hidden)
        gates = torch.empty(t_len if save else 1, b, gh)  # without save, one step's scratch
        cells = torch.empty(t_len if save else 1, b, hidden)
        mask, has_mask = mask_array(rec_mask)
        _lstm_fwd(time_major(xproj), as_array(h0), as_array(c0), as_array(w_rec), mask, has_mask, reverse, save,
                  hs.numpy(), h_last.numpy(), c_last.numpy(), gates.numpy(), cells.numpy())
        return hs, h_last, c_last, (gates if save else None), (cells if save else None)

    @staticmethod
    def backward(d_hseq, d_hT, d_cT, h0, c0, w_rec, rec_mask, gates, cells, hs, reverse):
        t_len, b, gh = gates.shape
        hidden = gh // 4
        d_x = torch.empty(t_len, b, gh)
        dh0, dc0 = torch.empty(b, hidden), torch.empty(b, hidden)
        dw_blocks = torch.empty((b + ROWS - 1) // ROWS, hidden, gh)
        d_seq, has_dseq = optional_array(d_hseq)
        mask, has_mask = mask_array(rec_mask)
        _lstm_bwd(d_seq, has_dseq, as_array(d_hT), as_array(d_cT), as_array(h0), as_array(c0),
                  per_gate_transposed(w_rec, 4), mask, has_mask, reverse, as_array(gates), as_array(cells),
                  as_array(hs), d_x.numpy(), dh0.numpy(), dc0.numpy(), dw_blocks.numpy())
        return d_x.transpose(0, 1), dh0, dc0, dw_blocks.sum(0)


def lstm_cpu(xproj, h0, c0, w_rec, rec_mask=None, reverse=False):
    return lstm_fused(CpuLSTMKernels, xproj, h0, c0, w_rec, rec_mask, reverse)
