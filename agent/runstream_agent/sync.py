"""``runstream sync``: send whatever waits in the spools (of agents and standalone scripts).

A spool locked by a running agent or script is left to it (and one whose
container is still watched by its ``runstream submit``). Every other spool
is sent in full, in seq order; the server drops what it already has, so a
spool that was half sent before is simply sent again. A spool whose run is
finished and fully delivered is removed. An unfinished spool nobody holds lost
its writer (killed agent or script): sync stops what is left of its script and
ends the run as failed, "agent lost", before sending it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from runstream import setaside
from runstream.shipper import Shipper
from runstream.sink import Sink, SinkError, SinkUnavailable
from runstream.spool import Spool, SpoolBusy, stream_folders
from runstream_agent.orphans import end_orphan, is_watched

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
    ended: str = ""  # what sync did to end a run whose writer was gone
    removed: bool = False  # delivered in full; the spool folder is gone
    set_aside: list[setaside.SetAside] = field(default_factory=list)  # refused events kept
    discarded: int = 0  # of those, deleted (--discard-set-aside)


def sync_spools(root: Path, sink: Sink, *,
                on_total: Callable[[int, int], None] | None = None,
                progress: Callable[[int], None] | None = None,
                blob_progress: Callable[[int], None] | None = None,
                discard_set_aside: bool = False) -> list[StreamReport]:
    """Send every spool under ``root`` that no process holds.

    Events the server refused are set aside (``report.set_aside``) and kept until
    ``discard_set_aside`` deletes them, once their ``event.dropped`` is delivered.

    ``on_total(events, blob_bytes)`` is told how much there is before sending;
    ``progress`` gets events sent, ``blob_progress`` bytes uploaded."""
    reports: list[StreamReport] = []
    spools: list[Spool] = []
    for folder in stream_folders(root):
        try:
            spool = Spool.open(folder)
        except SpoolBusy as exc:
            reports.append(StreamReport(_stream_name(folder), folder, "busy", message=str(exc)))
        except (OSError, ValueError) as exc:
            reports.append(StreamReport(_stream_name(folder), folder, "failed",
                                        message=f"cannot read the spool: {exc}"))
        else:
            if is_watched(folder):  # a container starting or running: its agent writes it
                spool.close()
                reports.append(StreamReport(
                    spool.stream, folder, "busy", message=f"{spool.stream} is watched by the "
                    "`runstream submit` that runs its container"))
            else:
                spools.append(spool)
    ended: dict[str, str] = {}
    for spool in spools:
        if not spool.finished:
            try:
                ended[spool.stream] = end_orphan(spool, "`runstream sync`")
            except OSError as exc:
                ended[spool.stream] = f"could not end the run: {exc}"
    if on_total is not None:
        on_total(sum(s.pending for s in spools),
                 sum(p.stat().st_size for s in spools for _sha, p in s.stashed_blobs()))
    unreachable = ""
    for spool in spools:
        report = StreamReport(spool.stream, spool.path, "sent", finished=spool.finished,
                              ended=ended.get(spool.stream, ""))
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
        # Events the server refused, set aside (their event.dropped is sent once acked).
        report.set_aside = setaside.list_set_aside(spool.path)
        if discard_set_aside and report.set_aside and report.state == "sent" \
                and spool.pending == 0:
            report.discarded = setaside.discard_set_aside(spool.path)
        report.removed = spool.close()
        reports.append(report)
    return reports


def _stream_name(folder: Path) -> str:
    try:
        return (folder / "stream").read_text()
    except OSError:
        return folder.name
