"""LSTM as persistent Triton kernels, one sequence per program: a warp owns a sequence, a thread a unit.

The layout of :mod:`jenacast.rnn.ops.triton.common`'s "rows" kernels: program ``b`` runs sequence ``b``
over all steps in one warp; thread ``j`` holds column ``j`` of each gate's recurrent matrix (the
``H`` weights that produce unit ``j``, with the sequence's recurrent mask already multiplied in) and
computes that unit's four gates, cell and output. A step's products are in-thread sums over the
previous output, broadcast to every thread once per step. The backward mirrors it: thread ``k``
holds row ``k`` of each gate matrix and sums the gradient reaching ``h_{t-1}[k]`` over the four
gates' gradients, broadcast once per step each. Same arguments and results as
:mod:`jenacast.rnn.ops.triton.lstm`'s kernels (saved tensors, gradient layout). A bidirectional
layer's two directions share one launch (``PAIRED``): programs ``(b, 1)`` run the second direction,
whose tensors they reach through element offsets from the first's, its outputs stacked after the first's.
"""

from __future__ import annotations

import triton
import triton.language as tl

from jenacast.rnn.ops.protocol import LstmBackward, LstmInputs, LstmOutputs
from jenacast.rnn.ops.triton.common import (
    KernelMask,
    LstmStepGrads,
    SequenceGrad,
    StateGrad,
    block_h,
    expand_mask,
    gate_columns,
    gate_rows,
    gate_rows_matrix,
    lengths_args,
    live_at,
    lstm_cell_grads,
    pair_offsets,
    sequence_grad_args,
    sequence_grad_step,
    state_grad_args,
    step_input,
    tanh,
)

GATES = 4


@triton.jit
def _inputs(row, s, sxt, sxg, T, H, REVERSE: tl.constexpr, flip, BH: tl.constexpr):
    return (
        step_input(row, s, 0, sxt, sxg, T, H, REVERSE, flip, BH),
        step_input(row, s, 1, sxt, sxg, T, H, REVERSE, flip, BH),
        step_input(row, s, 2, sxt, sxg, T, H, REVERSE, flip, BH),
        step_input(row, s, 3, sxt, sxg, T, H, REVERSE, flip, BH),
    )


@triton.jit(do_not_specialize=["swr"])
def _lstm_fwd_rows(
    x_ptr,
    sxb,
    sxt,
    sxg,
    h0_ptr,
    c0_ptr,
    w_ptr,
    swr,
    swc,
    m_ptr,
    smg,
    smb,
    smh,
    hs_ptr,
    gates_ptr,
    cells_ptr,
    hT_ptr,
    cT_ptr,
    len_ptr,
    B,
    T,
    H,
    x_second: tl.int64,
    h0_second: tl.int64,
    c0_second: tl.int64,
    w_second: tl.int64,
    m_second: tl.int64,
    HAS_MASK: tl.constexpr,
    REVERSE: tl.constexpr,
    SAVE: tl.constexpr,
    PAIRED: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    BH: tl.constexpr,
):
    # swr stays unspecialised (see common.gate_columns); without SAVE (evaluation) only the outputs are written.
    # The *_second offsets are int64 whatever their size: a type chosen by value could change between the warm-up
    # and a CUDA graph's capture (other allocations) and compile a new kernel while capturing.
    b = tl.program_id(0)
    j = tl.arange(0, BH)
    on = j < H
    if PAIRED:  # programs (b, 1) run the second direction: its inputs at the *_second offsets, the opposite order
        flip = tl.program_id(1)
        x_ptr += flip * x_second
        h0_ptr += flip * h0_second
        c0_ptr += flip * c0_second
        w_ptr += flip * w_second
        m_ptr += flip * m_second
        hs_ptr += flip * T * B * H  # the outputs: [2, T, B, ...] and [2, B, H]
        gates_ptr += flip * T * B * 4 * H
        cells_ptr += flip * T * B * H
        hT_ptr += flip * B * H
        cT_ptr += flip * B * H
    else:
        flip = 0
    w_i = gate_columns(w_ptr, swr, swc, m_ptr, smg, smb, smh, b, 0, H, HAS_MASK, BH)
    w_f = gate_columns(w_ptr, swr, swc, m_ptr, smg, smb, smh, b, 1, H, HAS_MASK, BH)
    w_c = gate_columns(w_ptr, swr, swc, m_ptr, smg, smb, smh, b, 2, H, HAS_MASK, BH)
    w_o = gate_columns(w_ptr, swr, swc, m_ptr, smg, smb, smh, b, 3, H, HAS_MASK, BH)
    h = tl.load(h0_ptr + b * H + j, mask=on, other=0.0)
    c = tl.load(c0_ptr + b * H + j, mask=on, other=0.0)
    if HAS_LENGTHS:
        length = tl.load(len_ptr + b)
    row = x_ptr + b * sxb
    # the inputs load two steps ahead of their use (one step is about as long as an L2 hit)
    x_i, x_f, x_c, x_o = _inputs(row, 0, sxt, sxg, T, H, REVERSE, flip, BH)
    y_i, y_f, y_c, y_o = _inputs(row, 1, sxt, sxg, T, H, REVERSE, flip, BH)
    for s in range(T):
        n_i, n_f, n_c, n_o = _inputs(row, s + 2, sxt, sxg, T, H, REVERSE, flip, BH)
        h_all = h[None, :]  # every thread reads the whole previous output
        i = tl.sigmoid(x_i + tl.sum(h_all * w_i, axis=1))
        f = tl.sigmoid(x_f + tl.sum(h_all * w_f, axis=1))
        g = tanh(x_c + tl.sum(h_all * w_c, axis=1))
        o = tl.sigmoid(x_o + tl.sum(h_all * w_o, axis=1))
        if HAS_LENGTHS:  # past its length the sequence keeps its state, saved as this step's (common.live_at)
            live = live_at(length, s, T, REVERSE, flip)
            c = tl.where(live, f * c + i * g, c)
            h = tl.where(live, o * tanh(c), h)
        else:
            c = f * c + i * g
            h = o * tanh(c)
        at = s * B + b
        if SAVE:
            tl.store(gates_ptr + at * 4 * H + 0 * H + j, i, mask=on)
            tl.store(gates_ptr + at * 4 * H + 1 * H + j, f, mask=on)
            tl.store(gates_ptr + at * 4 * H + 2 * H + j, g, mask=on)
            tl.store(gates_ptr + at * 4 * H + 3 * H + j, o, mask=on)
            tl.store(cells_ptr + at * H + j, c, mask=on)
        tl.store(hs_ptr + at * H + j, h, mask=on)
        x_i, x_f, x_c, x_o = y_i, y_f, y_c, y_o
        y_i, y_f, y_c, y_o = n_i, n_f, n_c, n_o
    tl.store(hT_ptr + b * H + j, h, mask=on)
    tl.store(cT_ptr + b * H + j, c, mask=on)


