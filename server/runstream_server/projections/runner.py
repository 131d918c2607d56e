"""Runs projections: applies event batches inside the append's transaction,
keeps each projection's position beside its view, rebuilds what changed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    String,
    Table,
    delete,
    select,
    update,
)

from runstream_server import deadletters  # noqa: F401  (its table is created with the views)
from runstream_server.database import metadata
from runstream_server.eventstore import StoredEvent, head_position, read_events
from runstream_server.projections.artifacts import ArtifactsProjection, ModelsProjection
from runstream_server.projections.base import Applied, Projection
from runstream_server.projections.experiments import ExperimentsProjection
from runstream_server.projections.logged_models import LoggedModelsProjection
from runstream_server.projections.logs import LogsProjection
from runstream_server.projections.metrics import (
    MetricChunksProjection,
    MetricLatestProjection,
    MetricValuesProjection,
)
from runstream_server.projections.runs import RunsProjection

__all__ = ["Projector", "default_projections"]

log = logging.getLogger(__name__)

positions_table = Table(
    "projections",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("position", BigInteger, nullable=False),
)

Progress = Callable[[int, int], None]  # (position reached, head)


def default_projections() -> tuple[Projection, ...]:
    # Experiments first: the runs view reads the experiment a run's project names.
    return (ExperimentsProjection(), RunsProjection(), MetricChunksProjection(),
            MetricValuesProjection(), MetricLatestProjection(), LogsProjection(),
            ArtifactsProjection(), ModelsProjection(), LoggedModelsProjection())


class Projector:
    def __init__(self, projections: Sequence[Projection] | None = None) -> None:
        self.projections = tuple(projections or default_projections())
        self.unknown: dict[str, int] = {}  # "type vN" -> how many were seen (stored, not applied)

    def prepare(self, engine: Engine, progress: Progress | None = None) -> list[str]:
        """Create missing tables; rebuild projections whose version changed and
        catch up any that are behind the store. Returns the names rebuilt."""
        metadata.create_all(engine)
        with engine.begin() as conn:
            stored = {r.name: (r.version, r.position)
                      for r in conn.execute(select(positions_table))}
        stale = [p.name for p in self.projections
                 if stored.get(p.name, (None, 0))[0] not in (p.version, None)]
        fresh = [p.name for p in self.projections if p.name not in stored]
        if stale:
            log.warning("projection versions changed, rebuilding: %s", ", ".join(stale))
            self.rebuild(engine, stale, progress)
        if fresh:
            with engine.begin() as conn:
                conn.execute(positions_table.insert(), [
                    {"name": p.name, "version": p.version, "position": 0}
                    for p in self.projections if p.name in fresh])
        self.catch_up(engine, progress)
        return stale

    def apply(self, conn: Connection, events: Sequence[StoredEvent]) -> None:
        """Apply stored events to every projection, in the caller's transaction."""
        if events:
            self._apply(conn, self.decode(events), self.projections, events[-1].position)

    def decode(self, events: Sequence[StoredEvent]) -> list[Applied]:
        batch: list[Applied] = []
        for event in events:
            payload = event.payload()
            if payload is None:
                key = f"{event.type} v{event.v}"
                if key not in self.unknown:
                    log.warning("stored but not applied: unknown event %s (first at position %d)",
                                key, event.position)
                self.unknown[key] = self.unknown.get(key, 0) + 1
                continue
            batch.append(Applied(event, payload))
        return batch

    @staticmethod
    def _apply(conn: Connection, batch: Sequence[Applied], targets: Sequence[Projection],
               position: int) -> None:
        for projection in targets:
            projection.handle(conn, batch)
        conn.execute(
            update(positions_table)
            .where(positions_table.c.name.in_([p.name for p in targets]))
            .values(position=position))

    def catch_up(self, engine: Engine, progress: Progress | None = None,
                 page_size: int = 2_000) -> None:
        """Apply what each projection has not seen yet, a page per transaction."""
        with engine.begin() as conn:
            positions = {r.name: r.position for r in conn.execute(select(positions_table))}
            head = head_position(conn)
        reached = {p.name: positions.get(p.name, 0) for p in self.projections}
        position = min(reached.values(), default=head)
        while position < head:
            with engine.connect() as reader:
                page = read_events(reader, position, limit=page_size, until=head)
            if not page:
                break
            batch = self.decode(page)
            with engine.begin() as conn:
                for projection in self.projections:
                    since = reached[projection.name]
                    if since >= page[-1].position:
                        continue
                    todo = batch if since <= position else [
                        a for a in batch if a.event.position > since]
                    self._apply(conn, todo, [projection], page[-1].position)
            position = page[-1].position
            reached = {name: max(pos, position) for name, pos in reached.items()}
            if progress:
                progress(position, head)

    def rebuild(self, engine: Engine, names: Sequence[str] | None = None,
                progress: Progress | None = None) -> None:
        """Throw the views away and fold them again from position 0."""
        targets = [p for p in self.projections if names is None or p.name in names]
        tables = [t for p in targets for t in p.tables]
        with engine.begin() as conn:
            # Dropped and created again, not emptied: a new version may change the
            # view's columns or indexes.
            metadata.drop_all(conn, tables=tables)
            metadata.create_all(conn, tables=tables)
            conn.execute(delete(positions_table).where(
                positions_table.c.name.in_([p.name for p in targets])))
            conn.execute(positions_table.insert(), [
                {"name": p.name, "version": p.version, "position": 0} for p in targets])
        self.catch_up(engine, progress)
