"""Summaries of numeric series on fixed grids of x, kept as chunks are written: the
index the downsampler (``runstream_server.downsample``) answers from.

Why a grid and not blocks of consecutive points: a chart's buckets are equal-width in
x. If the buckets are whole grid cells, no stored summary ever straddles a bucket edge,
so an answer reads one summary per bucket (no refinement into raw points except at the
two ends of an asked range), whatever the chunking, the step order or re-logged steps.

For each series and each axis (``s``: step, ``t``: time) level ``L`` cuts x into cells
of width ``W0 * 2**L`` aligned at 0 (steps: ``W0`` = 64 steps; times: ``W0`` = 1 s),
for ``L`` = 0 … ``LEVELS - 1``. A cell keeps its point count, its NaN count and five
points (step, time, value): the first and the last by x, the minimum and the maximum
value (NaN left out), and the first NaN. Cells are stored 64 to a row (a page), packed
as numpy records (``CELL``), so that a long series is a few rows per level and a series
logged one point per event (MLflow's ``log_metric``) still has one cell per 64 steps,
not one per point.

Every choice among points (which is "first", which is the minimum among equal values)
is a total order on (x, other coordinate, value): merging cells in any order or batching
gives the same bytes, so a replay rebuilds exactly what was built live.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    delete,
    insert,
    select,
    tuple_,
)

from runstream_server.database import among, metadata

__all__ = ["CELL", "LEVELS", "PAGE_BITS", "STEP_BITS", "TIME_SCALE", "cell_of", "empty_cells",
           "join_cells", "merge_adjacent", "metric_cells", "metric_cells_folded", "point_cells",
           "raw_cells", "reduce_cells", "update_cells"]

LEVELS = 24  # steps: up to 64·2**23 (5e8) a cell; times: 2**23 s (97 days); wider: k cells
PAGE_BITS = 6  # 64 cells per stored row
STEP_BITS = 6  # level 0 of steps: 64 steps per cell
TIME_SCALE = 1.0  # level 0 of times: 1 s per cell
_LIMIT = float(2**62)  # times beyond are clipped into the last cell (no such clocks)

Array = npt.NDArray[Any]

_SLOTS = ("f", "l", "lo", "hi", "nan")  # first, last (by x), min, max, first NaN
CELL = np.dtype([("cell", "<i8"), ("n", "<i8"), ("nans", "<i8")] + [
    (f"{slot}_{field}", kind) for slot in _SLOTS
    for field, kind in (("s", "<i8"), ("t", "<f8"), ("v", "<f8"))])

metric_cells = Table(
    "metric_cells",
    metadata,
    Column("run_id", String(200), nullable=False),
    Column("name", String(300), nullable=False),
    Column("axis", String(1), nullable=False),  # "s": step, "t": time
    Column("level", SmallInteger, nullable=False),
    Column("page", BigInteger, nullable=False),  # cell >> PAGE_BITS
    Column("cells", LargeBinary, nullable=False),  # CELL records, by cell
    PrimaryKeyConstraint("run_id", "name", "axis", "level", "page"),
)


# The last chunk folded into metric_cells (``projections/folding.py``): one row, id 1.
metric_cells_folded = Table(
    "metric_cells_folded",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("chunk", BigInteger, nullable=False),  # a metric_chunks.id
)


def empty_cells() -> Array:
    return np.zeros(0, CELL)


def join_cells(arrays: Sequence[Array]) -> Array:
    """``np.concatenate`` for CELL records, without its per-array dtype promotion
    (read-only: every caller makes new arrays from it)."""
    return np.frombuffer(b"".join(a.tobytes() for a in arrays), CELL)


def cell_of(axis: str, x: Array) -> Array:
    """Level-0 cell of each x (int64); level L's cell is this ``>> L``."""
    if axis == "s":
        return np.asarray(x, dtype=np.int64) >> STEP_BITS
    scaled = np.floor(np.clip(np.asarray(x, dtype=np.float64) * TIME_SCALE, -_LIMIT, _LIMIT))
    return scaled.astype(np.int64)


