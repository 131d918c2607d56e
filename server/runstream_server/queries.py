"""The read side: what the API asks of the projections' views."""

from __future__ import annotations

import difflib
import math
import struct
import sys
from array import array
from collections.abc import Collection, Iterator, Sequence
from functools import partial
from typing import Any, Literal

import msgspec
from sqlalchemy import Connection, and_, func, literal, or_, select

from runstream.events import run_id_of
from runstream_server.database import among
from runstream_server.eventstore import events_table
from runstream_server.projections.artifacts import artifacts_table
from runstream_server.projections.experiments import (
    DEFAULT_ID,
    DEFAULT_NAME,
    Experiment,
    default_experiment,
    experiments_table,
)
from runstream_server.projections.logs import chunk_decoder, log_chunks
from runstream_server.projections.metrics import (
    metric_chunks,
    metric_latest,
    metric_values,
    value_decoder,
)
from runstream_server.projections.runs import RunView, numbering, runs_table
from runstream_server.search import (
    Comparison,
    holds,
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_filter,
    parse_order_list,
)
from runstream_server.search_sql import (
    compile_filter,
    compile_order_by,
    decode_page_token,
    encode_page_token,
    search_runs,
)

__all__ = [
    "Artifact",
    "History",
    "LatestMetric",
    "LogLine",
    "MlflowPage",
    "MlflowRun",
    "RunList",
    "Series",
    "experiment",
    "experiment_list",
    "experiment_named",
    "get_run",
    "latest_metrics",
    "list_runs",
    "metric_history",
    "mlflow_run",
    "mlflow_runs",
    "mlflow_runs_of",
    "mlflow_search_keys",
    "nearest_runs",
    "renumbered_runs",
    "run_state",
    "run_view",
    "run_views",
    "run_views_after",
    "search_experiments",
    "submitted_after",
]

SortKey = str
Archived = Literal["hide", "only", "include"]

_RUN_COLUMNS = frozenset({c.name for c in runs_table.c} | {"number"})


class RunList(msgspec.Struct):
    runs: list[RunView]
    total: int


class Series(msgspec.Struct, tag_field="format", tag="series"):
    """A numeric metric's points, columnar."""

    name: str
    steps: list[int]
    times: list[float]
    values: list[float]


class ValuePoint(msgspec.Struct):
    step: int
    time: float
    value: float | str | list[float]


class ValueSeries(msgspec.Struct, tag_field="format", tag="values"):
    """A metric logged as arrays or strings: every logged value in order."""

    name: str
    kind: str
    points: list[ValuePoint]


class MetricNames(msgspec.Struct):
    scalars: list[str]
    arrays: list[str]
    strings: list[str]


class LogLine(msgspec.Struct, array_like=True):
    """``[line number, time, fd, text]`` — compact, for 100,000-line logs."""

    n: int
    time: float
    fd: int
    text: str


class LogPage(msgspec.Struct):
    start: int
    lines: list[LogLine]
    total: int


class Artifact(msgspec.Struct):
    path: str
    sha256: str
    size: int
    media_type: str
    added: float


def _view(row: Any) -> RunView:
    return RunView(**row._asdict())


