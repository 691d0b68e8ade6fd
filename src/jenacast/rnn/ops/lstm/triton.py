"""LSTM as persistent Triton kernels: one launch for the forward recurrence, one for the backward.

Same arguments and returns as ``reference.lstm_reference``. Glossary: B batch, T steps, H units
(padded to BH, a power of two >= 16), BB = BLOCK_B sequences per program, gate order i, f, c, o.
The forward saves the activated gates ``[T, B, 4H]`` and cells ``[T, B, H]``; the backward writes
the pre-activation gradients ``[T, B, 4H]``; ``fused`` turns them into the input-projection and
recurrent-weight gradients.
"""

from __future__ import annotations

import triton
import triton.language as tl

from jenacast.rnn.ops.fused import (computed_weight_grad, lstm_fused, lstm_fused_pair, lstm_grads_from_steps,
                                    zeros_if_none)
from jenacast.rnn.ops.lstm import triton_rows
from jenacast.rnn.ops.triton_common import (BLOCK_B, block_h, check_device, dot_precision, expand_mask, grid,
                                            kernel_layout, load_tile, lstm_cell_grads, matching_grads,
                                            num_warps, pairable, sequence_grad_args,
                                            store_tile, tanh)
from jenacast.rnn.ops.triton_weight_grad import recurrent_weight_grad_pair, recurrent_weight_grad_triton

GATES = 4


@triton.jit
def _lstm_fwd(x_ptr, sxb, sxt, sxg,  # xproj [B, T, 4H]
              h0_ptr, c0_ptr, w_ptr, swr, swc,  # h0, c0 [B, H] contiguous; w_rec [H, 4H]
              m_ptr, smg, smb, smh,  # mask [G?, B, H]
              hs_ptr, gates_ptr, cells_ptr,  # [T, B, H], [T, B, 4H], [T, B, H] contiguous
              B, T, H,
              HAS_MASK: tl.constexpr, REVERSE: tl.constexpr, BB: tl.constexpr, BH: tl.constexpr,
              PRECISION: tl.constexpr):
    rows = tl.program_id(0) * BB + tl.arange(0, BB)
    cols = tl.arange(0, BH)
    k = tl.arange(0, BH)
    u_i = load_tile(w_ptr + 0 * H * swc, swr, swc, k, cols, H, H)
    u_f = load_tile(w_ptr + 1 * H * swc, swr, swc, k, cols, H, H)
    u_c = load_tile(w_ptr + 2 * H * swc, swr, swc, k, cols, H, H)
    u_o = load_tile(w_ptr + 3 * H * swc, swr, swc, k, cols, H, H)
    h = load_tile(h0_ptr, H, 1, rows, cols, B, H)
    c = load_tile(c0_ptr, H, 1, rows, cols, B, H)
    if HAS_MASK:
        m_i = load_tile(m_ptr + 0 * smg, smb, smh, rows, cols, B, H)
        m_f = load_tile(m_ptr + 1 * smg, smb, smh, rows, cols, B, H)
        m_c = load_tile(m_ptr + 2 * smg, smb, smh, rows, cols, B, H)
        m_o = load_tile(m_ptr + 3 * smg, smb, smh, rows, cols, B, H)
    # the input tiles of step s+1 are loaded while step s computes (their latency hides behind the dots)
    t = T - 1 if REVERSE else 0
    x_i = load_tile(x_ptr + t * sxt + 0 * H * sxg, sxb, sxg, rows, cols, B, H)
    x_f = load_tile(x_ptr + t * sxt + 1 * H * sxg, sxb, sxg, rows, cols, B, H)
    x_c = load_tile(x_ptr + t * sxt + 2 * H * sxg, sxb, sxg, rows, cols, B, H)
    x_o = load_tile(x_ptr + t * sxt + 3 * H * sxg, sxb, sxg, rows, cols, B, H)
    for s in range(T):
        t_next = T - 2 - s if REVERSE else s + 1
        lim = tl.where(s + 1 < T, B, 0)
        n_base = x_ptr + t_next * sxt
        n_i = load_tile(n_base + 0 * H * sxg, sxb, sxg, rows, cols, lim, H)
        n_f = load_tile(n_base + 1 * H * sxg, sxb, sxg, rows, cols, lim, H)
        n_c = load_tile(n_base + 2 * H * sxg, sxb, sxg, rows, cols, lim, H)
        n_o = load_tile(n_base + 3 * H * sxg, sxb, sxg, rows, cols, lim, H)
        if HAS_MASK:
            x_i += tl.dot(h * m_i, u_i, input_precision=PRECISION)
            x_f += tl.dot(h * m_f, u_f, input_precision=PRECISION)
            x_c += tl.dot(h * m_c, u_c, input_precision=PRECISION)
            x_o += tl.dot(h * m_o, u_o, input_precision=PRECISION)
        else:
            x_i += tl.dot(h, u_i, input_precision=PRECISION)
            x_f += tl.dot(h, u_f, input_precision=PRECISION)
            x_c += tl.dot(h, u_c, input_precision=PRECISION)
            x_o += tl.dot(h, u_o, input_precision=PRECISION)
        i = tl.sigmoid(x_i)
        f = tl.sigmoid(x_f)
        g = tanh(x_c)
        o = tl.sigmoid(x_o)
        c = f * c + i * g
        h = o * tanh(c)
        g_base = gates_ptr + s * B * 4 * H
        store_tile(g_base + 0 * H, i, 4 * H, 1, rows, cols, B, H)
        store_tile(g_base + 1 * H, f, 4 * H, 1, rows, cols, B, H)
        store_tile(g_base + 2 * H, g, 4 * H, 1, rows, cols, B, H)
        store_tile(g_base + 3 * H, o, 4 * H, 1, rows, cols, B, H)
        store_tile(cells_ptr + s * B * H, c, H, 1, rows, cols, B, H)
        store_tile(hs_ptr + s * B * H, h, H, 1, rows, cols, B, H)
        x_i, x_f, x_c, x_o = n_i, n_f, n_c, n_o


