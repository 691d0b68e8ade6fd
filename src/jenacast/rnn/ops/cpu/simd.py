"""Register-blocked multiply-accumulate for the CPU kernels: Numba intrinsics on LLVM float vectors.

Numba's own loops keep a matvec's accumulators in memory: every multiply-add of ``pre[j] += a * w[k, j]``
loads and stores ``pre`` (the vectoriser does the rest well). Here the accumulators of up to four
rows by 64 columns live in sixteen 16-lane registers for the whole reduction, each weight vector
loaded serves four rows, and two 16-column chunks of one gate share a broadcast coefficient, so
the loop issues fewer loads than multiply-adds (3 per 4). Against the earlier blocks of 2 rows by 2
chunks this made both the forward's recurrent products and the weight gradient's faster, the weight
gradient's the most (see benchmarks/RESULTS.md).

A step's products are short (a recurrent product's depth is the 32 units, a first layer's projection
the 14 features), so what each register block costs besides its loop counts: the offset tables are
filled once per column group and shifted for each group of four rows, not refilled for each. This
brought the short depths (14 and 32) much closer to the core's peak rate of 16-lane multiply-adds;
long ones (depth 256) were near it either way (see benchmarks/RESULTS.md).

:func:`accumulate` is the entry point::

    out[r, col] = init[init_base + r * init_row + col]
                  + sum_{n < count} coef[r * coef_row + (col // group) * coef_group + n * coef_step]
                                    * w[n * w_row + col]            for r < rows, col < width

with ``out`` rows ``out_row`` apart. ``group`` is the width of one gate's columns: each gate has its own
coefficients (the per-gate masked states), or with ``coef_group = 0`` all share one set (no per-gate masks).
``init`` is ``out`` itself (``init_base = 0``, ``init_row = out_row``) to add to it, or a bias row
(``init_row = 0``), or zeros: starting the accumulators there spares the kernels a pass that copies the bias
into ``out`` or clears it. (One entry point for all three: a second one for adding, calling this one, made
the LSTM's kernels noticeably slower to compile.)
The vectors need ``group % 16 == 0`` (units 16, 32, 48, ...); other sizes, and the last
``width % 16`` columns, take a plain loop.
"""

from __future__ import annotations

import platform

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.extending import intrinsic

LANES = 16
_I32, _I64 = ir.IntType(32), ir.IntType(64)


def _block_fma(rows: int, chunks: int, share: int):
    """An intrinsic over ``rows`` x ``chunks`` 16-lane accumulators; offsets come in int64 tables:
    ``out_off`` ``[rows * chunks]`` (row-major), ``coef_off`` ``[rows * chunks // share]`` (consecutive
    ``share`` chunks lie in one gate and read one coefficient), ``w_off`` ``[chunks]``, ``init_off`` like
    ``out_off``: where in ``init`` each accumulator starts. ``shifts`` (three ints) moves ``out``, ``coef``
    and ``init`` by whole rows: one set of tables serves every row group of a column group."""
    per_row = chunks // share

    @intrinsic
    def block_fma(typingctx, out, out_off, w, w_off, w_step, coef, coef_off, coef_step, count, init, init_off, shifts):
        sig = types.void(
            out,
            out_off,
            w,
            w_off,
            types.intp,
            coef,
            coef_off,
            types.intp,
            types.intp,
            init,
            init_off,
            types.UniTuple(types.intp, 3),
        )

        def codegen(context, builder, signature, args):
            def data(i):
                return context.make_array(signature.args[i])(context, builder, args[i]).data

            def entry(table, i):
                return builder.load(builder.gep(table, [ir.Constant(_I64, i)]))

            out_p, oo_p, w_p, wo_p, c_p, co_p, i_p, io_p = (
                data(0),
                data(1),
                data(2),
                data(3),
                data(5),
                data(6),
                data(9),
                data(10),
            )
            # the row group's distance from the one the tables describe, in out, coef and init
            out_p, c_p, i_p = (
                builder.gep(p, [builder.extract_value(args[11], k)]) for k, p in enumerate((out_p, c_p, i_p))
            )
            w_step, c_step, count = args[4], args[7], args[8]
            vec = ir.VectorType(ir.FloatType(), LANES)
            vptr = vec.as_pointer()
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3), "llvm.fma.v16f32")
            undef = ir.Constant(vec, ir.Undefined)
            splat = ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES)
            w_base = [builder.gep(w_p, [entry(wo_p, c)]) for c in range(chunks)]
            c_base = [builder.gep(c_p, [entry(co_p, i)]) for i in range(rows * per_row)]
            out_ptr, acc = [], []
            for i in range(rows * chunks):
                out_ptr.append(builder.bitcast(builder.gep(out_p, [entry(oo_p, i)]), vptr))
                slot = cgutils.alloca_once(builder, vec)  # promoted to a register by LLVM
                start = builder.bitcast(builder.gep(i_p, [entry(io_p, i)]), vptr)
                builder.store(builder.load(start, align=4), slot)
                acc.append(slot)
            with cgutils.for_range(builder, count) as loop:
                w_at, c_at = builder.mul(loop.index, w_step), builder.mul(loop.index, c_step)
                w_vec = [
                    builder.load(builder.bitcast(builder.gep(w_base[c], [w_at]), vptr), align=4) for c in range(chunks)
                ]
                for r in range(rows):
                    for q in range(per_row):
                        a = builder.load(builder.gep(c_base[r * per_row + q], [c_at]))
                        a_vec = builder.shuffle_vector(
                            builder.insert_element(undef, a, ir.Constant(_I32, 0)), undef, splat
                        )
                        for c in range(q * share, (q + 1) * share):
                            i = r * chunks + c
                            builder.store(builder.call(fma, [a_vec, w_vec[c], builder.load(acc[i])]), acc[i])
            for i in range(rows * chunks):
                builder.store(builder.load(acc[i]), out_ptr[i], align=4)
            return context.get_dummy_value()

        return sig, codegen

    return block_fma