def point_cells(steps: Array, times: Array, values: Array) -> Array:
    """Raw points as one-point cells (their ``cell`` field left 0)."""
    out = np.zeros(len(steps), CELL)
    # +0.0: -0.0 and 0.0 compare equal but differ in bytes; one spelling keeps replays exact.
    v = np.asarray(values, dtype=np.float64) + 0.0
    s = np.asarray(steps, dtype=np.int64)
    t = np.asarray(times, dtype=np.float64)
    out["n"] = 1
    out["nans"] = np.isnan(v)
    for slot in _SLOTS:
        out[f"{slot}_s"], out[f"{slot}_t"], out[f"{slot}_v"] = s, t, v
    return _canonical(out)


def _pick(parts: Array, order: Array, at: Array, slot: str, out: Array) -> None:
    chosen = parts[order[at]]
    for field in ("s", "t", "v"):
        out[f"{slot}_{field}"] = chosen[f"{slot}_{field}"]


def reduce_cells(parts: Array, keys: Sequence[Array], axis: str) -> Array:
    """Merge ``parts`` (CELL records) that share a group key into one record per group,
    sorted by key; ``keys[-1]`` (int64) becomes the ``cell`` field, ``keys`` are
    compared last-first (``keys[0]`` is the primary key when several are given)."""
    if len(parts) == 0:
        return empty_cells()
    groups = tuple(reversed(keys))  # np.lexsort: the last key is the primary one
    x, y = ("s", "t") if axis == "s" else ("t", "s")
    valid = parts["nans"] < parts["n"]
    has_nan = parts["nans"] > 0
    by_first = np.lexsort((parts["f_v"], parts[f"f_{y}"], parts[f"f_{x}"], *groups))
    sorted_keys = [k[by_first] for k in keys]
    change = np.zeros(len(parts), dtype=bool)
    change[0] = True
    for k in sorted_keys:
        change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], len(parts)) - 1
    out = np.zeros(len(starts), CELL)
    out["cell"] = sorted_keys[-1][starts]
    out["n"] = np.add.reduceat(parts["n"][by_first], starts)
    out["nans"] = np.add.reduceat(parts["nans"][by_first], starts)
    _pick(parts, by_first, starts, "f", out)
    by_last = np.lexsort((parts["l_v"], parts[f"l_{y}"], parts[f"l_{x}"], *groups))
    _pick(parts, by_last, ends, "l", out)
    by_min = np.lexsort((parts["lo_t"], parts["lo_s"], parts["lo_v"], ~valid, *groups))
    _pick(parts, by_min, starts, "lo", out)
    by_max = np.lexsort((parts["hi_t"], parts["hi_s"], parts["hi_v"], valid, *groups))
    _pick(parts, by_max, ends, "hi", out)
    by_nan = np.lexsort((parts[f"nan_{y}"], parts[f"nan_{x}"], ~has_nan, *groups))
    _pick(parts, by_nan, starts, "nan", out)
    return _canonical(out)


def _canonical(cells: Array) -> Array:
    """Empty slots zeroed (no NaN seen; no number seen): equal cells, equal bytes."""
    for slot, empty in (("nan", cells["nans"] == 0), ("lo", cells["nans"] == cells["n"]),
                        ("hi", cells["nans"] == cells["n"])):
        for field in ("s", "t", "v"):
            cells[f"{slot}_{field}"][empty] = 0
    return cells


