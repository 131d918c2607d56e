"""API token: required for every HTTP and websocket call when the server has one."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from runstream_server.api.errors import problem

__all__ = ["token_middleware"]


def token_middleware(token: str) -> Any:
    expected = token.encode()

    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/api"):
            header = request.headers.get("Authorization", "")
            given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") \
                else request.query.get("token", "")
            if not hmac.compare_digest(given.encode(), expected):
                raise problem(401, "this server requires an API token: send "
                                   "`Authorization: Bearer <token>` (set RUNSTREAM_TOKEN)")
        response: web.StreamResponse = await handler(request)
        return response

    return check
