"""GRU as persistent Triton kernels, one sequence per program: a warp owns a sequence, a thread a unit.

The "rows" layout of :mod:`jenacast.rnn.ops.triton.lstm_rows` for Keras' GRU (gate order z, r, h;
``reset_after`` as Keras' default, or the original formulation). Same arguments and results as
:mod:`jenacast.rnn.ops.triton.gru`'s kernels; paired directions as in the LSTM's.
"""

from __future__ import annotations

import triton
import triton.language as tl

from jenacast.rnn.ops.protocol import GruBackward, GruInputs, GruOutputs
from jenacast.rnn.ops.triton.common import (
    GruStepGrads,
    KernelMask,
    SequenceGrad,
    StateGrad,
    block_h,
    expand_mask,
    gate_columns,
    gate_rows,
    gate_rows_matrix,
    lengths_args,
    live_at,
    pair_offsets,
    sequence_grad_args,
    sequence_grad_step,
    state_grad_args,
    step_input,
    tanh,
)

GATES = 3


@triton.jit
def _inputs(row, s, sxt, sxg, T, H, REVERSE: tl.constexpr, flip, BH: tl.constexpr):
    return (
        step_input(row, s, 0, sxt, sxg, T, H, REVERSE, flip, BH),
        step_input(row, s, 1, sxt, sxg, T, H, REVERSE, flip, BH),
        step_input(row, s, 2, sxt, sxg, T, H, REVERSE, flip, BH),
    )


@triton.jit
def _saved(gates_ptr, cand_ptr, hs_ptr, h0_ptr, b, s, B, H, BH: tl.constexpr):
    """What the backward reads for step ``s``: z, r, the candidate's tanh, the candidate term and the previous
    output (``h0`` at step 0; zeros for ``s < 0``)."""
    j = tl.arange(0, BH)
    on = j < tl.where(s >= 0, H, 0)
    at = s * B + b
    return (
        tl.load(gates_ptr + at * 3 * H + 0 * H + j, mask=on, other=0.0),
        tl.load(gates_ptr + at * 3 * H + 1 * H + j, mask=on, other=0.0),
        tl.load(gates_ptr + at * 3 * H + 2 * H + j, mask=on, other=0.0),
        tl.load(cand_ptr + at * H + j, mask=on, other=0.0),
        tl.load(hs_ptr + (at - B) * H + j, mask=j < tl.where(s >= 1, H, 0), other=0.0)
        + tl.load(h0_ptr + b * H + j, mask=j < tl.where(s == 0, H, 0), other=0.0),
    )


