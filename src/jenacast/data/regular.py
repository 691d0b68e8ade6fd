"""A table's rows put on a regular time grid: sorted, de-duplicated, snapped to the interval, short gaps filled.

Windows are cut by row arithmetic, so row ``i`` must be the time ``first + i * interval``. Rows out of order are
sorted; of rows with the same time the later one in the file wins; rows off the grid are moved to the nearest
grid time; times with no row become rows of missing cells. A run of missing cells lasting at most ``max_gap``
(its length times the interval) is filled by linear interpolation in time; longer ones stay missing (NaN), and
the windows that touch them are dropped when the splits are cut (:func:`jenacast.data.windows.make_splits`).
"""

from __future__ import annotations

import numpy as np

from jenacast.errors import DataError

NO_TIME = np.iinfo(np.int64).min  # a row without a time (times before 1970 are negative seconds)
MAX_GRID_ROWS = 50_000_000  # a grid this long means the interval was misread (e.g. a few stray seconds)


def regularise(
    seconds: np.ndarray, values: np.ndarray, max_gap: int, name: str
) -> tuple[np.ndarray, np.ndarray, int, dict]:
    """``(timestamps datetime64[s] [M], values float32 [M, F] with NaN for missing, interval s, counts)``
    from ``seconds`` int64 [N] (``NO_TIME``: the row has no time) and ``values`` float [N, F] (NaN: missing)."""
    timed = seconds != NO_TIME
    counts = {"rows_read": int(len(seconds)), "rows_without_time": int((~timed).sum())}
    seconds, values = seconds[timed], values[timed]
    steps = np.diff(seconds)
    counts["steps_back_in_time"] = int((steps < 0).sum())
    if counts["steps_back_in_time"]:
        order = np.argsort(seconds, kind="stable")  # equal times keep the file's order: the later row is last
        seconds, values = seconds[order], values[order]
        steps = np.diff(seconds)
    if not (steps > 0).any():
        raise DataError(f"{name} has fewer than two distinct times; a forecast needs a time series.")
    interval = int(np.median(steps[steps > 0]))
    # the grid runs through the times most rows keep (an airport reporting at :50 stays at :50)
    phases, counts_per_phase = np.unique(seconds % interval, return_counts=True)
    phase = int(phases[np.argmax(counts_per_phase)])
    counts["off_grid"] = int(len(seconds) - counts_per_phase.max())
    index = (seconds - phase + interval // 2) // interval
    first = int(index[0])
    index -= first
    if counts["off_grid"]:  # of the rows moved onto one grid time, the one nearest it wins (a special report
        # at 10:23 does not replace the 10:00 reading); among equally near ones, the later in the file
        distance = np.abs(seconds - (index + first) * interval - phase)
        order = np.lexsort((np.arange(len(index)), -distance, index))
        index, values = index[order], values[order]
    last_of_each = np.append(index[1:] != index[:-1], True)
    counts["duplicated_times"] = int((~last_of_each).sum())
    if counts["duplicated_times"] > 0.1 * len(index):
        raise DataError(
            f"{name}: {counts['duplicated_times']:,} of its {len(index):,} rows share their time with another row; "
            "the times seem to lack a part (the hour?); name the time column with {time_column}.",
            worded=True,
        )
    if counts["duplicated_times"]:
        index, values = index[last_of_each], values[last_of_each]
    rows = int(index[-1]) + 1
    if rows > MAX_GRID_ROWS:
        raise DataError(
            f"{name}: its times span {rows:,} steps of the median interval ({interval} s); the times look misread."
        )
    if len(index) == rows:  # no time is absent: the rows are the grid
        grid = np.ascontiguousarray(values, dtype=np.float32)
    else:
        grid = np.full((rows, values.shape[1]), np.nan, dtype=np.float32)
        grid[index] = values
    counts["missing_rows"] = rows - len(index)
    counts["missing_cells"] = int(np.isnan(grid).sum())
    counts["filled_cells"] = fill_short_gaps(grid, max_gap // interval)
    counts["unfilled_cells"] = counts["missing_cells"] - counts["filled_cells"]
    timestamps = ((first + np.arange(rows, dtype=np.int64)) * interval + phase).astype("datetime64[s]")
    return timestamps, grid, interval, counts


def fill_short_gaps(values: np.ndarray, max_run: int) -> int:
    """Fill, in place, each column's runs of at most ``max_run`` NaN cells: between two values by linear
    interpolation, at the start or the end of the table with the nearest value (so that a cell not yet reported
    in the newest row does not block a forecast); returns how many cells were filled."""
    rows = len(values)
    position = np.arange(rows)
    filled = 0
    for column in values.T:  # views: writes go into ``values``
        missing = np.isnan(column)
        if not missing.any():
            continue
        before = np.maximum.accumulate(np.where(missing, -1, position))
        after = np.minimum.accumulate(np.where(missing, rows, position)[::-1])[::-1]
        inside = missing & (before >= 0) & (after < rows) & (after - before - 1 <= max_run)
        at, left, right = position[inside], before[inside], after[inside]
        share = (at - left) / (right - left)
        column[inside] = column[left] + (column[right] - column[left]) * share
        end = missing & (before >= 0) & (after == rows) & (rows - 1 - before <= max_run)
        start = missing & (before < 0) & (after < rows) & (after <= max_run)
        column[end] = column[before[end]]
        column[start] = column[after[start]]
        filled += int(inside.sum() + end.sum() + start.sum())
    return filled
