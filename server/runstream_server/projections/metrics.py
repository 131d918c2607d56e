"""Metric views: numeric series in chunks, arrays and strings as values.

A numeric series is stored as one row per (event, metric): packed int64 steps,
float64 times and float64 values. A 100,000-point series logged in batches is
a few dozen rows, read and concatenated in milliseconds. Beside the chunks, the same
projection folds each series into grid summaries (``projections/cells.py``), which
``GET /api/series`` downsamples from without reading the chunks.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any, ClassVar, cast

import msgspec
import numpy as np
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from runstream.events import MetricsLogged, MetricValue, run_id_of
from runstream_server.database import metadata
from runstream_server.projections.base import AppendProjection, Applied
from runstream_server.projections.cells import metric_cells, metric_cells_folded

__all__ = [
    "MetricChunksProjection", "MetricLatestProjection", "MetricValuesProjection",
    "metric_latest", "split_points", "value_decoder",
]

metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("run_id", String(200), nullable=False),
    Column("name", String(300), nullable=False),
    Column("n", Integer, nullable=False),
    Column("first_step", BigInteger, nullable=False),  # the least step (not the first logged)
    Column("last_step", BigInteger, nullable=False),  # the greatest
    Column("first_time", Float, nullable=False),  # the earliest time, the latest:
    Column("last_time", Float, nullable=False),  # which chunks a time range reads
    Column("steps", LargeBinary, nullable=False),
    Column("times", LargeBinary, nullable=False),
    Column("vals", LargeBinary, nullable=False),
    Column("position", BigInteger, nullable=False),
    Index("ix_metric_chunks_run_name", "run_id", "name", "id"),
)

metric_values = Table(
    "metric_values",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("run_id", String(200), nullable=False),
    Column("name", String(300), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("time", Float, nullable=False),
    Column("kind", String(10), nullable=False),  # "array" | "string"
    # MessagePack, not JSON: arrays may hold NaN and infinities, which JSON (and so
    # PostgreSQL's json type) cannot.
    Column("value", LargeBinary, nullable=False),
    Column("position", BigInteger, nullable=False),
    Index("ix_metric_values_run_name", "run_id", "name", "id"),
)


# Each numeric metric's latest point as MLflow defines it (its ``run.data.metrics``): the
# highest step, then the latest time, then the one logged last. A run's answer, or a
# page of a search, reads one row per metric instead of unpacking the chunks.
metric_latest = Table(
    "metric_latest",
    metadata,
    Column("run_id", String(200), nullable=False),
    Column("name", String(300), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("time", Float, nullable=False),
    Column("value", Float),  # NULL: NaN (SQLite stores NaN as NULL)
    Column("position", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "name"),
)

value_encoder = msgspec.msgpack.Encoder()
value_decoder = msgspec.msgpack.Decoder(MetricValue)


Split = tuple[dict[str, tuple[list[int], list[float], list[float]]],
              list[tuple[str, int, float, MetricValue]]]


def split_points(item: Applied) -> Split:
    """An event's numeric points grouped per metric (steps, times, values), and the
    rest; computed once per event (the chunks, values and latest projections each split
    the same event in turn). Read-only."""
    split: Split | None = item.memo.get("split_points")
    if split is None:
        split = item.memo["split_points"] = _split_points(cast(MetricsLogged, item.payload))
    return split


def _split_points(payload: MetricsLogged) -> Split:
    names, index, steps, times, values = (
        payload.names, payload.index, payload.steps, payload.times, payload.values)
    if len(names) == 1:
        try:  # fast path: one metric, all numbers (array() refuses anything else)
            array("d", cast(list[float], values))
        except TypeError:
            pass
        else:
            return {names[0]: (steps, times, cast(list[float], values))}, []
    numeric: dict[str, tuple[list[int], list[float], list[float]]] = {}
    other: list[tuple[str, int, float, MetricValue]] = []
    for k, s, t, v in zip(index, steps, times, values, strict=True):
        if isinstance(v, float | int):
            cols = numeric.get(names[k])
            if cols is None:
                cols = numeric[names[k]] = ([], [], [])
            cols[0].append(s)
            cols[1].append(t)
            cols[2].append(v)
        else:
            other.append((names[k], s, t, v))
    return numeric, other


class MetricChunksProjection(AppendProjection):
    """The chunks, and the grid summaries of their series (``projections/cells.py``):
    one projection, so that one rebuild remakes both. The summaries follow the chunks
    behind the write path (``projections/folding.py``)."""

    name: ClassVar[str] = "metric_chunks"
    # 2: first_time/last_time, and the metric_cells summaries
    version: ClassVar[int] = 2
    tables: ClassVar[tuple[Table, ...]] = (metric_chunks, metric_cells, metric_cells_folded)

    def rows(self, item: Applied) -> list[dict[str, Any]]:
        payload = item.payload
        run_id = run_id_of(item.event.stream)
        if not isinstance(payload, MetricsLogged) or run_id is None:
            return []
        numeric, _ = split_points(item)
        return [_chunk(run_id, name, s, t, v, item.event.position)
                for name, (s, t, v) in numeric.items() if s]


def _chunk(run_id: str, name: str, steps: list[int], times: list[float], values: list[float],
           position: int) -> dict[str, Any]:
    packed_steps, packed_times = array("q", steps).tobytes(), array("d", times).tobytes()
    if len(steps) < 64:
        lo_s, hi_s, lo_t, hi_t = min(steps), max(steps), min(times), max(times)
    else:  # over the packed bytes: numpy's min and max, not Python's, for big chunks
        s, t = np.frombuffer(packed_steps, np.int64), np.frombuffer(packed_times, np.float64)
        lo_s, hi_s, lo_t, hi_t = int(s.min()), int(s.max()), float(t.min()), float(t.max())
    return {"run_id": run_id, "name": name, "n": len(steps), "first_step": lo_s,
            "last_step": hi_s, "first_time": lo_t, "last_time": hi_t, "steps": packed_steps,
            "times": packed_times, "vals": array("d", values).tobytes(), "position": position}


class MetricValuesProjection(AppendProjection):
    name: ClassVar[str] = "metric_values"
    version: ClassVar[int] = 2
    tables: ClassVar[tuple[Table, ...]] = (metric_values,)

    def rows(self, item: Applied) -> list[dict[str, Any]]:
        payload = item.payload
        run_id = run_id_of(item.event.stream)
        if not isinstance(payload, MetricsLogged) or run_id is None:
            return []
        _, other = split_points(item)
        return [
            {"run_id": run_id, "name": name, "step": step, "time": t,
             "kind": "array" if isinstance(v, list) else "string",
             "value": value_encoder.encode(v),
             "position": item.event.position}
            for name, step, t, v in other
        ]


class MetricLatestProjection:
    name: ClassVar[str] = "metric_latest"
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = (metric_latest,)

    def handle(self, conn: Connection, batch: Sequence[Applied]) -> None:
        # (run, metric) → (step, time, value, position), the batch's latest first.
        best: dict[tuple[str, str], tuple[int, float, float, int]] = {}
        for item in batch:
            payload = item.payload
            run_id = run_id_of(item.event.stream)
            if not isinstance(payload, MetricsLogged) or run_id is None:
                continue
            numeric, _ = split_points(item)
            for name, (steps, times, values) in numeric.items():
                if not steps:
                    continue
                high = max(steps)
                if steps.count(high) == 1:  # the usual case, at C speed
                    i = steps.index(high)
                else:  # the latest time among the highest step's; the last logged wins ties
                    i = max((j for j in range(len(steps)) if steps[j] == high),
                            key=lambda j: (times[j], j))
                key, seen = (run_id, name), best.get((run_id, name))
                if seen is None or (high, times[i]) >= (seen[0], seen[1]):
                    best[key] = (high, times[i], float(values[i]), item.event.position)
        if not best:
            return
        # One upsert: what the log said later wins a tie with what is stored.
        c = metric_latest.c
        upsert = (postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert)(
            metric_latest)
        conn.execute(upsert.on_conflict_do_update(
            index_elements=[c.run_id, c.name],
            set_={k: upsert.excluded[k] for k in ("step", "time", "value", "position")},
            where=tuple_(upsert.excluded.step, upsert.excluded.time) >= tuple_(c.step, c.time)),
            [{"run_id": run_id, "name": name, "step": step, "time": time_,
              "value": None if value != value else value, "position": position}
             for (run_id, name), (step, time_, value, position) in best.items()])