@triton.jit
def _lstm_bwd(dhs_ptr, sdb, sdt,  # d_hseq [B, T, H] (last dim contiguous)
              dhT_ptr, dcT_ptr,  # [B, H] contiguous
              c0_ptr, w_ptr, swr, swc, m_ptr, smg, smb, smh,
              gates_ptr, cells_ptr,  # saved by the forward
              dpre_ptr, dh0_ptr, dc0_ptr,  # outputs: [T, B, 4H], [B, H], [B, H]
              B, T, H,
              HAS_DSEQ: tl.constexpr, HAS_MASK: tl.constexpr, BB: tl.constexpr, BH: tl.constexpr,
              PRECISION: tl.constexpr):
    # without HAS_DSEQ (the sequence output unused) no sequence gradient is read
    rows = tl.program_id(0) * BB + tl.arange(0, BB)
    cols = tl.arange(0, BH)
    k = tl.arange(0, BH)
    # transposed gate matrices: ut[k, j] = U[j, g*H + k], so dot(d, ut) = d @ U_g^T
    ut_i = load_tile(w_ptr + 0 * H * swc, swc, swr, k, cols, H, H)
    ut_f = load_tile(w_ptr + 1 * H * swc, swc, swr, k, cols, H, H)
    ut_c = load_tile(w_ptr + 2 * H * swc, swc, swr, k, cols, H, H)
    ut_o = load_tile(w_ptr + 3 * H * swc, swc, swr, k, cols, H, H)
    if HAS_MASK:
        m_i = load_tile(m_ptr + 0 * smg, smb, smh, rows, cols, B, H)
        m_f = load_tile(m_ptr + 1 * smg, smb, smh, rows, cols, B, H)
        m_c = load_tile(m_ptr + 2 * smg, smb, smh, rows, cols, B, H)
        m_o = load_tile(m_ptr + 3 * smg, smb, smh, rows, cols, B, H)
    dh = load_tile(dhT_ptr, H, 1, rows, cols, B, H)
    dc = load_tile(dcT_ptr, H, 1, rows, cols, B, H)
    # step s's saved tiles are loaded during step s+1 (the loop runs backwards in time)
    s = T - 1
    if HAS_DSEQ:
        d_in = load_tile(dhs_ptr + s * sdt, sdb, 1, rows, cols, B, H)
    i = load_tile(gates_ptr + s * B * 4 * H + 0 * H, 4 * H, 1, rows, cols, B, H)
    f = load_tile(gates_ptr + s * B * 4 * H + 1 * H, 4 * H, 1, rows, cols, B, H)
    g = load_tile(gates_ptr + s * B * 4 * H + 2 * H, 4 * H, 1, rows, cols, B, H)
    o = load_tile(gates_ptr + s * B * 4 * H + 3 * H, 4 * H, 1, rows, cols, B, H)
    c = load_tile(cells_ptr + s * B * H, H, 1, rows, cols, B, H)
    if T > 1:
        c_prev = load_tile(cells_ptr + (T - 2) * B * H, H, 1, rows, cols, B, H)
    else:
        c_prev = load_tile(c0_ptr, H, 1, rows, cols, B, H)
    for step in range(T):
        s = T - 1 - step
        lim = tl.where(s >= 1, B, 0)
        n_base = gates_ptr + (s - 1) * B * 4 * H
        n_i = load_tile(n_base + 0 * H, 4 * H, 1, rows, cols, lim, H)
        n_f = load_tile(n_base + 1 * H, 4 * H, 1, rows, cols, lim, H)
        n_g = load_tile(n_base + 2 * H, 4 * H, 1, rows, cols, lim, H)
        n_o = load_tile(n_base + 3 * H, 4 * H, 1, rows, cols, lim, H)
        if s >= 2:
            n_c_prev = load_tile(cells_ptr + (s - 2) * B * H, H, 1, rows, cols, B, H)
        else:
            n_c_prev = load_tile(c0_ptr, H, 1, rows, cols, B, H)
        if HAS_DSEQ:
            dh += d_in
            d_in = load_tile(dhs_ptr + (s - 1) * sdt, sdb, 1, rows, cols, lim, H)
        d_i, d_f, d_g, d_o, dc = lstm_cell_grads(dh, dc, i, f, g, o, c, c_prev)
        d_base = dpre_ptr + s * B * 4 * H
        store_tile(d_base + 0 * H, d_i, 4 * H, 1, rows, cols, B, H)
        store_tile(d_base + 1 * H, d_f, 4 * H, 1, rows, cols, B, H)
        store_tile(d_base + 2 * H, d_g, 4 * H, 1, rows, cols, B, H)
        store_tile(d_base + 3 * H, d_o, 4 * H, 1, rows, cols, B, H)
        if HAS_MASK:
            dh = (tl.dot(d_i, ut_i, input_precision=PRECISION) * m_i + tl.dot(d_f, ut_f, input_precision=PRECISION) * m_f
                  + tl.dot(d_g, ut_c, input_precision=PRECISION) * m_c + tl.dot(d_o, ut_o, input_precision=PRECISION) * m_o)
        else:
            dh = (tl.dot(d_i, ut_i, input_precision=PRECISION) + tl.dot(d_f, ut_f, input_precision=PRECISION)
                  + tl.dot(d_g, ut_c, input_precision=PRECISION) + tl.dot(d_o, ut_o, input_precision=PRECISION))
        i, f, g, o = n_i, n_f, n_g, n_o
        c = c_prev
        c_prev = n_c_prev
    store_tile(dh0_ptr, dh, H, 1, rows, cols, B, H)
    store_tile(dc0_ptr, dc, H, 1, rows, cols, B, H)


