"""What ``runstream submit`` shows in the terminal: the live output, upload
progress, and the ``Execution Details`` footer."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from runstream_agent.outcome import Outcome

__all__ = ["echo", "footer", "upload_progress"]

# Files smaller than this upload without a progress bar.
PROGRESS_MIN_BYTES = 1 << 20


def echo(which: int, chunk: bytes) -> None:
    """Show the script's output as it was printed, on the same stream."""
    stream = sys.stdout if which == 1 else sys.stderr
    stream.buffer.write(chunk)
    stream.buffer.flush()


@contextmanager
def upload_progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for a large upload (silent for small files)."""
    if total < PROGRESS_MIN_BYTES:
        yield lambda n: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), console=Console(stderr=True),
                  transient=False) as progress:
        task = progress.add_task(f"uploading {label}", total=total)
        yield lambda n: progress.advance(task, n)


def footer(run_id: str, outcome: Outcome, duration: float, number: int | None,
           undelivered: int) -> str:
    status = outcome.status.capitalize()
    lines = ["", "Execution Details", "=================", f"RunId: {run_id}",
             f"Status: {status}"]
    if outcome.reason:
        lines.append(f"Reason: {outcome.reason}")
    lines.append(f"Duration: {_duration(duration)}")
    lines.append(f"Number: {number if number is not None else 'unknown (server not reached)'}")
    if undelivered:
        lines.append(f"Undelivered: {undelivered} events wait in the spool; "
                     "send them with `runstream sync` once the server is up")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:04.1f}s"
    if minutes:
        return f"{minutes}m {secs:04.1f}s"
    return f"{secs:.1f}s"
