"""The live feed: topics over websockets, backlog then live tail, no gap, no duplicate.

Each client has one queue, bounded in bytes, and one sender task; a client that
falls that far behind is dropped (it reconnects with its last position) and
never stalls the others or grows the server. Only committed events are
published: the ledger calls ``publish`` after each commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import msgspec

from runstream_server.eventstore import StoredEvent

__all__ = ["FRAME_BYTES", "JOB_TYPES", "MAX_TOPICS", "Hub", "Subscriber", "event_json",
           "topic_filter"]

log = logging.getLogger(__name__)

# What the jobs panel needs to follow every run's life, without the bulk data.
JOB_TYPES = frozenset({
    "run.submitted", "run.started", "run.completed", "run.archived", "run.restored",
    "run.lost", "artifact.added", "model.version_created",
})
# Topics one connection may follow at once: the dashboard needs a few dozen; each
# topic costs a filter on every published batch.
MAX_TOPICS = 64
# A frame holds events up to about this many bytes (one larger event is sent alone),
# so that neither side builds a frame the size of a whole backlog page.
FRAME_BYTES = 1 << 20
# What a queued event costs beyond its payload bytes (envelope fields, objects), and
# what a queued backlog request costs: so that many tiny items are bounded too.
EVENT_OVERHEAD = 256
REQUEST_BYTES = 256

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


def frames(topic: str, events: Iterable[StoredEvent], **extra: object) -> Iterator[str]:
    """The events as frames of at most about ``FRAME_BYTES`` each, encoded lazily."""
    parts: list[bytes] = []
    size = 0
    for event in events:
        part = event_json(event)
        if parts and size + len(part) > FRAME_BYTES:
            yield frame(topic, parts, **extra)
            parts, size = [], 0
        parts.append(part)
        size += len(part)
    if parts:
        yield frame(topic, parts, **extra)


def queued_size(events: Sequence[StoredEvent]) -> int:
    return sum(len(e.data) for e in events) + EVENT_OVERHEAD * len(events)


Backlog = Callable[[TopicFilter, int], Awaitable[list[StoredEvent]]]
Send = Callable[[str], Awaitable[None]]
Item = tuple[str, list[StoredEvent] | int, int]  # topic, live batch or backlog start, bytes


@dataclass(eq=False)
class Subscriber:
    """One websocket client: its topics, the last position sent on each, its queue.

    The queue holds at most ``limit`` bytes (one item is always taken into an empty
    queue, however large): a client that falls further behind is dropped, its queue
    emptied at once, and ``on_drop`` tells it to come back from its position."""

    send: Send
    limit: int
    on_drop: Callable[[], None] = lambda: None
    queue: asyncio.Queue[Item] = field(default_factory=asyncio.Queue)
    queued: int = 0  # bytes in the queue
    topics: dict[str, TopicFilter] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    dropped: bool = False

    def subscribe(self, topic: str, after: int) -> None:
        flt = topic_filter(topic)
        if topic not in self.topics and len(self.topics) >= MAX_TOPICS:
            raise ValueError(f"already following {MAX_TOPICS} topics on this connection, the "
                             "most one may: unsubscribe from one first, or open another")
        # The backlog request goes through the queue *before* the topic goes
        # live, so the sender sends the backlog first and then skips live
        # events it already sent: no gap, no duplicate.
        self._put((topic, after, REQUEST_BYTES))
        self.topics[topic] = flt

    def unsubscribe(self, topic: str) -> None:
        self.topics.pop(topic, None)
        self.sent.pop(topic, None)

    def offer(self, events: Sequence[StoredEvent]) -> None:
        for topic, flt in list(self.topics.items()):
            matching = [e for e in events if flt.matches(e)]
            if matching:
                self._put((topic, matching, queued_size(matching)))

    def _put(self, item: Item) -> None:
        if self.dropped:
            return
        if self.queued + item[2] > self.limit and not self.queue.empty():
            self.drop()
            return
        self.queued += item[2]
        self.queue.put_nowait(item)

    def drop(self) -> None:
        """Stop queueing for this client and free what it held; it reconnects."""
        if self.dropped:
            return
        self.dropped = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queued = 0
        self.on_drop()

    async def run(self, backlog: Backlog) -> None:
        """The client's sender: backlog requests and live batches, in queue order."""
        while not self.dropped:
            topic, item, size = await self.queue.get()
            self.queued -= size
            if isinstance(item, int):
                await self._send_backlog(topic, item, backlog)
                continue
            if topic not in self.topics:
                continue
            last = self.sent.get(topic, 0)
            fresh = [e for e in item if e.position > last]
            for text in frames(topic, fresh):
                await self.send(text)
            if fresh:
                self.sent[topic] = fresh[-1].position

    async def _send_backlog(self, topic: str, after: int, backlog: Backlog) -> None:
        flt = topic_filter(topic)
        position = after
        while True:
            page = await backlog(flt, position)
            if not page:
                break
            position = page[-1].position
            for text in frames(topic, page, backlog=True):
                await self.send(text)
        self.sent[topic] = max(position, self.sent.get(topic, 0))
        # Tells the client the backlog is complete: from here on, the live tail.
        await self.send(frame(topic, [], live=True, position=position))


class Hub:
    def __init__(self, client_buffer: int = 16 << 20) -> None:
        self.client_buffer = client_buffer
        self.subscribers: set[Subscriber] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        # The last position published: a resume position at or before it is surely
        # in the log (positions past it are checked against the store).
        self.head = 0

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def new_subscriber(self, send: Send, on_drop: Callable[[], None]) -> Subscriber:
        sub = Subscriber(send, self.client_buffer, on_drop)
        self.subscribers.add(sub)
        return sub

    def remove(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def publish(self, events: Sequence[StoredEvent]) -> None:
        """Offer committed events to every subscriber (on the event loop)."""
        if events:
            self.head = max(self.head, events[-1].position)
        for sub in list(self.subscribers):
            sub.offer(events)

    def publish_threadsafe(self, events: list[StoredEvent]) -> None:
        """For the writer thread: hand committed events to the loop, in commit order."""
        if self.loop is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop closing during shutdown
                self.loop.call_soon_threadsafe(self.publish, events)
