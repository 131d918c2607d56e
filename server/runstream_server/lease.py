"""Lease expiry: a run whose writer went silent for too long is ended as lost.

A writer that announced ``lease`` seconds in ``run.started`` promised a sign of
life (any event of the run's stream; ``run.heartbeat`` when it has nothing else
to say) at least that often. Every ``lease_check`` seconds the server looks at
the unended runs with a lease and, for each one silent for more than
``lease_grace`` times its lease, writes ``run.lost`` to ``review/<run id>``
through the event log (embedded or Kafka). The runs view then says failed,
"agent lost: …", unless the writer's own ``run.completed`` comes after all.

Silence is measured on the server's clock, from when the run's last event was
*recorded*, but never from before this server started: a server that was down
cannot tell a dead writer from one that could not reach it, so it gives every
run a full grace period first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import Connection, String, and_, literal, select

from runstream.events import Payload, RunLost, review_stream
from runstream_server.eventstore import events_table, streams_table
from runstream_server.projections.runs import runs_table
from runstream_server.services import Services, services_key

__all__ = ["LeaseWatch", "Overdue", "lease_expiry", "overdue_runs"]

log = logging.getLogger(__name__)

WATCHED = ("submitted", "running")


@dataclass(frozen=True)
class Overdue:
    run_id: str
    lease: float
    silent: float  # seconds without a sign of life (counted from the server's start at most)

    @property
    def reason(self) -> str:
        return (f"agent lost: no sign of life for {self.silent:.0f} s "
                f"(lease {self.lease:g} s)")


def overdue_runs(conn: Connection, now: float, since: float, grace: float,
                 run_ids: Sequence[str] | None = None) -> list[Overdue]:
    """Unended runs with a lease whose last event was recorded more than ``grace``
    leases ago (or, when later, since ``since``). Cheap: the runs view's status index
    finds the few unended runs, the stream's head finds its last event."""
    r, s, e = runs_table.c, streams_table.c, events_table.c
    query = (
        select(r.run_id, r.lease, e.recorded)
        .select_from(runs_table
                     .join(streams_table, s.stream == literal("run/", String) + r.run_id)
                     .join(events_table, and_(e.stream == s.stream, e.seq == s.head)))
        .where(r.status.in_(WATCHED), r.lease > 0))
    if run_ids is not None:
        query = query.where(r.run_id.in_(list(run_ids)))
    found = []
    for run_id, lease, recorded in conn.execute(query):
        silent = now - max(recorded, since)
        if silent > grace * lease:
            found.append(Overdue(run_id, lease, silent))
    return found


class LeaseWatch:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.started = time.time()
        self.check = svc.settings.lease_check
        self.grace = svc.settings.lease_grace
        self._problem = ""

    def scan(self) -> list[Overdue]:
        with self.svc.engine.connect() as conn:
            return overdue_runs(conn, time.time(), self.started, self.grace)

    def still_overdue(self, run_id: str) -> bool:
        with self.svc.engine.connect() as conn:
            return bool(overdue_runs(conn, time.time(), self.started, self.grace, [run_id]))

    async def expire(self, run: Overdue) -> bool:
        # Checked again just before: a run whose event or end came during the scan is
        # not expired. What still slips between this and the write is harmless: the
        # writer's own end wins in the runs view, and its next event shows it alive.
        if not await asyncio.to_thread(self.still_overdue, run.run_id):
            return False

        def make(seq: int) -> Payload:
            return RunLost(run_id=run.run_id, reason=run.reason)

        await self.svc.log.write(review_stream(run.run_id), make)
        log.info("run %s: %s", run.run_id, run.reason)
        return True

    async def once(self) -> int:
        """One look at the unended runs; returns how many were expired."""
        expired = 0
        for run in await asyncio.to_thread(self.scan):
            expired += await self.expire(run)
        return expired

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.check)
            try:
                await self.once()
                self._problem = ""
            except Exception as exc:  # a full disk, a broker down: try again later
                problem = f"{type(exc).__name__}: {exc}"
                if problem != self._problem:
                    log.warning("cannot expire the leases of silent runs now (%s); "
                                "trying again every %g s", problem, self.check)
                self._problem = problem


async def lease_expiry(app: web.Application) -> AsyncIterator[None]:
    """The application's background lease watch (a ``cleanup_ctx``)."""
    svc = app[services_key]
    if svc.settings.lease_check <= 0:
        yield
        return
    task = asyncio.create_task(LeaseWatch(svc).run(), name="runstream-lease-expiry")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

