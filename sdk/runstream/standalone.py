"""A run the SDK writes itself, when a script runs without an agent (``python train.py``).

The SDK is then the single writer of ``run/<project>_<epoch ms>_<suffix>``: it writes
``run.submitted`` and ``run.started`` when the logger is created, the metrics,
and ``run.completed`` at exit (``failed`` with the exception's last line when
an uncaught exception ended the script, ``canceled`` on KeyboardInterrupt).
Every event goes through a spool and the sink :func:`~runstream.sinks.open_sink`
selects (HTTP, or Kafka when ``RUNSTREAM_KAFKA`` is set); what it does not
acknowledge before exit stays there for ``runstream sync``. Points the spool
could not keep (a full disk) are counted, and the run then ends ``failed``
saying how many were logged, kept and lost.
"""

from __future__ import annotations

import getpass
import os
import secrets
import socket
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import msgspec

from runstream.events import MetricsLogged, RunStarted, RunStatus, RunSubmitted, run_stream
from runstream.recorder import Ending, RunRecorder
from runstream.settings import SdkSettings, project_name
from runstream.sink import Sink
from runstream.sinks import open_sink
from runstream.spool import Spool

__all__ = ["StandaloneRun", "create_run_spool", "new_run_id"]


_SUFFIX_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32, lower case


def new_run_id(project: str, millis: int | None = None) -> str:
    """``<project>_<epoch ms>_<4 random base32 chars>``: sorts by time (within a
    project), and 20 random bits keep ids made on two hosts in the same
    millisecond apart without asking anyone."""
    millis = int(time.time() * 1000) if millis is None else millis
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(4))
    return f"{project}_{millis:013d}_{suffix}"


def create_run_spool(root: Path, project: str) -> tuple[str, Spool]:
    """A new run id (see :func:`new_run_id`) and its spool; the spool folder is the
    reservation, so two runs of one machine never get the same id."""
    millis = int(time.time() * 1000)
    while True:
        run_id = new_run_id(project, millis)
        try:
            return run_id, Spool.create(root, run_stream(run_id))
        except FileExistsError:
            continue  # the same suffix drawn in the same millisecond: draw again


