"""Errors at the boundary: JSON bodies that say what was wrong and what to do."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from aiohttp import web

from runstream.codec import EventError
from runstream_server.eventlog import LogUnavailable
from runstream_server.eventstore import ConcurrencyError

__all__ = ["ErrorOut", "error_middleware", "problem"]

log = logging.getLogger(__name__)
_json = msgspec.json.Encoder()


class ErrorOut(msgspec.Struct, omit_defaults=True):
    error: str
    event: int | None = None
    id: str | None = None
    nearest: list[str] | None = None


def problem(status: int, message: str, **extra: Any) -> web.HTTPException:
    """An HTTP error whose JSON body is ``{"error": message, **extra}``."""
    body = {"error": message, **{k: v for k, v in extra.items() if v is not None}}
    exc = web.HTTPException(text=_json.encode(body).decode(), content_type="application/json")
    exc.status_code = status
    exc.set_status(status)
    return exc


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except EventError as exc:
        raise problem(400, str(exc), event=exc.index, id=exc.event_id or None) from None
    except ConcurrencyError as exc:
        raise problem(409, str(exc)) from None
    except LogUnavailable as exc:
        raise problem(503, str(exc)) from None
    except web.HTTPException as exc:
        if exc.content_type != "application/json" and exc.status >= 400:
            raise problem(exc.status, exc.text or exc.reason) from None
        raise
