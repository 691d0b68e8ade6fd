"""GRU as fused Numba kernels for the CPU: the whole layer in one compiled loop per direction.

Glossary: B batch, T steps, F inputs, H units, G = 3 gates (z, r, h), R sequences per block
(``common.block_rows``), spread over the cores. As in the LSTM kernels, each step masks the state
per gate and multiplies it with the shared recurrent kernel through ``simd.accumulate``, and runs either
on the layer's input (projected in the loop into its own buffer: the candidate keeps its input
and recurrent terms apart) or on a projection made outside (:class:`CpuGRUKernels`). The forward
saves the gates and the candidate's recurrent term (``h_h U_h + b'_h`` with ``reset_after``, else
``r * h_h``, the coefficient of ``U_h``), as the other fused tier does. Float32 only.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
import torch

from jenacast.rnn.ops.cpu.common import (
    ONE,
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
from jenacast.rnn.ops.cpu.masks import (
    mask_rows,
    mask_rows_1,
    mask_rows_3,
    one_group,
    unmask_rows_2_plus,
    unmask_rows_3_plus,
)
from jenacast.rnn.ops.cpu.simd import accumulate, offset_tables, prefetch, store_fence
from jenacast.rnn.ops.cpu.vector import elementwise, sigmoid, tanh
from jenacast.rnn.ops.fused import gru_fused, zeros_if_none
from jenacast.rnn.ops.protocol import GruBackward, GruGrads, GruOutputs


def _update_reset_math(v):
    return {"z": sigmoid(v.x_z + v.rec_z), "r": sigmoid(v.x_r + v.rec_r)}


# ((x, rec, z_r, gates), H): the update and reset gates of a block's step (each a [rows, ...] block)
_update_reset = elementwise(
    ("x", "rec", "z_r", "gates"),
    {"x_z": ("x", 0), "x_r": ("x", 1), "rec_z": ("rec", 0), "rec_r": ("rec", 1)},
    [("z", "z_r", 0), ("r", "z_r", 1), ("z", "gates", 0), ("r", "gates", 1)],
    _update_reset_math,
    streamed=("gates",),
)


def _candidate(reset_after: bool):
    """((x, rec, z_r, h, gates, cand, h_out, r_h), H): a block's candidates and new states (h in place); ``cand``
    saves the candidate's recurrent term (reset_after) or ``r * h_h`` (``r_h``, the coefficient of U_h)."""

    def math(v):
        hh = tanh(v.x_h + (v.r * v.rec_h if reset_after else v.rec_h))
        return {"hh": hh, "h": v.z * v.h + (1.0 - v.z) * hh, "cand": v.rec_h if reset_after else v.r_h}

    loads = {"x_h": ("x", 2), "rec_h": ("rec", 2), "z": ("z_r", 0), "r": ("z_r", 1), "h": ("h", 0), "r_h": ("r_h", 0)}
    return elementwise(
        ("x", "rec", "z_r", "h", "gates", "cand", "h_out", "r_h"),
        loads,
        [("hh", "gates", 2), ("h", "h", 0), ("h", "h_out", 0), ("cand", "cand", 0)],
        math,
        streamed=("gates", "cand"),
    )


_candidate_reset_after, _candidate_reset_before = _candidate(True), _candidate(False)


