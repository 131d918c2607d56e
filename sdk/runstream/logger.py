"""The logging API scripts use: ``get_logger().log(name, value)``.

``log`` only checks the value and appends it to a queue; a background thread
turns what accumulated into columnar ``metrics.logged`` batches every ~20 ms
and hands them to an *outlet*: the run agent's channel when the script runs
under ``runstream submit``, else a standalone run the SDK writes itself.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from typing import Protocol

import msgspec

from runstream.batching import Point, PointBatcher
from runstream.codec import encode_payload
from runstream.events import MetricsLogged
from runstream.settings import SdkSettings
from runstream.values import BadValue, LogValue, RunstreamWarning, check_point

__all__ = ["Logger", "Outlet", "get_logger"]

INTERVAL = 0.02
_now = time.time
_INT64 = 1 << 63


class Outlet(Protocol):
    """Where a logger's batches go (the agent's channel, or a standalone run)."""

    run_id: str

    def emit(self, type_: str, v: int, data: bytes, ts: float) -> None:
        """Take one encoded payload; may block briefly (back-pressure), may raise."""

    def when_stored(self, done: Callable[[bool], None]) -> None:
        """Call ``done(True)`` once everything emitted so far is stored by the server."""

    def close(self) -> None:
        """Everything emitted is durable (spooled) or delivered; release resources."""


class _Barrier:
    __slots__ = ("event", "ok")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.ok = False

    def done(self, ok: bool) -> None:
        self.ok = ok
        self.event.set()


class Logger:
    """Logs metrics of one run. Thread-safe; ``log`` never blocks on the network."""

    def __init__(self, outlet: Outlet, *, strict: bool = False,
                 interval: float = INTERVAL) -> None:
        self.run_id = outlet.run_id
        self.strict = strict
        self._outlet = outlet
        self._interval = interval
        self._queue: deque[Point | _Barrier] = deque()
        self._put = self._queue.append
        self._barriers = 0  # how many barriers the queue holds: 0 lets the thread skip a scan
        self._barrier_lock = threading.Lock()
        self._batcher = PointBatcher()
        self._warned_nonfinite: set[str] = set()
        self._failure = ""
        self._wake = threading.Event()
        self._closing = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="runstream-logger", daemon=True)
        self._thread.start()

    def log(self, name: str, value: LogValue, step: int | None = None) -> None:
        """Log ``value`` for metric ``name`` at ``step`` (default: the metric's next step).

        ``value`` is a number, a string, or a flat list of numbers (list, tuple,
        NumPy array). NaN and infinities are kept, stored as NaN, with one warning
        per metric. A value that cannot be logged (a nested list, a dict, None, an
        object) or an empty name is dropped with a :class:`RunstreamWarning` saying
        why; with ``RUNSTREAM_STRICT=1`` it raises TypeError instead. Logging never
        raises because the server is down: points wait in a spool.
        """
        # The fast path: a finite int or float, a name, no step.
        if (value.__class__ is float or value.__class__ is int) and step is None \
                and value - value == 0 and name.__class__ is str and name \
                and -_INT64 <= value < _INT64:
            self._put((name, value, None, _now()))
            return
        self._log_slow(name, value, step)

    def _log_slow(self, name: object, value: object, step: object) -> None:
        try:
            checked_name, checked, checked_step, nonfinite = check_point(name, value, step)
        except BadValue as exc:
            if self.strict:
                raise
            warnings.warn(f"runstream: {exc}; the point was dropped", RunstreamWarning,
                          stacklevel=3)
            return
        if nonfinite and checked_name not in self._warned_nonfinite:
            self._warned_nonfinite.add(checked_name)
            warnings.warn(f"runstream: metric {checked_name!r} got a NaN or infinite value; "
                          "it is kept, stored as NaN (this warning is shown once per metric)",
                          RunstreamWarning, stacklevel=3)
        self._put((checked_name, checked, checked_step, _now()))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every point logged so far is stored by the server.

        Returns False if ``timeout`` passed first, or if the points could not be
        delivered now (they are then kept in a spool and sent later)."""
        if self._closed:
            return False
        barrier = _Barrier()
        with self._barrier_lock:
            self._barriers += 1
            self._put(barrier)
        self._wake.set()
        return barrier.event.wait(timeout) and barrier.ok

    flush = wait

    def close(self, timeout: float = 30.0) -> None:
        """Send what is queued and close the outlet (standalone: complete the run).
        Called at interpreter exit; logging after it is ignored."""
        if self._closed:
            return
        self._closed = True
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        try:
            self._outlet.close()
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
                self._fail(f"logging failed: {exc!r}")
            if closing:
                return

    def _drain(self) -> None:
        queue = self._queue
        popleft = queue.popleft
        items = [popleft() for _ in range(len(queue))]
        if not items:
            return
        if not self._barriers:
            self._emit(items)  # type: ignore[arg-type]  # no barrier in the queue
            return
        points: list[Point] = []
        for item in items:
            if item.__class__ is _Barrier:
                self._emit(points)
                points = []
                with self._barrier_lock:
                    self._barriers -= 1
                self._outlet.when_stored(item.done)
            else:
                points.append(item)  # type: ignore[arg-type]
        self._emit(points)

    def _emit(self, points: list[Point]) -> None:
        for batch in self._batcher.batches(points):
            try:
                data = encode_payload(batch)
            except OverflowError:  # an int beyond 64 bits slipped through as a list item
                data = encode_payload(_as_floats(batch))
            try:
                self._outlet.emit(batch.TYPE, batch.VERSION, data, _now())
            except Exception as exc:
                self._fail(f"{len(batch.index)} points were lost: {exc}")

    def _fail(self, message: str) -> None:
        if not self._failure:  # say it once: a broken outlet would repeat it forever
            self._failure = message
            _report(message)


def _as_floats(batch: MetricsLogged) -> MetricsLogged:
    values = [float(v) if isinstance(v, int) else v for v in batch.values]
    return msgspec.structs.replace(batch, values=values)


def _report(message: str) -> None:
    print(f"runstream: {message}", file=sys.stderr, flush=True)


class _Unrecorded:
    """The outlet when none could be opened: drops points, says so once."""

    def __init__(self, run_id: str, reason: str) -> None:
        self.run_id = run_id
        _report(f"{reason}; metrics of this process are not recorded")

    def emit(self, type_: str, v: int, data: bytes, ts: float) -> None:
        return None

    def when_stored(self, done: Callable[[bool], None]) -> None:
        done(False)

    def close(self) -> None:
        return None


_default_lock = threading.Lock()
_default: list[Logger] = []  # the process's logger, like logging.getLogger()'s root


def get_logger() -> Logger:
    """The process's logger, created on first use from ``RUNSTREAM_*`` variables.

    Under ``runstream submit`` it sends to the run agent; run on its own
    (``python script.py``) it creates a run, sends to ``RUNSTREAM_URL`` (or, when
    ``RUNSTREAM_KAFKA=host:port`` is set, to that broker's ``RUNSTREAM_KAFKA_TOPIC``,
    files still to ``RUNSTREAM_URL``), keeps what cannot be sent in a spool for
    ``runstream sync``, and completes the run at exit (failed if an exception
    ended the script)."""
    with _default_lock:
        if not _default:
            settings = SdkSettings.from_env()
            logger = Logger(_open_outlet(settings), strict=settings.strict)
            atexit.register(logger.close)
            _default.append(logger)
        return _default[0]


def _open_outlet(settings: SdkSettings) -> Outlet:
    if settings.agent_socket:
        from runstream.channel import AgentChannel

        try:
            return AgentChannel.connect(settings.agent_socket, settings.run_id)
        except OSError as exc:
            return _Unrecorded(settings.run_id, f"cannot reach the run agent at "
                                                f"{settings.agent_socket} ({exc})")
    from runstream.standalone import StandaloneRun

    try:
        return StandaloneRun.start(settings, sys.argv)
    except OSError as exc:
        return _Unrecorded("", f"cannot create a spool in {settings.spool_dir} ({exc}); "
                               "set RUNSTREAM_SPOOL_DIR to a writable folder")
