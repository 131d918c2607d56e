"""The websocket: subscribe to topics with a resume position, get backlog then live tail.

Client messages (JSON): ``{"subscribe": "<topic>", "after": <position>}`` and
``{"unsubscribe": "<topic>"}``. Server frames: ``{"topic", "events": [...]}``,
with ``"backlog": true`` while catching up and a ``"live": true`` frame when
the backlog is complete. A client too slow to keep up is closed with code 4000
and should reconnect with the last position it received.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import WSMsgType, web

from runstream_server.api.routing import Route, services
from runstream_server.eventstore import StoredEvent, read_events
from runstream_server.live import TopicFilter

__all__ = ["ROUTES"]

BACKLOG_PAGE = 2_000
SLOW_CLIENT = 4000


async def websocket(request: web.Request) -> web.WebSocketResponse:
    svc = services(request)
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=1 << 20)
    await ws.prepare(request)
    svc.sockets.add(ws)

    async def backlog(flt: TopicFilter, after: int) -> list[StoredEvent]:
        def run() -> list[StoredEvent]:
            with svc.engine.connect() as conn:
                return read_events(conn, after, limit=BACKLOG_PAGE, streams=flt.streams,
                                   types=flt.types)
        return await asyncio.to_thread(run)

    closing: set[asyncio.Task[bool]] = set()

    def drop() -> None:
        task = asyncio.ensure_future(ws.close(
            code=SLOW_CLIENT, message=b"too slow: reconnect with your last position"))
        closing.add(task)
        task.add_done_callback(closing.discard)

    sub = svc.hub.new_subscriber(ws.send_str, drop)
    sender = asyncio.create_task(sub.run(backlog))
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(msg.data)
                if "subscribe" in data:
                    sub.subscribe(str(data["subscribe"]), int(data.get("after", 0)))
                elif "unsubscribe" in data:
                    sub.unsubscribe(str(data["unsubscribe"]))
                else:
                    raise ValueError("send {\"subscribe\": topic, \"after\": position}")
            except (ValueError, TypeError) as exc:
                await ws.send_json({"error": str(exc)})
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
