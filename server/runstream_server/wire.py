"""The live feed's wire format: the frames a websocket client gets, declared as msgspec
structs (``SCHEMAS``, what the API description publishes) and encoded by msgspec, one
JSON encoding of an event for every topic and client."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import msgspec

from runstream_server.eventstore import StoredEvent
from runstream_server.projections.runs import RunView

__all__ = ["EVENT_OVERHEAD", "FRAME_BYTES", "RUNS", "SCHEMAS", "ErrorFrame", "EventsFrame",
           "ViewsFrame", "WireEvent", "encode", "frames", "view_frames", "wire"]

RUNS: Literal["runs"] = "runs"  # the topic of folded run views
# A frame holds events up to about this many (payload) bytes (one larger event is sent
# alone), so that neither side builds a frame the size of a whole backlog page.
FRAME_BYTES = 1 << 20
# Views per frame: a view is a few hundred bytes, plus its latest metrics.
FRAME_VIEWS = 500
# What an event costs beyond its payload bytes (envelope fields, objects).
EVENT_OVERHEAD = 256


class WireEvent(msgspec.Struct):
    """One event as the feed sends it; ``data`` is its payload as JSON (null for a
    type or version this server does not know)."""

    position: int
    id: str
    stream: str
    seq: int
    type: str
    v: int
    ts: float
    data: Any


class EventsFrame(msgspec.Struct, omit_defaults=True):
    """Events of one subscription. ``backlog`` while catching up; ``live`` (with no
    events) when the backlog is complete, ``position`` being where the tail starts."""

    topic: str
    id: str
    events: list[WireEvent]
    backlog: bool = False
    live: bool = False
    position: int | None = None


class ViewsFrame(msgspec.Struct, omit_defaults=True):
    """Run views of a ``runs`` subscription: snapshots, keyed by ``run_id``; keep the
    one with the greatest ``view.position``, at an equal position the later (the run
    renumbered by a run submitted late). ``position`` is the resume point: every change
    at or before it has been sent (a view's own position may be later, so never resume
    from a view's position)."""

    topic: Literal["runs"]
    id: str
    views: list[RunView]
    position: int
    backlog: bool = False
    live: bool = False


class ErrorFrame(msgspec.Struct, omit_defaults=True):
    """A message the feed could not act on; the connection stays open. ``field``: the
    message field refused; ``position``: the end of the log, for a resume past it."""

    error: str
    field: str | None = None
    topic: str | None = None
    id: str | None = None
    position: int | None = None


SCHEMAS: tuple[type, ...] = (EventsFrame, ViewsFrame, ErrorFrame, WireEvent)

encode = msgspec.json.Encoder().encode

def wire(event: StoredEvent) -> WireEvent:
    return WireEvent(event.position, event.id, event.stream, event.seq, event.type, event.v,
                     event.ts, event.payload())


def frames(topic: str, sub_id: str, events: Iterable[StoredEvent],
           backlog: bool = False) -> Iterator[bytes]:
    """The events as frames of at most about ``FRAME_BYTES`` of payload each."""
    chunk: list[WireEvent] = []
    size = 0
    for event in events:
        cost = len(event.data) + EVENT_OVERHEAD
        if chunk and size + cost > FRAME_BYTES:
            yield encode(EventsFrame(topic, sub_id, chunk, backlog=backlog))
            chunk, size = [], 0
        chunk.append(wire(event))
        size += cost
    if chunk:
        yield encode(EventsFrame(topic, sub_id, chunk, backlog=backlog))


def view_frames(sub_id: str, views: Sequence[RunView], position: int,
                backlog: bool = False) -> Iterator[bytes]:
    for i in range(0, len(views), FRAME_VIEWS):
        yield encode(ViewsFrame(RUNS, sub_id, list(views[i:i + FRAME_VIEWS]), position,
                                      backlog=backlog))
