"""The LSTM's ``tiles`` kernels (above 32 units): 16 sequences per program, each step's products as ``tl.dot``.

Glossary: B batch, T steps, H units (padded to BH, a power of two >= 16), BB = BLOCK_B sequences per program,
gate order i, f, c, o. The forward saves the activated gates ``[T, B, 4H]`` and cells ``[T, B, H]``; the backward
writes the pre-activation gradients ``[T, B, 4H]``.
"""

from __future__ import annotations

import triton
import triton.language as tl

from jenacast.rnn.ops.fused import zeros_if_none
from jenacast.rnn.ops.protocol import LstmBackward, LstmInputs, LstmOutputs
from jenacast.rnn.ops.triton.common import (
    BLOCK_B,
    LstmStepGrads,
    block_h,
    dot_precision,
    expand_mask,
    grid,
    lengths_args,
    live_at,
    load_tile,
    lstm_cell_grads,
    num_warps,
    sequence_grad_args,
    store_tile,
    tanh,
)

GATES = 4


@triton.jit
def _lstm_fwd(
    x_ptr,
    sxb,
    sxt,
    sxg,  # xproj [B, T, 4H]
    h0_ptr,
    c0_ptr,
    w_ptr,
    swr,
    swc,  # h0, c0 [B, H] contiguous; w_rec [H, 4H]
    m_ptr,
    smg,
    smb,
    smh,  # mask [G?, B, H]
    hs_ptr,
    gates_ptr,
    cells_ptr,  # [T, B, H], [T, B, 4H], [T, B, H] contiguous
    len_ptr,  # [B] int32 (HAS_LENGTHS)
    B,
    T,
    H,
    HAS_MASK: tl.constexpr,
    REVERSE: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    BB: tl.constexpr,
    BH: tl.constexpr,
    PRECISION: tl.constexpr,
):
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
    if HAS_LENGTHS:
        length = tl.load(len_ptr + rows, mask=rows < B, other=0)
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
        if HAS_LENGTHS:  # past its length a sequence keeps its state, saved as this step's (common.live_at)
            live = live_at(length, s, T, REVERSE, 0)[:, None]
            c = tl.where(live, f * c + i * g, c)
            h = tl.where(live, o * tanh(c), h)
        else:
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
def _lstm_bwd(
    dhs_ptr,
    sdb,
    sdt,  # d_hseq [B, T, H] (last dim contiguous)
    dhT_ptr,
    dcT_ptr,  # [B, H] contiguous
    c0_ptr,
    w_ptr,
    swr,
    swc,
    m_ptr,
    smg,
    smb,
    smh,
    gates_ptr,
    cells_ptr,  # saved by the forward
    dpre_ptr,
    dh0_ptr,
    dc0_ptr,  # outputs: [T, B, 4H], [B, H], [B, H]
    len_ptr,  # [B] int32 (HAS_LENGTHS)
    B,
    T,
    H,
    HAS_DSEQ: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    REVERSE: tl.constexpr,
    BB: tl.constexpr,
    BH: tl.constexpr,
    PRECISION: tl.constexpr,
):
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
    if HAS_LENGTHS:  # REVERSE: the direction, read only to place the steps past a sequence's length
        length = tl.load(len_ptr + rows, mask=rows < B, other=0)
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
        if HAS_LENGTHS:  # a step past the length: no gradient of its own (zeros), dh and dc pass through
            live = live_at(length, s, T, REVERSE, 0)[:, None]
            dh_keep, dc_keep = dh, dc
            dh = tl.where(live, dh, 0.0)
            dc = tl.where(live, dc, 0.0)
        d_i, d_f, d_g, d_o, dc = lstm_cell_grads(dh, dc, i, f, g, o, c, c_prev)
        d_base = dpre_ptr + s * B * 4 * H
        store_tile(d_base + 0 * H, d_i, 4 * H, 1, rows, cols, B, H)
        store_tile(d_base + 1 * H, d_f, 4 * H, 1, rows, cols, B, H)
        store_tile(d_base + 2 * H, d_g, 4 * H, 1, rows, cols, B, H)
        store_tile(d_base + 3 * H, d_o, 4 * H, 1, rows, cols, B, H)
        if HAS_MASK:
            dh = (
                tl.dot(d_i, ut_i, input_precision=PRECISION) * m_i
                + tl.dot(d_f, ut_f, input_precision=PRECISION) * m_f
                + tl.dot(d_g, ut_c, input_precision=PRECISION) * m_c
                + tl.dot(d_o, ut_o, input_precision=PRECISION) * m_o
            )
        else:
            dh = (
                tl.dot(d_i, ut_i, input_precision=PRECISION)
                + tl.dot(d_f, ut_f, input_precision=PRECISION)
                + tl.dot(d_g, ut_c, input_precision=PRECISION)
                + tl.dot(d_o, ut_o, input_precision=PRECISION)
            )
        if HAS_LENGTHS:
            dh = tl.where(live, dh, dh_keep)
            dc = tl.where(live, dc, dc_keep)
        i, f, g, o = n_i, n_f, n_g, n_o
        c = c_prev
        c_prev = n_c_prev
    store_tile(dh0_ptr, dh, H, 1, rows, cols, B, H)
    store_tile(dc0_ptr, dc, H, 1, rows, cols, B, H)


