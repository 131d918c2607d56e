"""A run's ``outputs/`` folder into content-addressed blobs and ``artifact.added`` events.

Each file is hashed, uploaded through the sink (skipped by the server when it
already has the blob), and described by an event with path ``outputs/…``. A
file the sink cannot take now is stashed in the run's spool, which uploads it
before the events that follow, so nothing waits on the server being up.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from runstream.client import file_sha256
from runstream.events import ArtifactAdded
from runstream.sink import Sink, SinkRejected, SinkUnavailable
from runstream.spool import Spool

__all__ = ["Progress", "collect_outputs", "upload_outputs"]

# (label, total bytes) -> a context giving the callback to report bytes sent
Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


def collect_outputs(outputs: Path) -> list[Path]:
    """The files under ``outputs`` (symlinks to files included), sorted by path."""
    if not outputs.is_dir():
        return []
    return sorted(p for p in outputs.rglob("*") if p.is_file())


def upload_outputs(outputs: Path, sink: Sink, spool: Spool,
                   progress: Progress | None = None) -> list[ArtifactAdded]:
    """Upload (or stash) every file of ``outputs``; returns their events, in path order."""
    added: list[ArtifactAdded] = []
    for path in collect_outputs(outputs):
        rel = path.relative_to(outputs).as_posix()
        size = path.stat().st_size
        sha256 = file_sha256(path)
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        context = progress(f"outputs/{rel}", size) if progress else nullcontext(None)
        with context as report:
            try:
                sink.put_blob(path, sha256, report)
            except SinkUnavailable:
                spool.stash_blob(path, sha256)
            except SinkRejected:
                # The file changed while it was read: stash the bytes we hash now.
                spool.stash_blob(path, sha256)
        added.append(ArtifactAdded(path=f"outputs/{rel}", sha256=sha256, size=size,
                                   media_type=media))
    return added
