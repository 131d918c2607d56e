"""A stream's single writer: assigns seq, wraps payloads in envelopes, spools them."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence

import msgspec

from runstream.codec import encode_event, encode_payload
from runstream.events import Envelope, Payload
from runstream.spool import Record, Spool

__all__ = ["StreamWriter"]


class StreamWriter:
    """Appends events to ``spool`` in one seq order, from any thread.

    Each ``append`` is one durable spool batch; ``on_append`` (the shipper's
    wake-up) is called after it."""

    def __init__(self, spool: Spool, on_append: Callable[[], None] | None = None) -> None:
        self.spool = spool
        self.stream = spool.stream
        self._on_append = on_append
        self._lock = threading.Lock()

    def append(self, payloads: Sequence[Payload], ts: float | None = None) -> int:
        """Append payloads as events (stamped ``ts`` or now); returns the last seq."""
        when = time.time() if ts is None else ts
        return self.append_encoded([(p.TYPE, p.VERSION, encode_payload(p), when)
                                    for p in payloads])

    def append_encoded(self, items: Sequence[tuple[str, int, bytes, float]]) -> int:
        """Append already-encoded (and validated) payloads as ``(type, v, data, ts)``."""
        with self._lock:
            seq = self.spool.next_seq
            records = [
                Record(seq + i, encode_event(Envelope(
                    id=uuid.uuid4().hex, stream=self.stream, seq=seq + i, type=type_, v=v,
                    ts=when, data=msgspec.Raw(data))))
                for i, (type_, v, data, when) in enumerate(items)
            ]
            self.spool.append(records)
            last = self.spool.last_seq
        if self._on_append is not None:
            self._on_append()
        return last

    @property
    def last_seq(self) -> int:
        return self.spool.last_seq
