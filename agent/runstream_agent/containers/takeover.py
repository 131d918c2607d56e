"""The host finishing a run's stream after its container is gone.

The agent inside the container is the stream's single writer while the
container lives. Once the engine has removed the container, the host looks at
the bind-mounted spool:

- gone (the agent delivered everything and removed it): nothing to do;
- finished (the agent wrote ``run.completed``): ship what is still undelivered;
- unfinished (the container was killed, OOM-killed, stopped after its grace, or
  its agent crashed): the host becomes the writer. It uploads what the script
  left in ``outputs/``, appends ``run.completed`` with the reason the engine
  gives, and ships everything left. A container that died before its agent
  wrote anything gets ``run.submitted`` first, so the failure is on record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runstream.recorder import Ending, RunRecorder
from runstream.sink import Sink
from runstream_agent.agent import RunSpec, opening_events
from runstream_agent.containers.inside import open_spool
from runstream_agent.orphans import last_completed
from runstream_agent.outcome import Outcome
from runstream_agent.outputs import Progress, upload_outputs

__all__ = ["StreamEnd", "finish_stream"]


@dataclass(frozen=True)
class StreamEnd:
    recorded: Outcome | None  # the run.completed of the stream, when known
    took_over: bool  # the host wrote the end of the stream
    delivered: bool  # every event acknowledged
    undelivered: int  # events left in the spool (for `runstream sync`)


def finish_stream(spool_dir: Path, spec: RunSpec, sink: Sink, ending: Outcome, *,
                  outputs: Path | None, patience: float, progress: Progress | None = None,
                  on_problem: Callable[[str], None] | None = None) -> StreamEnd:
    """Complete the stream with ``ending`` if the container did not, and deliver it."""
    if not (spool_dir / "stream").is_file():
        with contextlib.suppress(OSError):
            spool_dir.rmdir()  # emptied by the agent inside, which could not remove its mount
        return StreamEnd(None, False, True, 0)
    spool = open_spool(spool_dir)
    recorder = RunRecorder(spool, sink, lease=spec.lease, on_problem=on_problem)
    try:
        recorded = None if not spool.finished else last_completed(spool)
        took_over = not spool.finished
        recorder.ship()
        if took_over:
            if spool.next_seq == 0:
                recorder.writer.append(opening_events(spec))
            # Uploading the outputs may take longer than the lease: keep the run alive.
            recorder.alive()
            found = outputs
            recorder.complete(
                Ending(ending.status, ending.exit_code, ending.reason),
                None if found is None else lambda: upload_outputs(found, sink, spool, progress))
            recorded = ending
        delivered = recorder.deliver(patience)
    finally:
        recorder.stop()  # already stopped, unless interrupted: what is left stays spooled
        undelivered = spool.pending
        spool.close()
    return StreamEnd(recorded, took_over, delivered, undelivered)