@triton.jit
def _saved(gates_ptr, cells_ptr, c0_ptr, b, s, B, H, BH: tl.constexpr):
    """What the backward reads for step ``s``: the four gates and the previous cell (``c0`` at step 0; zeros for
    ``s < 0``)."""
    j = tl.arange(0, BH)
    on = j < tl.where(s >= 0, H, 0)
    at = (s * B + b) * 4 * H
    return (
        tl.load(gates_ptr + at + 0 * H + j, mask=on, other=0.0),
        tl.load(gates_ptr + at + 1 * H + j, mask=on, other=0.0),
        tl.load(gates_ptr + at + 2 * H + j, mask=on, other=0.0),
        tl.load(gates_ptr + at + 3 * H + j, mask=on, other=0.0),
        tl.load(cells_ptr + ((s - 1) * B + b) * H + j, mask=j < tl.where(s >= 1, H, 0), other=0.0)
        + tl.load(c0_ptr + b * H + j, mask=j < tl.where(s == 0, H, 0), other=0.0),
    )


@triton.jit(do_not_specialize=["swg"])
def _lstm_bwd_rows(
    dhs_ptr,
    sdb,
    sdt,
    dhT_ptr,
    sdh,
    dh_units,
    dcT_ptr,
    sdc,
    dc_units,
    c0_ptr,
    wt_ptr,
    swg,
    swk,
    m_ptr,
    smg,
    smb,
    smh,
    gates_ptr,
    cells_ptr,
    dpre_ptr,
    dh0_ptr,
    dc0_ptr,
    len_ptr,
    B,
    T,
    H,
    dhs_second: tl.int64,
    dhT_second: tl.int64,
    dcT_second: tl.int64,
    c0_second: tl.int64,
    wt_second: tl.int64,
    m_second: tl.int64,
    gates_second: tl.int64,
    cells_second: tl.int64,
    HAS_DSEQ: tl.constexpr,
    HAS_MASK: tl.constexpr,
    PAIRED: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    REVERSE: tl.constexpr,
    BH: tl.constexpr,
):
    # without HAS_DSEQ (the sequence output unused: a stack's top layer) no sequence gradient is read
    b = tl.program_id(0)
    j = tl.arange(0, BH)
    on = j < H
    if PAIRED:  # programs (b, 1) run the second direction (see _lstm_fwd_rows)
        second = tl.program_id(1)
        dhs_ptr += second * dhs_second
        dhT_ptr += second * dhT_second
        dcT_ptr += second * dcT_second
        c0_ptr += second * c0_second
        wt_ptr += second * wt_second
        m_ptr += second * m_second
        gates_ptr += second * gates_second
        cells_ptr += second * cells_second
        dpre_ptr += second * T * B * 4 * H  # the outputs: [2, T, B, 4H] and [2, B, H]
        dh0_ptr += second * B * H
        dc0_ptr += second * B * H
    else:
        second = 0
    if HAS_LENGTHS:  # REVERSE: the direction, read only to place the steps past a sequence's length
        length = tl.load(len_ptr + b)
    # dh_{t-1}[k] = sum_g mask_g[k] sum_j d_g[j] U[k, g*H + j]: thread k holds row k of each gate's matrix
    w_i = gate_rows(wt_ptr, swg, swk, m_ptr, smg, smb, smh, b, 0, H, HAS_MASK, BH)
    w_f = gate_rows(wt_ptr, swg, swk, m_ptr, smg, smb, smh, b, 1, H, HAS_MASK, BH)
    w_c = gate_rows(wt_ptr, swg, swk, m_ptr, smg, smb, smh, b, 2, H, HAS_MASK, BH)
    w_o = gate_rows(wt_ptr, swg, swk, m_ptr, smg, smb, smh, b, 3, H, HAS_MASK, BH)
    # the last states' gradients (dh_units / dc_units 0: not used, zeros)
    dh = tl.load(dhT_ptr + b * sdh + j, mask=j < dh_units, other=0.0)
    dc = tl.load(dcT_ptr + b * sdc + j, mask=j < dc_units, other=0.0)
    # the loop runs backwards in time; a step's saved values load two steps ahead of their use
    c = tl.load(cells_ptr + ((T - 1) * B + b) * H + j, mask=on, other=0.0)
    i, f, g, o, c_prev = _saved(gates_ptr, cells_ptr, c0_ptr, b, T - 1, B, H, BH)
    y_i, y_f, y_g, y_o, y_c_prev = _saved(gates_ptr, cells_ptr, c0_ptr, b, T - 2, B, H, BH)
    if HAS_DSEQ:
        d_in = sequence_grad_step(dhs_ptr, sdb, sdt, b, T - 1, H, BH)
        y_d = sequence_grad_step(dhs_ptr, sdb, sdt, b, T - 2, H, BH)
    for step in range(T):
        s = T - 1 - step
        n_i, n_f, n_g, n_o, n_c_prev = _saved(gates_ptr, cells_ptr, c0_ptr, b, s - 2, B, H, BH)
        if HAS_DSEQ:
            n_d = sequence_grad_step(dhs_ptr, sdb, sdt, b, s - 2, H, BH)
            dh += d_in
            d_in, y_d = y_d, n_d
        if HAS_LENGTHS:  # a step past the length: no gradient of its own (zeros), dh and dc pass through
            live = live_at(length, s, T, REVERSE, second)
            dh_keep, dc_keep = dh, dc
            dh = tl.where(live, dh, 0.0)
            dc = tl.where(live, dc, 0.0)
        d_i, d_f, d_g, d_o, dc = lstm_cell_grads(dh, dc, i, f, g, o, c, c_prev)
        d_at = (s * B + b) * 4 * H
        tl.store(dpre_ptr + d_at + 0 * H + j, d_i, mask=on)
        tl.store(dpre_ptr + d_at + 1 * H + j, d_f, mask=on)
        tl.store(dpre_ptr + d_at + 2 * H + j, d_g, mask=on)
        tl.store(dpre_ptr + d_at + 3 * H + j, d_o, mask=on)
        dh = tl.sum(d_i[None, :] * w_i, axis=1)
        dh += tl.sum(d_f[None, :] * w_f, axis=1)
        dh += tl.sum(d_g[None, :] * w_c, axis=1)
        dh += tl.sum(d_o[None, :] * w_o, axis=1)
        if HAS_LENGTHS:
            dh = tl.where(live, dh, dh_keep)
            dc = tl.where(live, dc, dc_keep)
        c = c_prev
        i, f, g, o, c_prev = y_i, y_f, y_g, y_o, y_c_prev
        y_i, y_f, y_g, y_o, y_c_prev = n_i, n_f, n_g, n_o, n_c_prev
    tl.store(dh0_ptr + b * H + j, dh, mask=on)
    tl.store(dc0_ptr + b * H + j, dc, mask=on)


