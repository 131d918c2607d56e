"""The runs view: one row per run, folded from its ``run/`` and ``review/`` streams.

Status, duration and the latest scalar metric values are derived by the fold,
never patched by hand. Run numbers count a project's runs by submission time (ties
by run id), among the runs that exist: they are derived at read time (``numbering``
in SQL, ``number_runs`` in memory) from that one key, ``number_key``, and never
stored, so creating a run costs the same however many its project has, and a replay
from Kafka's partitions, interleaved differently, numbers them the same.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Literal

import msgspec
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)

from runstream.events import (
    SYSTEM_PREFIX,
    ArtifactAdded,
    EventDropped,
    ExperimentCreated,
    ExperimentRenamed,
    LogLines,
    MetricsLogged,
    ParamsLogged,
    Payload,
    RunArchived,
    RunCompleted,
    RunLost,
    RunRenamed,
    RunRestored,
    RunStarted,
    RunSubmitted,
    TagsDeleted,
    TagsSet,
    run_id_of,
)
from runstream_server.database import among, metadata
from runstream_server.eventstore import StoredEvent
from runstream_server.projections.base import Applied
from runstream_server.projections.experiments import experiment_ids

__all__ = ["RunState", "RunView", "RunsProjection", "apply", "number_key", "number_runs",
           "numbering", "runs_table"]

runs_table = Table(
    "runs",
    metadata,
    Column("run_id", String(200), primary_key=True),
    Column("project", String(500), nullable=False, index=True),  # = an experiment's name
    Column("experiment_id", String(40), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("submitted", Float),
    Column("started", Float),
    Column("ended", Float),
    Column("duration", Float),
    Column("target", String(100), nullable=False),
    Column("script", String(500), nullable=False),
    Column("args", JSON, nullable=False),
    Column("user", String(200), nullable=False),
    Column("snapshot", String(64), nullable=False),
    Column("host", String(200), nullable=False),
    Column("name", String(250), nullable=False),
    Column("params", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("exit_code", BigInteger),
    Column("reason", String, nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("log_lines", BigInteger, nullable=False),
    Column("artifacts", BigInteger, nullable=False),
    Column("dropped", BigInteger, nullable=False),
    Column("lease", Float, nullable=False),
    Column("position", BigInteger, nullable=False),
    # Numbering (see ``numbering``) reads a project's runs in this order.
    Index("ix_runs_project_submitted", "project", "submitted", "run_id"),
    # Lease expiry looks for the few unended runs among all.
    Index("ix_runs_status", "status"),
)


# submitted → running → completed | failed | canceled (the last three: RunStatus)
RunState = Literal["submitted", "running", "completed", "failed", "canceled"]


class RunView(msgspec.Struct, kw_only=True):
    run_id: str
    project: str
    # The experiment (``projections.experiments``): the one named ``project``, unless its
    # writer chose one by id (the MLflow API); "" while no experiment names the project.
    experiment_id: str = ""
    number: int = 0  # derived at read time: see ``numbering``
    status: RunState = "submitted"
    submitted: float | None = None
    started: float | None = None
    ended: float | None = None
    duration: float | None = None
    target: str = ""
    script: str = ""
    args: list[str] = []
    user: str = ""
    snapshot: str = ""
    host: str = ""
    name: str = ""  # the run's name (run.submitted, run.renamed); "" when it has none
    params: dict[str, str] = {}  # fixed once logged: the first value of a name stays
    tags: dict[str, str] = {}
    exit_code: int | None = None
    reason: str = ""
    archived: bool = False
    metrics: dict[str, float | str] = {}
    log_lines: int = 0
    artifacts: int = 0
    dropped: int = 0  # events its writer produced that the log refused (event.dropped)
    lease: float = 0.0  # seconds the writer promised between signs of life; 0: none
    position: int = 0


def apply(view: RunView | None, event: StoredEvent, payload: Payload) -> RunView | None:
    """Fold one event into a run's view. Pure: returns a new view (or the same)."""
    if isinstance(payload, RunSubmitted):
        if view is not None:
            return view
        run_id = run_id_of(event.stream) or ""
        return RunView(
            run_id=run_id, project=payload.project, submitted=event.ts, target=payload.target,
            script=payload.script, args=list(payload.args), user=payload.user,
            snapshot=payload.snapshot, host=payload.host, name=payload.name,
            experiment_id=payload.experiment_id, position=event.position)
    if view is None:
        return None  # nothing is known of a run before it was submitted
    new = msgspec.structs.replace(view, position=event.position)
    if isinstance(payload, RunStarted):
        new.status = "running" if view.status == "submitted" else view.status
        new.started = event.ts
        new.host = payload.host or view.host
        new.lease = payload.lease
    elif isinstance(payload, RunLost):
        if view.ended is not None:
            return view  # its writer's own end came first: that is the truth
        new.status = "failed"
        new.reason = payload.reason
        new.ended = event.ts
        new.lease = 0.0  # expired: nothing to watch any more
        start = view.started if view.started is not None else view.submitted
        new.duration = None if start is None else max(0.0, event.ts - start)
    elif isinstance(payload, RunCompleted):
        # The writer's own end wins over a server's presumption of loss (run.lost):
        # a lost agent that comes back delivers what really happened.
        new.lease = 0.0
        new.status = payload.status
        new.ended = event.ts
        new.exit_code = payload.exit_code
        new.reason = payload.reason
        start = view.started if view.started is not None else view.submitted
        new.duration = None if start is None else max(0.0, event.ts - start)
    elif isinstance(payload, MetricsLogged):
        new.metrics = {**view.metrics, **latest_scalars(payload)}
    elif isinstance(payload, LogLines):
        new.log_lines = max(view.log_lines, payload.first + len(payload.lines))
    elif isinstance(payload, ArtifactAdded):
        new.artifacts = view.artifacts + 1
    elif isinstance(payload, EventDropped):
        new.dropped = view.dropped + 1
    elif isinstance(payload, ParamsLogged):
        fresh = {k: v for k, v in payload.params.items() if k not in view.params}
        if not fresh:
            return view
        new.params = {**view.params, **fresh}
    elif isinstance(payload, TagsSet):
        new.tags = {**view.tags, **payload.tags}
    elif isinstance(payload, TagsDeleted):
        new.tags = {k: v for k, v in view.tags.items() if k not in payload.keys}
    elif isinstance(payload, RunRenamed):
        new.name = payload.name
    elif isinstance(payload, RunArchived):
        new.archived = True
    elif isinstance(payload, RunRestored):
        new.archived = False
    else:
        return view
    return new


