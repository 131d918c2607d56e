"""A run the SDK writes itself, when a script runs without an agent (``python train.py``).

The SDK is then the single writer of ``run/<project>_<epoch ms>``: it writes
``run.submitted`` and ``run.started`` when the logger is created, the metrics,
and ``run.completed`` at exit (``failed`` with the exception's last line when
an uncaught exception ended the script, ``canceled`` on KeyboardInterrupt).
Every event goes through a spool and the sink :func:`~runstream.sink.open_sink`
selects (HTTP, or Kafka when ``RUNSTREAM_KAFKA`` is set); what it does not
acknowledge before exit stays there for ``runstream sync``.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from runstream.events import RunCompleted, RunStarted, RunStatus, RunSubmitted, run_stream
from runstream.settings import SdkSettings, project_name
from runstream.shipper import Shipper
from runstream.sink import Sink, open_sink
from runstream.spool import Spool
from runstream.writer import StreamWriter

__all__ = ["StandaloneRun", "create_run_spool"]


def create_run_spool(root: Path, project: str) -> tuple[str, Spool]:
    """A new run id ``<project>_<epoch ms>`` and its spool; the spool folder is the
    reservation, so two runs started in the same millisecond get different ids."""
    millis = int(time.time() * 1000)
    while True:
        run_id = f"{project}_{millis}"
        try:
            return run_id, Spool.create(root, run_stream(run_id))
        except FileExistsError:
            millis += 1


class StandaloneRun:
    """An :class:`~runstream.logger.Outlet` that owns its run's stream."""

    def __init__(self, run_id: str, writer: StreamWriter, shipper: Shipper,
                 patience: float, destination: str, owned_sink: Sink | None = None) -> None:
        self.run_id = run_id
        self.status: RunStatus = "completed"
        self.reason = ""
        self._writer = writer
        self._shipper = shipper
        self._patience = patience
        self._destination = destination
        self._owned_sink = owned_sink
        self._closed = False

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
                                     settings.kafka_compression)
        shipper = Shipper(spool, sink)
        writer = StreamWriter(spool, shipper.notify)
        host = socket.gethostname()
        writer.append([
            RunSubmitted(project=project, script=script.name if script else "<interactive>",
                         args=list(argv[1:]), target="standalone", user=_user(), host=host),
            RunStarted(pid=os.getpid(), host=host),
        ])
        shipper.start()
        destination = f"Kafka at {settings.kafka}" if settings.kafka else \
            f"the server at {settings.url}"
        run = cls(run_id, writer, shipper, settings.exit_patience, destination, owned)
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
        self._writer.append_encoded([(type_, v, data, ts)])

    def when_stored(self, done: Callable[[bool], None]) -> None:
        self._shipper.when_acked(self._writer.last_seq, done)

    def close(self) -> None:
        """Complete the run, deliver what the server takes within patience, keep the rest."""
        if self._closed:
            return
        self._closed = True
        exit_code = None if self.status == "completed" else 1
        self._writer.append([RunCompleted(status=self.status, exit_code=exit_code,
                                          reason=self.reason)])
        spool = self._writer.spool
        spool.mark_finished()
        delivered = self._shipper.drain(patience=self._patience)
        self._shipper.close()
        if self._owned_sink is not None:
            self._owned_sink.close()
        left = spool.pending
        spool.close()
        if not delivered and left:
            print(f"runstream: {self._destination} did not take {left} events of run "
                  f"{self.run_id}; they are kept in {spool.path}. Send them with "
                  "`runstream sync` once it is up.", file=sys.stderr, flush=True)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
