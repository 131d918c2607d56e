"""The runs view: one row per run, folded from its ``run/`` and ``review/`` streams.

Status, duration and the latest scalar metric values are derived by the fold,
never patched by hand. Run numbers count a project's runs in log order, the one
fact a run's own events cannot tell, so the runner assigns it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import msgspec
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    String,
    Table,
    and_,
    delete,
    func,
    insert,
    not_,
    or_,
    select,
    update,
)

from runstream.events import (
    ArtifactAdded,
    EventDropped,
    LogLines,
    MetricsLogged,
    Payload,
    RunArchived,
    RunCompleted,
    RunLost,
    RunRestored,
    RunStarted,
    RunSubmitted,
    run_id_of,
)
from runstream_server.database import metadata
from runstream_server.eventstore import StoredEvent
from runstream_server.projections.base import Applied

__all__ = ["RunView", "RunsProjection", "apply", "runs_table"]

runs_table = Table(
    "runs",
    metadata,
    Column("run_id", String(200), primary_key=True),
    Column("project", String(200), nullable=False, index=True),
    Column("number", Integer, nullable=False),
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
    Column("exit_code", Integer),
    Column("reason", String, nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("log_lines", Integer, nullable=False),
    Column("artifacts", Integer, nullable=False),
    Column("dropped", Integer, nullable=False),
    Column("lease", Float, nullable=False),
    Column("position", Integer, nullable=False),
    # Numbering finds a project's latest run by submission time without a scan.
    Index("ix_runs_project_submitted", "project", "submitted", "run_id"),
)


class RunView(msgspec.Struct, kw_only=True):
    run_id: str
    project: str
    number: int = 0
    status: str = "submitted"  # submitted → running → completed | failed | canceled
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
            snapshot=payload.snapshot, host=payload.host, position=event.position)
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
    elif isinstance(payload, RunArchived):
        new.archived = True
    elif isinstance(payload, RunRestored):
        new.archived = False
    else:
        return view
    return new


def latest_scalars(payload: MetricsLogged) -> dict[str, float | str]:
    """The last number or string logged for each metric of a batch (arrays are not
    columns). NaN and infinities become the strings "NaN", "Infinity", "-Infinity"
    so that every database's JSON can hold them."""
    latest: dict[str, float | str] = {}
    names, index, values = payload.names, payload.index, payload.values
    for i in range(len(index) - 1, -1, -1):
        value = values[i]
        if isinstance(value, list):
            continue
        name = names[index[i]]
        if name not in latest:
            latest[name] = value if isinstance(value, str) or math.isfinite(value) else _NONFINITE[
                "nan" if value != value else ("inf" if value > 0 else "-inf")]
            if len(latest) == len(names):
                break
    return latest


_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


class RunsProjection:
    name: ClassVar[str] = "runs"
    version: ClassVar[int] = 3
    tables: ClassVar[tuple[Table, ...]] = (runs_table,)

    def handle(self, conn: Connection, batch: Sequence[Applied]) -> None:
        keys = {rid for item in batch if (rid := run_id_of(item.event.stream))}
        if not keys:
            return
        loaded = {
            row.run_id: RunView(**row._asdict())
            for row in conn.execute(select(runs_table).where(runs_table.c.run_id.in_(keys)))
        }
        views: dict[str, RunView | None] = dict(loaded)
        for item in batch:
            rid = run_id_of(item.event.stream)
            if rid is None:
                continue
            before = views.get(rid)
            after = apply(before, item.event, item.payload)
            if before is None and after is not None:
                self._place(conn, views, after)
            views[rid] = after
        changed = {k: v for k, v in views.items() if v is not None and v is not loaded.get(k)}
        if not changed:
            return
        conn.execute(delete(runs_table).where(runs_table.c.run_id.in_(list(changed))))
        conn.execute(insert(runs_table), [msgspec.structs.asdict(v) for v in changed.values()])

    @staticmethod
    def _place(conn: Connection, views: dict[str, RunView | None], run: RunView) -> None:
        """Number a new run by its submission time among its project's runs (ties by
        id), moving later ones up by one. The numbers are then a function of which
        runs exist, not of the order the log delivered them in, so a replay from
        Kafka's partitions, interleaved differently, numbers them the same."""
        t = runs_table.c
        key = (run.submitted or 0.0, run.run_id)
        near = {rid: v for rid, v in views.items()
                if v is not None and v.project == run.project and rid != run.run_id}
        latest = conn.execute(
            select(t.number, t.submitted, t.run_id).where(t.project == run.project)
            .order_by(t.submitted.desc(), t.run_id.desc()).limit(1)).first()
        candidates = [(v.submitted or 0.0, v.run_id, v.number) for v in near.values()]
        if latest is not None:
            candidates.append((latest.submitted or 0.0, latest.run_id, latest.number))
        if not candidates or max(candidates)[:2] < key:
            # The usual case: the newest run of its project. Numbers are 1…N, so the
            # last run's number + 1 (stored or pending in this batch, whichever is later).
            run.number = max((c[2] for c in candidates), default=0) + 1
            return
        before_me = or_(t.submitted < key[0], and_(t.submitted == key[0], t.run_id < key[1]))
        stored = conn.execute(
            select(func.count()).select_from(runs_table)
            .where(t.project == run.project, before_me, t.run_id.not_in(list(near)))
        ).scalar_one()
        run.number = int(stored) + sum(1 for v in near.values()
                                       if (v.submitted or 0.0, v.run_id) < key) + 1
        conn.execute(update(runs_table)
                     .where(t.project == run.project, not_(before_me),
                            t.run_id != run.run_id, t.run_id.not_in(list(near)))
                     .values(number=t.number + 1))
        for rid, v in near.items():
            if (v.submitted or 0.0, v.run_id) > key:
                views[rid] = msgspec.structs.replace(v, number=v.number + 1)