@triton.jit(do_not_specialize=["swr"])
def _gru_fwd_rows(
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
    hT_ptr,
    len_ptr,
    B,
    T,
    H,
    x_second: tl.int64,
    h0_second: tl.int64,
    w_second: tl.int64,
    b_second: tl.int64,
    m_second: tl.int64,
    HAS_BIAS: tl.constexpr,
    HAS_MASK: tl.constexpr,
    REVERSE: tl.constexpr,
    RESET_AFTER: tl.constexpr,
    SAVE: tl.constexpr,
    PAIRED: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    BH: tl.constexpr,
):
    # swr stays unspecialised (see common.gate_columns); without SAVE (evaluation) only the outputs are written
    b = tl.program_id(0)
    j = tl.arange(0, BH)
    on = j < H
    if PAIRED:  # programs (b, 1) run the second direction (see lstm_rows.py)
        flip = tl.program_id(1)
        x_ptr += flip * x_second
        h0_ptr += flip * h0_second
        w_ptr += flip * w_second
        b_ptr += flip * b_second
        m_ptr += flip * m_second
        hs_ptr += flip * T * B * H  # the outputs: [2, T, B, ...] and [2, B, H]
        gates_ptr += flip * T * B * 3 * H
        cand_ptr += flip * T * B * H
        hT_ptr += flip * B * H
    else:
        flip = 0
    w_z = gate_columns(w_ptr, swr, swc, m_ptr, smg, smb, smh, b, 0, H, HAS_MASK, BH)
    w_r = gate_columns(w_ptr, swr, swc, m_ptr, smg, smb, smh, b, 1, H, HAS_MASK, BH)
    # reset_after masks h before U_h (folded in); the original formulation masks h inside r * h, elementwise
    w_h = gate_columns(w_ptr, swr, swc, m_ptr, smg, smb, smh, b, 2, H, HAS_MASK and RESET_AFTER, BH)
    if HAS_MASK and not RESET_AFTER:
        m_h = tl.load(m_ptr + 2 * smg + b * smb + j * smh, mask=on, other=0.0)
    if HAS_BIAS:
        b_z = tl.load(b_ptr + 0 * H + j, mask=on, other=0.0)
        b_r = tl.load(b_ptr + 1 * H + j, mask=on, other=0.0)
        b_h = tl.load(b_ptr + 2 * H + j, mask=on, other=0.0)
    h = tl.load(h0_ptr + b * H + j, mask=on, other=0.0)
    if HAS_LENGTHS:
        length = tl.load(len_ptr + b)
    row = x_ptr + b * sxb
    # the inputs load two steps ahead of their use (see lstm_rows.py)
    x_z, x_r, x_h = _inputs(row, 0, sxt, sxg, T, H, REVERSE, flip, BH)
    y_z, y_r, y_h = _inputs(row, 1, sxt, sxg, T, H, REVERSE, flip, BH)
    for s in range(T):
        n_z, n_r, n_h = _inputs(row, s + 2, sxt, sxg, T, H, REVERSE, flip, BH)
        h_all = h[None, :]
        pre_z = x_z + tl.sum(h_all * w_z, axis=1)
        pre_r = x_r + tl.sum(h_all * w_r, axis=1)
        if HAS_BIAS:
            pre_z += b_z
            pre_r += b_r
        z = tl.sigmoid(pre_z)
        r = tl.sigmoid(pre_r)
        if RESET_AFTER:
            cand = tl.sum(h_all * w_h, axis=1)
            if HAS_BIAS:
                cand += b_h
            hh = tanh(x_h + r * cand)
        else:
            if HAS_MASK:
                cand = r * (h * m_h)
            else:
                cand = r * h
            hh = tanh(x_h + tl.sum(cand[None, :] * w_h, axis=1))
        if HAS_LENGTHS:  # past its length the sequence keeps its state, saved as this step's (common.live_at)
            h = tl.where(live_at(length, s, T, REVERSE, flip), z * h + (1.0 - z) * hh, h)
        else:
            h = z * h + (1.0 - z) * hh
        at = s * B + b
        if SAVE:
            tl.store(gates_ptr + at * 3 * H + 0 * H + j, z, mask=on)
            tl.store(gates_ptr + at * 3 * H + 1 * H + j, r, mask=on)
            tl.store(gates_ptr + at * 3 * H + 2 * H + j, hh, mask=on)
            tl.store(cand_ptr + at * H + j, cand, mask=on)
        tl.store(hs_ptr + at * H + j, h, mask=on)
        x_z, x_r, x_h = y_z, y_r, y_h
        y_z, y_r, y_h = n_z, n_r, n_h
    tl.store(hT_ptr + b * H + j, h, mask=on)


