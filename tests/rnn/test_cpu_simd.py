"""The CPU tier's register-blocked products (``cpu_simd.accumulate``) against a float64 loop."""

import itertools

import numpy as np
import pytest

from jenacast.rnn.ops import available

pytestmark = pytest.mark.skipif(not available("cpu"), reason="needs numba")


@pytest.fixture(scope="module")
def accumulate():
    import numba

    from jenacast.rnn.ops.cpu.simd import accumulate as product
    from jenacast.rnn.ops.cpu.simd import offset_tables

    @numba.njit
    def run(
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
        init,
        init_base,
        init_row,
    ):
        product(
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
            offset_tables(),
            init,
            init_base,
            init_row,
        )

    return run


def _expected(
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
    init,
    init_base,
    init_row,
):
    want = out.astype(np.float64)
    for r in range(rows):
        for col in range(width):
            at = coef_base + r * coef_row + (col // group) * coef_group
            terms = coef[at + np.arange(count) * coef_step].astype(np.float64) * w[np.arange(count) * w_row + col]
            want[r * out_row + col] = init[init_base + r * init_row + col] + terms.sum()
    return want


# rows: a single row, 4-row register blocks and the rows left over; widths: 1, 2 and 4 chunks of 16 lanes and a
# plain-loop remainder; groups: gates of 32 (chunks in shared pairs), 16, 48 and 7 (no vectors at all)
@pytest.mark.parametrize(
    "rows, width, group", list(itertools.product([1, 4, 7, 9], [16, 40, 96, 160], [32, 16, 48, 7]))
)
@pytest.mark.parametrize("start", ["bias", "out", "zeros"])
def test_every_row_and_column_of_a_product(accumulate, rows, width, group, start):
    rng = np.random.default_rng(rows * 1000 + width * 10 + group)
    count, coef_step, coef_base = 5, 2, 3
    gates = -(-width // group)
    coef_row, coef_group = gates * count * coef_step + 1, count * coef_step  # each row's gates, then a gap
    out_row, w_row = width + 5, width + 3  # rows with gaps between them, which must stay untouched
    coef = rng.standard_normal(coef_base + rows * coef_row).astype(np.float32)
    w = rng.standard_normal(count * w_row).astype(np.float32)
    out = rng.standard_normal(rows * out_row).astype(np.float32)
    if start == "bias":
        init, init_base, init_row = rng.standard_normal(width + 4).astype(np.float32), 4, 0
    elif start == "out":
        init, init_base, init_row = out, 0, out_row
    else:
        init, init_base, init_row = np.zeros(width, np.float32), 0, 0
    args = (out_row, rows, width, coef, coef_base, coef_row, coef_group, coef_step, group, w, w_row, count)
    want = _expected(out, *args, init.copy(), init_base, init_row)
    accumulate(out, *args, init, init_base, init_row)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
