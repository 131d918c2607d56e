"""``runstream logs --follow`` comes back after the server drops it (close code 4000,
"too slow") and resumes from the last position it printed: no line lost or repeated."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from runstream.client import Client
from runstream_agent.cli.logs import follow


def line_event(position: int) -> dict[str, Any]:
    return {"position": position, "stream": "run/r", "type": "log.lines",
            "data": {"first": position, "lines": [f"line {position}"], "fds": [1]}}


async def test_follow_resumes_from_its_last_position_after_a_too_slow_close(
        aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
        capsys: pytest.CaptureFixture[str]) -> None:
    subscribed: list[dict[str, Any]] = []

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        subscribed.append(json.loads((await sock.receive()).data))
        after = subscribed[-1]["after"]
        if len(subscribed) == 1:  # the first connection falls behind after three events
            await sock.send_json({"topic": "run/r", "backlog": True,
                                  "events": [line_event(p) for p in (1, 2, 3)]})
            await sock.close(code=4000, message=b"too slow: reconnect and resume")
            return sock
        done = {"position": 6, "stream": "run/r", "type": "run.completed",
                "data": {"status": "completed", "exit_code": 0}}
        await sock.send_json({"topic": "run/r", "backlog": True,
                              "events": [line_event(p) for p in range(after + 1, 6)] + [done]})
        await sock.receive()
        return sock

    app = web.Application()
    app.router.add_get("/api/ws", ws)
    server = await aiohttp_server(app)
    code = await asyncio.wait_for(follow(Client(str(server.make_url(""))), "r", 0, True), 20)
    assert code == 0
    assert [s["after"] for s in subscribed] == [0, 3]
    assert capsys.readouterr().out.splitlines() == [f"line {p}" for p in range(1, 6)]


async def test_follow_says_why_the_server_refused_the_live_feed(
        aiohttp_server: Callable[[web.Application], Awaitable[TestServer]]) -> None:
    import click

    async def ws(request: web.Request) -> web.Response:
        return web.json_response({"error": "a page at https://evil.example may not open "
                                           "its live feed"}, status=403)

    app = web.Application()
    app.router.add_get("/api/ws", ws)
    server = await aiohttp_server(app)
    with pytest.raises(click.ClickException, match=r"HTTP 403.*evil\.example"):
        await asyncio.wait_for(follow(Client(str(server.make_url(""))), "r", 0, True), 20)