@triton.jit(do_not_specialize=["swg"])
def _gru_bwd_rows(
    dhs_ptr,
    sdb,
    sdt,
    dhT_ptr,
    sdh,
    dh_units,
    h0_ptr,
    wt_ptr,
    swg,
    swk,
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
    dhs_second: tl.int64,
    dhT_second: tl.int64,
    h0_second: tl.int64,
    wt_second: tl.int64,
    m_second: tl.int64,
    gates_second: tl.int64,
    cand_second: tl.int64,
    hs_second: tl.int64,
    HAS_DSEQ: tl.constexpr,
    HAS_MASK: tl.constexpr,
    RESET_AFTER: tl.constexpr,
    PAIRED: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    REVERSE: tl.constexpr,
    BH: tl.constexpr,
):
    # without HAS_DSEQ (the sequence output unused: a stack's top layer) no sequence gradient is read
    b = tl.program_id(0)
    j = tl.arange(0, BH)
    on = j < H
    if PAIRED:  # programs (b, 1) run the second direction (see lstm_rows.py)
        second = tl.program_id(1)
        dhs_ptr += second * dhs_second
        dhT_ptr += second * dhT_second
        h0_ptr += second * h0_second
        wt_ptr += second * wt_second
        m_ptr += second * m_second
        gates_ptr += second * gates_second
        cand_ptr += second * cand_second
        hs_ptr += second * hs_second
        dx_ptr += second * T * B * 3 * H  # the outputs: [2, T, B, 3H] (d_rec too) and [2, B, H]
        drec_ptr += second * T * B * 3 * H
        dh0_ptr += second * B * H
    else:
        second = 0
    if HAS_LENGTHS:  # REVERSE: the direction, read only to place the steps past a sequence's length
        length = tl.load(len_ptr + b)
    # rows of each gate's matrix, masks folded in where they multiply h_{t-1} before the product
    w_z = gate_rows(wt_ptr, swg, swk, m_ptr, smg, smb, smh, b, 0, H, HAS_MASK, BH)
    w_r = gate_rows(wt_ptr, swg, swk, m_ptr, smg, smb, smh, b, 1, H, HAS_MASK, BH)
    w_h = gate_rows(wt_ptr, swg, swk, m_ptr, smg, smb, smh, b, 2, H, HAS_MASK and RESET_AFTER, BH)
    if HAS_MASK and not RESET_AFTER:
        m_h = tl.load(m_ptr + 2 * smg + b * smb + j * smh, mask=on, other=0.0)
    dh = tl.load(dhT_ptr + b * sdh + j, mask=j < dh_units, other=0.0)  # dh_units 0: the last h unused, zeros
    # the loop runs backwards in time; a step's saved values load two steps ahead of their use
    z, r, hh, cand, h_prev = _saved(gates_ptr, cand_ptr, hs_ptr, h0_ptr, b, T - 1, B, H, BH)
    y_z, y_r, y_hh, y_cand, y_h_prev = _saved(gates_ptr, cand_ptr, hs_ptr, h0_ptr, b, T - 2, B, H, BH)
    if HAS_DSEQ:
        d_in = sequence_grad_step(dhs_ptr, sdb, sdt, b, T - 1, H, BH)
        y_d = sequence_grad_step(dhs_ptr, sdb, sdt, b, T - 2, H, BH)
    for step in range(T):
        s = T - 1 - step
        n_z, n_r, n_hh, n_cand, n_h_prev = _saved(gates_ptr, cand_ptr, hs_ptr, h0_ptr, b, s - 2, B, H, BH)
        if HAS_DSEQ:
            n_d = sequence_grad_step(dhs_ptr, sdb, sdt, b, s - 2, H, BH)
            dh += d_in
            d_in, y_d = y_d, n_d
        if HAS_LENGTHS:  # a step past the length: no gradient of its own (zeros), dh passes through
            live = live_at(length, s, T, REVERSE, second)
            dh_keep = dh
            dh = tl.where(live, dh, 0.0)
        d_z = dh * (h_prev - hh) * z * (1.0 - z)
        d_hh = dh * (1.0 - z) * (1.0 - hh * hh)
        dh_next = dh * z
        x_at = (s * B + b) * 3 * H
        if RESET_AFTER:
            d_r = d_hh * cand * r * (1.0 - r)
            d_cand = d_hh * r
            d_back = tl.sum(d_cand[None, :] * w_h, axis=1)
            tl.store(drec_ptr + x_at + 0 * H + j, d_z, mask=on)
            tl.store(drec_ptr + x_at + 1 * H + j, d_r, mask=on)
            tl.store(drec_ptr + x_at + 2 * H + j, d_cand, mask=on)
        else:
            d_cand = tl.sum(d_hh[None, :] * w_h, axis=1)  # gradient of r * h_h, h_h = h_{t-1} * mask_h
            if HAS_MASK:
                d_back = d_cand * r * m_h
                d_r = d_cand * (h_prev * m_h) * r * (1.0 - r)
            else:
                d_back = d_cand * r
                d_r = d_cand * h_prev * r * (1.0 - r)
        tl.store(dx_ptr + x_at + 0 * H + j, d_z, mask=on)
        tl.store(dx_ptr + x_at + 1 * H + j, d_r, mask=on)
        tl.store(dx_ptr + x_at + 2 * H + j, d_hh, mask=on)
        dh = dh_next + d_back
        dh += tl.sum(d_z[None, :] * w_z, axis=1)
        dh += tl.sum(d_r[None, :] * w_r, axis=1)
        if HAS_LENGTHS:
            dh = tl.where(live, dh, dh_keep)
        z, r, hh, cand, h_prev = y_z, y_r, y_hh, y_cand, y_h_prev
        y_z, y_r, y_hh, y_cand, y_h_prev = n_z, n_r, n_hh, n_cand, n_h_prev
    tl.store(dh0_ptr + b * H + j, dh, mask=on)


def _bias(inputs: GruInputs):
    """The recurrent bias as the kernel reads it (``xproj`` stands in without one: ``HAS_BIAS`` false)."""
    return inputs.b_rec.contiguous() if inputs.b_rec is not None else inputs.xproj


def _forward_pointers(inputs: GruInputs, bias, mask: KernelMask) -> tuple:
    """The tensors a paired forward reaches the second direction's through (the ``*_second`` offsets' order)."""
    return inputs.xproj, inputs.h0, inputs.w_rec, bias, mask.tensor