def raw_cells(axis: str, steps: Array, times: Array, values: Array) -> Array:
    """Level-0 cells of raw points: ``reduce_cells(point_cells(…), [cell_of(…)])``,
    in one sort by x (none when x only grows) and linear passes, for big chunks."""
    if len(steps) == 0:
        return empty_cells()
    s = np.asarray(steps, dtype=np.int64)
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64) + 0.0
    x, y = (s, t) if axis == "s" else (t, s)
    if len(x) > 1 and not bool(np.all(x[1:] > x[:-1])):
        order = np.lexsort((v, y, x))  # by (x, y, value): cells are runs of this order
        s, t, v, x, y = s[order], t[order], v[order], x[order], y[order]
    cell = cell_of(axis, x)
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    ends = np.append(starts[1:], len(cell)) - 1
    group = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(cell))))
    nan = np.isnan(v)
    out = np.zeros(len(starts), CELL)
    out["cell"] = cell[starts]
    out["n"] = np.diff(np.append(starts, len(cell)))
    out["nans"] = np.add.reduceat(nan.astype(np.int64), starts)

    def put(slot: str, at: Array, mask: Array | None = None) -> None:
        where = slice(None) if mask is None else mask
        out[f"{slot}_s"][where], out[f"{slot}_t"][where], out[f"{slot}_v"][where] = \
            s[at], t[at], v[at]

    put("f", starts)
    put("l", ends)
    for slot, fill, extreme, last in (("lo", np.inf, np.minimum, False),
                                      ("hi", -np.inf, np.maximum, True)):
        filled = np.where(nan, fill, v)
        best = extreme.reduceat(filled, starts)
        hit = np.flatnonzero((filled == best[group]) & ~nan)
        if len(hit) == 0:
            continue
        # Among equal extremes: the least (step, time) for the minimum, the greatest for
        # the maximum, as reduce_cells orders them.
        pick = np.lexsort((t[hit], s[hit], group[hit]))
        hit_groups = group[hit][pick]
        edge = np.r_[hit_groups[1:] != hit_groups[:-1], True] if last else \
            np.r_[True, hit_groups[1:] != hit_groups[:-1]]
        chosen = hit[pick][edge]
        put(slot, chosen, group[chosen])
    nans = np.flatnonzero(nan)
    if len(nans):
        first = nans[np.r_[True, group[nans][1:] != group[nans][:-1]]]
        put("nan", first, group[first])
    return out


def merge_adjacent(cells: Array, keys: Array) -> Array:
    """``reduce_cells(cells, [keys], …)`` for cells of one level sorted by cell (so their
    x ranges are disjoint and increasing) and ``keys`` that never decrease: a group's
    first and last are its first and last cell's, no sorting needed."""
    if len(cells) == 0:
        return empty_cells()
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.append(starts[1:], len(keys)) - 1
    sizes = np.diff(np.append(starts, len(keys)))
    group = np.repeat(np.arange(len(starts)), sizes)
    out = np.zeros(len(starts), CELL)
    out["cell"] = keys[starts]
    out["n"] = np.add.reduceat(cells["n"], starts)
    out["nans"] = np.add.reduceat(cells["nans"], starts)
    for field in ("s", "t", "v"):
        out[f"f_{field}"] = cells[f"f_{field}"][starts]
        out[f"l_{field}"] = cells[f"l_{field}"][ends]
    valid = cells["nans"] < cells["n"]
    for slot, fill, extreme, last in (("lo", np.inf, np.minimum, False),
                                      ("hi", -np.inf, np.maximum, True)):
        filled = np.where(valid, cells[f"{slot}_v"], fill)
        best = extreme.reduceat(filled, starts)
        hit = np.flatnonzero((filled == best[group]) & valid)
        if len(hit) == 0:
            continue
        pick = np.lexsort((cells[f"{slot}_t"][hit], cells[f"{slot}_s"][hit], group[hit]))
        hit_groups = group[hit][pick]
        edge = np.r_[hit_groups[1:] != hit_groups[:-1], True] if last else \
            np.r_[True, hit_groups[1:] != hit_groups[:-1]]
        chosen = hit[pick][edge]
        for field in ("s", "t", "v"):
            out[f"{slot}_{field}"][group[chosen]] = cells[f"{slot}_{field}"][chosen]
    nans = np.flatnonzero(cells["nans"] > 0)
    if len(nans):
        first = nans[np.r_[True, group[nans][1:] != group[nans][:-1]]]
        for field in ("s", "t", "v"):
            out[f"nan_{field}"][group[first]] = cells[f"nan_{field}"][first]
    return out


def _levels(axis: str, steps: Array, times: Array, values: Array) -> list[Array]:
    """The cells of every level that the points fall in (level 0 first)."""
    cells = [raw_cells(axis, steps, times, values)]
    for _ in range(1, LEVELS):
        below = cells[-1]
        if len(below) == 1:  # one cell: its parent is itself, renumbered
            above = below.copy()
            above["cell"] >>= 1
            cells.append(above)
        else:
            cells.append(merge_adjacent(below, below["cell"] >> 1))
    return cells


Series = tuple[str, str]  # (run id, metric name)


