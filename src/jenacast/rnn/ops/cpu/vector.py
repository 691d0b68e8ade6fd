"""The cells' elementwise arithmetic as 16-lane LLVM vectors, written once for every size.

Numba's own gate loops stay scalar: each reads and writes several rows (gates, states, saved
tensors) that LLVM cannot prove apart, and it gives up on the run-time overlap checks (the LSTM
forward's loop: 5 scalar divisions per element, a large share of the forward's time).
:func:`elementwise` builds a Numba intrinsic from a cell's arithmetic, written with ordinary
operators on :class:`Vec` values: it walks ``hidden`` in chunks of 16 lanes, loading and storing
each named operand as ``array[gate * hidden + j]``; the last chunk is masked, so any ``hidden``
takes the same code.

Activations: libm's ``exp``/``tanh`` do not vectorise, so tanh is a rational approximation (odd
degree-13 over even degree-6 polynomial on [-7.9053, 7.9053], the form Eigen and XLA use for
float32), accurate to a few float32 ulps, and ``sigmoid(x) = 0.5 + 0.5 tanh(x / 2)``.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.core.extending import intrinsic

LANES = 16
_F32, _I32, _I64 = ir.FloatType(), ir.IntType(32), ir.IntType(64)
_VEC = ir.VectorType(_F32, LANES)
_VPTR = _VEC.as_pointer()
_MASK = ir.VectorType(ir.IntType(1), LANES)


# tanh(x) = x * P(x^2) / Q(x^2), coefficients from the highest degree down
TANH_P = (
    -2.76076847742355e-16,
    2.00018790482477e-13,
    -8.60467152213735e-11,
    5.12229709037114e-08,
    1.48572235717979e-05,
    6.37261928875436e-04,
    4.89352455891786e-03,
)
TANH_Q = (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)
TANH_CLAMP = 7.90531110763549805  # tanh is 1 - 2e-7 there: beyond it float32 tanh is +-1


def _splat_f32(value: float) -> ir.Constant:
    return ir.Constant(_VEC, [float(value)] * LANES)


class Vec:
    """A 16-lane float32 value being built: ``+ - * /`` with other values or Python numbers."""

    def __init__(self, builder: ir.IRBuilder, value):
        self.builder, self.value = builder, value

    def _operand(self, other):
        return other.value if isinstance(other, Vec) else _splat_f32(other)

    def _make(self, op, a, b):
        return Vec(self.builder, getattr(self.builder, op)(a, b))

    def __add__(self, other):
        return self._make("fadd", self.value, self._operand(other))

    __radd__ = __add__

    def __sub__(self, other):
        return self._make("fsub", self.value, self._operand(other))

    def __rsub__(self, other):
        return self._make("fsub", self._operand(other), self.value)

    def __mul__(self, other):
        return self._make("fmul", self.value, self._operand(other))

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self._make("fdiv", self.value, self._operand(other))

    def _call(self, name, *args):
        fn = cgutils.get_or_insert_function(self.builder.module, ir.FunctionType(_VEC, [_VEC] * len(args)), name)
        return Vec(self.builder, self.builder.call(fn, [a.value if isinstance(a, Vec) else a for a in args]))

    def clamp(self, bound: float) -> Vec:
        low = self._call("llvm.maxnum.v16f32", self, _splat_f32(-bound))
        return low._call("llvm.minnum.v16f32", low, _splat_f32(bound))


def tanh(x: Vec) -> Vec:
    x = x.clamp(TANH_CLAMP)
    x2 = x * x
    p = x2 * TANH_P[0] + TANH_P[1]
    for a in TANH_P[2:]:
        p = x2 * p + a
    q = x2 * TANH_Q[0] + TANH_Q[1]
    for b in TANH_Q[2:]:
        q = x2 * q + b
    return x * p / q


def sigmoid(x: Vec) -> Vec:
    return 0.5 + 0.5 * tanh(0.5 * x)


def elementwise(arrays: tuple[str, ...], loads: dict, stores: list, body, streamed: tuple[str, ...] = ()):
    """An intrinsic ``f((array, ...), hidden)`` over 2-D float32 arrays named by ``arrays``, each a block of
    rows (contiguous within a row; rows at any stride), all rows of the first array's count.

    ``loads`` maps an operand name to ``(array name, gate)``; ``body(v)`` gets the loaded operands as
    attributes of ``v`` and returns a dict of results; ``stores`` lists ``(result name, array name,
    gate)``, so that one result may go to several rows. A whole block of rows in one loop, rather than
    a call per row: each chunk is a chain of dependent operations (tanh's polynomials), and the
    chunks of other rows are independent work the core overlaps with it.

    With ``streamed`` (array names) the intrinsic is ``f((array, ...), hidden, stream)``: while ``stream``
    is true, the stores to those arrays bypass the caches (non-temporal) wherever a chunk is whole and
    64-byte aligned. For the forward's saved tensors, megabytes that nothing reads until the backward:
    a cached store first reads its line from memory, and the lines evict the working set.
    """
    index = {name: i for i, name in enumerate(arrays)}

    def codegen(context, builder, signature, args):
        tuple_type = signature.args[0]
        data, row_bytes = [], []
        for i, array_type in enumerate(tuple_type.types):
            array = context.make_array(array_type)(context, builder, builder.extract_value(args[0], i))
            data.append(builder.bitcast(array.data, ir.IntType(8).as_pointer()))
            row_bytes.append(cgutils.unpack_tuple(builder, array.strides, array_type.ndim)[0])
        rows = cgutils.unpack_tuple(
            builder,
            context.make_array(tuple_type.types[0])(context, builder, builder.extract_value(args[0], 0)).shape,
            2,
        )[0]
        hidden = args[1]
        stream = args[2] if streamed else None
        lanes = ir.Constant(ir.VectorType(_I64, LANES), list(range(LANES)))
        align = ir.Constant(_I32, 4)
        load = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_VEC, [_VPTR, _I32, _MASK, _VEC]), "llvm.masked.load.v16f32.p0"
        )
        store = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [_VEC, _VPTR, _I32, _MASK]), "llvm.masked.store.v16f32.p0"
        )
        nontemporal = builder.module.add_metadata([ir.Constant(_I32, 1)])
        chunks = builder.sdiv(builder.add(hidden, ir.Constant(_I64, LANES - 1)), ir.Constant(_I64, LANES))
        with cgutils.for_range(builder, rows) as row_loop, cgutils.for_range(builder, chunks) as loop:
            row = row_loop.index
            j = builder.mul(loop.index, ir.Constant(_I64, LANES))
            left = builder.sub(hidden, j)
            left_vec = builder.insert_element(
                ir.Constant(ir.VectorType(_I64, LANES), ir.Undefined), left, ir.Constant(_I32, 0)
            )
            left_vec = builder.shuffle_vector(left_vec, left_vec, ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES))
            mask = builder.icmp_signed("<", lanes, left_vec)  # the last chunk's lanes past hidden stay off
            whole = builder.icmp_signed(">=", left, ir.Constant(_I64, LANES))

            def address(array_name, gate):
                i = index[array_name]
                at = builder.mul(builder.add(builder.mul(ir.Constant(_I64, gate), hidden), j), ir.Constant(_I64, 4))
                at = builder.add(at, builder.mul(row, row_bytes[i]))
                return builder.bitcast(builder.gep(data[i], [at]), _VPTR)

            def put(value, ptr, streamed_array):
                if not streamed_array:
                    builder.call(store, [value, ptr, align, mask])
                    return
                # a non-temporal 64-byte store faults unless aligned: checked per chunk (a predictable branch)
                aligned = builder.icmp_signed(
                    "==", builder.and_(builder.ptrtoint(ptr, _I64), ir.Constant(_I64, 63)), ir.Constant(_I64, 0)
                )
                with builder.if_else(builder.and_(builder.and_(stream, whole), aligned)) as (direct, cached):
                    with direct:
                        builder.store(value, ptr, align=64).set_metadata("nontemporal", nontemporal)
                    with cached:
                        builder.call(store, [value, ptr, align, mask])

            operands = type("Operands", (), {})()
            for name, (array_name, gate) in loads.items():
                value = builder.call(load, [address(array_name, gate), align, mask, _splat_f32(0.0)])
                setattr(operands, name, Vec(builder, value))
            results = body(operands)
            for name, array_name, gate in stores:
                put(results[name].value, address(array_name, gate), array_name in streamed)
        return context.get_dummy_value()

    if streamed:

        @intrinsic
        def kernel(typingctx, blocks, hidden, stream):
            return types.void(blocks, types.intp, types.boolean), codegen
    else:

        @intrinsic
        def kernel(typingctx, blocks, hidden):
            return types.void(blocks, types.intp), codegen

    return kernel
