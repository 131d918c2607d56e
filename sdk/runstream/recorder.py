"""The run recorder: the steps every writer of a run's stream takes, in one place.

Three writers end a run: a script run without the agent
(:class:`~runstream.standalone.StandaloneRun`), the run agent
(``runstream_agent.agent.Agent``) and the host taking over the stream of a
container that died (``runstream_agent.containers.takeover``). Each records
the run through a :class:`RunRecorder`:

1. :meth:`~RunRecorder.ship` starts the shipper; ``writer.append`` records
   ``run.submitted`` (and ``run.started``, after which :meth:`~RunRecorder.alive`
   starts the heartbeat);
2. :meth:`~RunRecorder.settle` turns what the spool could not keep into the
   run's end: ``failed``, saying how much was logged, kept and lost;
3. :meth:`~RunRecorder.complete` uploads the outputs (a step the caller passes
   in), then, *even when interrupted while uploading*, stops the heartbeat,
   appends ``run.completed`` (from the spool's reserve: room for it on a full
   disk) and marks the spool finished;
4. :meth:`~RunRecorder.deliver` waits up to ``patience`` for the sink to
   acknowledge everything, then closes the shipper; what is left stays in the
   spool for ``runstream sync``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from runstream.events import Payload, RunCompleted, RunStatus
from runstream.heartbeat import Heartbeat
from runstream.shipper import Shipper
from runstream.sink import Sink
from runstream.spool import Spool
from runstream.writer import Losses, StreamWriter

__all__ = ["Ending", "RunRecorder"]

# The step that uploads a run's outputs and returns the events that describe them.
Upload = Callable[[], Sequence[Payload]]


def _to_stderr(message: str) -> None:
    print(f"runstream: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Ending:
    """What ``run.completed`` says: status, exit code (None: no process exit) and reason."""

    status: RunStatus
    exit_code: int | None
    reason: str = ""


class RunRecorder:
    """The single writer of one run's stream: its spool, shipper, writer, heartbeat, losses.

    ``on_problem`` hears what the user should know (losses, a failing heartbeat,
    a sink refusing events); by default it is printed on stderr."""

    def __init__(self, spool: Spool, sink: Sink, *, lease: float,
                 on_problem: Callable[[str], None] | None = None) -> None:
        self.spool = spool
        self.sink = sink
        self.shipper = Shipper(spool, sink, on_problem=on_problem)
        self.writer = StreamWriter(spool, self.shipper.notify)
        self.losses = Losses()  # what the spool could not keep (a full disk)
        self.heartbeat = Heartbeat(self.writer, lease, on_problem=on_problem)
        self._say = on_problem or _to_stderr

    @property
    def run_id(self) -> str:
        return self.spool.stream.removeprefix("run/")

    def ship(self) -> None:
        """Start delivering what the spool holds and whatever is appended."""
        self.shipper.start()

    def alive(self) -> None:
        """Start the heartbeat: after ``run.started`` (or, taking a stream over, before
        the uploads that may outlast the lease)."""
        self.heartbeat.start()

    def settle(self, ending: Ending) -> Ending:
        """``ending``, unless something the run produced could not be kept: then
        ``failed`` (same exit code), its reason followed by the losses, and the user
        is told."""
        if not self.losses.any:
            return ending
        loss = self.losses.summary(self.spool)
        self._say(f"run {self.run_id} ends failed: {loss}")
        return Ending("failed", ending.exit_code,
                      f"{ending.reason}; {loss}" if ending.reason else loss)

    def complete(self, ending: Ending, upload: Upload | None = None) -> None:
        """Upload the outputs (``upload``), then record ``ending`` as ``run.completed``
        and mark the spool finished; the end is recorded even when the upload is
        interrupted (the interruption is raised after). Raises OSError when the
        spool cannot keep ``run.completed``: ``runstream sync`` then ends the run."""
        try:
            if upload is not None:
                artifacts = upload()
                if artifacts:
                    self.writer.append(artifacts)
        finally:
            self.heartbeat.stop()  # none after the run's last event
            self.writer.append([RunCompleted(status=ending.status, exit_code=ending.exit_code,
                                             reason=ending.reason)], use_reserve=True)
            self.spool.mark_finished()

    def deliver(self, patience: float) -> bool:
        """Wait up to ``patience`` seconds for everything to be acknowledged (True if it
        was), then stop shipping. Interrupting the wait loses nothing: the events stay
        in the spool."""
        try:
            return self.shipper.drain(patience=patience)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop shipping (again: harmless); what is unacknowledged stays in the spool."""
        self.shipper.close()
