"""The downsampler against a brute-force reference: random series (any chunking, 1-point
chunks, steps out of order and logged again, NaN and infinities) folded into the grid
summaries batch by batch, then asked for ranges (some exactly on a chunk's first or
last step) by step and by time. Raw when few; else every bucket's first, last, min and
max (and a NaN, if it has one) are in the answer, which holds no other points and never
more than the budget."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine

from runstream.events import Envelope, MetricsLogged, RunSubmitted, new_event, run_stream
from runstream_server.downsample import RunSeries, downsample
from runstream_server.eventstore import append
from runstream_server.projections import folding
from runstream_server.projections.folding import fold, fold_all, folded
from runstream_server.projections.runner import Projector

T0 = 1_700_000_000.0
Point = tuple[int, float, float]

values = st.one_of(st.floats(-5, 5), st.sampled_from([0.0, 1.0, math.nan, math.inf, -math.inf]))


@st.composite
def chunked_series(draw: st.DrawFn) -> list[list[Point]]:
    """Chunks of points; steps wander (sometimes back, sometimes repeated)."""
    chunks: list[list[Point]] = []
    step = draw(st.integers(0, 300))
    for _ in range(draw(st.integers(1, 12))):
        size = draw(st.sampled_from([1, 1, 2, 5, 40, 300]))
        chunk = []
        for _ in range(size):
            step = max(0, step + draw(st.sampled_from([1, 1, 1, 7, 64, 0, -3, -200])))
            time = T0 + step * draw(st.sampled_from([0.5, 1.0, 3.0]))
            chunk.append((step, time, draw(values)))
        chunks.append(chunk)
    return chunks


@pytest.fixture
def store() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    yield engine
    engine.dispose()


def write(engine: Engine, chunks: list[list[Point]], cuts: list[int],
          fold_most: int | None = None) -> None:
    """The chunks as a run's metrics.logged events, appended in batches cut at ``cuts``;
    after each batch, up to ``fold_most`` chunks folded into the summaries (None: none,
    so every answer comes from unfolded chunks; few: summaries and unfolded mixed)."""
    projector = Projector()
    projector.prepare(engine)
    stream = run_stream("r1")
    events: list[Envelope] = [new_event(stream, 0, RunSubmitted(project="p", script="t.py"))]
    for i, chunk in enumerate(chunks, start=1):
        events.append(new_event(stream, i, MetricsLogged(
            names=["loss"], index=[0] * len(chunk), steps=[p[0] for p in chunk],
            times=[p[1] for p in chunk], values=[p[2] for p in chunk])))
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < len(events)), len(events)]
    for a, b in itertools.pairwise(bounds):
        with engine.begin() as conn:
            projector.apply(conn, append(conn, events[a:b]).stored)
        if fold_most is not None:
            with engine.begin() as conn:
                fold(conn, fold_most)


def cell(axis: str, x: float) -> int:
    return int(x) >> 6 if axis == "step" else math.floor(x)


def reference_buckets(points: list[Point], axis: str, lo: float, hi: float,
                      most: int) -> dict[int, list[Point]]:
    """The documented grid: the narrowest buckets of k cells of a level (widths 1, 2, 3,
    4, 6, 8 … level-0 cells) that cut [lo, hi] into at most ``most``."""
    c_lo, c_hi = cell(axis, lo), cell(axis, hi)
    widths = sorted({k << lv for lv in range(70) for k in (1, 3)})
    width = next(w for w in widths if c_hi // w - c_lo // w + 1 <= most)
    buckets: dict[int, list[Point]] = {}
    for p in points:
        buckets.setdefault(cell(axis, x_of(p, axis)) // width, []).append(p)
    return buckets


def x_of(p: Point, axis: str) -> float:
    return p[0] if axis == "step" else p[1]


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def answered(series: RunSeries) -> list[Point]:
    # The JSON answer spells NaN and infinities null; the function keeps them as floats.
    return list(zip(series.steps, series.times, series.values, strict=True))


def check(points: list[Point], axis: str, start: float | None, end: float | None,
          budget: int, got: RunSeries) -> None:
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end
    inside = [p for p in points if lo <= x_of(p, axis) <= hi]
    assert got.total == len(inside)
    answer = answered(got)
    if len(inside) <= budget:
        assert not got.sampled
        expected = sorted(inside, key=lambda p: x_of(p, axis))  # stable: logged order
        assert len(answer) == len(expected)
        for a, e in zip(answer, expected, strict=True):
            assert a[0] == e[0] and a[1] == e[1] and same(a[2], e[2])
        return
    assert got.sampled
    assert len(answer) <= budget
    xs = [x_of(p, axis) for p in answer]
    assert xs == sorted(xs)
    real = {(p[0], p[1], repr(p[2] + 0.0)) for p in inside}
    assert all((p[0], p[1], repr(p[2])) in real for p in answer)
    ext = [x_of(p, axis) for p in points]  # the asked range, within the series' extent
    # Four points a bucket; five if the series has NaN (each bucket may show one).
    most = budget // (5 if any(math.isnan(p[2]) for p in points) else 4)
    buckets = reference_buckets(inside, axis, max(lo, min(ext)), min(hi, max(ext)), most)
    by_bucket: dict[int, list[Point]] = {}
    for b, members in buckets.items():
        xs_b = [x_of(p, axis) for p in members]
        near = [p for p in answer if min(xs_b) <= x_of(p, axis) <= max(xs_b)]
        by_bucket[b] = near
        assert near, f"bucket {b} has no point in the answer"
        assert min(x_of(p, axis) for p in near) == min(xs_b)  # its first
        assert max(x_of(p, axis) for p in near) == max(xs_b)  # its last
        numbers = [p[2] for p in members if not math.isnan(p[2])]
        if numbers:
            assert min(numbers) in [p[2] for p in near]
            assert max(numbers) in [p[2] for p in near]
        if len(numbers) < len(members):
            assert any(math.isnan(p[2]) for p in near), f"bucket {b} lost its NaN"
    assert sum(len(v) for v in by_bucket.values()) >= len(buckets)


@st.composite
def queries(draw: st.DrawFn, chunks: list[list[Point]]) -> dict[str, Any]:
    axis = draw(st.sampled_from(["step", "time"]))
    edges = [x_of(p, axis) for c in chunks for p in (c[0], c[-1])]
    edges += [x_of(min(c, key=lambda p: x_of(p, axis)), axis) for c in chunks]
    bound = st.one_of(st.none(), st.sampled_from(edges),
                      st.floats(min(edges) - 5, max(edges) + 5))
    start, end = draw(bound), draw(bound)
    if start is not None and end is not None and start > end:
        start, end = end, start
    return {"x": axis, "start": start, "end": end,
            "budget": draw(st.sampled_from([8, 9, 20, 40, 100, 400, 2000]))}


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(chunks=chunked_series(), cuts=st.lists(st.integers(0, 13), max_size=4),
       data=st.data())
def test_every_bucket_keeps_its_first_last_min_max_and_nan(
        store: Engine, chunks: list[list[Point]], cuts: list[int], data: st.DataObject) -> None:
    from runstream_server.database import metadata

    metadata.drop_all(store)
    # SMALL 0: every series summarized (folds leave tails of chunks after the mark);
    # the default: these small series are read whole from their chunks.
    small = data.draw(st.sampled_from([0, folding.SMALL]))
    was, folding.SMALL = folding.SMALL, small
    try:
        write(store, chunks, cuts, data.draw(st.sampled_from([None, 1, 3, 10_000])))
    finally:
        folding.SMALL = was
    points = [p for c in chunks for p in c]
    for _ in range(3):
        q = data.draw(queries(chunks))
        with store.connect() as conn:
            got = downsample(conn, ["r1"], "loss", q["x"], q["start"], q["end"], q["budget"])
        start = q["start"]
        end = q["end"]
        if q["x"] == "step":  # whole steps in range
            start = None if start is None else float(max(0, math.ceil(start)))
            end = None if end is None else float(math.floor(end))
        check(points, q["x"], start, end, q["budget"], got.series[0])


def test_a_long_series_is_answered_in_buckets_within_the_budget(store: Engine) -> None:
    rng = np.random.default_rng(7)
    steps = list(range(200_000))
    spike = 123_457
    vals = rng.normal(size=len(steps)).tolist()
    vals[spike] = 1e6
    chunks = [[(s, T0 + s / 100, vals[s]) for s in steps[i:i + 20_000]]
              for i in range(0, len(steps), 20_000)]
    write(store, chunks, [3, 7], fold_most=3)  # 8 of 10 chunks folded, 2 waiting
    with store.connect() as conn:
        assert folded(conn) == 8
        got = downsample(conn, ["r1", "nobody"], "loss", budget=2000).series
    assert got[0].sampled and got[0].total == 200_000
    assert 1000 <= len(got[0].steps) <= 2000
    assert spike in got[0].steps and 1e6 in got[0].values
    assert got[1] == RunSeries("nobody", 0, False, [], [], [])


@pytest.mark.parametrize("x", ["step", "time"])
def test_answers_are_the_same_before_during_and_after_folding(x: str) -> None:
    """The summaries follow the chunks behind the writes: an answer never depends on how
    far they got, and a fold repeated (or raced: the mark moves by compare and set)
    folds nothing twice."""
    rng = np.random.default_rng(3)
    chunks = [[(s, T0 + s / 10, float(v)) for s, v in zip(
        range(i, i + 700), rng.normal(size=700), strict=True)] for i in range(0, 7000, 700)]
    chunks.append([(3333, T0 + 9.0, 50.0)])  # a re-logged step, out of order: a spike
    answers = []
    for most, waiting in ((None, len(chunks)), (2, 4), (10_000, 0)):
        engine = create_engine("sqlite://")
        write(engine, chunks, [2, 5, 9], fold_most=most)
        with engine.connect() as conn:
            assert folded(conn) == len(chunks) - waiting  # chunk ids are 1, 2, …
            answers.append([downsample(conn, ["r1"], "loss", x, None, None, 80),
                            downsample(conn, ["r1"], "loss", x, 1000, 4000, 40)])
        assert fold_all(engine) == waiting
        with engine.begin() as conn:
            assert fold(conn) == 0  # nothing waits: nothing is folded again
        with engine.connect() as conn:
            assert [downsample(conn, ["r1"], "loss", x, None, None, 80),
                    downsample(conn, ["r1"], "loss", x, 1000, 4000, 40)] == answers[0]
        engine.dispose()
    assert answers[0] == answers[1] == answers[2]
    whole = answers[0][0].series[0]
    assert whole.sampled and whole.total == 7001 and 50.0 in whole.values


def test_a_small_series_is_read_whole_and_summarized_once_it_grows(store: Engine) -> None:
    """Most runs of a sweep log a few points: no summary for them (their chunks are
    read whole); a series that grows past SMALL is summarized with all its chunks."""
    from runstream_server.projections.folding import summarized

    few = [[(s, T0 + s, float(s % 7)) for s in range(i, i + 100)] for i in range(0, 500, 100)]
    write(store, few, [], fold_most=10_000)
    with store.connect() as conn:
        assert folded(conn) == 5 and not summarized(conn, [("r1", "loss")])
        small = downsample(conn, ["r1"], "loss", budget=40).series[0]
    assert small.sampled and small.total == 500 and max(small.values) == 6.0
    more = [[(s, T0 + s, 100.0 if s == 4321 else float(s % 7)) for s in range(i, i + 1000)]
            for i in range(500, 5500, 1000)]
    engine = create_engine("sqlite://")
    write(engine, few + more, [6, 8], fold_most=10_000)
    with engine.connect() as conn:
        assert folded(conn) == 10 and summarized(conn, [("r1", "loss")])
        grown = downsample(conn, ["r1"], "loss", budget=40).series[0]
    assert grown.sampled and grown.total == 5500 and 4321 in grown.steps
    engine.dispose()
