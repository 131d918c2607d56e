"""The heartbeat: a run's writer shows it is alive while its stream is quiet.

A writer that announced a lease in ``run.started`` promises a sign of life at
least every ``lease`` seconds; the server ends a run that broke the promise as
lost. Any event is such a sign, so a busy stream costs nothing extra: every
``lease / 3`` seconds the heartbeat looks whether the stream grew since its
last look and appends a ``run.heartbeat`` only when it did not: a quiet
stream gets one every ``2 * lease / 3`` seconds, the longest gap between two
of its events.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

from runstream.events import RunHeartbeat
from runstream.writer import StreamWriter

__all__ = ["DEFAULT_LEASE", "Heartbeat"]

DEFAULT_LEASE = 30.0  # seconds; RUNSTREAM_LEASE changes it (0: no promise, no heartbeat)


def _to_stderr(message: str) -> None:
    print(f"runstream: {message}", file=sys.stderr, flush=True)


class Heartbeat:
    """Appends ``run.heartbeat`` to ``writer``'s stream whenever it was quiet for a while.

    ``start()`` after ``run.started`` (which announces ``lease``); ``stop()`` before
    ``run.completed``: once ``stop()`` returns, no heartbeat is appended any more."""

    def __init__(self, writer: StreamWriter, lease: float, *,
                 on_problem: Callable[[str], None] | None = None) -> None:
        self.writer = writer
        self.lease = lease
        self.beats = 0  # heartbeats appended
        self._on_problem = on_problem or _to_stderr
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"runstream-heartbeat {writer.stream}")

    def start(self) -> Heartbeat:
        if self.lease > 0:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        every = self.lease / 3
        seen = self.writer.last_seq
        failing = False
        while not self._stop.wait(every):
            last = self.writer.last_seq
            if last != seen:  # something else was appended: that was the sign of life
                seen = last
                continue
            try:
                # `seen` stays: the next look counts this beat as the sign of life, so a
                # quiet stream gets one every other look.
                self.writer.append([RunHeartbeat(lease=self.lease)])
                self.beats += 1
                failing = False
            except Exception as exc:  # e.g. a full disk: keep the thread, try again
                if not failing:
                    self._on_problem(f"cannot record a heartbeat of {self.writer.stream}: "
                                     f"{exc}; the server may end the run as lost if this "
                                     "goes on")
                failing = True
