"""The GRU's ``tiles`` kernels (above 32 units): 16 sequences per program, each step's products as ``tl.dot``.

Glossary: B batch, T steps, H units (padded to BH), BB sequences per program, gate order z, r, h. The forward
saves the activated gates ``[T, B, 3H]`` and the candidate's recurrent term ``[T, B, H]`` (``h_h U_h + b'_h``
with ``reset_after``, else ``r * h_h``); the backward writes the input-projection gradient and, with
``reset_after``, the recurrent pre-activation gradient.
"""

from __future__ import annotations

import triton
import triton.language as tl

from jenacast.rnn.ops.fused import zeros_if_none
from jenacast.rnn.ops.protocol import GruBackward, GruInputs, GruOutputs
from jenacast.rnn.ops.triton.common import (
    BLOCK_B,
    GruStepGrads,
    block_h,
    dot_precision,
    expand_mask,
    grid,
    lengths_args,
    live_at,
    load_tile,
    num_warps,
    sequence_grad_args,
    store_tile,
    tanh,
)

GATES = 3


@triton.jit
def _gru_fwd(
    x_ptr,
    sxb,
    sxt,
    sxg,
    h0_ptr,
    w_ptr,
    swr,
    swc,
    b_ptr,
    m_ptr,
    smg,
    smb,
    smh,
    hs_ptr,
    gates_ptr,
    cand_ptr,
    len_ptr,
    B,
    T,
    H,
    HAS_BIAS: tl.constexpr,
    HAS_MASK: tl.constexpr,
    REVERSE: tl.constexpr,
    RESET_AFTER: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    BB: tl.constexpr,
    BH: tl.constexpr,
    PRECISION: tl.constexpr,
):
    rows = tl.program_id(0) * BB + tl.arange(0, BB)
    cols = tl.arange(0, BH)
    k = tl.arange(0, BH)
    u_z = load_tile(w_ptr + 0 * H * swc, swr, swc, k, cols, H, H)
    u_r = load_tile(w_ptr + 1 * H * swc, swr, swc, k, cols, H, H)
    u_h = load_tile(w_ptr + 2 * H * swc, swr, swc, k, cols, H, H)
    h = load_tile(h0_ptr, H, 1, rows, cols, B, H)
    if HAS_BIAS:
        b_z = tl.load(b_ptr + 0 * H + cols, mask=cols < H, other=0.0)[None, :]
        b_r = tl.load(b_ptr + 1 * H + cols, mask=cols < H, other=0.0)[None, :]
        b_h = tl.load(b_ptr + 2 * H + cols, mask=cols < H, other=0.0)[None, :]
    if HAS_MASK:
        m_z = load_tile(m_ptr + 0 * smg, smb, smh, rows, cols, B, H)
        m_r = load_tile(m_ptr + 1 * smg, smb, smh, rows, cols, B, H)
        m_h = load_tile(m_ptr + 2 * smg, smb, smh, rows, cols, B, H)
    if HAS_LENGTHS:
        length = tl.load(len_ptr + rows, mask=rows < B, other=0)
    # the input tiles of step s+1 are loaded while step s computes
    t = T - 1 if REVERSE else 0
    x_z = load_tile(x_ptr + t * sxt + 0 * H * sxg, sxb, sxg, rows, cols, B, H)
    x_r = load_tile(x_ptr + t * sxt + 1 * H * sxg, sxb, sxg, rows, cols, B, H)
    x_h = load_tile(x_ptr + t * sxt + 2 * H * sxg, sxb, sxg, rows, cols, B, H)
    for s in range(T):
        t_next = T - 2 - s if REVERSE else s + 1
        lim = tl.where(s + 1 < T, B, 0)
        n_base = x_ptr + t_next * sxt
        n_z = load_tile(n_base + 0 * H * sxg, sxb, sxg, rows, cols, lim, H)
        n_r = load_tile(n_base + 1 * H * sxg, sxb, sxg, rows, cols, lim, H)
        n_h = load_tile(n_base + 2 * H * sxg, sxb, sxg, rows, cols, lim, H)
        if HAS_MASK:
            h_z = h * m_z
            h_r = h * m_r
            h_h = h * m_h
        else:
            h_z = h
            h_r = h
            h_h = h
        pre_z = x_z + tl.dot(h_z, u_z, input_precision=PRECISION)
        pre_r = x_r + tl.dot(h_r, u_r, input_precision=PRECISION)
        if HAS_BIAS:
            pre_z += b_z
            pre_r += b_r
        z = tl.sigmoid(pre_z)
        r = tl.sigmoid(pre_r)
        if RESET_AFTER:
            cand = tl.dot(h_h, u_h, input_precision=PRECISION)
            if HAS_BIAS:
                cand += b_h
            hh = tanh(x_h + r * cand)
        else:
            cand = r * h_h
            hh = tanh(x_h + tl.dot(cand, u_h, input_precision=PRECISION))
        if HAS_LENGTHS:  # past its length a sequence keeps its state, saved as this step's (common.live_at)
            h = tl.where(live_at(length, s, T, REVERSE, 0)[:, None], z * h + (1.0 - z) * hh, h)
        else:
            h = z * h + (1.0 - z) * hh
        g_base = gates_ptr + s * B * 3 * H
        store_tile(g_base + 0 * H, z, 3 * H, 1, rows, cols, B, H)
        store_tile(g_base + 1 * H, r, 3 * H, 1, rows, cols, B, H)
        store_tile(g_base + 2 * H, hh, 3 * H, 1, rows, cols, B, H)
        store_tile(cand_ptr + s * B * H, cand, H, 1, rows, cols, B, H)
        store_tile(hs_ptr + s * B * H, h, H, 1, rows, cols, B, H)
        x_z, x_r, x_h = n_z, n_r, n_h


