"""The write side: one writer appends to the event store and applies the
projections in the same transaction, then announces what it committed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine

from runstream.codec import validate_batch
from runstream.events import Envelope, Payload, new_event
from runstream_server.database import is_disk_full
from runstream_server.eventstore import (
    AppendResult,
    StoredEvent,
    append,
    check_append,
    stream_head,
)
from runstream_server.projections.runner import Projector

T = TypeVar("T")

__all__ = ["DiskFull", "Ledger"]

Listener = Callable[[list[StoredEvent]], None]

# A large batch is applied in parts of at most this many events or bytes, one
# transaction each, so that another client's small batch waits for one part only.
PART_EVENTS = 100
PART_BYTES = 1 << 20


class DiskFull(RuntimeError):
    """The database could not write because its disk is full. ``stored`` events of
    the batch (whole parts, in order) were committed before; the rest was not.
    ``readonly``: the server started read-only and is still so (the message says why)."""

    def __init__(self, message: str, stored: int = 0, *, readonly: bool = False) -> None:
        super().__init__(message)
        self.stored = stored
        self.readonly = readonly


class Ledger:
    """Appends events and keeps projections in step, one transaction per part.

    Writes run on one dedicated thread: SQLite wants a single writer, and a
    single thread also gives committed batches a total order for the live feed.

    A ledger made with ``readonly`` (the disk was full at start) refuses writes
    with DiskFull; at most every ``retry`` seconds a write first tries ``reopen``
    (the start's preparation, returning the engine to write with) and, once it
    succeeds, the ledger is writable again.
    """

    def __init__(self, engine: Engine, projector: Projector, *, readonly: str = "",
                 reopen: Callable[[], Engine] | None = None, retry: float = 1.0,
                 part_events: int = PART_EVENTS, part_bytes: int = PART_BYTES) -> None:
        self.engine = engine
        self.projector = projector
        self.readonly = readonly
        self._reopen = reopen
        self._retry = retry
        self._tried = time.monotonic()
        self.part_events = part_events
        self.part_bytes = part_bytes
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
            self._writable()
            with self.engine.begin() as conn:
                result = append(conn, events, payloads)
                self.projector.apply(conn, result.stored)
            self._announce(result.stored)
        return result

    def write(self, stream: str, make: Callable[[int], Payload]) -> StoredEvent:
        """Append the server's own event to ``stream`` at its next seq.

        ``make(seq)`` builds the payload knowing the seq, so that, e.g., a model
        version number is derived from the stream inside the same transaction."""
        return self.write_all(stream, lambda seq: [make(seq)])[0]

    def write_all(self, stream: str, make: Callable[[int], Sequence[Payload]],
                  ) -> list[StoredEvent]:
        """Append the server's own events to ``stream`` from its next seq on, in one
        transaction; ``make(seq)`` gets the first one's seq."""
        with self._lock:
            self._writable()
            with self.engine.begin() as conn:
                seq = stream_head(conn, stream) + 1
                payloads = make(seq)
                result = append(conn, [new_event(stream, seq + i, p)
                                       for i, p in enumerate(payloads)], payloads)
                self.projector.apply(conn, result.stored)
            self._announce(result.stored)
        return result.stored

    async def commit_async(self, events: Sequence[Envelope]) -> AppendResult:
        """Validate the whole batch, then append it in parts through the writer thread.

        Bad input is still all or nothing: validation and the order checks of the
        whole batch come before its first part. Between parts, other batches take
        their turn on the writer, so none waits for more than one part."""
        loop = asyncio.get_running_loop()
        payloads = await asyncio.to_thread(validate_batch, events)
        parts = list(self.parts(events, payloads))
        if len(parts) > 1:
            await asyncio.to_thread(self._check, events)
        total = AppendResult()
        for part, known in parts:
            try:
                result = await loop.run_in_executor(self._executor, self.commit, part, known)
            except Exception as exc:
                if total.stored and is_disk_full(exc):
                    raise DiskFull(str(exc), stored=len(total.stored)) from exc
                raise
            total.stored += result.stored
            total.duplicates += result.duplicates
        return total

    async def write_async(self, stream: str, make: Callable[[int], Payload]) -> StoredEvent:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self.write, stream, make)

    async def write_all_async(self, stream: str, make: Callable[[int], Sequence[Payload]],
                              ) -> list[StoredEvent]:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self.write_all, stream, make)

    async def maintain(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` in a transaction of its own on the writer's thread, between two
        writes (derived data kept up behind them: ``projections/folding.py``)."""
        def run() -> T:
            with self._lock:
                self._writable()
                with self.engine.begin() as conn:
                    return work(conn)

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)

    def parts(self, events: Sequence[Envelope], payloads: Sequence[Payload | None],
              ) -> Iterator[tuple[Sequence[Envelope], Sequence[Payload | None]]]:
        """Consecutive slices of at most ``part_events`` events and about ``part_bytes``
        bytes (an event larger than that is a part on its own)."""
        start, size = 0, 0
        for i, event in enumerate(events):
            size += len(event.data)
            if i > start and (i - start >= self.part_events or size > self.part_bytes):
                yield events[start:i], payloads[start:i]
                start, size = i, len(event.data)
        if start < len(events):
            yield events[start:], payloads[start:]

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def _check(self, events: Sequence[Envelope]) -> None:
        with self.engine.connect() as conn:
            check_append(conn, events)

    def _writable(self) -> None:
        if not self.readonly:
            return
        if self._reopen is not None and time.monotonic() - self._tried >= self._retry:
            self._tried = time.monotonic()
            try:
                self.engine = self._reopen()
            except Exception as exc:
                if not (isinstance(exc, DiskFull) or is_disk_full(exc)):
                    raise
            else:
                self.readonly = ""
                return
        raise DiskFull(self.readonly, readonly=True)

    def _announce(self, stored: list[StoredEvent]) -> None:
        if stored:
            for listener in self._listeners:
                listener(stored)
