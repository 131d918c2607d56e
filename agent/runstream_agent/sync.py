"""``runstream sync``: send whatever waits in the spools (of agents and standalone scripts).

A spool locked by a running agent or script is left to it. Every other spool
is sent in full, in seq order; the server drops what it already has, so a
spool that was half sent before is simply sent again. A spool whose run is
finished and fully delivered is removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runstream.shipper import Shipper
from runstream.sink import Sink, SinkError, SinkUnavailable
from runstream.spool import Spool, SpoolBusy, stream_folders

__all__ = ["StreamReport", "sync_spools"]

State = Literal["sent", "busy", "unreachable", "failed", "skipped"]


@dataclass
class StreamReport:
    stream: str
    path: Path
    state: State
    events: int = 0  # events sent (some may have been duplicates the server dropped)
    blobs: int = 0
    message: str = ""
    finished: bool = False  # the run's writer wrote its last event
    removed: bool = False  # delivered in full; the spool folder is gone


def sync_spools(root: Path, sink: Sink, *,
                on_total: Callable[[int, int], None] | None = None,
                progress: Callable[[int], None] | None = None,
                blob_progress: Callable[[int], None] | None = None) -> list[StreamReport]:
    """Send every spool under ``root`` that no process holds.

    ``on_total(events, blob_bytes)`` is told how much there is before sending;
    ``progress`` gets events sent, ``blob_progress`` bytes uploaded."""
    reports: list[StreamReport] = []
    spools: list[Spool] = []
    for folder in stream_folders(root):
        try:
            spools.append(Spool.open(folder))
        except SpoolBusy as exc:
            reports.append(StreamReport(_stream_name(folder), folder, "busy", message=str(exc)))
        except (OSError, ValueError) as exc:
            reports.append(StreamReport(_stream_name(folder), folder, "failed",
                                        message=f"cannot read the spool: {exc}"))
    if on_total is not None:
        on_total(sum(s.pending for s in spools),
                 sum(p.stat().st_size for s in spools for _sha, p in s.stashed_blobs()))
    unreachable = ""
    for spool in spools:
        report = StreamReport(spool.stream, spool.path, "sent", finished=spool.finished)
        if unreachable:
            report.state, report.message = "skipped", unreachable
        else:
            blobs_before = len(spool.stashed_blobs())
            shipper = Shipper(spool, sink)
            try:
                shipper.ship_all(progress, blob_progress)
            except SinkUnavailable as exc:
                report.state, report.message = "unreachable", str(exc)
                unreachable = f"not tried: {exc}"
            except (SinkError, OSError) as exc:
                report.state, report.message = "failed", str(exc)
            report.events = shipper.sent
            report.blobs = blobs_before - len(spool.stashed_blobs())
            if report.state == "sent" and not spool.finished:
                report.message = ("its run is not finished and nothing is writing it (the "
                                  "agent or script ended abruptly); what it wrote was sent")
        report.removed = spool.close()
        reports.append(report)
    return reports


def _stream_name(folder: Path) -> str:
    try:
        return (folder / "stream").read_text()
    except OSError:
        return folder.name
