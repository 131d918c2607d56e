"""The websocket: subscriptions with a resume position, each a backlog then the live tail.

One connection carries every subscription of a browser tab. Client messages (JSON,
schema ``Request``):

* ``{"subscribe": "<topic>", "after": <position>, "id": "<id>"}`` follows a topic
  from just after a position. ``id`` (default: the topic) names the subscription in
  the frames it gets, so that one connection can follow one topic twice from
  different positions; subscribing with an id in use replaces that subscription.
* ``{"unsubscribe": "<id>"}`` stops one.

Event topics (``jobs``, ``all``, ``models``, ``run/<id>``, ``log/<id>``,
``model/<name>``) answer ``EventsFrame``s: ``{"topic", "id", "events": [...]}``,
with ``"backlog": true`` while catching up, then one ``{"live": true, "position": P}``
frame when the backlog is complete. Resume from the last event's position.

The ``runs`` topic answers ``ViewsFrame``s of the server's folded run views (what
``GET /api/runs/<id>`` answers, numbered): ``{"topic": "runs", "id", "views":
[...], "position": P}``. First every view whose position is after ``after``, in
position order (``"backlog": true``), then ``{"live": true, "position": H}``, then a
frame after each committed batch that changed views. Views are snapshots keyed by
``run_id``: keep, per run, the one with the greatest ``view.position``, at an equal
position the later one (a view may arrive twice, or older than one already held; a
run submitted late renumbers the runs after it, whose views then come again at their
position with their new ``number``). Resume from the greatest frame ``position``
received, never from a view's own position: a view read late may carry a position
past a change of another run still on its way. The backlog sends, after the pages,
the runs renumbered by submissions after ``after``.

A message that does not fit the schema, an unknown topic or a position past the end
of the log is answered with an ``ErrorFrame`` ``{"error": …, "field": …}`` and the
connection stays open. A client that falls behind by more than its buffer
(``RUNSTREAM_CLIENT_BUFFER`` bytes) is closed with code 4000 and should reconnect
and resubscribe each subscription from the last position it received.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Annotated, Any

import msgspec
from aiohttp import WSMsgType, web

from runstream.codec import LIMITS
from runstream.events import INT64_MAX
from runstream_server.api.routing import Route, read, services
from runstream_server.eventstore import StoredEvent, head_position, read_events
from runstream_server.live import TopicFilter, ViewBacklog, topic_filter
from runstream_server.projections.runs import RunView
from runstream_server.queries import renumbered_runs, run_views_after, submitted_after
from runstream_server.wire import SCHEMAS as FRAMES
from runstream_server.wire import ErrorFrame

__all__ = ["ROUTES", "SCHEMAS", "SLOW_CLIENT", "Request", "close_socket"]

log = logging.getLogger(__name__)

BACKLOG_PAGE = 500
VIEW_PAGE = 1000
SLOW_CLIENT = 4000
# How long a closing client has to take the close frame before its connection is cut:
# one that never reads would otherwise keep its buffers (and the close) forever.
CLOSE_GRACE = 5.0

Position = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
Topic = Annotated[str, msgspec.Meta(min_length=1, max_length=LIMITS["stream"])]


SubscriptionId = Annotated[str, msgspec.Meta(min_length=1, max_length=LIMITS["stream"])]


class Request(msgspec.Struct, forbid_unknown_fields=True):
    """One client message: follow a topic from just after a position (as ``id``,
    default the topic), or stop the subscription named ``unsubscribe``."""

    subscribe: Topic | None = None
    after: Position = 0
    id: SubscriptionId | None = None
    unsubscribe: SubscriptionId | None = None


# What a client sends and what it gets: the schemas the API description publishes.
SCHEMAS: tuple[type, ...] = (Request, *FRAMES)

USAGE = ('send {"subscribe": "<topic>", "after": <position>, "id": "<your name for it>"} or '
         '{"unsubscribe": "<id>"}; a position is an integer from 0 (the start) to the last '
         "one you received")
_decode = msgspec.json.Decoder(Request).decode
_encode = msgspec.json.Encoder().encode
_AT = re.compile(r" - at `\$\.(\w+)`$")
_UNKNOWN = re.compile(r"unknown field `(.*)`")


class ProtocolError(ValueError):
    """A client message the feed cannot act on; the error frame says which field."""

    def __init__(self, message: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.frame = ErrorFrame(message, field, **extra)


def parse(text: str | bytes) -> Request:
    try:
        req = _decode(text)
    except msgspec.ValidationError as exc:
        detail = str(exc)
        at, unknown = _AT.search(detail), _UNKNOWN.search(detail)
        field = at.group(1) if at else unknown.group(1) if unknown else None
        raise ProtocolError(f"bad message: {detail}; {USAGE}", field) from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"bad message: {exc}; {USAGE}") from None
    if (req.subscribe is None) == (req.unsubscribe is None):
        raise ProtocolError(f"bad message: name exactly one of subscribe and unsubscribe; "
                            f"{USAGE}", "subscribe")
    if req.unsubscribe is not None and req.id is not None:
        raise ProtocolError(f"bad message: an unsubscribe names its subscription's id "
                            f"itself ({{\"unsubscribe\": \"<id>\"}}); {USAGE}", "id")
    if req.subscribe is not None:
        try:
            topic_filter(req.subscribe)
        except ValueError as exc:
            raise ProtocolError(f"field `subscribe`: {exc}", "subscribe",
                                topic=req.subscribe, id=req.id) from None
    return req


class FeedSocket(web.WebSocketResponse):
    """The feed's websocket, knowing its connection so that it can cut it."""

    transport: asyncio.Transport | None = None


