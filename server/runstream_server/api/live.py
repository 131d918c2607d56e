"""The websocket: subscribe to topics with a resume position, get backlog then live tail.

Client messages (JSON, schema ``Request``): ``{"subscribe": "<topic>", "after":
<position>}`` and ``{"unsubscribe": "<topic>"}``. Server frames: ``{"topic",
"events": [...]}``, with ``"backlog": true`` while catching up and a ``"live": true``
frame when the backlog is complete. A message that does not fit the schema, an
unknown topic or a position past the end of the log is answered with ``{"error":
…, "field": …}`` and the connection stays open. A client that falls behind by more
than its buffer (``RUNSTREAM_CLIENT_BUFFER`` bytes) is closed with code 4000 and
should reconnect and resubscribe from the last position it received.
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
from runstream_server.live import TopicFilter, topic_filter

__all__ = ["ROUTES", "SLOW_CLIENT", "Request", "close_socket"]

log = logging.getLogger(__name__)

BACKLOG_PAGE = 500
SLOW_CLIENT = 4000
# How long a closing client has to take the close frame before its connection is cut:
# one that never reads would otherwise keep its buffers (and the close) forever.
CLOSE_GRACE = 5.0

Position = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
Topic = Annotated[str, msgspec.Meta(min_length=1, max_length=LIMITS["stream"])]


class Request(msgspec.Struct, forbid_unknown_fields=True):
    """One client message: follow a topic from just after a position, or stop."""

    subscribe: Topic | None = None
    after: Position = 0
    unsubscribe: Topic | None = None


USAGE = ('send {"subscribe": "<topic>", "after": <position>} or {"unsubscribe": "<topic>"}; '
         "a position is an integer from 0 (the start) to the last one you received")
_decode = msgspec.json.Decoder(Request).decode
_AT = re.compile(r" - at `\$\.(\w+)`$")
_UNKNOWN = re.compile(r"unknown field `(.*)`")


class ProtocolError(ValueError):
    """A client message the feed cannot act on; the error frame says which field."""

    def __init__(self, message: str, field: str | None = None, **extra: object) -> None:
        super().__init__(message)
        self.frame: dict[str, Any] = {"error": message, **extra}
        if field is not None:
            self.frame["field"] = field


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
    if req.subscribe is not None:
        try:
            topic_filter(req.subscribe)
        except ValueError as exc:
            raise ProtocolError(f"field `subscribe`: {exc}", "subscribe",
                                topic=req.subscribe) from None
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
                f"subscribe from at most {head}", "after", topic=req.subscribe, position=head)

    closing: set[asyncio.Task[None]] = set()

    def drop() -> None:
        log.info("dropped a websocket client (%s) more than %d bytes behind: it resumes "
                 "from its position", request.remote, svc.hub.client_buffer)
        sender.cancel()
        task = asyncio.ensure_future(close_socket(
            ws, SLOW_CLIENT, b"too slow: reconnect and resume from your last position"))
        closing.add(task)
        task.add_done_callback(closing.discard)

    sub = svc.hub.new_subscriber(ws.send_str, drop)
    sender = asyncio.create_task(sub.run(backlog))
    try:
        async for msg in ws:
            try:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                req = parse(msg.data)
                if req.subscribe is not None:
                    await check_position(req)
                    sub.subscribe(req.subscribe, req.after)
                elif req.unsubscribe is not None:
                    sub.unsubscribe(req.unsubscribe)
            except ValueError as exc:  # a ProtocolError, or too many topics
                frame = exc.frame if isinstance(exc, ProtocolError) else {
                    "error": f"field `subscribe`: {exc}", "field": "subscribe"}
                with contextlib.suppress(ConnectionError):  # closing meanwhile
                    await ws.send_json(frame)
    finally:
        svc.hub.remove(sub)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sender
    return ws


ROUTES = [
    Route("GET", "/api/ws", websocket,
          "Websocket: subscribe to jobs, all, run/<id>, log/<id> or model/<name> "
          "from a position; backlog, then the live tail.", content="websocket"),
]