# (rows, chunks, share): 4 x 4 accumulators (plus 4 weight vectors) fill most of AVX-512's 32 registers
_fma_4x4s, _fma_4x4, _fma_4x2s, _fma_4x2, _fma_4x1 = (
    _block_fma(*k) for k in [(4, 4, 2), (4, 4, 1), (4, 2, 2), (4, 2, 1), (4, 1, 1)]
)
_fma_1x4s, _fma_1x4, _fma_1x2s, _fma_1x2, _fma_1x1 = (
    _block_fma(*k) for k in [(1, 4, 2), (1, 4, 1), (1, 2, 2), (1, 2, 1), (1, 1, 1)]
)
BLOCK_ROWS, BLOCK_CHUNKS = 4, 4


@numba.njit(inline="always")
def offset_tables():
    """Scratch space for :func:`accumulate`'s offset tables (one set per thread of work)."""
    n = BLOCK_ROWS * BLOCK_CHUNKS
    return np.empty(n, np.int64), np.empty(n, np.int64), np.empty(BLOCK_CHUNKS, np.int64), np.empty(n, np.int64)


@numba.njit(inline="always")
def _fill(tables, nrows, chunks, share, col0, out_row, coef_row, group, coef_group, coef_base, init_base, init_row):
    out_off, coef_off, w_off, init_off = tables
    per_row = chunks // share
    for c in range(chunks):
        col = col0 + c * LANES
        w_off[c] = col
        gate_at = coef_base + (col // group) * coef_group if c % share == 0 else 0  # one division per chunk
        for r in range(nrows):
            out_off[r * chunks + c] = r * out_row + col
            init_off[r * chunks + c] = init_base + r * init_row + col
            if c % share == 0:
                coef_off[r * per_row + c // share] = gate_at + r * coef_row


@numba.njit(inline="always")
def _block(nrows, chunks, share, out, o, w, wo, w_row, coef, c, coef_step, count, init, io, shifts):
    """The intrinsic for one register block's shape."""
    if nrows == 4:
        if chunks == 4:
            if share == 2:
                _fma_4x4s(out, o, w, wo, w_row, coef, c, coef_step, count, init, io, shifts)
            else:
                _fma_4x4(out, o, w, wo, w_row, coef, c, coef_step, count, init, io, shifts)
        elif chunks == 2:
            if share == 2:
                _fma_4x2s(out, o, w, wo, w_row, coef, c, coef_step, count, init, io, shifts)
            else:
                _fma_4x2(out, o, w, wo, w_row, coef, c, coef_step, count, init, io, shifts)
        else:
            _fma_4x1(out, o, w, wo, w_row, coef, c, coef_step, count, init, io, shifts)
    elif chunks == 4:
        if share == 2:
            _fma_1x4s(out, o, w, wo, w_row, coef, c, coef_step, count, init, io, shifts)
        else:
            _fma_1x4(out, o, w, wo, w_row, coef, c, coef_step, count, init, io, shifts)
    elif chunks == 2:
        if share == 2:
            _fma_1x2s(out, o, w, wo, w_row, coef, c, coef_step, count, init, io, shifts)
        else:
            _fma_1x2(out, o, w, wo, w_row, coef, c, coef_step, count, init, io, shifts)
    else:
        _fma_1x1(out, o, w, wo, w_row, coef, c, coef_step, count, init, io, shifts)


@numba.njit
def accumulate(
    out,
    out_row,
    rows,
    width,
    coef,
    coef_base,
    coef_row,
    coef_group,
    coef_step,
    group,
    w,
    w_row,
    count,
    tables,
    init,
    init_base,
    init_row,
):
    """See the module docstring; ``out``, ``coef``, ``w`` and ``init`` are flat (1-D) float32 arrays."""
    # a 16-lane chunk must lie inside one gate's columns (one coefficient per row): else plain loops alone
    vec_width = width - width % LANES if group % LANES == 0 else 0
    pairs_share = group % (2 * LANES) == 0  # then chunks go in aligned pairs, each inside one gate
    o, c, wo, io = tables
    col0 = 0
    while col0 < vec_width:
        left = vec_width - col0
        chunks = 4 if left >= 4 * LANES else (2 if left >= 2 * LANES else 1)
        share = 2 if pairs_share and chunks > 1 else 1
        # the tables describe the first row group; the others are the same offsets shifted by whole rows
        _fill(tables, 4, chunks, share, col0, out_row, coef_row, group, coef_group, coef_base, init_base, init_row)
        r0 = 0
        while rows - r0 >= 4:
            _block(
                4,
                chunks,
                share,
                out,
                o,
                w,
                wo,
                w_row,
                coef,
                c,
                coef_step,
                count,
                init,
                io,
                (r0 * out_row, r0 * coef_row, r0 * init_row),
            )
            r0 += 4
        if r0 < rows:
            _fill(tables, 1, chunks, share, col0, out_row, coef_row, group, coef_group, coef_base, init_base, init_row)
            while r0 < rows:
                _block(
                    1,
                    chunks,
                    share,
                    out,
                    o,
                    w,
                    wo,
                    w_row,
                    coef,
                    c,
                    coef_step,
                    count,
                    init,
                    io,
                    (r0 * out_row, r0 * coef_row, r0 * init_row),
                )
                r0 += 1
        col0 += chunks * LANES
    for r in range(rows):  # the columns left over by the 16-lane vectors
        for col in range(vec_width, width):
            c_at = coef_base + r * coef_row + (col // group) * coef_group
            acc = init[init_base + r * init_row + col]
            for n in range(count):
                acc += coef[c_at + n * coef_step] * w[n * w_row + col]
            out[r * out_row + col] = acc


@intrinsic
def prefetch(typingctx, array, start, count):
    """Ask for ``array.flat[start:start + count]`` in cache ahead of its use (one request per 64-byte line).

    With LLVM's lowest locality (``prefetcht2`` on x86): a backward step of a 64-row block asks for 40-60 KB
    of saved rows, more than a 32 KB first-level cache, where the top hint (``prefetcht0``) would put them
    over the rows and weights in use. Side by side against the top hint (and locality 2), the lowest was as
    fast or faster for the stacked GRU and within noise for the LSTM with dropout (see benchmarks/RESULTS.md)."""
    sig = types.void(array, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        byte_ptr = ir.IntType(8).as_pointer()
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_ptr, _I32, _I32, _I32]), "llvm.prefetch.p0"
        )
        lines = builder.sdiv(builder.add(args[2], ir.Constant(_I64, LANES - 1)), ir.Constant(_I64, LANES))
        with cgutils.for_range(builder, lines) as loop:
            at = builder.add(args[1], builder.mul(loop.index, ir.Constant(_I64, LANES)))
            ptr = builder.bitcast(builder.gep(data, [at]), byte_ptr)
            builder.call(fn, [ptr, ir.Constant(_I32, 0), ir.Constant(_I32, 1), ir.Constant(_I32, 1)])
        return context.get_dummy_value()

    return sig, codegen


_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


@intrinsic
def store_fence(typingctx):
    """Order this thread's non-temporal stores before what follows: they bypass the caches and are
    ordered only by a fence, so that a block's last streamed rows are visible to the threads of the
    next kernel (the backward's blocks need not run where the forward's ran). On x86 ``sfence``, the
    fence the manuals name for weakly ordered stores (LLVM's generic fence there is a locked ``or``),
    elsewhere the generic fence (``dmb`` on ARM)."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        if _X86:
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse.sfence"
            )
            builder.call(fn, [])
        else:
            builder.fence("seq_cst")
        return context.get_dummy_value()

    return sig, codegen
