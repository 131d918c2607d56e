"""The grid summaries (``cells``) kept up behind the chunks, off the write path.

A chunk is written with its event, in the event's transaction: that is what makes a
logged point durable and queryable at once. Folding it into the summaries of every
level is work of another order (a page of each of 2 × ``LEVELS`` levels read, merged
and written back): done in the write transaction, it made a 1,000-point MLflow
``log-batch`` of ten metrics 6× slower. So the summaries follow the chunks instead:
``fold`` takes the chunks after the last folded one (``metric_cells_folded``) in id
order, a bounded number at a time, and folds each series' new points in one merge —
the page writes of many chunks shared — while the server runs (``app.py``'s folding
task, every ``FOLD_EVERY`` seconds, on the writer's thread).

Readers stay exact at every moment: ``unfolded`` gives the points of the chunks after
the mark, which the downsampler merges into the stored cells (a merge in any order
gives the same cells), and ``folded`` read before and after tells a reader that a fold
committed in between (then it reads again). A rebuild drops the mark with the chunks
and the cells (one projection's tables), so the summaries are refolded from zero.

Two servers on one database (PostgreSQL) may both fold: the mark moves by compare and
set first in the transaction, so the loser's fold rolls back and nothing is folded
twice.
"""

from __future__ import annotations

import threading
from collections.abc import Collection

import numpy as np
from sqlalchemy import Connection, Engine, func, insert, select, tuple_, update

from runstream_server.database import among
from runstream_server.projections.cells import (
    LEVELS,
    Array,
    metric_cells,
    metric_cells_folded,
    update_cells,
)
from runstream_server.projections.metrics import metric_chunks

__all__ = ["FOLDING", "FOLD_CHUNKS", "FOLD_EVERY", "SMALL", "fold", "fold_all", "folded",
           "summarized", "unfolded"]

FOLD_EVERY = 2.0  # seconds between folds while chunks wait (more chunks, fewer page writes)
FOLD_CHUNKS = 2_000  # chunks per fold: one fold never holds the writer for long
# A series of at most this many points is not summarized: read whole, it costs less
# than the cells of every level on both axes (most of a sweep's runs log a few points).
SMALL = 4096
# Held by this process's folds (``fold_all``, the server's folding task) and by a reader
# that folds kept overtaking: it then reads once with none committing meanwhile.
FOLDING = threading.Lock()

def folded(conn: Connection) -> int:
    """The id of the last chunk folded into the summaries (0: none)."""
    mark = conn.execute(select(metric_cells_folded.c.chunk)
                        .where(metric_cells_folded.c.id == 1)).scalar()
    return int(mark or 0)


def fold(conn: Connection, most: int = FOLD_CHUNKS) -> int:
    """Fold up to ``most`` chunks after the mark into the summaries, in the caller's
    transaction; how many were passed (0: none waited, or another server folded them).

    A series is summarized once it holds more than ``SMALL`` points (then all its chunks
    up to the mark are folded at once); a smaller one is read whole from its chunks,
    which costs less than the cells of every level it would take."""
    c = metric_chunks.c
    mark = folded(conn)
    rows = conn.execute(select(c.id, c.run_id, c.name, c.steps, c.times, c.vals)
                        .where(c.id > mark).order_by(c.id).limit(most)).all()
    if not rows:
        return 0
    last = int(rows[-1].id)
    f = metric_cells_folded.c
    if mark == 0 and conn.execute(select(f.id).where(f.id == 1)).first() is None:
        conn.execute(insert(metric_cells_folded), [{"id": 1, "chunk": last}])
    elif conn.execute(update(metric_cells_folded).where(f.id == 1, f.chunk == mark)
                      .values(chunk=last)).rowcount != 1:
        return 0  # another server moved the mark: its fold has these chunks
    per_series: dict[tuple[str, str], list[tuple[bytes, bytes, bytes]]] = {}
    for row in rows:
        per_series.setdefault((row.run_id, row.name), []).append(
            (row.steps, row.times, row.vals))
    have = summarized(conn, list(per_series))
    fresh = [key for key in per_series if key not in have]
    if fresh:
        totals = _totals(conn, fresh, last)
        big = [key for key in fresh if totals.get(key, 0) > SMALL]
        for key in fresh:
            del per_series[key]
        for run_id, name, steps, times, vals in conn.execute(
                select(c.run_id, c.name, c.steps, c.times, c.vals)
                .where(among(tuple_(c.run_id, c.name), big), c.id <= last)
                .order_by(c.id)) if big else ():
            per_series.setdefault((run_id, name), []).append((steps, times, vals))
    update_cells(conn, (
        (key, np.frombuffer(b"".join(s for s, _, _ in chunks), np.int64),
         np.frombuffer(b"".join(t for _, t, _ in chunks), np.float64),
         np.frombuffer(b"".join(v for _, _, v in chunks), np.float64))
        for key, chunks in per_series.items()))
    return len(rows)


def _totals(conn: Connection, series: list[tuple[str, str]],
            last: int) -> dict[tuple[str, str], int]:
    c = metric_chunks.c
    return {(run_id, name): int(n) for run_id, name, n in conn.execute(
        select(c.run_id, c.name, func.sum(c.n))
        .where(among(tuple_(c.run_id, c.name), series), c.id <= last)
        .group_by(c.run_id, c.name))}


def summarized(conn: Connection, series: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these series have summaries (every folded series has its top level)."""
    m = metric_cells.c
    return {(run_id, name) for run_id, name in conn.execute(
        select(m.run_id, m.name).distinct()
        .where(m.axis == "s", m.level == LEVELS - 1, among(tuple_(m.run_id, m.name), series)))}


def fold_all(engine: Engine) -> int:
    """Fold every waiting chunk, a transaction per ``FOLD_CHUNKS``: for tools that build
    a store without a running server (benchmarks, tests)."""
    total = 0
    while True:
        with FOLDING, engine.begin() as conn:
            n = fold(conn)
        total += n
        if n < FOLD_CHUNKS:
            return total


def unfolded(conn: Connection, metric: str, run_ids: Collection[str], mark: int,
             ) -> dict[str, tuple[Array, Array, Array]]:
    """Each run's points of ``metric`` in the chunks after ``mark`` (steps, times,
    values, in logged order): what the summaries do not hold yet."""
    if not run_ids:
        return {}
    c = metric_chunks.c
    found: dict[str, list[tuple[bytes, bytes, bytes]]] = {}
    for row in conn.execute(select(c.run_id, c.steps, c.times, c.vals)
                            .where(c.name == metric, c.id > mark, among(c.run_id, run_ids))
                            .order_by(c.id)):
        found.setdefault(row.run_id, []).append((row.steps, row.times, row.vals))
    return {run_id: (np.frombuffer(b"".join(s for s, _, _ in chunks), np.int64),
                     np.frombuffer(b"".join(t for _, t, _ in chunks), np.float64),
                     np.frombuffer(b"".join(v for _, _, v in chunks), np.float64))
            for run_id, chunks in found.items()}
