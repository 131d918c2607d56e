"""The logging API scripts use: ``get_logger().log(name, value)``.

``log`` only checks the value and appends it to a queue; a background thread
turns what accumulated into columnar ``metrics.logged`` batches every ~20 ms
and hands them to an *outlet*: the run agent's channel when the script runs
under ``runstream submit``, else a standalone run the SDK writes itself
(:func:`runstream.session.get_logger` chooses).

Nothing after the call reaches the script: a point that cannot be batched or
encoded is found (by halving its batch) and dropped alone, points the outlet
cannot take are counted, each distinct failure is printed once, the thread goes
on, and ``wait()`` always returns a :class:`Delivery` saying what was dropped.

The run's parameters, tags and name (``log_params``, ``set_tags``, ``delete_tag``,
``set_name``: see :mod:`runstream.details`) are events of their own that take the
same queue, so they reach the outlet in order with the points around them.
"""

from __future__ import annotations

import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Mapping
from typing import Protocol

from runstream.batching import Point, PointBatcher, subset
from runstream.codec import encode_payload
from runstream.details import RunDetails, halves
from runstream.events import MAX_EVENT_BYTES, MetricsLogged, Payload
from runstream.values import (
    MAX_NAME_CHARS,
    NONFINITE,
    REPLACED,
    BadValue,
    LogValue,
    RunstreamWarning,
    check_point,
)

__all__ = ["Delivery", "Logger", "Outlet"]

INTERVAL = 0.02
_now = time.time
_INT64 = 1 << 63
_NAME = MAX_NAME_CHARS
_POLL = 1.0  # how often a waiting wait() checks that the logger thread is alive
_MAX_REPORTS = 20  # distinct failures printed; more are counted only


class Outlet(Protocol):
    """Where a logger's batches go (the agent's channel, or a standalone run)."""

    run_id: str

    def emit(self, type_: str, v: int, data: bytes, ts: float) -> None:
        """Take one encoded payload; may block briefly (back-pressure), may raise."""

    def when_stored(self, done: Callable[[bool], None]) -> None:
        """Call ``done(True)`` once everything emitted so far is stored by the server."""

    def close(self, lost: int = 0, reason: str = "") -> None:
        """Everything emitted is durable (spooled) or delivered; release resources.

        ``lost`` points could not be handed over (``reason``: the first failure):
        the outlet ends the run failed (or incomplete) saying so."""


class Delivery:
    """What became of the points logged so far: the answer of :meth:`Logger.wait`.

    True exactly when every point ``log()`` accepted is stored by the server.
    ``refused`` counts points (and parameters, tags, names) refused at the call
    (each with a warning), ``lost`` points (or such events) accepted but then lost
    (``reasons`` says why, one line per distinct failure); ``stored`` is False
    while points are still on their way (the wait timed out, or the server is
    down and they wait in the spool)."""

    __slots__ = ("lost", "reasons", "refused", "stored")

    def __init__(self, stored: bool, refused: int = 0, lost: int = 0,
                 reasons: tuple[str, ...] = ()) -> None:
        self.stored = stored
        self.refused = refused
        self.lost = lost
        self.reasons = reasons

    def __bool__(self) -> bool:
        return self.stored and not self.lost

    def __repr__(self) -> str:
        return (f"Delivery(stored={self.stored}, refused={self.refused}, lost={self.lost}, "
                f"reasons={self.reasons!r})")


class _Barrier:
    __slots__ = ("event", "ok")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.ok = False

    def done(self, ok: bool) -> None:
        self.ok = ok
        self.event.set()


class _Event:
    """A parameters, tags or name event in the queue, between the points."""

    __slots__ = ("payload", "ts")

    def __init__(self, payload: Payload, ts: float) -> None:
        self.payload = payload
        self.ts = ts


