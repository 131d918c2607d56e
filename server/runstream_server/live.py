"""The live feed: subscriptions over websockets, backlog then live tail, no gap, no duplicate.

Each client has one queue, bounded in bytes, and one sender task; a client that
falls that far behind is dropped (it reconnects with its last position) and
never stalls the others or grows the server. Only committed events are
published: the ledger (or, in Kafka mode, the store feed) calls ``publish_threadsafe``
after each commit, on its own thread.

Two kinds of topic. Event topics (``jobs``, ``all``, ``run/<id>``, ``log/<id>``,
``model/<name>``, ``models``) send events; ``runs`` sends the server's folded run
views (``RunView``, numbered, what ``GET /api/runs/<id>`` answers), read once per
published batch on the publishing thread, only for the runs the batch touched and
only while some client follows ``runs``. The frames are declared and encoded in
``runstream_server.wire``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from runstream.events import (
    ModelAliasSet,
    ModelVersionChanged,
    ModelVersionCreated,
    RegisteredModelChanged,
    RegistryTagsDeleted,
    RegistryTagsSet,
    RunSubmitted,
    model_stream,
    registry_stream,
    run_id_of,
    run_streams,
)
from runstream_server.eventstore import StoredEvent
from runstream_server.projections.runs import RunView
from runstream_server.queries import NumberKey, renumbered_runs, run_views
from runstream_server.wire import (
    EVENT_OVERHEAD,
    RUNS,
    EventsFrame,
    ViewsFrame,
    encode,
    frames,
    view_frames,
)

__all__ = ["JOB_TYPES", "MAX_TOPICS", "Hub", "Subscriber", "ViewBacklog", "ViewBatch",
           "topic_filter", "touched_runs", "view_reader"]

log = logging.getLogger(__name__)

# What changes the model registry: versions, and what is said of models and versions.
REGISTRY_TYPES = frozenset(t.TYPE for t in (
    ModelVersionCreated, ModelVersionChanged, ModelAliasSet, RegisteredModelChanged,
    RegistryTagsSet, RegistryTagsDeleted))

# What the jobs panel needs to follow every run's life, without the bulk data.
JOB_TYPES = frozenset({
    "run.submitted", "run.started", "run.completed", "run.archived", "run.restored",
    "run.lost", "artifact.added", "model.version_created",
})
# Subscriptions one connection may hold at once: a tab needs a handful; each costs a
# filter on every published batch.
MAX_TOPICS = 64
# What a queued view costs, and a queued backlog request (beside EVENT_OVERHEAD per
# event): so that many tiny items are bounded too.
VIEW_BYTES = 1024
REQUEST_BYTES = 256


@dataclass(frozen=True)
class TopicFilter:
    streams: tuple[str, ...] | None  # None: any stream
    types: frozenset[str] | None  # None: any type

    def matches(self, event: StoredEvent) -> bool:
        return ((self.streams is None or event.stream in self.streams)
                and (self.types is None or event.type in self.types))


def topic_filter(topic: str) -> TopicFilter | None:
    """``jobs`` (every run's life cycle), ``all``, ``run/<id>`` (a run's events,
    with what the server recorded about it), ``log/<id>`` (a run's printed lines),
    ``model/<name>`` (its versions and registry changes), ``models`` (every change to
    the registry); None for ``runs``
    (run views, not events). Raises ValueError for anything else."""
    if topic == RUNS:
        return None
    if topic == "jobs":
        return TopicFilter(None, JOB_TYPES)
    if topic == "all":
        return TopicFilter(None, None)
    if topic == "models":
        return TopicFilter(None, REGISTRY_TYPES)
    kind, _, name = topic.partition("/")
    if name and kind == "run":
        return TopicFilter(run_streams(name), None)
    if name and kind == "log":
        return TopicFilter((f"run/{name}",), frozenset({"log.lines"}))
    if name and kind == "model":
        return TopicFilter((model_stream(name), registry_stream(name)), None)
    raise ValueError(f"unknown topic {topic!r}: use runs, jobs, all, models, run/<run id>, "
                     "log/<run id> or model/<name>")


def touched_runs(events: Iterable[StoredEvent]) -> set[str]:
    """The runs whose views these events may change (their ``run_streams``)."""
    return {rid for e in events if (rid := run_id_of(e.stream))}


def queued_size(events: Sequence[StoredEvent]) -> int:
    return sum(len(e.data) for e in events) + EVENT_OVERHEAD * len(events)


@dataclass(frozen=True)
class ViewBatch:
    """The views a published batch changed, and the last position the batch covered."""

    views: Sequence[RunView]
    position: int


# The event backlog: a page of the filter's events after a position.
Backlog = Callable[[TopicFilter, int], Awaitable[list[StoredEvent]]]
Send = Callable[[bytes], Awaitable[None]]  # one text frame, already UTF-8
# The publishing thread's view reader: the current views (numbered) of the runs a
# batch touched, and of the runs its submissions renumbered.
ViewReader = Callable[[Sequence[StoredEvent]], list[RunView]]


@dataclass(frozen=True)
class ViewBacklog:
    """What a ``runs`` backlog reads: ``page(after)``, the views whose position is after
    ``after``, in position order (a page); ``renumbered(after, since)``, the views whose
    numbers runs submitted later renumbered and that the pages did not show so: those
    at or before ``after`` renumbered by submissions after it, and every run renumbered
    by a submission after ``since`` (committed while the pages were read)."""

    page: Callable[[int], Awaitable[list[RunView]]]
    renumbered: Callable[[int, int], Awaitable[list[RunView]]]


def submissions(events: Iterable[StoredEvent]) -> list[NumberKey]:
    """The number keys of the runs these events submit."""
    return [(p.project, e.ts, rid) for e in events
            if e.type == "run.submitted" and isinstance(p := e.payload(), RunSubmitted)
            and (rid := run_id_of(e.stream))]


def view_reader(engine: Callable[[], Engine]) -> ViewReader:
    """Reads views from the database ``engine()`` names at each call (the server may
    reopen its database)."""
    def read(events: Sequence[StoredEvent]) -> list[RunView]:
        with engine().connect() as conn:
            views = run_views(conn, touched_runs(events))
            moved = renumbered_runs(conn, submissions(events))
        seen = {v.run_id for v in views}
        return views + [v for v in moved if v.run_id not in seen]
    return read


@dataclass(eq=False)
class Subscription:
    """One subscription of a connection: its topic, filter (None: run views) and the
    last event position sent on it."""

    id: str
    topic: str
    filter: TopicFilter | None
    sent: int = 0


# subscription, then: a live batch of events, a batch of views, or a backlog start; bytes
Item = tuple[Subscription, list[StoredEvent] | ViewBatch | int, int]


@dataclass(eq=False)
class Subscriber:
    """One websocket client: its subscriptions (keyed by the client's id), its queue.

    The queue holds at most ``limit`` bytes (one item is always taken into an empty
    queue, however large): a client that falls further behind is dropped, its queue
    emptied at once, and ``on_drop`` tells it to come back from its positions."""

    send: Send
    limit: int
    on_drop: Callable[[], None] = lambda: None
    queue: asyncio.Queue[Item] = field(default_factory=asyncio.Queue)
    queued: int = 0  # bytes in the queue
    subs: dict[str, Subscription] = field(default_factory=dict)
    dropped: bool = False
    head: Callable[[], int] = lambda: 0  # the hub's last published position

    @property
    def follows_runs(self) -> bool:
        # Asked from the publishing thread: copy first (one step under the GIL), as the
        # loop may change the subscriptions meanwhile.
        return any(s.filter is None for s in list(self.subs.values()))

    def subscribe(self, topic: str, after: int, sub_id: str | None = None) -> None:
        """Follow ``topic`` from just after ``after`` as ``sub_id`` (default: the topic);
        an id already in use is replaced."""
        flt = topic_filter(topic)
        key = topic if sub_id is None else sub_id
        if key not in self.subs and len(self.subs) >= MAX_TOPICS:
            raise ValueError(f"already holding {MAX_TOPICS} subscriptions on this connection, "
                             "the most one may: unsubscribe from one first, or open another")
        sub = Subscription(key, topic, flt, after)
        # The backlog request goes through the queue *before* the subscription goes
        # live, so the sender sends the backlog first and then skips live events it
        # already sent: no gap, no duplicate.
        self._put((sub, after, REQUEST_BYTES))
        self.subs[key] = sub

    def unsubscribe(self, sub_id: str) -> None:
        self.subs.pop(sub_id, None)

    def offer(self, events: Sequence[StoredEvent], views: ViewBatch | None = None) -> None:
        for sub in list(self.subs.values()):
            if sub.filter is None:
                if views is not None and views.views:
                    self._put((sub, views, VIEW_BYTES * len(views.views)))
                continue
            flt = sub.filter
            matching = [e for e in events if flt.matches(e)]
            if matching:
                self._put((sub, matching, queued_size(matching)))

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

    async def run(self, backlog: Backlog, view_backlog: ViewBacklog | None = None) -> None:
        """The client's sender: backlog requests and live batches, in queue order."""
        while not self.dropped:
            sub, item, size = await self.queue.get()
            self.queued -= size
            if self.subs.get(sub.id) is not sub:
                continue  # unsubscribed, or replaced by a newer subscription of that id
            if isinstance(item, int):
                if sub.filter is None:
                    if view_backlog is None:
                        raise RuntimeError("this feed was made without a view backlog")
                    await self._send_view_backlog(sub, item, view_backlog)
                else:
                    await self._send_backlog(sub, sub.filter, item, backlog)
            elif isinstance(item, ViewBatch):
                # Never filtered by a "last position sent": a view read late carries a
                # later position than another run's view in the next batch.
                for data in view_frames(sub.id, item.views, item.position):
                    await self.send(data)
                sub.sent = max(sub.sent, item.position)
            else:
                fresh = [e for e in item if e.position > sub.sent]
                for data in frames(sub.topic, sub.id, fresh):
                    await self.send(data)
                if fresh:
                    sub.sent = fresh[-1].position

    async def _send_backlog(self, sub: Subscription, flt: TopicFilter, after: int,
                            backlog: Backlog) -> None:
        position = after
        while True:
            page = await backlog(flt, position)
            if not page:
                break
            position = page[-1].position
            for data in frames(sub.topic, sub.id, page, backlog=True):
                await self.send(data)
        sub.sent = max(position, sub.sent)
        # Tells the client the backlog is complete: from here on, the live tail.
        await self.send(encode(EventsFrame(sub.topic, sub.id, [], live=True,
                                           position=position)))

    async def _send_view_backlog(self, sub: Subscription, after: int,
                                 backlog: ViewBacklog) -> None:
        # Every position published by now is committed, so what is read next holds
        # each change up to it.
        since = self.head()
        position = after
        while True:
            head = self.head()
            page = await backlog.page(position)
            if not page:
                position = max(position, head)  # a safe resume point: the pages ended
                break
            position = max(position, page[-1].position)
            for data in view_frames(sub.id, page, position, backlog=True):
                await self.send(data)
        moved = await backlog.renumbered(after, since)
        for data in view_frames(sub.id, moved, position, backlog=True):
            await self.send(data)
        sub.sent = max(position, sub.sent)
        await self.send(encode(ViewsFrame(RUNS, sub.id, [], position, live=True)))


class Hub:
    """Every connected client; publishes committed batches to them.

    ``views`` reads runs' current views (numbered) for the ``runs`` topic; it is
    called on the publishing thread, once per batch, while some client follows it."""

    def __init__(self, client_buffer: int = 16 << 20, *,
                 views: ViewReader | None = None) -> None:
        self.client_buffer = client_buffer
        self.views = views
        self.subscribers: set[Subscriber] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        # The last position published: a resume position at or before it is surely
        # in the log (positions past it are checked against the store).
        self.head = 0
        self.view_reads = 0  # batches whose views were read (for tests and figures)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def new_subscriber(self, send: Send, on_drop: Callable[[], None]) -> Subscriber:
        sub = Subscriber(send, self.client_buffer, on_drop, head=lambda: self.head)
        self.subscribers.add(sub)
        return sub

    def remove(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def follows_runs(self) -> bool:
        return any(s.follows_runs for s in list(self.subscribers))

    def read_views(self, events: Sequence[StoredEvent]) -> ViewBatch | None:
        """The views ``events`` changed, if anyone follows ``runs`` and they touched runs."""
        if not events or self.views is None or not self.follows_runs():
            return None
        if not touched_runs(events):
            return None
        self.view_reads += 1
        return ViewBatch(self.views(events), events[-1].position)

    def publish(self, events: Sequence[StoredEvent], views: ViewBatch | None = None) -> None:
        """Offer committed events (and the views they changed) to every subscriber,
        on the event loop."""
        if events:
            self.head = max(self.head, events[-1].position)
        for sub in list(self.subscribers):
            sub.offer(events, views)

    def publish_threadsafe(self, events: list[StoredEvent]) -> None:
        """For the publishing thread: read the batch's views here (not on the loop),
        then hand events and views to the loop, in commit order."""
        if self.loop is None or self.loop.is_closed():
            return
        try:
            views = self.read_views(events)
        except Exception:
            # Never into the writer: the clients following runs would miss this
            # change, so they are dropped and resume from their positions.
            log.exception("could not read the run views of a published batch; the clients "
                          "following runs reconnect and resume")
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._drop_view_followers)
            views = None
        with contextlib.suppress(RuntimeError):  # loop closing during shutdown
            self.loop.call_soon_threadsafe(self.publish, events, views)

    def _drop_view_followers(self) -> None:
        for sub in list(self.subscribers):
            if sub.follows_runs:
                sub.drop()