def list_runs(
    conn: Connection, *, project: str | None = None, status: str | None = None,
    archived: Archived = "hide", search: str | None = None, sort: SortKey = "-number",
    limit: int = 100, offset: int = 0, filter: str = "", order_by: str = "",
) -> RunList:
    """Runs, filtered, sorted (``-`` prefix: descending) and paged. Sorting by a
    metric name sorts by its latest value, runs without it last. ``filter`` is an
    MLflow run filter (``metrics.acc > 0.7 and params.lr = '0.1'``) and ``order_by``
    MLflow's comma-separated order clauses, which replace ``sort``
    (``runstream_server.search``); a bad one raises ``SearchError``."""
    t = runs_table.c
    comparisons = parse_filter(filter)
    orderings = parse_order_list(order_by)
    conds = []
    if project:
        conds.append(t.project == project)
    if status:
        conds.append(t.status.in_(status.split(",")))
    if archived == "hide":
        conds.append(t.archived.is_(False))
    elif archived == "only":
        conds.append(t.archived.is_(True))
    if search:
        like = f"%{search}%"
        conds.append(or_(t.script.like(like), t.run_id.like(like), t.reason.like(like)))
    # Numbered over all of a project's runs (only the keys, read from the index), then
    # joined and filtered: a run keeps its number whatever the filter shows.
    numbers = select(t.run_id, numbering())
    if project:
        numbers = numbers.where(t.project == project)
    numbered = numbers.subquery("numbers")
    n = numbered.c
    compiled = compile_filter(comparisons, n.number, conn.dialect.name)
    if compiled is not None:
        conds.append(compiled)
    where = and_(*conds) if conds else None
    query = select(runs_table, n.number).join_from(runs_table, numbered, n.run_id == t.run_id)
    if compiled is not None:  # it may read the numbers: count the joined rows
        total_q = select(func.count()).select_from(runs_table).join(
            numbered, n.run_id == t.run_id)
    else:
        total_q = select(func.count()).select_from(runs_table)
    if where is not None:
        total_q = total_q.where(where)
        query = query.where(where)
    total = int(conn.execute(total_q).scalar_one())
    if orderings:
        query = query.order_by(*compile_order_by(orderings, n.number, conn.dialect.name))
        rows = conn.execute(query.limit(limit).offset(offset)).all()
        return RunList([_view(r) for r in rows], total)
    desc = sort.startswith("-")
    key = sort.lstrip("-+")
    if key in _RUN_COLUMNS:
        column = n.number if key == "number" else t[key]
        query = query.order_by(column.desc() if desc else column.asc(), t.run_id)
        rows = conn.execute(query.limit(limit).offset(offset)).all()
        return RunList([_view(r) for r in rows], total)
    # A metric: sort in Python (values may be numbers or strings; missing ones last).
    views = [_view(r) for r in conn.execute(query)]
    have = [v for v in views if isinstance(v.metrics.get(key), int | float)]
    rest = [v for v in views if not isinstance(v.metrics.get(key), int | float)]
    have.sort(key=lambda v: float(v.metrics[key]), reverse=desc)
    return RunList((have + rest)[offset:offset + limit], total)


def get_run(conn: Connection, run_id: str) -> RunView | None:
    views = run_views(conn, [run_id])
    return views[0] if views else None


def nearest_runs(conn: Connection, run_id: str, n: int = 3) -> list[str]:
    """Run ids that look like ``run_id``, for 'did you mean' messages."""
    ids = conn.execute(select(runs_table.c.run_id)).scalars().all()
    close = difflib.get_close_matches(run_id, ids, n=n, cutoff=0.5)
    return close or [i for i in ids if run_id in i][:n]


def metric_names(conn: Connection, run_id: str) -> MetricNames:
    scalars = conn.execute(select(metric_chunks.c.name).where(
        metric_chunks.c.run_id == run_id).distinct()).scalars().all()
    others = conn.execute(select(metric_values.c.name, metric_values.c.kind).where(
        metric_values.c.run_id == run_id).distinct()).all()
    return MetricNames(
        sorted(scalars),
        sorted({n for n, k in others if k == "array"}),
        sorted({n for n, k in others if k == "string"}),
    )


def series_arrays(conn: Connection, run_id: str,
                  name: str) -> tuple[array[int], array[float], array[float]] | None:
    """A numeric series as packed arrays (int64 steps, float64 times and values)."""
    c = metric_chunks.c
    rows = conn.execute(select(c.steps, c.times, c.vals).where(
        c.run_id == run_id, c.name == name).order_by(c.id)).all()
    if not rows:
        return None
    steps, times, values = array("q"), array("d"), array("d")
    for row in rows:
        steps.frombytes(row.steps)
        times.frombytes(row.times)
        values.frombytes(row.vals)
    return steps, times, values