class StandaloneRun:
    """An :class:`~runstream.logger.Outlet` that owns its run's stream (through a
    :class:`~runstream.recorder.RunRecorder`)."""

    def __init__(self, run_id: str, recorder: RunRecorder, patience: float, destination: str,
                 owned_sink: Sink | None = None) -> None:
        self.run_id = run_id
        self.status: RunStatus = "completed"
        self.reason = ""
        self.recorder = recorder
        self._writer = recorder.writer
        self._shipper = recorder.shipper
        self._patience = patience
        self._destination = destination
        self._owned_sink = owned_sink
        self._closed = False
        self.losses = recorder.losses  # points kept, and what the logger could not hand over

    @classmethod
    def start(cls, settings: SdkSettings, argv: list[str], *, sink: Sink | None = None,
              hook_exceptions: bool = True) -> StandaloneRun:
        script = Path(argv[0]) if argv and argv[0] not in ("", "-c", "-m") else None
        folder = script.parent if script is not None and script.is_file() else Path.cwd()
        project = settings.project or project_name(folder)
        run_id, spool = create_run_spool(settings.spool_dir, project)
        owned = None
        if sink is None:
            sink = owned = open_sink(settings.url, settings.kafka, settings.kafka_topic,
                                     settings.kafka_compression, token=settings.token)
        recorder = RunRecorder(spool, sink, lease=settings.lease)
        host = socket.gethostname()
        recorder.writer.append([
            RunSubmitted(project=project, script=script.name if script else "<interactive>",
                         args=list(argv[1:]), target="standalone", user=_user(), host=host),
            RunStarted(pid=os.getpid(), host=host, lease=settings.lease),
        ])
        recorder.ship()
        recorder.alive()
        destination = f"Kafka at {settings.kafka}" if settings.kafka else \
            f"the server at {settings.url}"
        run = cls(run_id, recorder, settings.exit_patience, destination, owned)
        if hook_exceptions:
            previous = sys.excepthook

            def hook(kind: type[BaseException], exc: BaseException,
                     tb: TracebackType | None) -> None:
                run.record_exception(exc)
                previous(kind, exc, tb)

            sys.excepthook = hook
        return run

    def record_exception(self, exc: BaseException) -> None:
        """The script ends with this uncaught exception: the run failed (or was canceled)."""
        if isinstance(exc, KeyboardInterrupt):
            self.status, self.reason = "canceled", "KeyboardInterrupt"
        else:
            self.status = "failed"
            self.reason = traceback.format_exception_only(type(exc), exc)[-1].strip()

    # -- the Outlet ---------------------------------------------------------

    def emit(self, type_: str, v: int, data: bytes, ts: float) -> None:
        self._writer.append_encoded([(type_, v, data, ts)])  # OSError: the logger counts it
        if type_ == MetricsLogged.TYPE:  # parameters, tags, a name: no points
            self.losses.kept(_points(data))

    def when_stored(self, done: Callable[[bool], None]) -> None:
        self._shipper.when_acked(self._writer.last_seq, done)

    def close(self, lost: int = 0, reason: str = "") -> None:
        """Complete the run, deliver what the server takes within patience, keep the rest.

        ``lost`` points the logger could not hand over (``reason``: the first
        failure) make the run end failed, saying how many were kept."""
        if self._closed:
            return
        self._closed = True
        recorder = self.recorder
        spool = recorder.spool
        if lost:
            self.losses.lost(reason, points=lost)
        ending = recorder.settle(Ending(self.status, None, self.reason))
        self.status, self.reason = ending.status, ending.reason
        exit_code = None if ending.status == "completed" else 1
        try:
            recorder.complete(Ending(ending.status, exit_code, ending.reason))
        except OSError as exc:
            print(f"runstream: could not record the end of run {self.run_id} ({exc}); "
                  "`runstream sync` ends it once the disk has room", file=sys.stderr,
                  flush=True)
        delivered = recorder.deliver(self._patience)
        if self._owned_sink is not None:
            self._owned_sink.close()
        left = spool.pending
        spool.close()
        if not delivered and left:
            print(f"runstream: {self._destination} did not take {left} events of run "
                  f"{self.run_id}; they are kept in {spool.path}. Send them with "
                  "`runstream sync` once it is up.", file=sys.stderr, flush=True)


def _points(data: bytes) -> int:
    """How many points an encoded ``metrics.logged`` holds (its ``index`` array's
    length). The encoder writes ``names`` then ``index`` first, so this reads only
    the names and a header, never the points; any other layout is decoded."""
    try:
        pos = 1 if data[0] & 0xF0 == 0x80 else -1  # a fixmap
        pos = _expect(data, pos, b"\xa5names")
        count, pos = _array(data, pos)
        for _ in range(count):
            pos = _skip_str(data, pos)
        pos = _expect(data, pos, b"\xa5index")
        return _array(data, pos)[0]
    except (IndexError, ValueError):
        pass
    try:
        return len(_count_decoder.decode(data).index)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return 0


def _expect(data: bytes, pos: int, token: bytes) -> int:
    if pos < 0 or data[pos:pos + len(token)] != token:
        raise ValueError("another layout")
    return pos + len(token)


def _array(data: bytes, pos: int) -> tuple[int, int]:
    head = data[pos]
    if 0x90 <= head <= 0x9F:
        return head & 0x0F, pos + 1
    if head == 0xDC:
        return int.from_bytes(data[pos + 1:pos + 3], "big"), pos + 3
    if head == 0xDD:
        return int.from_bytes(data[pos + 1:pos + 5], "big"), pos + 5
    raise ValueError("not an array")


def _skip_str(data: bytes, pos: int) -> int:
    head = data[pos]
    if 0xA0 <= head <= 0xBF:
        return pos + 1 + (head & 0x1F)
    width = {0xD9: 1, 0xDA: 2, 0xDB: 4}.get(head)
    if width is None:
        raise ValueError("not a string")
    return pos + 1 + width + int.from_bytes(data[pos + 1:pos + 1 + width], "big")


class _Count(msgspec.Struct):
    index: list[msgspec.Raw] = []


_count_decoder = msgspec.msgpack.Decoder(_Count)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
