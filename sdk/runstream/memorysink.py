"""A sink that keeps events in memory, with the server's ingest rules.

Real, shipped code (not a mock): it orders, deduplicates and validates exactly
as the server's ingest does, so code above the sink port can be tested, or run
offline, without a server. ``reachable = False`` makes it behave like a server
that is down.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

from runstream.codec import EventError, EventTooLarge, decode_batch, validate_batch
from runstream.events import Envelope
from runstream.sink import SinkConflict, SinkRejected, SinkTooLarge, SinkUnavailable

__all__ = ["MemorySink"]


class MemorySink:
    def __init__(self) -> None:
        self.events: dict[str, list[Envelope]] = {}
        self.blobs: dict[str, bytes] = {}
        self.reachable = True
        self.batches = 0  # batches that stored at least one event
        self.duplicates = 0
        self._lock = threading.Lock()

    def send(self, stream: str, body: bytes, count: int) -> None:
        if not self.reachable:
            raise SinkUnavailable("the memory sink is set unreachable")
        try:
            batch = decode_batch(body)
            validate_batch(batch)
        except EventTooLarge as exc:
            raise SinkTooLarge(str(exc)) from None
        except EventError as exc:
            raise SinkRejected(str(exc)) from None
        if len(batch) != count or any(e.stream != stream for e in batch):
            raise SinkRejected(f"the batch is not {count} events of {stream}")
        with self._lock:
            stored = self.events.setdefault(stream, [])
            fresh: list[Envelope] = []
            for event in batch:
                head = len(stored) + len(fresh) - 1
                if event.seq <= len(stored) - 1:
                    if stored[event.seq].id != event.id:
                        raise SinkConflict(f"{stream}: seq {event.seq} holds another event")
                    self.duplicates += 1
                elif event.seq == head + 1:
                    fresh.append(event)
                else:
                    raise SinkConflict(f"{stream}: expected seq {head + 1}, got {event.seq}")
            stored.extend(fresh)
            if fresh:
                self.batches += 1

    def put_blob(self, path: Path, sha256: str,
                 progress: Callable[[int], None] | None = None) -> None:
        if not self.reachable:
            raise SinkUnavailable("the memory sink is set unreachable")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise SinkRejected(f"{path} does not hash to {sha256}")
        with self._lock:
            self.blobs[sha256] = data
        if progress:
            progress(len(data))

    def close(self) -> None:
        """Nothing to release; the events stay readable."""