async def close_socket(ws: web.WebSocketResponse, code: int, message: bytes,
                       grace: float | None = None) -> None:
    """Close with ``code``; cut the connection if the client does not take the close
    within the grace (aiohttp's close would wait for it to read, forever)."""
    try:
        async with asyncio.timeout(CLOSE_GRACE if grace is None else grace):
            await ws.close(code=code, message=message, drain=False)
    except TimeoutError:
        if isinstance(ws, FeedSocket) and ws.transport is not None:
            ws.transport.abort()


async def websocket(request: web.Request) -> web.WebSocketResponse:
    svc = services(request)
    # A browser offers ["runstream", "runstream.token.<token>"] (auth.py reads the token);
    # the handshake must answer one of the offered subprotocols, never the token.
    ws = FeedSocket(heartbeat=30, max_msg_size=1 << 20, protocols=("runstream",))
    await ws.prepare(request)
    ws.transport = request.transport
    svc.sockets.add(ws)

    async def backlog(flt: TopicFilter, after: int) -> list[StoredEvent]:
        def run() -> list[StoredEvent]:
            with svc.engine.connect() as conn:
                return read_events(conn, after, limit=BACKLOG_PAGE, streams=flt.streams,
                                   types=flt.types)
        return await asyncio.to_thread(run)

    async def view_page(after: int) -> list[RunView]:
        def run() -> list[RunView]:
            with svc.engine.connect() as conn:
                return run_views_after(conn, after, VIEW_PAGE)
        return await asyncio.to_thread(run)

    async def renumbered(after: int, since: int) -> list[RunView]:
        def run() -> list[RunView]:
            with svc.engine.connect() as conn:
                views = renumbered_runs(conn, submitted_after(conn, since))
                if after > 0:  # from 0, no view is at or before it
                    views += renumbered_runs(conn, submitted_after(conn, after), at_most=after)
            return list({v.run_id: v for v in views}.values())
        return await asyncio.to_thread(run)

    async def check_position(req: Request) -> None:
        if req.after <= svc.hub.head:
            return  # published, so in the log
        head = await read(request, head_position)
        svc.hub.head = max(svc.hub.head, head)
        if req.after > head:
            # Skipping to "whatever comes next" would silently lose events between
            # the log's end and this position once they are written.
            raise ProtocolError(
                f"position {req.after} is past the end of the event log (position {head}): "
                "this server has never sent it (was its store replaced?); reload, or "
                f"subscribe from at most {head}", "after", topic=req.subscribe, id=req.id,
                position=head)

    closing: set[asyncio.Task[None]] = set()

    def drop() -> None:
        log.info("dropped a websocket client (%s) more than %d bytes behind: it resumes "
                 "from its position", request.remote, svc.hub.client_buffer)
        sender.cancel()
        task = asyncio.ensure_future(close_socket(
            ws, SLOW_CLIENT, b"too slow: reconnect and resume from your last position"))
        closing.add(task)
        task.add_done_callback(closing.discard)

    async def send(data: bytes) -> None:
        # UTF-8 JSON from msgspec, sent as a text frame as it is (no decode, re-encode).
        await ws.send_frame(data, WSMsgType.TEXT)

    sub = svc.hub.new_subscriber(send, drop)
    sender = asyncio.create_task(sub.run(backlog, ViewBacklog(view_page, renumbered)))
    try:
        async for msg in ws:
            try:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                req = parse(msg.data)
                if req.subscribe is not None:
                    await check_position(req)
                    sub.subscribe(req.subscribe, req.after, req.id)
                elif req.unsubscribe is not None:
                    sub.unsubscribe(req.unsubscribe)
            except ValueError as exc:  # a ProtocolError, or too many topics
                frame = exc.frame if isinstance(exc, ProtocolError) else ErrorFrame(
                    f"field `subscribe`: {exc}", "subscribe")
                with contextlib.suppress(ConnectionError):  # closing meanwhile
                    await send(_encode(frame))
    finally:
        svc.hub.remove(sub)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sender
    return ws


ROUTES = [
    Route("GET", "/api/ws", websocket,
          "Websocket: subscribe to runs (folded run views), jobs, all, models, run/<id>, "
          "log/<id> or model/<name> from a position, each subscription named by an id; "
          "backlog, then the live tail.", content="websocket"),
]