def _step_back(reset_after: bool):
    """((gates, h_prev, dh, cand, d_pre, d_kept, direct), H): a block's step back through the gates:
    ``direct`` = the part of dh_{t-1} that skips U (z * dh); with reset_before the reset gate's gradient
    waits for ``d_hh @ U_h^T``."""

    def math(v):
        d_z = v.dh * (v.h_prev - v.hh) * v.z * (1.0 - v.z)
        d_hh = v.dh * (1.0 - v.z) * (1.0 - v.hh * v.hh)
        out = {"d_z": d_z, "d_hh": d_hh, "direct": v.dh * v.z, "d_rec_h": d_hh}
        if reset_after:
            out.update(d_r=d_hh * v.cand * v.r * (1.0 - v.r), d_rec_h=d_hh * v.r)
        return out

    loads = {
        "z": ("gates", 0),
        "r": ("gates", 1),
        "hh": ("gates", 2),
        "h_prev": ("h_prev", 0),
        "dh": ("dh", 0),
        "cand": ("cand", 0),
    }
    stores = [
        ("d_z", "d_pre", 0),
        ("d_hh", "d_pre", 2),
        ("d_z", "d_kept", 0),
        ("d_rec_h", "d_kept", 2),
        ("direct", "direct", 0),
    ]
    if reset_after:
        stores += [("d_r", "d_pre", 1), ("d_r", "d_kept", 1)]
    return elementwise(("gates", "h_prev", "dh", "cand", "d_pre", "d_kept", "direct"), loads, stores, math)


_step_back_reset_after, _step_back_reset_before = _step_back(True), _step_back(False)