def series(conn: Connection, run_id: str, name: str) -> Series | None:
    found = series_arrays(conn, run_id, name)
    if found is None:
        return None
    steps, times, values = found
    return Series(name, steps.tolist(), times.tolist(), values.tolist())


def series_binary(conn: Connection, run_id: str, name: str) -> bytes | None:
    """``n`` (uint64) then n int64 steps, n float64 times, n float64 values, little-endian:
    a compact transfer for scripts, the CLI's callers and benchmarks (``bench/ingest.py``),
    read straight into typed arrays (``numpy.frombuffer``) with no number formatting at
    all. The web UI reads the JSON form."""
    found = series_arrays(conn, run_id, name)
    if found is None:
        return None
    steps, times, values = found
    if sys.byteorder != "little":
        for a in found:
            a.byteswap()
    return struct.pack("<Q", len(steps)) + steps.tobytes() + times.tobytes() + values.tobytes()


def value_series(conn: Connection, run_id: str, name: str) -> ValueSeries | None:
    c = metric_values.c
    rows = conn.execute(select(c.step, c.time, c.kind, c.value).where(
        c.run_id == run_id, c.name == name).order_by(c.id)).all()
    if not rows:
        return None
    return ValueSeries(name, rows[-1].kind,
                       [ValuePoint(r.step, r.time, value_decoder.decode(r.value)) for r in rows])


def log_page(conn: Connection, run_id: str, start: int = 0, limit: int = 1000) -> LogPage:
    """Lines ``start`` … ``start+limit-1`` (line numbers count from 0)."""
    total = int(conn.execute(select(func.coalesce(func.max(log_chunks.c.first + log_chunks.c.n),
                                                  0)).where(log_chunks.c.run_id == run_id))
                .scalar_one())
    lines = list(_lines(conn, run_id, start, start + limit))
    return LogPage(start, lines, total)


def iter_log(conn: Connection, run_id: str) -> Iterator[LogLine]:
    return _lines(conn, run_id, 0, None)


def _lines(conn: Connection, run_id: str, start: int, end: int | None) -> Iterator[LogLine]:
    c = log_chunks.c
    query = select(c.first, c.data).where(c.run_id == run_id, c.first + c.n > start)
    if end is not None:
        query = query.where(c.first < end)
    for first, data in conn.execute(query.order_by(c.first)):
        chunk = chunk_decoder.decode(data)
        for i, text in enumerate(chunk.lines):
            n = first + i
            if n >= start and (end is None or n < end):
                yield LogLine(n, chunk.times[i], chunk.fds[i], text)


def artifacts(conn: Connection, run_id: str) -> list[Artifact]:
    """A run's files; a path added twice shows its latest content."""
    c = artifacts_table.c
    rows = conn.execute(select(c.path, c.sha256, c.size, c.media_type, c.added)
                        .where(c.run_id == run_id).order_by(c.id)).all()
    latest = {r.path: Artifact(r.path, r.sha256, r.size, r.media_type, r.added) for r in rows}
    return sorted(latest.values(), key=lambda a: a.path)


# Up to this many runs, each is numbered by its own count; more are numbered all at once.
_COUNTED = 50


def run_views(conn: Connection, run_ids: Collection[str]) -> list[RunView]:
    """These runs' views with their numbers (ids without a view are left out): what
    ``GET /api/runs/<id>`` answers and the live feed's ``runs`` topic sends. For a few
    runs each number is 1 + the runs of its project before it in ``numbering``'s order,
    a correlated count (an index range scan of ix_runs_project_submitted per run, not a
    scan of every run); for many, ``numbering`` over their projects at once."""
    if not run_ids:
        return []
    t = runs_table.c
    if len(run_ids) > _COUNTED:
        projects = select(t.project).where(among(t.run_id, run_ids)).distinct()
        numbered = select(t.run_id, numbering()).where(t.project.in_(projects)).subquery("n")
        n = numbered.c
        rows = conn.execute(select(runs_table, n.number)
                            .join_from(runs_table, numbered, n.run_id == t.run_id)
                            .where(among(t.run_id, run_ids)).order_by(t.position)).all()
        return [_view(r) for r in rows]
    other = runs_table.alias("before")
    o = other.c
    before = (select(func.count()).select_from(other)
              .where(o.project == t.project,
                     or_(o.submitted < t.submitted,
                         and_(o.submitted == t.submitted, o.run_id < t.run_id)))
              .scalar_subquery())
    rows = conn.execute(select(runs_table, (before + 1).label("number"))
                        .where(among(t.run_id, run_ids)).order_by(t.position)).all()
    return [_view(r) for r in rows]