def launch_forward(
    inputs: GruInputs,
    out: GruOutputs,
    reverse: bool,
    reset_after: bool,
    save: bool,
    second: GruInputs | None = None,
    lengths=None,
):
    """The forward recurrence into ``out``'s tensors. One direction, or two in one launch: ``second`` a direction
    with the opposite time order and the same strides, its outputs at index 1 of ``out``'s tensors. ``lengths``: a
    packed batch's, for one direction (``gru`` runs a pair with lengths one direction at a time)."""
    xproj, w_rec = inputs.xproj, inputs.w_rec
    b, t_len, gh = xproj.shape
    hidden = gh // GATES
    bias, mask = _bias(inputs), expand_mask(inputs.rec_mask, GATES, xproj)
    kernel_lengths = lengths_args(lengths, xproj)
    seconds = None
    if second is not None:
        seconds = _forward_pointers(second, _bias(second), expand_mask(second.rec_mask, GATES, second.xproj))
    offsets = pair_offsets(_forward_pointers(inputs, bias, mask), seconds)
    _gru_fwd_rows[(b, 1 if second is None else 2)](
        xproj,
        xproj.stride(0),
        xproj.stride(1),
        xproj.stride(2),
        inputs.h0,
        w_rec,
        w_rec.stride(0),
        w_rec.stride(1),
        bias,
        mask.tensor,
        mask.stride_g,
        mask.stride_b,
        mask.stride_h,
        out.hs,
        out.gates,
        out.cand,
        out.h_last,
        kernel_lengths.tensor,
        b,
        t_len,
        hidden,
        *offsets,
        HAS_BIAS=inputs.b_rec is not None,
        HAS_MASK=mask.present,
        REVERSE=reverse,
        RESET_AFTER=reset_after,
        SAVE=save,
        PAIRED=second is not None,
        HAS_LENGTHS=kernel_lengths.present,
        BH=block_h(hidden),
        num_warps=1,
    )


def _backward_pointers(args: GruBackward, dhs: SequenceGrad, dhT: StateGrad, w_t, mask: KernelMask) -> tuple:
    """The tensors a paired backward reaches the second direction's through (the ``*_second`` offsets' order);
    ``w_t`` is the direction's :func:`gate_rows_matrix`."""
    return dhs.tensor, dhT.tensor, args.h0, w_t, mask.tensor, args.gates, args.cand, args.hs


def launch_backward(
    args: GruBackward,
    grads: GruStepGrads,
    reset_after: bool,
    second: GruBackward | None = None,
    reverse: bool = False,
    lengths=None,
):
    """The backward recurrence into ``grads``' tensors; ``args.d_hseq`` and ``d_hT`` may be None (that output was
    not used). ``second``: a paired direction's (each gradient None exactly when the first's is, and of the same
    strides), its gradients at index 1 of ``grads``' tensors. ``lengths`` (one direction, ``reverse`` its order):
    as in :func:`launch_forward`."""
    hs = args.hs
    t_len, b, hidden = hs.shape
    w_t = gate_rows_matrix(args.w_rec, None if second is None else second.w_rec)
    mask = expand_mask(args.rec_mask, GATES, hs)
    dhs, dhT = sequence_grad_args(args.d_hseq, hs), state_grad_args(args.d_hT, hs)
    kernel_lengths = lengths_args(lengths, hs)
    seconds = None
    if second is not None:
        seconds = _backward_pointers(
            second,
            sequence_grad_args(second.d_hseq, hs),
            state_grad_args(second.d_hT, hs),
            w_t[1],
            expand_mask(second.rec_mask, GATES, second.hs),
        )
    offsets = pair_offsets(_backward_pointers(args, dhs, dhT, w_t, mask), seconds)  # a pair's w_t[0] starts w_t
    _gru_bwd_rows[(b, 1 if second is None else 2)](
        dhs.tensor,
        dhs.stride_b,
        dhs.stride_t,
        dhT.tensor,
        dhT.stride_b,
        dhT.units,
        args.h0,
        w_t,
        w_t.stride(-2),
        w_t.stride(-1),
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
        *offsets,
        HAS_DSEQ=dhs.present,
        HAS_MASK=mask.present,
        RESET_AFTER=reset_after,
        PAIRED=second is not None,
        HAS_LENGTHS=kernel_lengths.present,
        # the direction matters to the backward only with lengths: without, one compiled kernel serves both
        REVERSE=reverse and kernel_lengths.present,
        BH=block_h(hidden),
        num_warps=1,
    )
