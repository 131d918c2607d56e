"""One metric of many runs, at most a budget of points per run, read from the grid
summaries (``projections/cells.py``) so that the cost grows with the buckets answered,
not with the points in the range.

A range holding at most ``budget`` points is answered raw, sorted by x. A larger one is
answered in M4 buckets: equal-width in x, each a whole cell of one summary level (the
finest level giving at most ``budget // 5`` buckets: four points, and one NaN, each),
each giving its first, minimum, maximum and last point (and its first NaN, so that a
gap is never hidden; NaN is never a minimum or a maximum), duplicates merged. Because
buckets are whole cells, every bucket's minimum and maximum are exact. Only the two
buckets cut by an asked ``start`` or ``end`` are recomputed from raw points, read from
the chunks that overlap them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
import numpy as np
from sqlalchemy import Connection, and_, or_, select

from runstream.events import INT64_MAX
from runstream_server.database import among
from runstream_server.projections.cells import (
    CELL,
    LEVELS,
    PAGE_BITS,
    STEP_BITS,
    TIME_SCALE,
    Array,
    cell_of,
    empty_cells,
    join_cells,
    merge_adjacent,
    metric_cells,
    point_cells,
    reduce_cells,
)
from runstream_server.projections.folding import FOLDING, folded, unfolded
from runstream_server.projections.metrics import metric_chunks

__all__ = ["Axis", "RunSeries", "SeriesAnswer", "downsample"]

Axis = Literal["step", "time"]
_TOP = LEVELS - 1
_OR_TERMS = 400  # runs per statement when each run brings its own condition
_READS = 4  # reads of an answer, each undone by a fold committing meanwhile


class RunSeries(msgspec.Struct):
    """One run's points of the metric in the range (``sampled``: M4 buckets)."""

    run_id: str
    total: int  # the run's points of this metric in the range
    sampled: bool  # false: these are all the raw points in the range
    steps: list[int]
    times: list[float]
    values: list[float]  # NaN and infinities are null, as in /api/runs/{id}/metrics/{name}


class SeriesAnswer(msgspec.Struct):
    metric: str
    x: Axis
    budget: int
    start: float | None
    end: float | None
    series: list[RunSeries]


@dataclass
class _Plan:
    """What one run's answer needs: its range, and the grid its buckets are cells of."""

    run_id: str
    lo: float  # the range, within the series' extent (ints for steps)
    hi: float
    total: int = 0
    level: int = 0
    k: int = 1  # cells of that level per bucket
    raw: bool = False
    buckets: Array | None = None  # CELL records, ``cell`` = bucket number


def downsample(conn: Connection, run_ids: Sequence[str], metric: str, x: Axis = "step",
               start: float | None = None, end: float | None = None,
               budget: int = 2000) -> SeriesAnswer:
    """``metric`` of each of ``run_ids`` (in that order) in [start, end] (inclusive; None:
    the series' own first or last x), at most ``budget`` points each.

    From the stored summaries and the points of the chunks not folded into them yet
    (``projections/folding.py``); read again when a fold committed while reading."""
    for _ in range(_READS - 1):
        mark = folded(conn)
        answer = _downsample(conn, run_ids, metric, x, start, end, budget, mark)
        if folded(conn) == mark:
            return answer
    with FOLDING:  # folds kept coming: the last read with none in between
        mark = folded(conn)
        return _downsample(conn, run_ids, metric, x, start, end, budget, mark)


