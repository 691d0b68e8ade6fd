"""The recurrent-dropout masks applied to a block's rows at once, as 16-lane vector loops.

Each step the kernels mask the state once per gate (the coefficients of the gates' products) and
in the backward sum the gates' shares of dh through the same masks. Done one row and one gate at a
time, as plain loops, each of those 32-value loops spent more on its set-up (views, alias checks,
trip counts) than on its work, a visible share of a stacked GRU upper layer's backward (see
benchmarks/RESULTS.md). Here one :func:`vector.elementwise` loop covers a block's rows and every
gate, with the masks as ``[G or 1, B, width]`` arrays (one shared mask serves every gate) or absent.

``mask_rows_G(out, src, m, b0, has_mask)``: ``out[r, g] = src[r] * m_g[b0 + r]`` for an ``out`` block
of ``[rows, G, width]`` (G = 1, 3 or 4; ``mask_rows`` picks by ``out``). ``unmask_rows_G(dh, back, m, b0, has_mask)``:
``dh[r] = sum_g m_g[b0 + r] * back[r, g*H:(g+1)*H]`` (G = 2, 3 or 4); the ``_plus`` variants add
``plus[r]`` too (the GRU's direct path).
"""

from __future__ import annotations

import numba

from jenacast.rnn.ops.cpu.vector import elementwise


def _scatter(groups: int, masked: bool):
    masks = tuple(f"m{g}" for g in range(groups)) if masked else ()
    outs = tuple(f"out{g}" for g in range(groups))
    loads = {"src": ("src", 0), **{m: (m, 0) for m in masks}}

    def math(v):
        return {f"v{g}": v.src * getattr(v, f"m{g}") if masked else v.src for g in range(groups)}

    return elementwise(("src", *masks, *outs), loads, [(f"v{g}", f"out{g}", 0) for g in range(groups)], math)


def _gather(groups: int, masked: bool, plus: bool):
    backs = tuple(f"back{g}" for g in range(groups))
    masks = tuple(f"m{g}" for g in range(groups)) if masked else ()
    extra = ("plus",) if plus else ()
    loads = {name: (name, 0) for name in (*backs, *masks, *extra)}

    def math(v):
        total = v.plus if plus else None
        for g in range(groups):
            term = getattr(v, f"back{g}") * getattr(v, f"m{g}") if masked else getattr(v, f"back{g}")
            total = term if total is None else total + term
        return {"dh": total}

    return elementwise((*backs, *masks, *extra, "out"), loads, [("dh", "out", 0)], math)


_copy1, _mask1 = _scatter(1, False), _scatter(1, True)
_copy3, _mask3 = _scatter(3, False), _scatter(3, True)
_copy4, _mask4 = _scatter(4, False), _scatter(4, True)
_sum2p, _unmask2p = _gather(2, False, True), _gather(2, True, True)
_sum3p, _unmask3p = _gather(3, False, True), _gather(3, True, True)
_sum4, _unmask4 = _gather(4, False, False), _gather(4, True, False)


@numba.njit(inline="always")
def _gate_masks(m, b0, rows):
    """Each gate's mask rows for the block (one shared mask: the same rows for every gate)."""
    last = m.shape[0] - 1
    return (
        m[0, b0 : b0 + rows],
        m[min(1, last), b0 : b0 + rows],
        m[min(2, last), b0 : b0 + rows],
        m[min(3, last), b0 : b0 + rows],
    )


@numba.njit(inline="always")
def mask_rows_1(out, src, m, b0, has_mask):
    rows, width = src.shape
    if has_mask:
        _mask1((src, m[0, b0 : b0 + rows], out[:, 0]), width)
    else:
        _copy1((src, out[:, 0]), width)


@numba.njit(inline="always")
def mask_rows_3(out, src, m, b0, has_mask):
    rows, width = src.shape
    if has_mask:
        m0, m1, m2, _ = _gate_masks(m, b0, rows)
        _mask3((src, m0, m1, m2, out[:, 0], out[:, 1], out[:, 2]), width)
    else:
        _copy3((src, out[:, 0], out[:, 1], out[:, 2]), width)


@numba.njit(inline="always")
def mask_rows_4(out, src, m, b0, has_mask):
    rows, width = src.shape
    if has_mask:
        m0, m1, m2, m3 = _gate_masks(m, b0, rows)
        _mask4((src, m0, m1, m2, m3, out[:, 0], out[:, 1], out[:, 2], out[:, 3]), width)
    else:
        _copy4((src, out[:, 0], out[:, 1], out[:, 2], out[:, 3]), width)


@numba.njit(inline="always")
def one_group(m, has_mask):
    """Whether every gate's coefficients are the same (no mask, or one shared by the gates): then the kernels
    fill gate 0's alone and point the products' other gates at it (``coef_group = 0``)."""
    return not has_mask or m.shape[0] == 1


@numba.njit(inline="always")
def mask_rows(out, src, m, b0, has_mask):
    """:func:`mask_rows_1`, ``_3`` or ``_4`` by ``out``'s groups (an input's: one, or one per gate)."""
    if out.shape[1] == 1:
        mask_rows_1(out, src, m, b0, has_mask)
    elif out.shape[1] == 3:
        mask_rows_3(out, src, m, b0, has_mask)
    else:
        mask_rows_4(out, src, m, b0, has_mask)


@numba.njit(inline="always")
def unmask_rows_2_plus(dh, back, m, b0, has_mask, plus):
    rows, hidden = dh.shape
    b_0, b_1 = back[:, :hidden], back[:, hidden : 2 * hidden]
    if has_mask:
        m0, m1, _, _ = _gate_masks(m, b0, rows)
        _unmask2p((b_0, b_1, m0, m1, plus, dh), hidden)
    else:
        _sum2p((b_0, b_1, plus, dh), hidden)


@numba.njit(inline="always")
def unmask_rows_3_plus(dh, back, m, b0, has_mask, plus):
    rows, hidden = dh.shape
    b_0, b_1, b_2 = back[:, :hidden], back[:, hidden : 2 * hidden], back[:, 2 * hidden : 3 * hidden]
    if has_mask:
        m0, m1, m2, _ = _gate_masks(m, b0, rows)
        _unmask3p((b_0, b_1, b_2, m0, m1, m2, plus, dh), hidden)
    else:
        _sum3p((b_0, b_1, b_2, plus, dh), hidden)


@numba.njit(inline="always")
def unmask_rows_4(dh, back, m, b0, has_mask):
    rows, hidden = dh.shape
    b_0, b_1 = back[:, :hidden], back[:, hidden : 2 * hidden]
    b_2, b_3 = back[:, 2 * hidden : 3 * hidden], back[:, 3 * hidden : 4 * hidden]
    if has_mask:
        m0, m1, m2, m3 = _gate_masks(m, b0, rows)
        _unmask4((b_0, b_1, b_2, b_3, m0, m1, m2, m3, dh), hidden)
    else:
        _sum4((b_0, b_1, b_2, b_3, dh), hidden)
