"""The shipper: sends a spool's events through a sink, trimming only what was acknowledged.

One background thread per spool. It ships whatever the spool holds as soon as
it is woken (so batching happens naturally while a request is in flight), at
most ``max_events`` events or about ``max_bytes`` per request. Blobs stashed in
the spool are uploaded before the events that follow them. When the sink is
unavailable it retries with a capped exponential backoff and keeps everything
on disk; a conflict (a gap) rewinds to the oldest event still in the spool.

A refused batch never blocks the stream: one that is too large is sent in
halves, one that is invalid is narrowed down (to the event the sink names, else
by halving) until the refused event is alone. That event is set aside beside
the spool (:mod:`runstream.setaside`) and an ``event.dropped`` is sent at its
seq instead, so the stream stays gapless and everything after it is delivered.
An event larger than :data:`~runstream.events.MAX_EVENT_BYTES` is set aside
without being sent.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable, Sequence

from runstream.codec import join_encoded
from runstream.events import MAX_EVENT_BYTES
from runstream.setaside import SetAside, dropped_record, list_set_aside, set_aside
from runstream.sink import (
    Sink,
    SinkConflict,
    SinkError,
    SinkRejected,
    SinkTooLarge,
    SinkUnavailable,
    SinkUnusable,
)
from runstream.spool import Record, Spool

__all__ = ["Shipper"]

MAX_EVENTS = 2_000
MAX_BYTES = 4 << 20
MIN_BACKOFF = 0.05
MAX_BACKOFF = 1.0
# A waiter (``Logger.wait()``) is answered False once the sink has been unavailable
# this long since it asked: the events stay spooled, but nobody blocks on a down server.
WAIT_PATIENCE = 5.0
REPORTED_SET_ASIDE = 3  # refused events reported one by one; later ones only counted

# Where the server's message names the refused event of a batch (codec.EventError).
_EVENT_INDEX = re.compile(r"event #(\d+)")

Done = Callable[[bool], None]


def _to_stderr(message: str) -> None:
    print(f"runstream: {message}", file=sys.stderr, flush=True)


class Shipper:
    def __init__(self, spool: Spool, sink: Sink, *, max_events: int = MAX_EVENTS,
                 max_bytes: int = MAX_BYTES, on_problem: Callable[[str], None] | None = None,
                 min_backoff: float = MIN_BACKOFF, max_backoff: float = MAX_BACKOFF,
                 wait_patience: float | None = None) -> None:
        self.spool = spool
        self.wait_patience = WAIT_PATIENCE if wait_patience is None else wait_patience
        self.sink = sink
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.error = ""  # set when shipping stopped for good (a sink refusing all, a disk error)
        self.down_since: float | None = None  # monotonic time of the first failure in a row
        self.sent = 0  # events sent (resends included)
        self.set_aside = 0  # events refused by the sink and set aside by this shipper
        self._on_problem = on_problem or _to_stderr
        self._cursor = spool.acked  # last seq sent and acknowledged
        # Events set aside before (by this shipper or an earlier one): seq -> record.
        self._replaced: dict[int, SetAside] = {i.seq: i for i in list_set_aside(spool.path)}
        self._cond = threading.Condition()
        self._dirty = True
        self._poke = False
        self._closing = False
        self._waiters: list[tuple[int, Done, float]] = []  # seq, callback, when asked
        self._thread = threading.Thread(target=self._run, name=f"runstream-shipper {spool.stream}",
                                        daemon=True)

    # -- for writers ----------------------------------------------------------

    def start(self) -> Shipper:
        self._thread.start()
        return self

    def notify(self) -> None:
        """New events are in the spool: ship them now."""
        with self._cond:
            self._dirty = True
            self._cond.notify_all()

    def when_acked(self, seq: int, done: Done) -> None:
        """Call ``done(True)`` once the sink acknowledged every event up to ``seq``
        (at once if it has), ``done(False)`` if the shipper stops first or the sink
        has been unavailable for ``wait_patience`` seconds since this call."""
        with self._cond:
            if seq > self.spool.acked and not self._closing and not self.error:
                self._waiters.append((seq, done, time.monotonic()))
                return
            ok = seq <= self.spool.acked
        done(ok)

    def drain(self, timeout: float | None = None, patience: float | None = None) -> bool:
        """Wait until everything spooled so far is acknowledged. False when ``timeout``
        passes, when the sink has been unavailable for ``patience`` seconds (counted
        from this call at the earliest), or when shipping failed for good."""
        target = self.spool.last_seq
        start = time.monotonic()
        with self._cond:
            self._poke = True  # retry now rather than at the end of a backoff
            self._cond.notify_all()
            while self.spool.acked < target:
                now = time.monotonic()
                if self.error or (timeout is not None and now - start >= timeout):
                    return False
                if patience is not None and self.down_since is not None \
                        and now - max(self.down_since, start) >= patience:
                    return False
                self._cond.wait(0.05)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread (after its current request); unacknowledged events stay spooled."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self._cond:
            waiters, self._waiters = self._waiters, []
        for _seq, done, _since in waiters:
            done(False)

    # -- synchronous use (``runstream sync``) -----------------------------------

    def ship_all(self, progress: Callable[[int], None] | None = None,
                 blob_progress: Callable[[int], None] | None = None) -> int:
        """Send everything in the spool from the calling thread; returns how many
        events were sent. Raises SinkError (SinkUnavailable: try again later)."""
        total = 0
        while True:
            try:
                sent = self._round(blob_progress)
            except SinkConflict:
                if not self._rewind():
                    raise
                continue
            if not sent:
                return total
            total += sent
            if progress:
                progress(sent)

    # -- the thread ---------------------------------------------------------------

    def _run(self) -> None:
        delay = self.min_backoff
        while not self._closing:
            if self.error:
                self._wait(None)
                continue
            try:
                sent = self._round(None)
            except SinkUnavailable as exc:
                self._note_down(str(exc))
                self._wait(delay)
                delay = min(delay * 2, self.max_backoff)
                continue
            except SinkConflict as exc:
                if not self._rewind():
                    self._fail(f"{exc}; this stream seems to have a second writer")
                continue
            except (SinkError, OSError, ValueError) as exc:
                self._fail(str(exc))
                continue
            if self.down_since is not None:
                self.down_since = None
                self._on_problem(f"the sink is back; sending {self.spool.stream} again")
            delay = self.min_backoff
            if not sent:
                self._wait_for_work()

    def _round(self, blob_progress: Callable[[int], None] | None) -> int:
        records = self.spool.read(self._cursor, self.max_events, self.max_bytes)
        # Blobs stashed before those events were appended go first.
        for sha256, path in self.spool.stashed_blobs():
            try:
                self.sink.put_blob(path, sha256, blob_progress)
            except SinkUnusable:
                raise  # the sink is misconfigured, not the file: keep it
            except SinkRejected as exc:
                self._on_problem(f"dropping a stashed file that cannot be uploaded: {exc}")
            self.spool.drop_blob(sha256)
        if not records:
            return 0
        self._deliver([self._replaced_or_checked(r) for r in records])
        return len(records)

    def _deliver(self, records: Sequence[Record]) -> None:
        """Send ``records``; narrow a refusal down to single events and set those aside."""
        try:
            self.sink.send(self.spool.stream, join_encoded([r.data for r in records]),
                           len(records))
        except SinkUnusable:
            raise
        except SinkRejected as exc:
            if len(records) == 1:
                self._replace(records[0], str(exc))
                return
            index = _named_index(exc, len(records))
            if index is not None and not isinstance(exc, SinkTooLarge):
                parts = [records[:index], records[index:index + 1], records[index + 1:]]
            else:
                half = len(records) // 2
                parts = [records[:half], records[half:]]
            for part in parts:
                if part:
                    self._deliver(part)
            return
        self._acked(records[-1].seq, len(records))

    def _replaced_or_checked(self, record: Record) -> Record:
        """The ``event.dropped`` of an event set aside before; an event no sink takes
        is set aside now, unsent."""
        info = self._replaced.get(record.seq)
        if info is not None:
            return dropped_record(info)
        if len(record.data) > MAX_EVENT_BYTES:
            info = self._set_aside(record, (
                f"not sent: the event is {len(record.data):,} bytes and one event may be at "
                f"most {MAX_EVENT_BYTES:,} bytes"))
            return dropped_record(info)
        return record

    def _replace(self, record: Record, reason: str) -> None:
        """Set aside the one event the sink refused and send its ``event.dropped``."""
        if record.seq in self._replaced:  # the refused one is an event.dropped already
            raise SinkUnusable(f"the sink refused the event.dropped standing for event "
                               f"{record.seq}: {reason}")
        replacement = dropped_record(self._set_aside(record, reason))
        try:
            self.sink.send(self.spool.stream, join_encoded([replacement.data]), 1)
        except SinkRejected as exc:  # not the event's fault then: stop, keep everything
            raise SinkUnusable(f"the sink refused even the event.dropped standing for event "
                               f"{record.seq}: {exc}") from None
        self._acked(record.seq, 1)

    def _set_aside(self, record: Record, reason: str) -> SetAside:
        info = set_aside(self.spool.path, self.spool.stream, record, reason)
        self._replaced[record.seq] = info
        self.set_aside += 1
        if self.set_aside <= REPORTED_SET_ASIDE:
            more = (" Further refused events are set aside without a message."
                    if self.set_aside == REPORTED_SET_ASIDE else "")
            self._on_problem(
                f"event {info.seq} of {info.stream} ({info.type}, {info.size:,} bytes) was "
                f"refused: {info.reason}. It is set aside in {self.spool.path / 'set-aside'} "
                f"and an event.dropped stands in its place; the events after it go on. "
                f"`runstream sync` lists set-aside events.{more}")
        return info

    def _acked(self, last: int, count: int) -> None:
        self.spool.ack(last)
        self._cursor = max(self._cursor, last)
        self.sent += count
        self._fire_acked()

    def _rewind(self) -> bool:
        """Resend from the oldest event still spooled; False if already there."""
        first = self.spool.first_seq - 1
        if self._cursor == first:
            return False
        self._on_problem(f"the sink expects earlier events of {self.spool.stream}; "
                         "resending from the start of the spool")
        self._cursor = first
        return True

    def _fire_acked(self) -> None:
        acked = self.spool.acked
        with self._cond:
            ready = [w for w in self._waiters if w[0] <= acked]
            if ready:
                self._waiters = [w for w in self._waiters if w[0] > acked]
            self._cond.notify_all()
        for _seq, done, _since in ready:
            done(True)

    def _note_down(self, message: str) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self._on_problem(f"{message}; {self.spool.pending} events of {self.spool.stream} "
                             f"are kept in {self.spool.path} and retried")
        now = time.monotonic()
        with self._cond:
            self._cond.notify_all()  # a drain() may be waiting on patience
            down_since = self.down_since or now
            late = [w for w in self._waiters
                    if now - max(down_since, w[2]) >= self.wait_patience]
            if late:
                self._waiters = [w for w in self._waiters if w not in late]
        for _seq, done, _since in late:
            done(False)  # still spooled and retried; the waiter is told "not stored now"

    def _fail(self, message: str) -> None:
        self.error = message
        self._on_problem(f"stopped sending {self.spool.stream}: {message}. Its events stay "
                         f"in {self.spool.path}")
        with self._cond:
            waiters, self._waiters = self._waiters, []
            self._cond.notify_all()
        for _seq, done, _since in waiters:
            done(False)

    def _wait(self, delay: float | None) -> None:
        deadline = None if delay is None else time.monotonic() + delay
        with self._cond:
            while not self._closing and not self._poke:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._cond.wait(remaining)
            self._poke = False

    def _wait_for_work(self) -> None:
        with self._cond:
            if not self._dirty and not self._closing:
                self._cond.wait(0.5)  # also picks up blobs stashed without an append
            self._dirty = False


def _named_index(exc: Exception, count: int) -> int | None:
    """The index of the refused event when the sink's message names one in range."""
    match = _EVENT_INDEX.search(str(exc))
    if match is None:
        return None
    index = int(match.group(1))
    return index if 0 <= index < count else None