class Logger:
    """Logs the metrics, parameters and tags of one run. Thread-safe; no call blocks
    on the network."""

    def __init__(self, outlet: Outlet, *, strict: bool = False, interval: float = INTERVAL,
                 params: Mapping[str, str] | None = None) -> None:
        """``params``: parameters already logged for the run (by the agent, from
        ``runstream submit --param``): they are fixed for this logger too."""
        self.run_id = outlet.run_id
        self.strict = strict
        self._outlet = outlet
        self._interval = interval
        self._queue: deque[Point | _Barrier | _Event] = deque()
        self._put = self._queue.append
        # How many barriers and events the queue holds: 0 lets the thread skip a scan.
        self._barriers = 0
        self._details = RunDetails(params)
        self._barrier_lock = threading.Lock()
        self._batcher = PointBatcher()
        self._flagged: set[tuple[str, int]] = set()  # (metric, flag) warned about
        self._count_lock = threading.Lock()
        self._refused = 0
        self._lost = 0
        self._loss_reason = ""  # the first loss, for the outlet's end of the run
        self._reasons: list[str] = []  # distinct failures, as reported
        self._reported: set[str] = set()
        self._reported_all = False  # _MAX_REPORTS reached and said so
        self._wake = threading.Event()
        self._closing = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="runstream-logger", daemon=True)
        self._thread.start()

    def log(self, name: str, value: LogValue, step: int | None = None) -> None:
        """Log ``value`` for metric ``name`` at ``step`` (default: the metric's next step).

        ``value`` is a number, a string, or a flat list of numbers: Python and
        NumPy numbers, ``Decimal``, ``Fraction``, pandas scalars, lists, tuples,
        1-d NumPy arrays, pandas Series, tensors (see :mod:`runstream.values`).
        NaN and infinities are kept, stored as NaN, with one warning per metric.
        A value that cannot be logged (a 2-d array, a dict, None, an object, an
        array too large for one event) or a bad name is dropped with a
        :class:`RunstreamWarning` saying why; with ``RUNSTREAM_STRICT=1`` it raises
        TypeError instead. Logging never raises because the server is down: points
        wait in a spool.
        """
        # The fast path: a finite int or float, an ASCII name, no step.
        if (value.__class__ is float or value.__class__ is int) and step is None \
                and value - value == 0 and name.__class__ is str and name \
                and name.isascii() and -_INT64 <= value < _INT64 and len(name) <= _NAME:
            self._put((name, value, None, _now()))
            return
        self._log_slow(name, value, step)

    def _log_slow(self, name: object, value: object, step: object) -> None:
        try:
            checked_name, checked, checked_step, flags = check_point(name, value, step)
        except BadValue as exc:
            if self.strict:
                raise
            with self._count_lock:
                self._refused += 1
            warnings.warn(f"runstream: {exc}; the point was dropped", RunstreamWarning,
                          stacklevel=3)
            return
        if flags:
            self._warn_flags(checked_name, flags)
        self._put((checked_name, checked, checked_step, _now()))

    def _warn_flags(self, name: str, flags: int) -> None:
        for flag, says in ((NONFINITE, "got a NaN or infinite value; it is kept, stored as "
                                       "NaN"),
                           (REPLACED, "had text that is not valid UTF-8 (lone surrogates) in "
                                      "its name or value; it was replaced by U+FFFD")):
            if flags & flag and (name, flag) not in self._flagged:
                self._flagged.add((name, flag))
                warnings.warn(f"runstream: metric {name!r} {says} (this warning is shown "
                              "once per metric)", RunstreamWarning, stacklevel=4)

    # -- parameters, tags, name ---------------------------------------------

    def log_param(self, name: str, value: object) -> None:
        """Log the run's parameter ``name`` as ``str(value)`` (see :meth:`log_params`)."""
        self._record(self._details.logged({name: value}, self._refuse))

    def log_params(self, params: Mapping[str, object]) -> None:
        """Log the run's parameters (one ``params.logged`` event), each value as text
        the way MLflow writes it: ``str(value)``, NumPy scalars and 0-d tensors by
        their value (``np.float64(0.5)`` → "0.5", ``True`` → "True").

        A parameter is fixed once logged: the same value again is a no-op, another
        value is refused with a :class:`RunstreamWarning` (use a tag for what
        changes). Names of more than 250 characters and values of more than 6,000
        are refused likewise. With ``RUNSTREAM_STRICT=1`` a refusal raises
        TypeError and nothing of the call is logged."""
        self._record(self._details.logged(params, self._refuse))

    def set_tag(self, key: str, value: object) -> None:
        """Set the run's tag ``key`` to ``str(value)`` (see :meth:`set_tags`)."""
        self._record(self._details.set({key: value}, self._refuse))

    def set_tags(self, tags: Mapping[str, object]) -> None:
        """Set the run's tags (one ``tags.set`` event); unlike parameters, a tag may
        change: the last value set is the tag's. Values become text as in
        :meth:`log_params`, up to 8,000 characters; what is refused is warned about
        (strict: raises TypeError)."""
        self._record(self._details.set(tags, self._refuse))

    def delete_tag(self, key: str) -> None:
        """Remove the run's tag ``key`` (a key the run does not have is ignored)."""
        self._record(self._details.deleted([key], self._refuse))

    def set_name(self, name: str) -> None:
        """Name the run (a label shown with it, up to 250 characters; "" removes it).
        The run id stays the run's key."""
        self._record(self._details.renamed(name, self._refuse))

    @property
    def params(self) -> dict[str, str]:
        """The parameters logged through this logger so far, name → text."""
        return self._details.params

    def _refuse(self, exc: BadValue) -> None:
        if self.strict:
            raise exc
        with self._count_lock:
            self._refused += 1
        warnings.warn(f"runstream: {exc}; it was not logged", RunstreamWarning,
                      stacklevel=_caller_level())

    def _record(self, payload: Payload | None) -> None:
        if payload is None:
            return
        with self._barrier_lock:
            self._barriers += 1
            self._put(_Event(payload, _now()))

    def wait(self, timeout: float | None = None) -> Delivery:
        """Block until every point logged so far is stored by the server, or until
        ``timeout`` seconds passed; never longer (also after a failure).

        Returns a :class:`Delivery`: true when everything ``log()`` accepted is
        stored; false if ``timeout`` passed first, if the points could not be
        delivered now (they are then kept in a spool and sent later), or if points
        were lost (``lost`` and ``reasons`` say how many and why)."""
        if self._closed:
            return self._delivery(False)
        barrier = _Barrier()
        with self._barrier_lock:
            self._barriers += 1
            self._put(barrier)
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not barrier.event.is_set():
            left = _POLL if deadline is None else min(_POLL, deadline - time.monotonic())
            if left <= 0 or barrier.event.wait(left):
                break
            if not self._thread.is_alive():  # gone (interpreter exit): nothing would answer
                break
        return self._delivery(barrier.event.is_set() and barrier.ok)

    flush = wait

    def _delivery(self, stored: bool) -> Delivery:
        with self._count_lock:
            return Delivery(stored, self._refused, self._lost, tuple(self._reasons))

    def close(self, timeout: float = 30.0) -> None:
        """Send what is queued and close the outlet (standalone: complete the run;
        failed if points were lost). Called at interpreter exit; logging after it
        is ignored."""
        if self._closed:
            return
        self._closed = True
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():  # stuck in the outlet: what is still queued is lost
            left = sum(1 for item in list(self._queue) if item.__class__ is not _Barrier)
            if left:
                self._count_loss(left, f"the logger did not finish within {timeout:g} s")
        try:
            self._outlet.close(lost=self._lost, reason=self._loss_reason)
        except Exception as exc:  # at exit: say it, never raise
            _report(f"could not finish the run {self.run_id}: {exc}")

    # -- the background thread ----------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            closing = self._closing
            try:
                self._drain()
            except Exception as exc:  # never die: points after a failure still go out
                self._failure("drain", f"logging failed: {exc!r} (a bug in runstream: "
                                       "please report it)")
            if closing:
                return

    def _drain(self) -> None:
        queue = self._queue
        popleft = queue.popleft
        items = [popleft() for _ in range(len(queue))]
        if not items:
            return
        if not self._barriers:
            self._guarded(items)  # type: ignore[arg-type]  # no barrier in the queue
            return
        points: list[Point] = []
        for item in items:
            if item.__class__ is _Barrier:
                self._guarded(points)
                points = []
                self._pass(item)
            elif item.__class__ is _Event:
                self._guarded(points)
                points = []
                self._pass_event(item)
            else:
                points.append(item)  # type: ignore[arg-type]
        self._guarded(points)

    def _pass(self, barrier: _Barrier) -> None:
        """Hand a barrier to the outlet; it is answered whatever happens."""
        with self._barrier_lock:
            self._barriers -= 1
        try:
            self._outlet.when_stored(barrier.done)
        except Exception as exc:
            self._failure("when_stored", f"cannot learn whether points are stored: {exc!r}")
            barrier.done(False)

    def _pass_event(self, event: _Event) -> None:
        with self._barrier_lock:
            self._barriers -= 1
        try:
            self._send_event(event.payload, event.ts)
        except Exception as exc:  # not expected: _send_event counts what fails
            self._count_loss(1, f"logging failed: {exc!r}")

    def _send_event(self, payload: Payload, ts: float) -> None:
        """Encode and emit one event; one too large for an event is sent in halves."""
        try:
            data = encode_payload(payload)
            if len(data) > MAX_EVENT_BYTES:
                raise ValueError(f"the event would be {len(data):,} bytes, more than "
                                 f"{MAX_EVENT_BYTES:,}")
        except Exception as exc:
            parts = halves(payload)
            if parts is None:
                reason = f"a {payload.TYPE} event could not be encoded ({_text(exc)})"
                self._lose(1, reason)
                self._failure(f"{payload.TYPE}\0{type(exc).__name__}", f"{reason}; it was "
                                                                          "dropped")
                return
            for part in parts:
                self._send_event(part, ts)
            return
        try:
            self._outlet.emit(payload.TYPE, payload.VERSION, data, ts)
        except Exception as exc:
            reason = _text(exc)
            self._lose(1, reason)
            self._failure(reason, f"a {payload.TYPE} event could not be kept: {reason}; "
                                  "later events that fail so are counted, and the run ends "
                                  "failed with the total")

    def _guarded(self, points: list[Point]) -> None:
        if not points:
            return
        try:
            self._ship(points)
        except Exception as exc:  # not expected: _ship isolates what fails
            self._count_loss(len(points), f"logging failed: {exc!r}")

    def _ship(self, points: list[Point]) -> None:
        """Batch, encode and emit; a point that cannot be batched or encoded is
        found by halving and dropped alone, so the others still go out."""
        try:
            batches = self._batcher.batches(points)
        except Exception as exc:
            if len(points) > 1:
                half = len(points) // 2
                self._ship(points[:half])
                self._ship(points[half:])
            else:
                self._drop(points[0][0], "could not be batched", exc)
            return
        for batch in batches:
            self._send(batch)

    def _send(self, batch: MetricsLogged) -> None:
        n = len(batch.index)
        try:
            data = encode_payload(batch)
            if len(data) > MAX_EVENT_BYTES:  # the call checks each value: a batch is split
                raise ValueError(f"the event would be {len(data):,} bytes, more than "
                                 f"{MAX_EVENT_BYTES:,}")
        except Exception as exc:
            if n > 1:
                self._send(subset(batch, 0, n // 2))
                self._send(subset(batch, n // 2, n))
            else:
                self._drop(batch.names[0], "could not be encoded", exc)
            return
        try:
            self._outlet.emit(batch.TYPE, batch.VERSION, data, _now())
        except Exception as exc:
            self._count_loss(n, _text(exc), names=batch.names)

    def _drop(self, name: str, what: str, exc: Exception) -> None:
        """One point that cannot travel (a bug: the call let something through)."""
        reason = f"metric {name!r}: a point {what} ({_text(exc)}); it was dropped"
        self._lose(1, reason)
        self._failure(f"{name}\0{what}\0{type(exc).__name__}", reason)

    def _count_loss(self, points: int, reason: str, names: list[str] | None = None) -> None:
        """``points`` accepted points are lost; say so once per distinct reason."""
        self._lose(points, reason)
        shown = ", ".join(repr(n) for n in (names or [])[:5])
        if names and len(names) > 5:
            shown += ", …"
        self._failure(reason, f"{points:,} points{f' (metrics {shown})' if shown else ''} "
                              f"could not be kept: {reason}; later points that fail so are "
                              "counted, and the run ends failed with the total")

    def _lose(self, points: int, reason: str) -> None:
        with self._count_lock:
            self._lost += points
            if not self._loss_reason:
                self._loss_reason = reason

    def _failure(self, key: str, message: str) -> None:
        """Report each distinct failure once (a broken outlet would repeat it forever)."""
        with self._count_lock:
            if key in self._reported:
                return
            if len(self._reported) >= _MAX_REPORTS:
                if self._reported_all:
                    return
                self._reported_all = True
                message = "further kinds of failure are counted but not shown"
            else:
                self._reported.add(key)
                self._reasons.append(message)
        _report(message)


_OWN_FILES = (__file__, sys.modules[RunDetails.__module__].__file__)


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside this module and runstream.details:
    the script's call, for a warning that points at it."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename in _OWN_FILES:
        frame, level = frame.f_back, level + 1
    return level


def _text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, OSError) else f"{type(exc).__name__}: {text}"


def _report(message: str) -> None:
    print(f"runstream: {message}", file=sys.stderr, flush=True)