def launch_forward(inputs: LstmInputs, out: LstmOutputs, reverse: bool, lengths=None):
    """The forward recurrence into ``out.hs``, ``out.gates``, ``out.cells`` (``[T, B, ...]``; the last states are
    the sequences' last rows, not written here; with ``lengths``, a packed batch's, too: a sequence keeps its state
    past its length)."""
    xproj, w_rec = inputs.xproj, inputs.w_rec
    b, t_len, gh = xproj.shape
    hidden = gh // GATES
    mask = expand_mask(inputs.rec_mask, GATES, xproj)
    kernel_lengths = lengths_args(lengths, xproj)
    _lstm_fwd[grid(b)](
        xproj,
        xproj.stride(0),
        xproj.stride(1),
        xproj.stride(2),
        inputs.h0,
        inputs.c0,
        w_rec,
        w_rec.stride(0),
        w_rec.stride(1),
        mask.tensor,
        mask.stride_g,
        mask.stride_b,
        mask.stride_h,
        out.hs,
        out.gates,
        out.cells,
        kernel_lengths.tensor,
        b,
        t_len,
        hidden,
        HAS_MASK=mask.present,
        REVERSE=reverse,
        HAS_LENGTHS=kernel_lengths.present,
        BB=BLOCK_B,
        BH=block_h(hidden),
        PRECISION=dot_precision(),
        num_warps=num_warps(),
    )


def launch_backward(args: LstmBackward, grads: LstmStepGrads, reverse: bool = False, lengths=None):
    """The backward recurrence into the pre-activation gradients ``grads.d_pre`` ``[T, B, 4H]`` and ``grads.dh0``,
    ``grads.dc0`` (``lengths``, ``reverse`` its direction: see :func:`launch_forward`)."""
    gates, w_rec = args.gates, args.w_rec
    t_len, b, gh = gates.shape
    hidden = gh // GATES
    mask = expand_mask(args.rec_mask, GATES, gates)
    dhs = sequence_grad_args(args.d_hseq, gates)
    kernel_lengths = lengths_args(lengths, gates)
    _lstm_bwd[grid(b)](
        dhs.tensor,
        dhs.stride_b,
        dhs.stride_t,
        zeros_if_none(args.d_hT, args.h0),
        zeros_if_none(args.d_cT, args.c0),
        args.c0,
        w_rec,
        w_rec.stride(0),
        w_rec.stride(1),
        mask.tensor,
        mask.stride_g,
        mask.stride_b,
        mask.stride_h,
        gates,
        args.cells,
        grads.d_pre,
        grads.dh0,
        grads.dc0,
        kernel_lengths.tensor,
        b,
        t_len,
        hidden,
        HAS_DSEQ=dhs.present,
        HAS_MASK=mask.present,
        HAS_LENGTHS=kernel_lengths.present,
        # the direction matters to the backward only with lengths: without, one compiled kernel serves both
        REVERSE=reverse and kernel_lengths.present,
        BB=BLOCK_B,
        BH=block_h(hidden),
        PRECISION=dot_precision(),
        num_warps=num_warps(),
    )
