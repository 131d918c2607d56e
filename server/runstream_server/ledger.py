"""The write side: one writer appends to the event store and applies the
projections in the same transaction, then announces what it committed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from runstream.codec import validate_batch
from runstream.events import Envelope, Payload, new_event
from runstream_server.eventstore import AppendResult, StoredEvent, append, stream_head
from runstream_server.projections.runner import Projector

__all__ = ["Ledger"]

Listener = Callable[[list[StoredEvent]], None]


class Ledger:
    """Appends events and keeps projections in step, one transaction per batch.

    Writes run on one dedicated thread: SQLite wants a single writer, and a
    single thread also gives committed batches a total order for the live feed.
    """

    def __init__(self, engine: Engine, projector: Projector) -> None:
        self.engine = engine
        self.projector = projector
        self._listeners: list[Listener] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runstream-writer")
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` (on the writer thread) after every commit."""
        self._listeners.append(listener)

    def commit(self, events: Sequence[Envelope],
               payloads: Sequence[Payload | None] | None = None) -> AppendResult:
        """Validate (unless ``payloads`` says it was done), append and project
        ``events`` atomically (blocking)."""
        if payloads is None:
            payloads = validate_batch(events)
        with self._lock:
            with self.engine.begin() as conn:
                result = append(conn, events, payloads)
                self.projector.apply(conn, result.stored)
            self._announce(result.stored)
        return result

    def write(self, stream: str, make: Callable[[int], Payload]) -> StoredEvent:
        """Append the server's own event to ``stream`` at its next seq.

        ``make(seq)`` builds the payload knowing the seq, so that, e.g., a model
        version number is derived from the stream inside the same transaction."""
        with self._lock:
            with self.engine.begin() as conn:
                seq = stream_head(conn, stream) + 1
                result = append(conn, [new_event(stream, seq, make(seq))])
                self.projector.apply(conn, result.stored)
            self._announce(result.stored)
        return result.stored[0]

    async def commit_async(self, events: Sequence[Envelope]) -> AppendResult:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.commit, events)

    async def write_async(self, stream: str, make: Callable[[int], Payload]) -> StoredEvent:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self.write, stream, make)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def _announce(self, stored: list[StoredEvent]) -> None:
        if stored:
            for listener in self._listeners:
                listener(stored)