def _downsample(conn: Connection, run_ids: Sequence[str], metric: str, x: Axis,
                start: float | None, end: float | None, budget: int,
                mark: int) -> SeriesAnswer:
    axis = "s" if x == "step" else "t"
    stored = _level_cells(conn, metric, axis, {r: None for r in run_ids}, _TOP, {})
    # A summarized series: its chunks after the mark; a small one (never summarized): all.
    tail = unfolded(conn, metric, [r for r, c in stored.items() if len(c)], mark)
    tail.update(unfolded(conn, metric, [r for r, c in stored.items() if not len(c)], 0))
    lo_ask, hi_ask = _bounds(axis, start, end)
    plans: dict[str, _Plan] = {}
    for run_id, top in _with_tail(stored, tail, axis, _TOP).items():
        if not len(top):
            continue
        lo = max(lo_ask, float(top[f"f_{axis}"].min()))
        hi = min(hi_ask, float(top[f"l_{axis}"].max()))
        if lo > hi:
            continue
        plan = plans[run_id] = _Plan(run_id, lo, hi, total=int(top["n"].sum()))
        if start is None and end is None and plan.total <= budget:
            plan.raw = True
        else:
            # Four points a bucket, five where a NaN may be among them.
            per_bucket = 5 if int(top["nans"].sum()) else 4
            plan.level, plan.k = _grid(axis, lo, hi, max(1, budget // per_bucket))
    _bucket(conn, metric, axis, [p for p in plans.values() if not p.raw], tail)
    for plan in plans.values():
        if not plan.raw and plan.total <= budget:
            plan.raw = True
    raw = _raw_points(conn, metric, axis, [(p.run_id, p.lo, p.hi)
                                           for p in plans.values() if p.raw])
    sampled = [p for p in plans.values() if not p.raw]
    points = _m4([p.buckets for p in sampled if p.buckets is not None], axis)
    m4 = {p.run_id: at for p, at in zip(sampled, points, strict=True)}
    series = []
    for run_id in run_ids:
        found = plans.get(run_id)
        if found is None:
            series.append(RunSeries(run_id, 0, False, [], [], []))
        elif found.raw:
            s, t, v = raw.get(run_id, _NO_POINTS)
            order = np.argsort(s if axis == "s" else t, kind="stable")
            series.append(RunSeries(run_id, len(s), False, s[order].tolist(),
                                    t[order].tolist(), v[order].tolist()))
        else:
            s, t, v = m4[run_id]
            series.append(RunSeries(run_id, found.total, True, s.tolist(), t.tolist(),
                                    v.tolist()))
    return SeriesAnswer(metric, x, budget, start, end, series)


_NO_POINTS = (np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.float64))


def _bounds(axis: str, start: float | None, end: float | None) -> tuple[float, float]:
    if axis == "s":  # whole steps inside [start, end]
        lo = 0 if start is None else max(0, math.ceil(start))
        hi = INT64_MAX if end is None else min(INT64_MAX, math.floor(end))
        return float(lo), float(hi)
    return (-math.inf if start is None else start, math.inf if end is None else end)


def _cell(axis: str, x: float) -> int:
    if axis == "s":
        return min(int(x), INT64_MAX) >> STEP_BITS
    return int(cell_of(axis, np.array([x]))[0])


def _grid(axis: str, lo: float, hi: float, most: int) -> tuple[int, int]:
    """The narrowest buckets, ``k`` cells of a level wide (widths 1, 2, 3, 4, 6, 8, 12 …
    level-0 cells), that cut the range into at most ``most``."""
    c_lo, c_hi = _cell(axis, lo), _cell(axis, hi)
    def fits(level: int, k: int) -> bool:
        return (c_hi >> level) // k - (c_lo >> level) // k + 1 <= most

    for level in range(LEVELS):
        for candidate in ((level, 1), (level - 1, 3)) if level else ((0, 1),):
            if fits(*candidate):
                return candidate
    k = 2
    while not fits(_TOP, k):
        k = k // 2 * 3 if k & (k - 1) == 0 else k // 3 * 4  # 2, 3, 4, 6, 8, 12, …
    return _TOP, k


def _level_cells(conn: Connection, metric: str, axis: str,
                 pages: dict[str, tuple[int, int] | None], level: int,
                 tail: dict[str, tuple[Array, Array, Array]]) -> dict[str, Array]:
    """Each run's cells of one level (in a page range, or all; pages beyond a run's
    own range may come too: callers cut by cell): the stored ones, in one statement
    (the runs' ids written into it, the pages bounded by the union of their ranges),
    merged with the cells of the run's ``tail``, the points not folded yet."""
    c = metric_cells.c
    blobs: dict[str, list[tuple[int, bytes]]] = {r: [] for r in pages}
    where = [c.name == metric, c.axis == axis, c.level == level, among(c.run_id, pages)]
    spans = [span for span in pages.values() if span is not None]
    if spans and len(spans) == len(pages):
        where.append(c.page.between(min(a for a, _ in spans), max(z for _, z in spans)))
    for row in conn.execute(select(c.run_id, c.page, c.cells).where(*where)):
        blobs[row.run_id].append((row.page, row.cells))
    cells = {r: (join_cells([np.frombuffer(b, CELL) for _, b in sorted(found)])
                 if found else empty_cells()) for r, found in blobs.items()}
    return _with_tail(cells, tail, axis, level)


def _with_tail(cells: dict[str, Array], tail: dict[str, tuple[Array, Array, Array]],
               axis: str, level: int) -> dict[str, Array]:
    """Each run's ``cells`` of ``level`` merged with the cells of its ``tail`` points."""
    cells = dict(cells)
    for run_id, (s, t, v) in tail.items():
        if run_id not in cells or not len(s):
            continue
        new = reduce_cells(point_cells(s, t, v),
                           [cell_of(axis, s if axis == "s" else t) >> level], axis)
        stored = cells[run_id]
        both = join_cells([stored, new]) if len(stored) else new
        cells[run_id] = reduce_cells(both, [both["cell"]], axis) if len(stored) else new
    return cells


def _bucket(conn: Connection, metric: str, axis: str, plans: list[_Plan],
            tail: dict[str, tuple[Array, Array, Array]]) -> None:
    """Fill each plan's buckets from its level's cells; recompute the cut edge buckets
    from raw points; set each plan's total to the points in its range."""
    by_level: dict[int, list[_Plan]] = {}
    for plan in plans:
        by_level.setdefault(plan.level, []).append(plan)
    edges: list[tuple[_Plan, int, float, float]] = []  # (plan, bucket, from x, to x)
    for level, group in by_level.items():
        spans = {p.run_id: (_cell(axis, p.lo) >> level >> PAGE_BITS,
                            _cell(axis, p.hi) >> level >> PAGE_BITS) for p in group}
        found = _level_cells(conn, metric, axis, dict(spans), level, tail)
        for plan in group:
            cells = found[plan.run_id]
            first = _cell(axis, plan.lo) >> level
            last = _cell(axis, plan.hi) >> level
            cells = cells[(cells["cell"] >= first) & (cells["cell"] <= last)]
            if plan.k > 1:
                cells = merge_adjacent(cells, cells["cell"] // plan.k)
            b_first, b_last = first // plan.k, last // plan.k
            cut = np.zeros(len(cells), dtype=bool)
            if len(cells):
                cut |= (cells["cell"] == b_first) & (cells[f"f_{axis}"] < plan.lo)
                cut |= (cells["cell"] == b_last) & (cells[f"l_{axis}"] > plan.hi)
            for b in sorted({int(b) for b in cells["cell"][cut].tolist()}):
                a, z = _extent(axis, b, level, plan.k)
                edges.append((plan, b, max(a, plan.lo), min(z, plan.hi)))
            plan.buckets = cells[~cut]
    if not edges:
        for plan in plans:
            assert plan.buckets is not None
            plan.total = int(plan.buckets["n"].sum())
        return
    raw = _raw_points(conn, metric, axis, [(p.run_id, a, z) for p, _, a, z in edges])
    done: set[str] = set()
    for plan, _, _, _ in edges:
        if plan.run_id in done:
            continue
        done.add(plan.run_id)
        s, t, v = raw.get(plan.run_id, _NO_POINTS)
        x = s if axis == "s" else t
        keep = (x >= plan.lo) & (x <= plan.hi)
        bucket = (cell_of(axis, x) >> plan.level) // plan.k
        wanted = [b for p, b, _, _ in edges if p is plan]
        keep &= np.isin(bucket, wanted)
        points = point_cells(s[keep], t[keep], v[keep])
        extra = reduce_cells(points, [bucket[keep]], axis)
        assert plan.buckets is not None
        merged = join_cells([plan.buckets, extra])
        plan.buckets = merged[np.argsort(merged["cell"], kind="stable")]
    for plan in plans:
        assert plan.buckets is not None
        plan.total = int(plan.buckets["n"].sum())


def _extent(axis: str, bucket: int, level: int, k: int) -> tuple[float, float]:
    """The x interval a bucket (``k`` cells of ``level``) covers (inclusive; a little
    wide for times)."""
    first, after = bucket * k, (bucket + 1) * k  # its cells, and the next bucket's first
    if axis == "s":
        bits = STEP_BITS + level
        return float(first << bits), float((after << bits) - 1)
    width = 2.0 ** level / TIME_SCALE
    return first * width, after * width


def _raw_points(conn: Connection, metric: str, axis: str,
                ranges: Sequence[tuple[str, float, float]]) -> dict[str, tuple[Array, ...]]:
    """Raw points of the chunks overlapping each (run, from x, to x), by run, in logged
    order (not yet cut to the range: callers filter)."""
    c = metric_chunks.c
    first, last = (c.first_step, c.last_step) if axis == "s" else (c.first_time, c.last_time)
    parts: dict[str, dict[int, Any]] = {}
    bounds: dict[str, tuple[float, float]] = {}
    for run_id, lo, hi in ranges:
        was = bounds.get(run_id, (lo, hi))
        bounds[run_id] = (min(was[0], lo), max(was[1], hi))
    for i in range(0, len(ranges), _OR_TERMS):
        terms = [and_(c.run_id == run_id, first <= hi, last >= lo)
                 for run_id, lo, hi in ranges[i:i + _OR_TERMS]]
        for row in conn.execute(select(c.id, c.run_id, c.steps, c.times, c.vals).where(
                c.name == metric, or_(*terms))):
            parts.setdefault(row.run_id, {})[row.id] = row  # a chunk once, across statements
    out: dict[str, tuple[Array, ...]] = {}
    for run_id, by_id in parts.items():
        unique = [by_id[i] for i in sorted(by_id)]
        s = np.frombuffer(b"".join(r.steps for r in unique), np.int64)
        t = np.frombuffer(b"".join(r.times for r in unique), np.float64)
        v = np.frombuffer(b"".join(r.vals for r in unique), np.float64)
        x = s if axis == "s" else t
        lo, hi = bounds[run_id]
        keep = (x >= lo) & (x <= hi)
        out[run_id] = (s[keep], t[keep], v[keep])
    return out


def _m4(per_run: list[Array], axis: str) -> list[tuple[Array, Array, Array]]:
    """Each bucket's first, min, max, last (and first NaN) points, duplicates merged,
    sorted by x, for each run's buckets; vectorized over all buckets of all runs.

    The first point has the least x of its bucket and the last the greatest, so only
    the three between (min, max, NaN) are sorted, by a three-element sorting network."""
    if not per_run:
        return []
    b = join_cells(per_run)
    x, y = ("s", "t") if axis == "s" else ("t", "s")
    has_value = b["nans"] < b["n"]
    always = np.ones(len(b), dtype=bool)

    def slot(name: str, valid: Array) -> dict[str, Array]:
        v = b[f"{name}_v"]
        return {"s": b[f"{name}_s"], "t": b[f"{name}_t"], "v": v, "bits": v.view(np.int64),
                "ok": valid}

    middle = [slot("lo", has_value), slot("hi", has_value), slot("nan", b["nans"] > 0)]

    def before(a: dict[str, Array], c: dict[str, Array]) -> Array:
        """a sorts before c: valid first, then by (x, y, value bits)."""
        ax, cx, ay, cy = a[x], c[x], a[y], c[y]
        first: Array = (a["ok"] & ~c["ok"]) | ((a["ok"] == c["ok"]) & (
            (ax < cx) | ((ax == cx) & ((ay < cy) | ((ay == cy) & (a["bits"] < c["bits"]))))))
        return first

    def swap(i: int, j: int) -> None:
        flip = before(middle[j], middle[i])
        a, c = middle[i], middle[j]
        middle[i] = {k: np.where(flip, c[k], a[k]) for k in a}
        middle[j] = {k: np.where(flip, a[k], c[k]) for k in a}

    swap(0, 1)
    swap(1, 2)
    swap(0, 1)
    row = [slot("f", always), *middle, slot("l", always)]
    keep = np.stack([p["ok"] for p in row], axis=1)
    for j in range(1, 5):
        for i in range(j):
            same = (row[i]["s"] == row[j]["s"]) & (row[i]["t"] == row[j]["t"]) & \
                (row[i]["bits"] == row[j]["bits"]) & row[i]["ok"]
            keep[:, j] &= ~same
    steps = np.stack([p["s"] for p in row], axis=1)[keep]
    times = np.stack([p["t"] for p in row], axis=1)[keep]
    values = np.stack([p["v"] for p in row], axis=1)[keep]
    per_bucket = keep.sum(axis=1)
    ends = np.cumsum([int(per_bucket[a:z].sum()) for a, z in itertools.pairwise(
        np.cumsum([0] + [len(r) for r in per_run]).tolist())]).tolist()
    return [(steps[a:z], times[a:z], values[a:z])
            for a, z in itertools.pairwise([0, *ends])]
