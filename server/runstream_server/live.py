"""The live feed: topics over websockets, backlog then live tail, no gap, no duplicate.

Each client has one bounded queue and one sender task; a slow client is dropped
(it reconnects with its last position) and never stalls the others. Only
committed events are published: the ledger calls ``publish`` after each commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import msgspec

from runstream_server.eventstore import StoredEvent

__all__ = ["JOB_TYPES", "Hub", "Subscriber", "event_json", "topic_filter"]

log = logging.getLogger(__name__)

# What the jobs panel needs to follow every run's life, without the bulk data.
JOB_TYPES = frozenset({
    "run.submitted", "run.started", "run.completed", "run.archived", "run.restored",
    "run.lost", "artifact.added", "model.version_created",
})

_json = msgspec.json.Encoder()


@dataclass(frozen=True)
class TopicFilter:
    streams: tuple[str, ...] | None  # None: any stream
    types: frozenset[str] | None  # None: any type

    def matches(self, event: StoredEvent) -> bool:
        return ((self.streams is None or event.stream in self.streams)
                and (self.types is None or event.type in self.types))


def topic_filter(topic: str) -> TopicFilter:
    """``jobs`` (every run's life cycle), ``all``, ``run/<id>`` (a run's events,
    with what the server recorded about it), ``log/<id>`` (a run's printed lines),
    ``model/<name>``. Raises ValueError for anything else."""
    if topic == "jobs":
        return TopicFilter(None, JOB_TYPES)
    if topic == "all":
        return TopicFilter(None, None)
    kind, _, name = topic.partition("/")
    if name and kind == "run":
        return TopicFilter((f"run/{name}", f"review/{name}"), None)
    if name and kind == "log":
        return TopicFilter((f"run/{name}",), frozenset({"log.lines"}))
    if name and kind == "model":
        return TopicFilter((f"model/{name}",), None)
    raise ValueError(
        f"unknown topic {topic!r}: use jobs, all, run/<run id>, log/<run id> or model/<name>")


def event_json(event: StoredEvent) -> bytes:
    payload = event.payload()
    data = b"null" if payload is None else _json.encode(payload)
    head = _json.encode({"position": event.position, "id": event.id, "stream": event.stream,
                         "seq": event.seq, "type": event.type, "v": event.v, "ts": event.ts})
    return head[:-1] + b',"data":' + data + b"}"


def frame(topic: str, parts: Sequence[bytes], **extra: object) -> str:
    """``{"topic": …, **extra, "events": [...]}`` from pre-encoded events."""
    head = _json.encode({"topic": topic, **extra})[:-1]
    return (head + b',"events":[' + b",".join(parts) + b"]}").decode()


Backlog = Callable[[TopicFilter, int], Awaitable[list[StoredEvent]]]
Send = Callable[[str], Awaitable[None]]


@dataclass(eq=False)
class Subscriber:
    """One websocket client: its topics, the last position sent on each, its queue."""

    send: Send
    queue: asyncio.Queue[tuple[str, list[StoredEvent]] | tuple[str, int]]
    topics: dict[str, TopicFilter] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    dropped: bool = False
    on_drop: Callable[[], None] = lambda: None

    def subscribe(self, topic: str, after: int) -> None:
        flt = topic_filter(topic)
        # The backlog request goes through the queue *before* the topic goes
        # live, so the sender sends the backlog first and then skips live
        # events it already sent: no gap, no duplicate.
        self._put((topic, after))
        self.topics[topic] = flt

    def unsubscribe(self, topic: str) -> None:
        self.topics.pop(topic, None)
        self.sent.pop(topic, None)

    def offer(self, events: Sequence[StoredEvent]) -> None:
        for topic, flt in list(self.topics.items()):
            matching = [e for e in events if flt.matches(e)]
            if matching:
                self._put((topic, matching))

    def _put(self, item: tuple[str, list[StoredEvent]] | tuple[str, int]) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped = True
            self.on_drop()

    async def run(self, backlog: Backlog) -> None:
        """The client's sender: backlog requests and live batches, in queue order."""
        while True:
            topic, item = await self.queue.get()
            if isinstance(item, int):
                await self._send_backlog(topic, item, backlog)
                continue
            if topic not in self.topics:
                continue
            last = self.sent.get(topic, 0)
            fresh = [e for e in item if e.position > last]
            if fresh:
                await self.send(frame(topic, [event_json(e) for e in fresh]))
                self.sent[topic] = fresh[-1].position

    async def _send_backlog(self, topic: str, after: int, backlog: Backlog) -> None:
        flt = topic_filter(topic)
        position = after
        while True:
            page = await backlog(flt, position)
            if not page:
                break
            await self.send(frame(topic, [event_json(e) for e in page], backlog=True))
            position = page[-1].position
        self.sent[topic] = max(position, self.sent.get(topic, 0))
        # Tells the client the backlog is complete: from here on, the live tail.
        await self.send(frame(topic, [], live=True, position=position))


class Hub:
    def __init__(self, queue_size: int = 1_000) -> None:
        self.queue_size = queue_size
        self.subscribers: set[Subscriber] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def new_subscriber(self, send: Send, on_drop: Callable[[], None]) -> Subscriber:
        sub = Subscriber(send, asyncio.Queue(self.queue_size), on_drop=on_drop)
        self.subscribers.add(sub)
        return sub

    def remove(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def publish(self, events: Sequence[StoredEvent]) -> None:
        """Offer committed events to every subscriber (on the event loop)."""
        for sub in list(self.subscribers):
            sub.offer(events)

    def publish_threadsafe(self, events: list[StoredEvent]) -> None:
        """For the writer thread: hand committed events to the loop, in commit order."""
        if self.loop is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop closing during shutdown
                self.loop.call_soon_threadsafe(self.publish, events)