@jit
def _gru_fwd(
    x,
    has_proj,
    w_in,
    b_in,
    mx,
    has_in_mask,
    h0,
    w,
    bias,
    m,
    has_mask,
    reverse,
    reset_after,
    save,
    hs,
    h_last,
    gates,
    cand,
    rows_per_block,
    dw_steps,
    lengths,
    has_lengths,
):
    t_len, b_total = x.shape[0], x.shape[1]
    gh = w.shape[1]
    hidden = gh // 3
    w_flat, w_in_flat = w.reshape(-1), w_in.reshape(-1)
    features, in_groups = x.shape[2], (mx.shape[0] if has_in_mask else 1)
    # reset_before multiplies h_h by r before U_h: that product waits until r is known
    first_cols = gh if reset_after else 2 * hidden
    # no mask or a shared one (a layer without dropout, evaluation): gate 0's coefficients serve the three (not
    # with reset_before, whose U_h coefficient is r * h)
    shared = reset_after and one_group(m, has_mask)
    for block in numba.prange((b_total + rows_per_block - 1) // rows_per_block):
        b0 = block * rows_per_block
        rows = min(rows_per_block, b_total - b0)
        h = np.empty((rows_per_block, hidden), np.float32)
        rec = np.empty((rows_per_block, gh), np.float32)
        hm = np.empty((rows_per_block, 3, hidden), np.float32)
        z_r = np.empty((rows_per_block, 2 * hidden), np.float32)
        h_keep = np.empty((rows_per_block, hidden), np.float32)
        # with the projection: b_in + (x * input mask_g) W for the next dw_steps steps, all in one product
        # (the input does not wait for h; one product per step ran its short loop at a much lower rate)
        xp = np.empty((dw_steps * rows_per_block, gh), np.float32)
        xm = np.empty((dw_steps * rows_per_block, in_groups, features), np.float32)
        rec_flat, hm_flat, xp_flat, xm_flat = rec.reshape(-1), hm.reshape(-1), xp.reshape(-1), xm.reshape(-1)
        tables = offset_tables()
        for r in range(rows):
            copy_into(h[r], h0[b0 + r])
        for s in range(t_len):
            t = t_len - 1 - s if reverse else s
            slot = s % dw_steps
            if has_proj and slot == 0:
                ahead = min(dw_steps, t_len - s)
                for k in range(ahead):
                    t_k = t_len - 1 - (s + k) if reverse else s + k
                    mask_rows(xm[k * rows : (k + 1) * rows], x[t_k, b0 : b0 + rows], mx, b0, has_in_mask)
                accumulate(
                    xp_flat,
                    gh,
                    ahead * rows,
                    gh,
                    xm_flat,
                    0,
                    in_groups * features,
                    features if in_groups > 1 else 0,
                    1,
                    hidden,
                    w_in_flat,
                    gh,
                    features,
                    tables,
                    b_in,
                    0,
                    0,
                )
            if has_proj and s + dw_steps < t_len:  # the input rows the next batch of steps will copy
                prefetch(
                    x,
                    ((t_len - 1 - s - dw_steps if reverse else s + dw_steps) * b_total + b0) * features,
                    rows * features,
                )
            if shared:
                mask_rows_1(hm[:rows], h[:rows], m, b0, has_mask)
            else:
                mask_rows_3(hm[:rows], h[:rows], m, b0, has_mask)
            # each row's recurrent terms start from the bias (zeros without one)
            accumulate(
                rec_flat,
                gh,
                rows,
                first_cols,
                hm_flat,
                0,
                3 * hidden,
                0 if shared else hidden,
                1,
                hidden,
                w_flat,
                gh,
                hidden,
                tables,
                bias,
                0,
                0,
            )
            # the gates go straight to the saved tensors (without save, a scratch row), as in the LSTM
            x_rows = xp[slot * rows : (slot + 1) * rows] if has_proj else x[t, b0 : b0 + rows]
            saved = s if save else 0
            _update_reset((x_rows, rec[:rows], z_r[:rows], gates[saved, b0 : b0 + rows]), hidden, save)
            if not reset_after:
                for r in range(rows):
                    hmr, zr = hm[r, 2], z_r[r]
                    for j in range(hidden):
                        hmr[j] *= zr[hidden + j]  # r * h_h, the coefficient of U_h
                accumulate(
                    rec_flat[2 * hidden :],
                    gh,
                    rows,
                    hidden,
                    hm_flat,
                    2 * hidden,
                    3 * hidden,
                    hidden,
                    1,
                    hidden,
                    w_flat[2 * hidden :],
                    gh,
                    hidden,
                    tables,
                    bias,
                    2 * hidden,
                    0,
                )
            cell_rows = (
                x_rows,
                rec[:rows],
                z_r[:rows],
                h[:rows],
                gates[saved, b0 : b0 + rows],
                cand[saved, b0 : b0 + rows],
                hs[s, b0 : b0 + rows],
                hm[:rows, 2],
            )
            if has_lengths:
                hold(h_keep, h, lengths, b0, rows, t)
            if reset_after:
                _candidate_reset_after(cell_rows, hidden, save)
            else:
                _candidate_reset_before(cell_rows, hidden, save)
            if has_lengths:
                put_back(h, hs[s, b0 : b0 + rows], h_keep, lengths, b0, rows, t)
        for r in range(rows):
            copy_into(h_last[b0 + r], h[r])
        store_fence()  # the saved tensors' streamed rows


@jit
def _gru_bwd(
    d_hseq,
    has_dseq,
    d_hT,
    h0,
    w_gt,
    m,
    has_mask,
    reverse,
    reset_after,
    gates,
    cand,
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
    dw_blocks,
    db_blocks,
    dw_in_blocks,
    db_in_blocks,
    rows_per_block,
    dw_steps,
    lengths,
    has_lengths,
):
    t_len, b_total, gh = gates.shape
    hidden = gh // 3
    w_flat, w_in_t_flat = w_gt.reshape(-1), w_in_t.reshape(-1)
    features, in_groups = x.shape[2], (mx.shape[0] if has_in_mask else 1)
    back_cols = gh if reset_after else 2 * hidden  # the gates whose masked product carries dh back
    rec_groups = 1 if reset_after and one_group(m, has_mask) else 3  # dU's coefficients, as in the forward
    for block in numba.prange((b_total + rows_per_block - 1) // rows_per_block):
        b0 = block * rows_per_block
        rows = min(rows_per_block, b_total - b0)
        dh = np.empty((rows_per_block, hidden), np.float32)
        dh_keep = np.empty((rows_per_block, hidden), np.float32)
        direct = np.empty((rows_per_block, hidden), np.float32)  # z * dh, plus (reset_before) the r * h_h path
        # what multiplies each gate's coefficients in dU, and the coefficients, kept for dw_steps steps
        d_steps = np.zeros((dw_steps * rows_per_block, gh), np.float32)
        hm = np.zeros((dw_steps * rows_per_block, 3, hidden), np.float32)
        back = np.zeros((rows_per_block, gh), np.float32)
        e = np.zeros((rows_per_block, hidden), np.float32)
        # with the projection: the input-side gradients and x * input mask_g, kept for dW like d_steps and hm
        d_in = np.zeros((dw_steps * rows_per_block, gh), np.float32)
        xm = np.zeros((dw_steps * rows_per_block, in_groups, features), np.float32)
        d_steps_flat, back_flat, hm_flat, e_flat = d_steps.reshape(-1), back.reshape(-1), hm.reshape(-1), e.reshape(-1)
        back_in = np.empty((rows_per_block, 3 * features), np.float32)  # input_in_kernel: each gate's share of dx
        d_in_flat, xm_flat = d_in.reshape(-1), xm.reshape(-1)
        dw, db, dw_in, db_in = dw_blocks[block], db_blocks[block], dw_in_blocks[block], db_in_blocks[block]
        fill(dw.reshape(-1), np.float32(0.0))
        fill(db, np.float32(0.0))
        fill(dw_in.reshape(-1), np.float32(0.0))
        fill(db_in, np.float32(0.0))
        tables = offset_tables()
        zeros = np.zeros(max(gh, 3 * features), np.float32)  # where the products' accumulators start
        one = np.ones(1, np.float32)  # the bias sums' coefficient
        for r in range(rows):
            copy_into(dh[r], d_hT[b0 + r])
        for step in range(t_len):
            s = t_len - 1 - step
            t = t_len - 1 - s if reverse else s
            slot = step % dw_steps
            d = d_steps[slot * rows : (slot + 1) * rows]
            d_flat = d.reshape(-1)
            ahead = s - PREFETCH_STEPS  # that step's saved rows, while this step computes (read from memory)
            if ahead >= 0:
                prefetch(gates, (ahead * b_total + b0) * gh, rows * gh)
                prefetch(cand, (ahead * b_total + b0) * hidden, rows * hidden)
                prefetch(hs, ((ahead - 1 if ahead > 0 else 0) * b_total + b0) * hidden, rows * hidden)
                if has_dseq:
                    prefetch(d_hseq, (ahead * b_total + b0) * hidden, rows * hidden)
                if has_proj:
                    prefetch(x, ((t_len - 1 - ahead if reverse else ahead) * b_total + b0) * features, rows * features)
            if has_dseq:
                for r in range(rows):
                    add_into(dh[r], d_hseq[s, b0 + r])
            h_prev = hs[s - 1, b0 : b0 + rows] if s > 0 else h0[b0 : b0 + rows]
            if has_lengths:
                hold(dh_keep, dh, lengths, b0, rows, t)
            # the pre-activation gradients go to the projection's gradient and to the rows kept for dU
            cell_rows = (
                gates[s, b0 : b0 + rows],
                h_prev,
                dh[:rows],
                cand[s, b0 : b0 + rows],
                d_in[slot * rows : (slot + 1) * rows] if has_proj else d_x[t, b0 : b0 + rows],
                d,
                direct[:rows],
            )
            if reset_after:
                _step_back_reset_after(cell_rows, hidden)
            else:
                _step_back_reset_before(cell_rows, hidden)
            if rec_groups == 1:
                mask_rows_1(hm[slot * rows : (slot + 1) * rows], h_prev, m, b0, has_mask)
            else:
                mask_rows_3(hm[slot * rows : (slot + 1) * rows], h_prev, m, b0, has_mask)
            if not reset_after:
                for r in range(rows):
                    copy_into(hm[slot * rows + r, 2], cand[s, b0 + r])  # U_h's coefficient was r * h_h
            if has_proj:
                mask_rows(xm[slot * rows : (slot + 1) * rows], x[t, b0 : b0 + rows], mx, b0, has_in_mask)
            if not reset_after:  # e = mask_h * (d_hh @ U_h^T), the gradient reaching r * h_h
                accumulate(
                    e_flat,
                    hidden,
                    rows,
                    hidden,
                    d_flat,
                    2 * hidden,
                    gh,
                    hidden,
                    1,
                    hidden,
                    w_flat[2 * hidden :],
                    gh,
                    hidden,
                    tables,
                    zeros,
                    0,
                    0,
                )
                for r in range(rows):
                    b = b0 + r
                    gs, dxr, dr, er = gates[s, b], d_in[slot * rows + r] if has_proj else d_x[t, b], d[r], e[r]
                    h_prev = hs[s - 1, b] if s > 0 else h0[b]
                    for k in range(hidden):
                        ek = er[k] * m[2 if m.shape[0] > 1 else 0, b, k] if has_mask else er[k]
                        rg = gs[hidden + k]
                        d_r = ek * h_prev[k] * rg * (ONE - rg)
                        dxr[hidden + k] = d_r
                        dr[hidden + k] = d_r
                        direct[r, k] += ek * rg
            if has_lengths:  # a step past the sequence's length: no gradient of its own
                zero_rows(d, lengths, b0, rows, t)
                zero_rows(
                    d_in[slot * rows : (slot + 1) * rows] if has_proj else d_x[t, b0 : b0 + rows], lengths, b0, rows, t
                )
            if has_proj and write_dx:  # this step's input-side gradients are final now
                for r in range(rows):
                    copy_into(d_x[t, b0 + r], d_in[slot * rows + r])
            if input_in_kernel:
                input_grad_rows(
                    d_input,
                    t,
                    b0,
                    rows,
                    back_in,
                    d_in_flat,
                    slot * rows * gh,
                    hidden,
                    w_in_t_flat,
                    mx,
                    has_in_mask,
                    tables,
                    zeros,
                )
            if slot == dw_steps - 1 or step == t_len - 1:  # dW from the input side's d (d_in), dU the recurrent's
                weight_grads(
                    dw,
                    dw_in,
                    has_proj,
                    hm_flat,
                    rec_groups,
                    xm_flat,
                    in_groups,
                    d_steps_flat,
                    d_in_flat,
                    (slot + 1) * rows,
                    tables,
                    one,
                    db,
                    reset_after,
                    db_in,
                )
            accumulate(
                back_flat,
                gh,
                rows,
                back_cols,
                d_flat,
                0,
                gh,
                hidden,
                1,
                hidden,
                w_flat,
                gh,
                hidden,
                tables,
                zeros,
                0,
                0,
            )
            if reset_after:
                unmask_rows_3_plus(dh[:rows], back[:rows], m, b0, has_mask, direct[:rows])
            else:
                unmask_rows_2_plus(dh[:rows], back[:rows], m, b0, has_mask, direct[:rows])
            if has_lengths:  # dh passes through it unchanged
                restore(dh, dh_keep, lengths, b0, rows, t)
        for r in range(rows):
            copy_into(dh0[b0 + r], dh[r])


def run_forward(
    x_steps, projection: Projection | None, h0, w_rec, b_rec, rec_mask, reverse, reset_after, save, lengths=None
) -> GruOutputs:
    """The forward kernel on time-major ``x_steps``: the projection itself, or with a ``projection`` (its bias the
    input bias) the layer's input, projected inside the loop; ``lengths`` as in ``lstm.run_forward``."""
    announce_compile("GRU", _gru_fwd, *([_gru_bwd] if save else []))  # evaluation never compiles the backward
    t_len, b, _ = x_steps.shape
    hidden = w_rec.shape[0]
    gh = 3 * hidden
    hs, h_last = torch.empty(t_len, b, hidden), torch.empty(b, hidden)
    gates = torch.empty(t_len if save else 1, b, gh)  # without save, one step's scratch
    cand = torch.empty(t_len if save else 1, b, hidden)
    arrays = projection_arrays(projection)
    mask, has_mask = mask_array(rec_mask)
    bias = as_array(b_rec) if b_rec is not None else np.zeros(gh, np.float32)  # the recurrent terms start from it
    rows = block_rows(b)
    _gru_fwd(
        as_array(x_steps),
        projection is not None,
        arrays.kernel,
        arrays.bias,
        arrays.in_mask,
        arrays.has_in_mask,
        as_array(h0),
        as_array(w_rec),
        bias,
        mask,
        has_mask,
        reverse,
        reset_after,
        save,
        hs.numpy(),
        h_last.numpy(),
        gates.numpy(),
        cand.numpy(),
        rows,
        dw_batch_steps(rows),
        *lengths_array(lengths),
    )
    return GruOutputs(hs, h_last, (gates if save else None), (cand if save else None))


class GruLayerGrads(NamedTuple):
    """:func:`run_backward`'s results: ``d_x`` as :class:`BackwardArrays` says, the initial state's, ``dU``, the
    recurrent bias's (None without one), and with a projection the input kernel's and bias's (else None)."""

    d_x: torch.Tensor | None
    dh0: torch.Tensor
    d_w: torch.Tensor
    d_b: torch.Tensor | None
    d_kernel: torch.Tensor | None
    d_b_in: torch.Tensor | None


def run_backward(
    args: GruBackward, reverse, reset_after, x_steps, projection: Projection | None, dx: str, lengths=None
) -> GruLayerGrads:
    """The backward kernel (``args.d_hT`` present; ``dx`` as in :class:`BackwardArrays`, "pre": the input-side
    pre-activations' gradient, the projection's)."""
    gates = args.gates
    t_len, b, gh = gates.shape
    hidden = gh // 3
    a = BackwardArrays(args.d_hseq, args.rec_mask, x_steps, projection, dx, t_len, b, hidden, 3)
    dh0 = torch.empty(b, hidden)
    _gru_bwd(
        a.d_seq,
        a.has_dseq,
        as_array(args.d_hT),
        as_array(args.h0),
        per_gate_transposed(args.w_rec, 3),
        a.mask,
        a.has_mask,
        reverse,
        reset_after,
        as_array(gates),
        as_array(args.cand),
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
        a.dw_blocks.numpy(),
        a.db_blocks.numpy(),
        a.dw_in_blocks.numpy(),
        a.db_in_blocks.numpy(),
        a.rows,
        a.dw_steps,
        *lengths_array(lengths),
    )
    return GruLayerGrads(a.d_x, dh0, *a.summed(args.has_bias))


class CpuGRUKernels:
    """The two recurrences for ``fused.gru_fused`` (on a projection made outside); a
    :class:`~jenacast.rnn.ops.protocol.GruKernels`."""

    @staticmethod
    def forward(xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after, save, lengths=None) -> GruOutputs:
        check_input(xproj)
        x_steps = xproj.transpose(0, 1)
        return run_forward(x_steps, None, h0, w_rec, b_rec, rec_mask, reverse, reset_after, save, lengths)

    @staticmethod
    def backward(
        d_hseq, d_hT, h0, w_rec, has_bias, rec_mask, gates, cand, hs, reverse, reset_after, lengths=None
    ) -> GruGrads:
        args = GruBackward(d_hseq, zeros_if_none(d_hT, h0), h0, w_rec, has_bias, rec_mask, gates, cand, hs)
        grads = run_backward(args, reverse, reset_after, torch.empty(1, 1, 1), None, "pre", lengths)
        return GruGrads(grads.d_x.transpose(0, 1), grads.dh0, grads.d_w, grads.d_b)


def gru_cpu(xproj, h0, w_rec, b_rec=None, rec_mask=None, reverse=False, reset_after=True):
    return gru_fused(CpuGRUKernels, xproj, h0, w_rec, b_rec, rec_mask, reverse, reset_after)