def run_views_after(conn: Connection, after: int, limit: int) -> list[RunView]:
    """Up to ``limit`` numbered run views whose position is after ``after``, in position
    order: a page of the live feed's ``runs`` backlog (numbered over every run at once)."""
    t = runs_table.c
    numbered = select(t.run_id, numbering()).subquery("numbers")
    n = numbered.c
    query = (select(runs_table, n.number).join_from(runs_table, numbered, n.run_id == t.run_id)
             .where(t.position > after).order_by(t.position).limit(limit))
    return [_view(r) for r in conn.execute(query)]


NumberKey = tuple[str, float, str]  # project, submitted, run id: see ``number_key``


def renumbered_runs(conn: Connection, keys: Collection[NumberKey],
                    at_most: int | None = None) -> list[RunView]:
    """The numbered views of the runs whose numbers the runs of ``keys`` moved: those
    of the same project after one of them in ``number_key``'s order (a run submitted
    late, or consumed late from another Kafka partition, renumbers the runs after it,
    whose own views did not change). ``at_most``: of those, only views whose position
    is at or before it (later ones are sent anyway)."""
    if not keys:
        return []
    t = runs_table.c
    first: dict[str, tuple[float, str]] = {}
    for project, submitted, run_id in keys:
        first[project] = min(first.get(project, (submitted, run_id)), (submitted, run_id))
    conds = [and_(t.project == project, or_(t.submitted > submitted,
                                            and_(t.submitted == submitted, t.run_id > run_id)))
             for project, (submitted, run_id) in first.items()]
    query = select(t.run_id).where(or_(*conds))
    if at_most is not None:
        query = query.where(t.position <= at_most)
    ids = conn.execute(query).scalars().all()
    return run_views(conn, ids)


def submitted_after(conn: Connection, after: int) -> list[NumberKey]:
    """The number keys of the runs submitted after log position ``after`` (a range scan
    of the log from there: a resume is from a recent position)."""
    e, t = events_table.c, runs_table.c
    streams = conn.execute(select(e.stream).where(e.position > after,
                                                  e.type == "run.submitted")).scalars()
    ids = [rid for s in streams if (rid := run_id_of(s))]
    if not ids:
        return []
    rows = conn.execute(select(t.project, t.submitted, t.run_id).where(among(t.run_id, ids)))
    return [(r.project, r.submitted or 0.0, r.run_id) for r in rows]


# -- the MLflow API's reads ------------------------------------------------------------


class LatestMetric(msgspec.Struct):
    """A metric's latest point as MLflow defines it: the highest step, then the latest
    time (then the one logged last)."""

    key: str
    value: float
    time: float  # seconds since the epoch
    step: int


class MlflowRun(msgspec.Struct):
    """What an MLflow answer says of a run: its view (not numbered), whether its
    experiment is deleted (its runs then count as deleted), its latest metrics."""

    view: RunView
    experiment_deleted: bool
    metrics: list[LatestMetric]


def deleted_experiment_ids(conn: Connection) -> set[str]:
    e = experiments_table.c
    return set(conn.execute(select(e.experiment_id)
                            .where(e.lifecycle_stage == "deleted")).scalars())


