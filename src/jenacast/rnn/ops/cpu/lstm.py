"""LSTM as fused Numba kernels for the CPU: the whole layer in one compiled loop per direction.

Glossary: B batch, T steps, F inputs, H units, G = 4 gates (i, f, c, o), R sequences per block
(``common.block_rows``); blocks are spread over the cores (``numba.prange``). Each step masks
the input and the state once per gate and multiplies them with ``[W; U]`` through
``simd.accumulate`` (accumulators in registers); the cells' arithmetic is ``vector`` code.
The kernels run in two modes: on the layer's input, projecting it in the loop (``run_forward`` /
``run_backward`` with a ``projection``, what ``cpu.layer`` uses), or on a projection made outside,
time-major ``[T, B, G*H]`` (:class:`CpuLSTMKernels`, the ``fused.lstm_fused`` protocol the other
tiers share). Float32 only.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
import torch

from jenacast.rnn.ops.cpu.common import (
    PREFETCH_STEPS,
    BackwardArrays,
    Projection,
    add_into,
    announce_compile,
    as_array,
    block_rows,
    check_input,
    copy_into,
    dw_batch_steps,
    fill,
    input_grad_rows,
    jit,
    mask_array,
    per_gate_transposed,
    projection_arrays,
    weight_grads,
)
from jenacast.rnn.ops.cpu.lengths import hold, lengths_array, put_back, restore, zero_rows
from jenacast.rnn.ops.cpu.masks import mask_rows, mask_rows_1, mask_rows_4, one_group, unmask_rows_4
from jenacast.rnn.ops.cpu.simd import accumulate, offset_tables, prefetch, store_fence
from jenacast.rnn.ops.cpu.vector import elementwise, sigmoid, tanh
from jenacast.rnn.ops.fused import lstm_fused, zeros_if_none
from jenacast.rnn.ops.protocol import LstmBackward, LstmGrads, LstmOutputs


def _forward_math(v):
    i, f, g, o = sigmoid(v.pre_i), sigmoid(v.pre_f), tanh(v.pre_g), sigmoid(v.pre_o)
    c = f * v.c + i * g
    return {"i": i, "f": f, "g": g, "o": o, "c": c, "h": o * tanh(c)}


# ((pre, c, h, gates, cells, h_out), H): a block's step ([rows, ...] each); c and h updated in place
_cell_forward = elementwise(
    ("pre", "c", "h", "gates", "cells", "h_out"),
    {"pre_i": ("pre", 0), "pre_f": ("pre", 1), "pre_g": ("pre", 2), "pre_o": ("pre", 3), "c": ("c", 0)},
    [
        ("i", "gates", 0),
        ("f", "gates", 1),
        ("g", "gates", 2),
        ("o", "gates", 3),
        ("c", "c", 0),
        ("c", "cells", 0),
        ("h", "h", 0),
        ("h", "h_out", 0),
    ],
    _forward_math,
    streamed=("gates", "cells"),
)


def _backward_math(v):
    tanh_c = tanh(v.c)
    dc = v.dc + v.dh * v.o * (1.0 - tanh_c * tanh_c)
    return {
        "d_i": dc * v.g * v.i * (1.0 - v.i),
        "d_f": dc * v.c_prev * v.f * (1.0 - v.f),
        "d_g": dc * v.i * (1.0 - v.g * v.g),
        "d_o": v.dh * tanh_c * v.o * (1.0 - v.o),
        "dc": dc * v.f,
    }


# ((gates, cells, c_prev, dh, dc, d_pre, d_kept), H): a block's step back; dc updated in place, the
# pre-activation gradient written twice (the projection's gradient, the rows kept for dU)
_cell_backward = elementwise(
    ("gates", "cells", "c_prev", "dh", "dc", "d_pre", "d_kept"),
    {
        "i": ("gates", 0),
        "f": ("gates", 1),
        "g": ("gates", 2),
        "o": ("gates", 3),
        "c": ("cells", 0),
        "c_prev": ("c_prev", 0),
        "dh": ("dh", 0),
        "dc": ("dc", 0),
    },
    [
        ("d_i", "d_pre", 0),
        ("d_f", "d_pre", 1),
        ("d_g", "d_pre", 2),
        ("d_o", "d_pre", 3),
        ("d_i", "d_kept", 0),
        ("d_f", "d_kept", 1),
        ("d_g", "d_kept", 2),
        ("d_o", "d_kept", 3),
        ("dc", "dc", 0),
    ],
    _backward_math,
)


@jit
def _lstm_fwd(
    x,
    has_proj,
    bias,
    mx,
    has_in_mask,
    h0,
    c0,
    w,
    m,
    has_mask,
    reverse,
    save,
    hs,
    h_last,
    c_last,
    gates,
    cells,
    rows_per_block,
    dw_steps,
    share,
    lengths,
    has_lengths,
):
    # share > 1: x is a projection made outside whose every row serves `share` consecutive sequences (Monte
    # Carlo samples of one window: projected once, not once per sample)
    t_len, b_total, x_rows = x.shape[0], h0.shape[0], x.shape[1]
    gh = w.shape[1]
    hidden = gh // 4
    lead = x.shape[2] if has_proj else 0  # with the projection, w is [W; U]: the input's rows come first
    width = lead + hidden
    w_flat, x_flat = w.reshape(-1), x.reshape(-1)
    # no mask or shared ones (a layer without dropout, evaluation): gate 0's coefficients serve all four
    shared = one_group(m, has_mask) and (not has_proj or one_group(mx, has_in_mask))
    for block in numba.prange((b_total + rows_per_block - 1) // rows_per_block):
        b0 = block * rows_per_block
        rows = min(rows_per_block, b_total - b0)
        h = np.empty((rows_per_block, hidden), np.float32)
        c = np.empty((rows_per_block, hidden), np.float32)
        pre = np.empty((rows_per_block, gh), np.float32)
        h_keep, c_keep = np.empty((rows_per_block, hidden), np.float32), np.empty((rows_per_block, hidden), np.float32)
        # each gate's coefficients: [x * input mask_g, h * mask_g], one product for both (a separate one for
        # the 14 inputs ran at a much lower rate: too short a loop per call)
        coef = np.empty((rows_per_block, 4, width), np.float32)
        xm, hm = coef[:, :, :lead], coef[:, :, lead:]
        pre_flat, coef_flat = pre.reshape(-1), coef.reshape(-1)
        tables = offset_tables()
        for r in range(rows):
            copy_into(h[r], h0[b0 + r])
            copy_into(c[r], c0[b0 + r])
        for s in range(t_len):
            t = t_len - 1 - s if reverse else s
            if shared:
                if has_proj:
                    mask_rows_1(xm[:rows], x[t, b0 : b0 + rows], mx, b0, has_in_mask)
                mask_rows_1(hm[:rows], h[:rows], m, b0, has_mask)
            else:
                if has_proj:
                    mask_rows_4(xm[:rows], x[t, b0 : b0 + rows], mx, b0, has_in_mask)
                mask_rows_4(hm[:rows], h[:rows], m, b0, has_mask)
            # pre[r, g*H + j] = start[r, g*H + j] + sum_k coef[r, g, k] * w[k, g*H + j], starting from the bias (with
            # the projection) or from the projected input's rows; one call site (each one more to compile)
            if has_proj:
                start, start_at, start_row = bias, 0, 0
            elif share > 1:
                for r in range(rows):
                    copy_into(pre[r], x[t, (b0 + r) // share])
                start, start_at, start_row = pre_flat, 0, gh  # the accumulators start from pre itself
            else:
                start, start_at, start_row = x_flat, (t * x_rows + b0) * gh, gh
            accumulate(
                pre_flat,
                gh,
                rows,
                gh,
                coef_flat,
                0,
                4 * width,
                0 if shared else width,
                1,
                hidden,
                w_flat,
                gh,
                width,
                tables,
                start,
                start_at,
                start_row,
            )
            # the gates and cells go straight to the saved tensors (without save, a scratch row)
            saved = s if save else 0
            if has_lengths:
                hold(h_keep, h, lengths, b0, rows, t)
                hold(c_keep, c, lengths, b0, rows, t)
            _cell_forward(
                (
                    pre[:rows],
                    c[:rows],
                    h[:rows],
                    gates[saved, b0 : b0 + rows],
                    cells[saved, b0 : b0 + rows],
                    hs[s, b0 : b0 + rows],
                ),
                hidden,
                save,
            )
            if has_lengths:
                put_back(h, hs[s, b0 : b0 + rows], h_keep, lengths, b0, rows, t)
                put_back(c, cells[saved, b0 : b0 + rows], c_keep, lengths, b0, rows, t)
        for r in range(rows):
            copy_into(h_last[b0 + r], h[r])
            copy_into(c_last[b0 + r], c[r])
        store_fence()  # the saved tensors' streamed rows


@jit
def _lstm_bwd(
    d_hseq,
    has_dseq,
    d_hT,
    d_cT,
    h0,
    c0,
    w_gt,
    m,
    has_mask,
    reverse,
    gates,
    cells,
    hs,
    x,
    has_proj,
    mx,
    has_in_mask,
    write_dx,
    d_x,
    input_in_kernel,
    w_in_t,
    d_input,
    dh0,
    dc0,
    dw_blocks,
    dw_in_blocks,
    db_blocks,
    rows_per_block,
    dw_steps,
    lengths,
    has_lengths,
):
    t_len, b_total, gh = gates.shape
    hidden = gh // 4
    w_flat, w_in_t_flat = w_gt.reshape(-1), w_in_t.reshape(-1)
    features, in_groups = x.shape[2], (mx.shape[0] if has_in_mask else 1)
    rec_groups = 1 if one_group(m, has_mask) else 4  # dU's coefficients: gate 0's serve all without per-gate masks
    for block in numba.prange((b_total + rows_per_block - 1) // rows_per_block):
        b0 = block * rows_per_block
        rows = min(rows_per_block, b_total - b0)
        dh = np.empty((rows_per_block, hidden), np.float32)
        dc = np.empty((rows_per_block, hidden), np.float32)
        dh_keep, dc_keep = (
            np.empty((rows_per_block, hidden), np.float32),
            np.empty((rows_per_block, hidden), np.float32),
        )
        back = np.empty((rows_per_block, gh), np.float32)  # each gate's share of dh before its mask: d_g @ U_g^T
        # dU's products wait for dw_steps steps: one call then does dw_steps * rows terms per accumulator
        hm = np.zeros((dw_steps * rows_per_block, 4, hidden), np.float32)  # h_{t-1} * mask_g, per step and row
        d_steps = np.zeros((dw_steps * rows_per_block, gh), np.float32)
        xm = np.zeros((dw_steps * rows_per_block, in_groups, features), np.float32)  # with the projection: x * mask_g
        back_in = np.empty((rows_per_block, 4 * features), np.float32)  # input_in_kernel: each gate's share of dx
        back_flat, hm_flat, d_steps_flat, xm_flat = (
            back.reshape(-1),
            hm.reshape(-1),
            d_steps.reshape(-1),
            xm.reshape(-1),
        )
        dw, dw_in, db = dw_blocks[block], dw_in_blocks[block], db_blocks[block]
        fill(dw.reshape(-1), np.float32(0.0))
        fill(dw_in.reshape(-1), np.float32(0.0))
        fill(db, np.float32(0.0))
        tables = offset_tables()
        zeros = np.zeros(max(gh, 4 * features), np.float32)  # where the products' accumulators start
        one = np.ones(1, np.float32)  # the bias sum's coefficient
        for r in range(rows):
            copy_into(dh[r], d_hT[b0 + r])
            copy_into(dc[r], d_cT[b0 + r])
        for step in range(t_len):
            s = t_len - 1 - step
            t = t_len - 1 - s if reverse else s
            slot = step % dw_steps
            ahead = s - PREFETCH_STEPS  # that step's saved rows, while this step computes (read from memory)
            if ahead >= 0:
                prefetch(gates, (ahead * b_total + b0) * gh, rows * gh)
                prefetch(cells, (ahead * b_total + b0) * hidden, rows * hidden)
                prefetch(cells, ((ahead - 1 if ahead > 0 else 0) * b_total + b0) * hidden, rows * hidden)
                prefetch(hs, ((ahead - 1 if ahead > 0 else 0) * b_total + b0) * hidden, rows * hidden)
                if has_dseq:
                    prefetch(d_hseq, (ahead * b_total + b0) * hidden, rows * hidden)
                if has_proj:
                    prefetch(x, ((t_len - 1 - ahead if reverse else ahead) * b_total + b0) * features, rows * features)
            if has_dseq:
                for r in range(rows):
                    add_into(dh[r], d_hseq[s, b0 + r])
            c_prev = cells[s - 1, b0 : b0 + rows] if s > 0 else c0[b0 : b0 + rows]
            kept = d_steps[
                slot * rows : (slot + 1) * rows
            ]  # without write_dx the projection's gradient goes nowhere else
            if has_lengths:
                hold(dh_keep, dh, lengths, b0, rows, t)
                hold(dc_keep, dc, lengths, b0, rows, t)
            _cell_backward(
                (
                    gates[s, b0 : b0 + rows],
                    cells[s, b0 : b0 + rows],
                    c_prev,
                    dh[:rows],
                    dc[:rows],
                    d_x[t, b0 : b0 + rows] if write_dx else kept,
                    kept,
                ),
                hidden,
            )
            if has_lengths:  # a step past the sequence's length: no gradient of its own, dc passes through
                zero_rows(kept, lengths, b0, rows, t)
                if write_dx:
                    zero_rows(d_x[t, b0 : b0 + rows], lengths, b0, rows, t)
                restore(dc, dc_keep, lengths, b0, rows, t)
            h_prev = hs[s - 1, b0 : b0 + rows] if s > 0 else h0[b0 : b0 + rows]
            if rec_groups == 1:
                mask_rows_1(hm[slot * rows : (slot + 1) * rows], h_prev, m, b0, has_mask)
            else:
                mask_rows_4(hm[slot * rows : (slot + 1) * rows], h_prev, m, b0, has_mask)
            if has_proj:
                mask_rows(xm[slot * rows : (slot + 1) * rows], x[t, b0 : b0 + rows], mx, b0, has_in_mask)
            d_flat = d_steps[slot * rows : (slot + 1) * rows].reshape(-1)  # this step's d of the block's rows
            # the input side's d is the recurrent side's; the LSTM's one bias is the input side's (no recurrent bias)
            if slot == dw_steps - 1 or step == t_len - 1:
                weight_grads(
                    dw,
                    dw_in,
                    has_proj,
                    hm_flat,
                    rec_groups,
                    xm_flat,
                    in_groups,
                    d_steps_flat,
                    d_steps_flat,
                    (slot + 1) * rows,
                    tables,
                    one,
                    db,
                    False,
                    db,
                )
            if input_in_kernel:
                input_grad_rows(
                    d_input, t, b0, rows, back_in, d_flat, 0, hidden, w_in_t_flat, mx, has_in_mask, tables, zeros
                )
            # back[r, g*H + k] = sum_n d[r, g*H + n] U[k, g*H + n]; dh = sum_g mask_g * back_g
            accumulate(
                back_flat, gh, rows, gh, d_flat, 0, gh, hidden, 1, hidden, w_flat, gh, hidden, tables, zeros, 0, 0
            )
            unmask_rows_4(dh[:rows], back[:rows], m, b0, has_mask)
            if has_lengths:  # and dh too
                restore(dh, dh_keep, lengths, b0, rows, t)
        for r in range(rows):
            copy_into(dh0[b0 + r], dh[r])
            copy_into(dc0[b0 + r], dc[r])


def run_forward(
    x_steps, projection: Projection | None, h0, c0, w_rec, rec_mask, reverse, save, share: int = 1, lengths=None
) -> LstmOutputs:
    """The forward kernel on time-major ``x_steps``: the projection itself, or with a ``projection`` the layer's
    input, projected inside the loop. ``share``: without a projection, how many consecutive sequences (of
    ``h0``'s batch) each row of ``x_steps`` serves. ``lengths``: a packed batch's (``cpu.lengths``; the outputs at
    the steps past a sequence's length hold its state, for the backward: ``cpu.layer`` zeroes them)."""
    announce_compile("LSTM", _lstm_fwd, *([_lstm_bwd] if save else []))  # evaluation never compiles the backward
    t_len, b = x_steps.shape[0], h0.shape[0]
    hidden = w_rec.shape[0]
    gh = 4 * hidden
    hs = torch.empty(t_len, b, hidden)
    h_last, c_last = torch.empty(b, hidden), torch.empty(b, hidden)
    gates = torch.empty(t_len if save else 1, b, gh)  # without save, one step's scratch
    cells = torch.empty(t_len if save else 1, b, hidden)
    arrays = projection_arrays(projection)
    mask, has_mask = mask_array(rec_mask)
    rows = block_rows(b)
    w = w_rec if projection is None else torch.cat([projection.kernel.detach(), w_rec.detach()])  # [W; U]
    _lstm_fwd(
        as_array(x_steps),
        projection is not None,
        arrays.bias,
        arrays.in_mask,
        arrays.has_in_mask,
        as_array(h0),
        as_array(c0),
        as_array(w),
        mask,
        has_mask,
        reverse,
        save,
        hs.numpy(),
        h_last.numpy(),
        c_last.numpy(),
        gates.numpy(),
        cells.numpy(),
        rows,
        dw_batch_steps(rows),
        share,
        *lengths_array(lengths),
    )
    return LstmOutputs(hs, h_last, c_last, (gates if save else None), (cells if save else None))


class LstmLayerGrads(NamedTuple):
    """:func:`run_backward`'s results: ``d_x`` as :class:`BackwardArrays` says, the initial states', ``dU``, and with
    a projection the input kernel's and bias's (else None)."""

    d_x: torch.Tensor | None
    dh0: torch.Tensor
    dc0: torch.Tensor
    d_w: torch.Tensor
    d_kernel: torch.Tensor | None
    d_bias: torch.Tensor | None


def run_backward(
    args: LstmBackward, reverse, x_steps, projection: Projection | None, dx: str, lengths=None
) -> LstmLayerGrads:
    """The backward kernel (``args.d_hT`` and ``d_cT`` present; ``dx`` as in :class:`BackwardArrays`). The LSTM's
    one bias is the projection's (``db_in_blocks``)."""
    gates = args.gates
    t_len, b, gh = gates.shape
    hidden = gh // 4
    a = BackwardArrays(args.d_hseq, args.rec_mask, x_steps, projection, dx, t_len, b, hidden, 4)
    dh0, dc0 = torch.empty(b, hidden), torch.empty(b, hidden)
    _lstm_bwd(
        a.d_seq,
        a.has_dseq,
        as_array(args.d_hT),
        as_array(args.d_cT),
        as_array(args.h0),
        as_array(args.c0),
        per_gate_transposed(args.w_rec, 4),
        a.mask,
        a.has_mask,
        reverse,
        as_array(gates),
        as_array(args.cells),
        as_array(args.hs),
        a.x,
        a.has_proj,
        a.in_mask,
        a.has_in_mask,
        a.write_dx,
        a.d_pre.numpy(),
        a.input_in_kernel,
        a.w_in_t,
        a.d_input.numpy(),
        dh0.numpy(),
        dc0.numpy(),
        a.dw_blocks.numpy(),
        a.dw_in_blocks.numpy(),
        a.db_in_blocks.numpy(),
        a.rows,
        a.dw_steps,
        *lengths_array(lengths),
    )
    weights = a.summed(False)
    return LstmLayerGrads(a.d_x, dh0, dc0, weights.d_w, weights.d_kernel, weights.d_in_bias)


class CpuLSTMKernels:
    """The two recurrences for ``fused.lstm_fused`` (on a projection made outside); a
    :class:`~jenacast.rnn.ops.protocol.LstmKernels`."""

    @staticmethod
    def forward(xproj, h0, c0, w_rec, rec_mask, reverse, save, lengths=None) -> LstmOutputs:
        check_input(xproj)
        return run_forward(xproj.transpose(0, 1), None, h0, c0, w_rec, rec_mask, reverse, save, lengths=lengths)

    @staticmethod
    def backward(d_hseq, d_hT, d_cT, h0, c0, w_rec, rec_mask, gates, cells, hs, reverse, lengths=None) -> LstmGrads:
        d_hT, d_cT = zeros_if_none(d_hT, h0), zeros_if_none(d_cT, c0)
        args = LstmBackward(d_hseq, d_hT, d_cT, h0, c0, w_rec, rec_mask, gates, cells, hs)
        grads = run_backward(args, reverse, torch.empty(1, 1, 1), None, "pre", lengths)
        return LstmGrads(grads.d_x.transpose(0, 1), grads.dh0, grads.dc0, grads.d_w)


def lstm_cpu(xproj, h0, c0, w_rec, rec_mask=None, reverse=False):
    return lstm_fused(CpuLSTMKernels, xproj, h0, c0, w_rec, rec_mask, reverse)