@triton.jit
def _gru_bwd(
    dhs_ptr,
    sdb,
    sdt,
    dhT_ptr,
    h0_ptr,
    w_ptr,
    swr,
    swc,
    m_ptr,
    smg,
    smb,
    smh,
    gates_ptr,
    cand_ptr,
    hs_ptr,
    dx_ptr,
    drec_ptr,
    dh0_ptr,
    len_ptr,
    B,
    T,
    H,
    HAS_DSEQ: tl.constexpr,
    HAS_MASK: tl.constexpr,
    RESET_AFTER: tl.constexpr,
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
    ut_z = load_tile(w_ptr + 0 * H * swc, swc, swr, k, cols, H, H)  # ut[k, j] = U[j, g*H + k]
    ut_r = load_tile(w_ptr + 1 * H * swc, swc, swr, k, cols, H, H)
    ut_h = load_tile(w_ptr + 2 * H * swc, swc, swr, k, cols, H, H)
    if HAS_MASK:
        m_z = load_tile(m_ptr + 0 * smg, smb, smh, rows, cols, B, H)
        m_r = load_tile(m_ptr + 1 * smg, smb, smh, rows, cols, B, H)
        m_h = load_tile(m_ptr + 2 * smg, smb, smh, rows, cols, B, H)
    dh = load_tile(dhT_ptr, H, 1, rows, cols, B, H)
    if HAS_LENGTHS:  # REVERSE: the direction, read only to place the steps past a sequence's length
        length = tl.load(len_ptr + rows, mask=rows < B, other=0)
    # step s's saved tiles are loaded during step s+1 (the loop runs backwards in time)
    s = T - 1
    if HAS_DSEQ:
        d_in = load_tile(dhs_ptr + s * sdt, sdb, 1, rows, cols, B, H)
    z = load_tile(gates_ptr + s * B * 3 * H + 0 * H, 3 * H, 1, rows, cols, B, H)
    r = load_tile(gates_ptr + s * B * 3 * H + 1 * H, 3 * H, 1, rows, cols, B, H)
    hh = load_tile(gates_ptr + s * B * 3 * H + 2 * H, 3 * H, 1, rows, cols, B, H)
    cand = load_tile(cand_ptr + s * B * H, H, 1, rows, cols, B, H)
    if T > 1:
        h_prev = load_tile(hs_ptr + (T - 2) * B * H, H, 1, rows, cols, B, H)
    else:
        h_prev = load_tile(h0_ptr, H, 1, rows, cols, B, H)
    for step in range(T):
        s = T - 1 - step
        lim = tl.where(s >= 1, B, 0)
        n_base = gates_ptr + (s - 1) * B * 3 * H
        n_z = load_tile(n_base + 0 * H, 3 * H, 1, rows, cols, lim, H)
        n_r = load_tile(n_base + 1 * H, 3 * H, 1, rows, cols, lim, H)
        n_hh = load_tile(n_base + 2 * H, 3 * H, 1, rows, cols, lim, H)
        n_cand = load_tile(cand_ptr + (s - 1) * B * H, H, 1, rows, cols, lim, H)
        if s >= 2:
            n_h_prev = load_tile(hs_ptr + (s - 2) * B * H, H, 1, rows, cols, B, H)
        else:
            n_h_prev = load_tile(h0_ptr, H, 1, rows, cols, B, H)
        if HAS_DSEQ:
            dh += d_in
            d_in = load_tile(dhs_ptr + (s - 1) * sdt, sdb, 1, rows, cols, lim, H)
        if HAS_LENGTHS:  # a step past the length: no gradient of its own (zeros), dh passes through
            live = live_at(length, s, T, REVERSE, 0)[:, None]
            dh_keep = dh
            dh = tl.where(live, dh, 0.0)
        d_z = dh * (h_prev - hh) * z * (1.0 - z)
        d_hh = dh * (1.0 - z) * (1.0 - hh * hh)
        dh_next = dh * z
        if RESET_AFTER:
            d_r = d_hh * cand * r * (1.0 - r)
            d_cand = d_hh * r
            d_back = tl.dot(d_cand, ut_h, input_precision=PRECISION)
            if HAS_MASK:
                d_back = d_back * m_h
            r_base = drec_ptr + s * B * 3 * H
            store_tile(r_base + 0 * H, d_z, 3 * H, 1, rows, cols, B, H)
            store_tile(r_base + 1 * H, d_r, 3 * H, 1, rows, cols, B, H)
            store_tile(r_base + 2 * H, d_cand, 3 * H, 1, rows, cols, B, H)
        else:
            d_cand = tl.dot(d_hh, ut_h, input_precision=PRECISION)  # gradient of r * h_h
            if HAS_MASK:
                h_h = h_prev * m_h
                d_back = d_cand * r * m_h
            else:
                h_h = h_prev
                d_back = d_cand * r
            d_r = d_cand * h_h * r * (1.0 - r)
        x_base = dx_ptr + s * B * 3 * H
        store_tile(x_base + 0 * H, d_z, 3 * H, 1, rows, cols, B, H)
        store_tile(x_base + 1 * H, d_r, 3 * H, 1, rows, cols, B, H)
        store_tile(x_base + 2 * H, d_hh, 3 * H, 1, rows, cols, B, H)
        back_z = tl.dot(d_z, ut_z, input_precision=PRECISION)
        back_r = tl.dot(d_r, ut_r, input_precision=PRECISION)
        if HAS_MASK:
            back_z = back_z * m_z
            back_r = back_r * m_r
        dh = dh_next + back_z + back_r + d_back
        if HAS_LENGTHS:
            dh = tl.where(live, dh, dh_keep)
        z, r, hh, cand, h_prev = n_z, n_r, n_hh, n_cand, n_h_prev
    store_tile(dh0_ptr, dh, H, 1, rows, cols, B, H)


def launch_forward(inputs: GruInputs, out: GruOutputs, reverse: bool, reset_after: bool, lengths=None):
    """The forward recurrence into ``out.hs``, ``out.gates``, ``out.cand`` (``[T, B, ...]``; the last state is the
    sequences' last row, not written here; with ``lengths``, a packed batch's, too: a sequence keeps its state
    past its length)."""
    xproj, w_rec = inputs.xproj, inputs.w_rec
    b, t_len, gh = xproj.shape
    hidden = gh // GATES
    mask = expand_mask(inputs.rec_mask, GATES, xproj)
    kernel_lengths = lengths_args(lengths, xproj)
    _gru_fwd[grid(b)](
        xproj,
        xproj.stride(0),
        xproj.stride(1),
        xproj.stride(2),
        inputs.h0,
        w_rec,
        w_rec.stride(0),
        w_rec.stride(1),
        inputs.b_rec.contiguous() if inputs.b_rec is not None else xproj,
        mask.tensor,
        mask.stride_g,
        mask.stride_b,
        mask.stride_h,
        out.hs,
        out.gates,
        out.cand,
        kernel_lengths.tensor,
        b,
        t_len,
        hidden,
        HAS_BIAS=inputs.b_rec is not None,
        HAS_MASK=mask.present,
        REVERSE=reverse,
        RESET_AFTER=reset_after,
        HAS_LENGTHS=kernel_lengths.present,
        BB=BLOCK_B,
        BH=block_h(hidden),
        PRECISION=dot_precision(),
        num_warps=num_warps(),
    )


def launch_backward(args: GruBackward, grads: GruStepGrads, reset_after: bool, reverse: bool = False, lengths=None):
    """The backward recurrence into ``grads.d_x`` (and with ``reset_after`` ``grads.d_rec``), ``[T, B, 3H]``, and
    ``grads.dh0`` (``lengths``, ``reverse`` its direction: see :func:`launch_forward`)."""
    hs, w_rec = args.hs, args.w_rec
    t_len, b, hidden = hs.shape
    mask = expand_mask(args.rec_mask, GATES, args.gates)
    dhs = sequence_grad_args(args.d_hseq, hs)
    kernel_lengths = lengths_args(lengths, hs)
    _gru_bwd[grid(b)](
        dhs.tensor,
        dhs.stride_b,
        dhs.stride_t,
        zeros_if_none(args.d_hT, args.h0),
        args.h0,
        w_rec,
        w_rec.stride(0),
        w_rec.stride(1),
        mask.tensor,
        mask.stride_g,
        mask.stride_b,
        mask.stride_h,
        args.gates,
        args.cand,
        hs,
        grads.d_x,
        grads.d_rec,
        grads.dh0,
        kernel_lengths.tensor,
        b,
        t_len,
        hidden,
        HAS_DSEQ=dhs.present,
        HAS_MASK=mask.present,
        RESET_AFTER=reset_after,
        HAS_LENGTHS=kernel_lengths.present,
        # the direction matters to the backward only with lengths: without, one compiled kernel serves both
        REVERSE=reverse and kernel_lengths.present,
        BB=BLOCK_B,
        BH=block_h(hidden),
        PRECISION=dot_precision(),
        num_warps=num_warps(),
    )