def _forward_pointers(inputs: LstmInputs, mask: KernelMask) -> tuple:
    """The tensors a paired forward reaches the second direction's through (the ``*_second`` offsets' order)."""
    return inputs.xproj, inputs.h0, inputs.c0, inputs.w_rec, mask.tensor


def launch_forward(
    inputs: LstmInputs,
    out: LstmOutputs,
    reverse: bool,
    save: bool,
    second: LstmInputs | None = None,
    lengths=None,
):
    """The forward recurrence into ``out``'s tensors. One direction, or two in one launch: ``second`` a direction
    with the opposite time order and the same strides, its outputs at index 1 of ``out``'s tensors
    (``[2, T, B, ...]``, ``[2, B, H]``). ``lengths``: a packed batch's, for one direction (``lstm`` runs a pair
    with lengths one direction at a time)."""
    xproj, w_rec = inputs.xproj, inputs.w_rec
    b, t_len, gh = xproj.shape
    hidden = gh // GATES
    mask = expand_mask(inputs.rec_mask, GATES, xproj)
    kernel_lengths = lengths_args(lengths, xproj)
    seconds = None
    if second is not None:
        seconds = _forward_pointers(second, expand_mask(second.rec_mask, GATES, second.xproj))
    offsets = pair_offsets(_forward_pointers(inputs, mask), seconds)
    _lstm_fwd_rows[(b, 1 if second is None else 2)](
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
        out.h_last,
        out.c_last,
        kernel_lengths.tensor,
        b,
        t_len,
        hidden,
        *offsets,
        HAS_MASK=mask.present,
        REVERSE=reverse,
        SAVE=save,
        PAIRED=second is not None,
        HAS_LENGTHS=kernel_lengths.present,
        BH=block_h(hidden),
        num_warps=1,
    )


