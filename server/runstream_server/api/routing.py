"""Routes as data: each names its handler, its summary and its schemas (``params``:
path and query parameters, ``body``, ``returns``; msgspec structs), which serve both
for validation (``parse_body``, ``api.params.params``) and for what is published: the
OpenAPI description and the web UI's TypeScript types (``scripts/generate``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from runstream_server.services import Services, services_key

__all__ = ["Route", "json_response", "parse_body", "read", "services"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")

_json = msgspec.json.Encoder()


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    body: type | None = None  # request schema (JSON)
    returns: type | None = None  # response schema (JSON); None: not JSON
    content: str = "application/json"  # media type of the response
    # Path and query parameters (a msgspec Struct, see api/params.py); None: path
    # placeholders only, as plain strings.
    params: type | None = None
    status: int = 200


def services(request: web.Request) -> Services:
    return request.app[services_key]


async def read(request: web.Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a query against the views on a worker thread (reads never block the loop)."""
    engine = services(request).engine

    def run() -> T:
        with engine.connect() as conn:
            return fn(conn, *args, **kwargs)

    return await asyncio.to_thread(run)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=_json.encode(data), status=status, content_type="application/json")


async def parse_body(request: web.Request, schema: type[T]) -> T:
    raw = await request.read()
    try:
        return msgspec.json.decode(raw, type=schema)
    except msgspec.ValidationError as exc:
        raise web.HTTPBadRequest(
            text=_json.encode({"error": f"invalid request body: {exc}"}).decode(),
            content_type="application/json") from None
    except msgspec.DecodeError as exc:
        raise web.HTTPBadRequest(
            text=_json.encode({"error": f"request body is not JSON: {exc}"}).decode(),
            content_type="application/json") from None