def latest_scalars(payload: MetricsLogged) -> dict[str, float | str]:
    """The last number or string logged for each metric of a batch (arrays are not
    columns, nor are system metrics, ``sys/…``: they stay series). NaN and infinities
    become the strings "NaN", "Infinity", "-Infinity" so that every database's JSON can
    hold them."""
    latest: dict[str, float | str] = {}
    names, index, values = payload.names, payload.index, payload.values
    for i in range(len(index) - 1, -1, -1):
        value = values[i]
        name = names[index[i]]
        if isinstance(value, list) or name.startswith(SYSTEM_PREFIX):
            continue
        if name not in latest:
            latest[name] = value if isinstance(value, str) or math.isfinite(value) else _NONFINITE[
                "nan" if value != value else ("inf" if value > 0 else "-inf")]
            if len(latest) == len(names):
                break
    return latest


_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def number_key(view: RunView) -> tuple[float, str]:
    """The order that numbers a project's runs: submission time, ties by run id."""
    return (view.submitted or 0.0, view.run_id)


def number_runs(views: Iterable[RunView]) -> None:
    """Set ``number`` on each view: 1, 2, … within its project, by ``number_key``."""
    by_project: dict[str, list[RunView]] = {}
    for view in views:
        by_project.setdefault(view.project, []).append(view)
    for runs in by_project.values():
        runs.sort(key=number_key)
        for number, view in enumerate(runs, start=1):
            view.number = number


def numbering(table: Any = runs_table) -> Any:
    """``number_key`` in SQL: each run's number, over all the runs of its project
    (``submitted`` is never NULL: a run's view is made by its ``run.submitted``)."""
    t = table.c
    return func.row_number().over(partition_by=t.project,
                                  order_by=(t.submitted, t.run_id)).label("number")


class RunsProjection:
    name: ClassVar[str] = "runs"
    version: ClassVar[int] = 7  # 6: experiment_id; 7: no sys/… latest values
    tables: ClassVar[tuple[Table, ...]] = (runs_table,)

    def handle(self, conn: Connection, batch: Sequence[Applied]) -> None:
        keys = {rid for item in batch if (rid := run_id_of(item.event.stream))}
        named = [p.name for item in batch
                 if isinstance(p := item.payload, ExperimentCreated | ExperimentRenamed)]
        if keys:
            loaded = {
                row.run_id: RunView(**row._asdict())
                for row in conn.execute(select(runs_table)
                                        .where(among(runs_table.c.run_id, keys)))
            }
            views: dict[str, RunView | None] = dict(loaded)
            for item in batch:
                rid = run_id_of(item.event.stream)
                if rid is not None:
                    views[rid] = apply(views.get(rid), item.event, item.payload)
            changed = {k: v for k, v in views.items()
                       if v is not None and v is not loaded.get(k)}
            # A run submitted in this batch reads its project's experiment; an older one
            # already has it, or gets it when the experiment is made (the adoption
            # below), so a busy run's batches do not look again.
            fresh = [v for k, v in changed.items() if k not in loaded and not v.experiment_id]
            if fresh:
                ids = experiment_ids(conn)  # as the experiments view is after this batch
                for view in fresh:
                    view.experiment_id = ids.get(view.project, "")
            if changed:
                conn.execute(delete(runs_table).where(among(runs_table.c.run_id, list(changed))))
                rows = [msgspec.structs.asdict(v) for v in changed.values()]
                for row in rows:
                    del row["number"]
                conn.execute(insert(runs_table), rows)
        if named:
            # Runs folded before their project's experiment existed belong to it now (the
            # other order, on another partition, reads it at fold time).
            ids = experiment_ids(conn)
            r = runs_table.c
            for name in dict.fromkeys(named):
                if name in ids:
                    conn.execute(update(runs_table)
                                 .where(r.project == name, r.experiment_id == "")
                                 .values(experiment_id=ids[name]))