def update_cells(conn: Connection,
                 points: Iterable[tuple[Series, Array, Array, Array]]) -> None:
    """Fold new points (per series: steps, times, values, in logged order) into the
    stored cells, in the caller's transaction."""
    new: dict[tuple[str, str, str], tuple[Array, Array]] = {}  # (run, name, axis) -> levels
    for (run_id, name), steps, times, values in points:
        for axis in ("s", "t"):
            per_level = _levels(axis, steps, times, values)
            level = np.concatenate([np.full(len(c), lv, dtype=np.int64)
                                    for lv, c in enumerate(per_level)])
            new[(run_id, name, axis)] = (level, join_cells(per_level))
    if not new:
        return
    keys = sorted({(run_id, name, axis, int(lv), int(cell) >> PAGE_BITS)
                   for (run_id, name, axis), (level, cells) in new.items()
                   for lv, cell in zip(level.tolist(), cells["cell"].tolist(), strict=True)})
    c = metric_cells.c
    key_columns = tuple_(c.run_id, c.name, c.axis, c.level, c.page)
    stored: dict[tuple[str, str, str], list[tuple[int, bytes]]] = {}
    for page in _pages(keys):
        for row in conn.execute(select(c.run_id, c.name, c.axis, c.level, c.cells)
                                .where(among(key_columns, page))):
            stored.setdefault((row.run_id, row.name, row.axis), []).append(
                (row.level, row.cells))
        conn.execute(delete(metric_cells).where(among(key_columns, page)))
    rows: list[dict[str, Any]] = []
    for (run_id, name, axis), (level, cells) in new.items():
        old = stored.get((run_id, name, axis), [])
        if old:
            old_cells = [np.frombuffer(blob, CELL) for _, blob in old]
            level = np.concatenate([level, *[np.full(len(o), lv, dtype=np.int64)
                                             for (lv, _), o in zip(old, old_cells, strict=True)]])
            cells = join_cells([cells, *old_cells])
        merged, merged_level = _merge_levels(cells, level, axis)
        page_of = merged["cell"] >> PAGE_BITS
        cut = np.flatnonzero((np.diff(merged_level) != 0) | (np.diff(page_of) != 0)) + 1
        for lo, hi in zip(np.r_[0, cut].tolist(), np.r_[cut, len(merged)].tolist(), strict=True):
            rows.append({"run_id": run_id, "name": name, "axis": axis,
                         "level": int(merged_level[lo]), "page": int(page_of[lo]),
                         "cells": merged[lo:hi].tobytes()})
    conn.execute(insert(metric_cells), rows)


def _merge_levels(cells: Array, level: Array, axis: str) -> tuple[Array, Array]:
    """``reduce_cells(cells, [level, cell])`` and each result's level. Only the cells
    whose (level, cell) comes twice (a stored cell that new points fell into: usually
    one per level) are reduced; the others are already what reducing them would give."""
    cl = cells["cell"]
    if len(cl) > 1 and bool(np.all((level[1:] > level[:-1]) | (
            (level[1:] == level[:-1]) & (cl[1:] > cl[:-1])))):
        return cells, level  # new cells only, already by (level, cell): nothing to merge
    order = np.lexsort((cl, level))
    lv, cl, ordered = level[order], cl[order], cells[order]
    same_next = (lv[1:] == lv[:-1]) & (cl[1:] == cl[:-1])
    if not same_next.any():
        return ordered, lv
    dup = np.zeros(len(lv), dtype=bool)
    dup[1:] |= same_next
    dup[:-1] |= same_next
    reduced = reduce_cells(ordered[dup], [lv[dup], cl[dup]], axis)
    all_cells = join_cells([ordered[~dup], reduced])
    all_level = np.concatenate([lv[~dup], _group_levels(lv[dup], cl[dup])])
    again = np.lexsort((all_cells["cell"], all_level))
    return all_cells[again], all_level[again]


def _group_levels(level: Array, cell: Array) -> Array:
    """The level of each group ``reduce_cells(…, [level, cell])`` makes, in its order."""
    order = np.lexsort((cell, level))
    lv, cl = level[order], cell[order]
    change = np.ones(len(lv), dtype=bool)
    change[1:] = (lv[1:] != lv[:-1]) | (cl[1:] != cl[:-1])
    return lv[change]


def _pages(keys: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for i in range(0, len(keys), size):
        yield keys[i:i + size]