def run_view(conn: Connection, run_id: str) -> RunView | None:
    """One run's view by its key, not numbered: what the MLflow API checks before a write."""
    row = conn.execute(select(runs_table).where(runs_table.c.run_id == run_id)).first()
    return None if row is None else _view(row)


def run_state(conn: Connection, run_id: str) -> tuple[RunView, bool] | None:
    """A run's view (not numbered) and whether its experiment is deleted."""
    view = run_view(conn, run_id)
    if view is None:
        return None
    e = experiments_table.c
    stage = conn.execute(select(e.lifecycle_stage)
                         .where(e.experiment_id == view.experiment_id)).scalar()
    return view, stage == "deleted"


def latest_metrics(conn: Connection, run_ids: Collection[str]) -> dict[str, list[LatestMetric]]:
    """Each run's numeric metrics at their latest point (MLflow's ``run.data.metrics``),
    one row per metric of the ``metric_latest`` view, by name."""
    if not run_ids:
        return {}
    c = metric_latest.c
    found: dict[str, list[LatestMetric]] = {}
    nan = math.nan
    for run_id, name, value, time_, step in conn.execute(
            select(c.run_id, c.name, c.value, c.time, c.step)
            .where(among(c.run_id, run_ids)).order_by(c.run_id, c.name)):
        metric = LatestMetric(name, nan if value is None else float(value), time_, step)
        if (of_run := found.get(run_id)) is None:
            found[run_id] = [metric]
        else:
            of_run.append(metric)
    return found


def mlflow_runs(conn: Connection, views: list[RunView]) -> list[MlflowRun]:
    """``views`` with what MLflow's answers add: experiment deletion, latest metrics."""
    deleted = deleted_experiment_ids(conn) if views else set()
    metrics = latest_metrics(conn, [v.run_id for v in views])
    return [MlflowRun(v, v.experiment_id in deleted, metrics.get(v.run_id, [])) for v in views]


def mlflow_run(conn: Connection, run_id: str) -> MlflowRun | None:
    view = run_view(conn, run_id)
    return None if view is None else mlflow_runs(conn, [view])[0]


class MlflowPage(msgspec.Struct):
    """A page of MLflow's ``runs/search`` as keys: each run's id, position (its view
    changes only with a new position) and experiment, the deleted experiments, the next
    page's token."""

    runs: list[tuple[str, int, str]]
    deleted_experiments: set[str]
    next_page_token: str | None


def mlflow_search_keys(
    conn: Connection, experiment_ids: Sequence[str], filter: str, order_by: Sequence[str],
    archived: Archived, max_results: int, page_token: str | None,
) -> MlflowPage:
    """A page of MLflow's ``runs/search`` as keys, without building the runs: what an
    answer cache needs to tell which runs it already holds (``mlflow_runs_of`` reads
    the rest)."""
    keys, token = search_runs(conn, filter, order_by, max_results, page_token,
                              archived=archived, experiment_ids=experiment_ids,
                              lifecycle=True, keys_only=True)
    return MlflowPage(keys, deleted_experiment_ids(conn) if keys else set(), token)


def mlflow_runs_of(conn: Connection, run_ids: Collection[str]) -> list[MlflowRun]:
    """These runs as MLflow's answers tell them (ids without a view are left out)."""
    t = runs_table.c
    views = [_view(r) for r in conn.execute(
        select(runs_table, literal(0).label("number")).where(among(t.run_id, run_ids)))]
    return mlflow_runs(conn, views)


class History(msgspec.Struct):
    """A page of a numeric metric's points, in the order they were logged."""

    steps: list[int]
    times: list[float]
    values: list[float]
    more: bool  # points follow this page