def _output_grads(args: LstmBackward, like) -> tuple[SequenceGrad, StateGrad, StateGrad]:
    """The gradients of the outputs (sequence, last h, last c) as the kernel reads them (``like`` for absent ones)."""
    return sequence_grad_args(args.d_hseq, like), state_grad_args(args.d_hT, like), state_grad_args(args.d_cT, like)


def _backward_pointers(args: LstmBackward, output_grads, w_t, mask: KernelMask) -> tuple:
    """The tensors a paired backward reaches the second direction's through (the ``*_second`` offsets' order);
    ``w_t`` is the direction's :func:`gate_rows_matrix`."""
    dhs, dhT, dcT = output_grads
    return dhs.tensor, dhT.tensor, dcT.tensor, args.c0, w_t, mask.tensor, args.gates, args.cells


def launch_backward(
    args: LstmBackward,
    grads: LstmStepGrads,
    second: LstmBackward | None = None,
    reverse: bool = False,
    lengths=None,
):
    """The backward recurrence into ``grads``' tensors; ``args.d_hseq``, ``d_hT``, ``d_cT`` may be None (that
    output was not used). ``second``: a paired direction's (see :func:`launch_forward`; each gradient None
    exactly when the first's is, and of the same strides), its gradients at index 1 of ``grads``' tensors.
    ``lengths`` (one direction, ``reverse`` its order): as in :func:`launch_forward`."""
    gates = args.gates
    t_len, b, gh = gates.shape
    hidden = gh // GATES
    w_t = gate_rows_matrix(args.w_rec, None if second is None else second.w_rec)
    mask = expand_mask(args.rec_mask, GATES, gates)
    dhs, dhT, dcT = output_grads = _output_grads(args, gates)
    kernel_lengths = lengths_args(lengths, gates)
    seconds = None
    if second is not None:
        second_mask = expand_mask(second.rec_mask, GATES, second.gates)
        seconds = _backward_pointers(second, _output_grads(second, gates), w_t[1], second_mask)
    offsets = pair_offsets(_backward_pointers(args, output_grads, w_t, mask), seconds)  # a pair's w_t[0] starts w_t
    _lstm_bwd_rows[(b, 1 if second is None else 2)](
        dhs.tensor,
        dhs.stride_b,
        dhs.stride_t,
        dhT.tensor,
        dhT.stride_b,
        dhT.units,
        dcT.tensor,
        dcT.stride_b,
        dcT.units,
        args.c0,
        w_t,
        w_t.stride(-2),
        w_t.stride(-1),
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
        *offsets,
        HAS_DSEQ=dhs.present,
        HAS_MASK=mask.present,
        PAIRED=second is not None,
        HAS_LENGTHS=kernel_lengths.present,
        # the direction matters to the backward only with lengths: without, one compiled kernel serves both
        REVERSE=reverse and kernel_lengths.present,
        BH=block_h(hidden),
        num_warps=1,
    )
