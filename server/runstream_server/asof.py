"""The runs as they were: the runs projection's pure ``apply`` folded, in memory,
over the event log up to a position. Nothing is written; the live views are
never touched. This is what the web UI's time slider shows."""

from __future__ import annotations

import msgspec
from sqlalchemy import Connection, func, select

from runstream.events import run_id_of, run_streams
from runstream_server.eventstore import events_table, head_position, read_events
from runstream_server.projections.experiments import experiment_ids
from runstream_server.projections.runs import RunView, apply, number_runs
from runstream_server.queries import run_views

__all__ = ["RunsAsOf", "fold_runs", "runs_as_of"]

PAGE = 5_000


class RunsAsOf(msgspec.Struct):
    position: int  # the state includes every event up to this position
    time: float | None  # when the event at ``position`` was recorded (None at 0)
    head: int  # the log's current position, for the slider's range
    runs: list[RunView]  # newest first, like GET /api/runs
    total: int


def fold_runs(conn: Connection, until: int, run_id: str | None = None) -> dict[str, RunView]:
    """Every run's view as of ``until``, numbered as the live projection numbers them:
    a project's runs by submission time (ties by id), among the runs that exist.

    With ``run_id``, that run's alone, folded from its own streams only (what a replay
    asks at each step: the cost is the run's events, not the log's); its number is
    the one the live view derives, from the same key."""
    views: dict[str, RunView] = {}
    streams = None if run_id is None else run_streams(run_id)
    after = 0
    while after < until:
        page = read_events(conn, after, limit=PAGE, until=until, streams=streams)
        if not page:
            break
        for event in page:
            about = run_id_of(event.stream)
            payload = event.payload() if about else None
            if about is None or payload is None:
                continue  # not about a run, or a type this server does not know
            view = apply(views.get(about), event, payload)
            if view is not None:
                views[about] = view
        after = page[-1].position
    ids = experiment_ids(conn)
    for view in views.values():
        if not view.experiment_id:  # as the runs view resolves it
            view.experiment_id = ids.get(view.project, "")
    if run_id is None:
        number_runs(views.values())
    else:
        for live in run_views(conn, list(views)):
            views[live.run_id].number = live.number
    return views


def runs_as_of(conn: Connection, until: int, *, archived: str = "hide",
               run_id: str | None = None) -> RunsAsOf:
    """The runs list as of position ``until`` (clamped to the log's head); with
    ``run_id``, only that run (if it existed then)."""
    head = head_position(conn)
    until = max(0, min(until, head))
    views = fold_runs(conn, until, run_id)
    keep = [v for v in views.values()
            if archived == "include" or v.archived == (archived == "only")]
    keep.sort(key=lambda v: (-v.number, v.project, v.run_id))
    time = conn.execute(select(func.max(events_table.c.recorded))
                        .where(events_table.c.position <= until)).scalar() if until else None
    return RunsAsOf(until, None if time is None else float(time), head, keep, len(keep))