def metric_history(conn: Connection, run_id: str, name: str, offset: int,
                   limit: int) -> History:
    """Points ``offset`` … ``offset+limit-1`` of a numeric series; only the chunks that
    hold them are read (their sizes tell which)."""
    c = metric_chunks.c
    sizes = conn.execute(select(c.id, c.n).where(c.run_id == run_id, c.name == name)
                         .order_by(c.id)).all()
    wanted, start, first_at = [], 0, None
    end = offset + limit
    for chunk_id, n in sizes:
        if start + n > offset and start < end:
            wanted.append(chunk_id)
            if first_at is None:
                first_at = start
        start += n
    total = start
    if not wanted:
        return History([], [], [], False)
    steps, times, values = array("q"), array("d"), array("d")
    for row in conn.execute(select(c.steps, c.times, c.vals).where(among(c.id, wanted))
                            .order_by(c.id)):
        steps.frombytes(row.steps)
        times.frombytes(row.times)
        values.frombytes(row.vals)
    lo = offset - (first_at or 0)
    hi = lo + limit
    return History(steps[lo:hi].tolist(), times[lo:hi].tolist(), values[lo:hi].tolist(),
                   total > end)


def experiment_list(conn: Connection) -> list[Experiment]:
    """Every experiment, the default one ("0", "Default") included, by id."""
    rows = conn.execute(select(experiments_table).order_by(experiments_table.c.ordinal)).all()
    found = [_experiment(r) for r in rows]
    if not any(e.experiment_id == DEFAULT_ID for e in found):
        found.insert(0, default_experiment())
    return found


def experiment(conn: Connection, experiment_id: str) -> Experiment | None:
    row = conn.execute(select(experiments_table)
                       .where(experiments_table.c.experiment_id == experiment_id)).first()
    if row is None:
        return default_experiment() if experiment_id == DEFAULT_ID else None
    return _experiment(row)


def experiment_named(conn: Connection, name: str) -> Experiment | None:
    """The experiment named ``name``, deleted ones too (a name stays taken)."""
    row = conn.execute(select(experiments_table)
                       .where(experiments_table.c.name == name)).first()
    if row is not None:
        return _experiment(row)
    if name == DEFAULT_NAME:
        found = experiment(conn, DEFAULT_ID)
        return found if found is not None and found.name == DEFAULT_NAME else None
    return None


def _experiment(row: Any) -> Experiment:
    return Experiment(experiment_id=row.experiment_id, name=row.name,
                      artifact_location=row.artifact_location,
                      lifecycle_stage=row.lifecycle_stage, tags=dict(row.tags or {}),
                      created=row.created, updated=row.updated)


def search_experiments(conn: Connection, filter: str, order_by: Sequence[str],
                       stages: Collection[str], max_results: int, page_token: str | None,
                       ) -> tuple[list[Experiment], str | None]:
    """MLflow's ``experiments/search``: experiments are few, so they are matched and
    ordered here rather than in SQL. Default order: newest first, then by id."""
    comparisons = parse_experiment_filter(filter)
    orderings = parse_experiment_order_by(list(order_by) or ["creation_time DESC",
                                                             "experiment_id ASC"])
    query = ("experiments", filter, list(order_by), sorted(stages))
    offset = decode_page_token(page_token, *query) if page_token else 0
    found = [e for e in experiment_list(conn)
             if e.lifecycle_stage in stages and all(_matches(e, c) for c in comparisons)]
    found.sort(key=lambda e: int(e.experiment_id))  # the tie-break: by id
    for o in reversed(orderings):
        found.sort(key=partial(_experiment_key, key=o.key), reverse=not o.ascending)
    page = found[offset:offset + max_results]
    more = len(found) > offset + max_results
    return page, (encode_page_token(offset + max_results, *query) if more else None)


def _experiment_key(e: Experiment, key: str) -> Any:
    if key == "experiment_id":
        return int(e.experiment_id)
    if key == "name":
        return e.name
    return e.created if key == "creation_time" else e.updated


def _experiment_attribute(e: Experiment, key: str) -> Any:
    if key in ("creation_time", "last_update_time"):
        return round((e.created if key == "creation_time" else e.updated) * 1000)
    return e.name if key == "name" else e.experiment_id


def _matches(e: Experiment, c: Comparison) -> bool:
    return holds(c, e.tags.get(c.key) if c.kind == "tag" else _experiment_attribute(e, c.key))