class TritonLSTMKernels:
    """The two recurrences for ``fused.lstm_fused`` (the tiles forward writes the gates with or without ``save``),
    and for ``fused.lstm_fused_pair`` a bidirectional layer's two directions in one launch each way where the
    rows kernels run them (two programs per sequence: the directions' latency-bound loops run side by side)."""

    @staticmethod
    def forward(xproj, h0, c0, w_rec, rec_mask, reverse, save):
        check_device(xproj)
        b, t_len, gh = xproj.shape
        hidden = gh // GATES
        mask, smg, smb, smh, has_mask = expand_mask(rec_mask, GATES, xproj)
        hs, gates, cells = (xproj.new_empty(t_len, b, size) for size in (hidden, gh, hidden))
        if kernel_layout(hidden) == "rows":
            h_last, c_last = xproj.new_empty(b, hidden), xproj.new_empty(b, hidden)
            triton_rows.launch_forward(xproj, h0, c0, w_rec, mask, smg, smb, smh, has_mask, hs, gates, cells, h_last,
                                       c_last, reverse, save)
            return hs, h_last, c_last, gates, cells
        _lstm_fwd[grid(b)](xproj, xproj.stride(0), xproj.stride(1), xproj.stride(2), h0, c0, w_rec, w_rec.stride(0),
                           w_rec.stride(1), mask, smg, smb, smh, hs, gates, cells, b, t_len, hidden,
                           HAS_MASK=has_mask, REVERSE=reverse, BB=BLOCK_B, BH=block_h(hidden),
                           PRECISION=dot_precision(), num_warps=num_warps())
        return hs, hs[-1].clone(), cells[-1].clone(), gates, cells

    @staticmethod
    def forward_pair(first, second, reverse, save):
        """``first``, ``second``: ``(xproj, h0, c0, w_rec, rec_mask)``, ``second`` run in the order opposite to
        ``reverse``; each direction's :meth:`forward` results."""
        xproj = first[0]
        b, t_len, gh = xproj.shape
        hidden = gh // GATES
        if kernel_layout(hidden) != "rows" or not pairable(first, second):
            return (TritonLSTMKernels.forward(*first, reverse, save),
                    TritonLSTMKernels.forward(*second, not reverse, save))
        check_device(xproj)
        hs, gates, cells = (xproj.new_empty(2, t_len, b, size) for size in (hidden, gh, hidden))
        h_last, c_last = xproj.new_empty(2, b, hidden), xproj.new_empty(2, b, hidden)
        mask, smg, smb, smh, has_mask = expand_mask(first[4], GATES, xproj)
        second_mask = expand_mask(second[4], GATES, second[0])[0]
        triton_rows.launch_forward(*first[:4], mask, smg, smb, smh, has_mask, hs, gates, cells, h_last, c_last, reverse,
                                   save, second=(*second[:4], second_mask))
        return tuple((hs[d], h_last[d], c_last[d], gates[d], cells[d]) for d in (0, 1))

    @staticmethod
    def backward(d_hseq, d_hT, d_cT, h0, c0, w_rec, rec_mask, gates, cells, hs, reverse):
        t_len, b, gh = gates.shape
        hidden = gh // GATES
        d_pre = gates.new_empty(t_len, b, gh)
        dh0, dc0 = gates.new_empty(b, hidden), gates.new_empty(b, hidden)
        mask, smg, smb, smh, has_mask = expand_mask(rec_mask, GATES, gates)
        if kernel_layout(hidden) == "rows":
            triton_rows.launch_backward(d_hseq, d_hT, d_cT, c0, w_rec, mask, smg, smb, smh, has_mask, gates, cells,
                                        d_pre, dh0, dc0)
        else:
            dhs, sdb, sdt, has_dseq = sequence_grad_args(d_hseq, gates)
            d_hT, d_cT = zeros_if_none(d_hT, h0), zeros_if_none(d_cT, c0)
            _lstm_bwd[grid(b)](dhs, sdb, sdt, d_hT, d_cT, c0, w_rec,
                               w_rec.stride(0), w_rec.stride(1), mask, smg, smb, smh, gates, cells, d_pre, dh0, dc0,
                               b, t_len, hidden, HAS_DSEQ=has_dseq, HAS_MASK=has_mask, BB=BLOCK_B, BH=block_h(hidden),
                               PRECISION=dot_precision(), num_warps=num_warps())
        d_xproj, d_w = lstm_grads_from_steps(d_pre, h0, hs, rec_mask, reverse, recurrent_weight_grad_triton)
        return d_xproj, dh0, dc0, d_w

    @staticmethod
    def backward_pair(first, second, reverse):
        """``first``, ``second``: :meth:`backward`'s arguments but ``reverse`` (the pair's :meth:`forward_pair`
        order); each direction's gradients."""
        gates = first[7]
        t_len, b, gh = gates.shape
        hidden = gh // GATES
        matched = [matching_grads(a, z) for a, z in zip(first[:3], second[:3])]  # d_hseq, d_hT, d_cT
        first, second = (*(m[0] for m in matched), *first[3:]), (*(m[1] for m in matched), *second[3:])
        if kernel_layout(hidden) != "rows" or not pairable(first, second):
            return (TritonLSTMKernels.backward(*first, reverse), TritonLSTMKernels.backward(*second, not reverse))
        d_pre = gates.new_empty(2, t_len, b, gh)
        dh0, dc0 = gates.new_empty(2, b, hidden), gates.new_empty(2, b, hidden)
        mask, smg, smb, smh, has_mask = expand_mask(first[6], GATES, gates)
        second_mask = expand_mask(second[6], GATES, second[7])[0]
        triton_rows.launch_backward(*first[:3], first[4], first[5], mask, smg, smb, smh, has_mask, gates, first[8],
                                    d_pre, dh0, dc0, second=(*second[:3], *second[4:6], second_mask, *second[7:9]))
        # both directions' dU in one launch: (h0, hs, d_pre, mask) each
        d_ws = recurrent_weight_grad_pair(*((args[3], args[9], d_pre[d], args[6])
                                            for d, args in enumerate((first, second))), GATES)
        grads = []
        for d, (_, _, _, h0, _, _, rec_mask, _, _, hs) in enumerate((first, second)):
            d_xproj, d_w = lstm_grads_from_steps(d_pre[d], h0, hs, rec_mask, reverse if d == 0 else not reverse,
                                                 computed_weight_grad(d_ws[d]))
            grads.append((d_xproj, dh0[d], dc0[d], d_w))
        return tuple(grads)


def lstm_triton(xproj, h0, c0, w_rec, rec_mask=None, reverse=False):
    return lstm_fused(TritonLSTMKernels, xproj, h0, c0, w_rec, rec_mask, reverse)


def lstm_triton_pair(first, second, reverse=False):
    """A bidirectional layer's two directions (each ``(xproj, h0, c0, w_rec, rec_mask)``; ``second`` runs in the
    order opposite to ``reverse``): each direction's ``(hseq, h_last, c_last)``."""
    return lstm_fused_pair(TritonLSTMKernels, first, second, reverse)
