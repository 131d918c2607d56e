"""A stream's single writer: assigns seq, wraps payloads in envelopes, spools them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from runstream.codec import encode_event, encode_payload
from runstream.events import Payload, envelope
from runstream.spool import Record, Spool

__all__ = ["Losses", "StreamWriter"]


class StreamWriter:
    """Appends events to ``spool`` in one seq order, from any thread.

    Each ``append`` is one durable spool batch; ``on_append`` (the shipper's
    wake-up) is called after it. An append the spool cannot keep (a full disk)
    raises OSError and takes no seq; ``use_reserve`` is for the run's last events
    (see :meth:`~runstream.spool.Spool.append`)."""

    def __init__(self, spool: Spool, on_append: Callable[[], None] | None = None) -> None:
        self.spool = spool
        self.stream = spool.stream
        self._on_append = on_append
        self._lock = threading.Lock()

    def append(self, payloads: Sequence[Payload], ts: float | None = None, *,
               use_reserve: bool = False) -> int:
        """Append payloads as events (stamped ``ts`` or now); returns the last seq."""
        when = time.time() if ts is None else ts
        return self.append_encoded([(p.TYPE, p.VERSION, encode_payload(p), when)
                                    for p in payloads], use_reserve=use_reserve)

    def append_encoded(self, items: Sequence[tuple[str, int, bytes, float]], *,
                       use_reserve: bool = False) -> int:
        """Append already-encoded (and validated) payloads as ``(type, v, data, ts)``."""
        with self._lock:
            seq = self.spool.next_seq
            records = [
                Record(seq + i, encode_event(envelope(self.stream, seq + i, type_, v, data, when)))
                for i, (type_, v, data, when) in enumerate(items)
            ]
            self.spool.append(records, use_reserve=use_reserve)
            last = self.spool.last_seq
        if self._on_append is not None:
            self._on_append()
        return last

    @property
    def last_seq(self) -> int:
        return self.spool.last_seq


class Losses:
    """What a run's writer could not keep (a full disk), counted exactly, for the
    run's end: ``failed`` with :meth:`summary` as the reason. Thread-safe."""

    def __init__(self) -> None:
        self.points_kept = 0
        self.points_lost = 0
        self.lines_lost = 0
        self.first = ""  # the first failure, as the user should read it
        self._lock = threading.Lock()

    def kept(self, points: int) -> None:
        with self._lock:
            self.points_kept += points

    def lost(self, reason: str, *, points: int = 0, lines: int = 0) -> bool:
        """Count a loss; True the first time (the moment to tell the user)."""
        with self._lock:
            self.points_lost += points
            self.lines_lost += lines
            first = not self.first
            if first:
                self.first = reason or "unknown error"
            return first

    @property
    def any(self) -> bool:
        return bool(self.points_lost or self.lines_lost)

    def summary(self, spool: Spool) -> str:
        """E.g. "1,000,000 points logged, 216,610 kept; 783,390 could not be kept:
        [Errno 28] No space left on device (spool /path)"."""
        with self._lock:
            parts = []
            if self.points_lost:
                parts.append(f"{self.points_kept + self.points_lost:,} points logged, "
                             f"{self.points_kept:,} kept; {self.points_lost:,} could not be "
                             "kept")
            if self.lines_lost:
                parts.append(f"{self.lines_lost:,} printed lines could not be kept")
            return f"{'; '.join(parts)}: {self.first} (spool {spool.path})"
