"""What a projection is: a pure fold over events, with its I/O in a runner.

Two shapes cover every view runstream keeps:

* ``KeyedProjection``: one view value per key (a run, a model), folded with
  ``apply(view, event) -> view``; the runner loads the views an event batch
  touches, folds, and writes back the changed ones.
* ``AppendProjection``: events become rows that are only ever added
  (metric chunks, log chunks), via ``rows(event) -> rows``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from sqlalchemy import Connection, Table

from runstream.events import Payload
from runstream_server.eventstore import StoredEvent

__all__ = ["AppendProjection", "Applied", "Projection"]


@dataclass(frozen=True, slots=True)
class Applied:
    """An event with its validated payload, as projections receive it."""

    event: StoredEvent
    payload: Payload
    # What projections derive from the payload and share (each computes it once per
    # event: e.g. the metric projections' split of a batch's points).
    memo: dict[str, Any] = field(default_factory=dict, compare=False)


class Projection(Protocol):
    name: ClassVar[str]
    # Bump when the view's shape or the fold changes: the view is then rebuilt at start.
    version: ClassVar[int]
    tables: ClassVar[tuple[Table, ...]]

    def handle(self, conn: Connection, batch: Sequence[Applied]) -> None:
        """Apply a batch of events, in order, inside the caller's transaction."""


class AppendProjection(ABC):
    """A projection whose view only grows: each event adds rows to one table."""

    name: ClassVar[str]
    version: ClassVar[int]
    tables: ClassVar[tuple[Table, ...]]

    @abstractmethod
    def rows(self, item: Applied) -> list[dict[str, Any]]:
        """The rows ``item`` adds to the view (none for events it ignores)."""

    def handle(self, conn: Connection, batch: Sequence[Applied]) -> None:
        rows = [row for item in batch for row in self.rows(item)]
        if rows:
            conn.execute(self.tables[0].insert(), rows)
