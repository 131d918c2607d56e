"""Errors at the boundary: JSON bodies that say what was wrong and what to do."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from aiohttp import web

from runstream.codec import EventError, EventTooLarge
from runstream_server.database import disk_full_reason, is_disk_full
from runstream_server.eventlog import LogUnavailable
from runstream_server.eventstore import ConcurrencyError
from runstream_server.ledger import DiskFull
from runstream_server.services import services_key

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
        status = 413 if isinstance(exc, EventTooLarge) else 400
        raise problem(status, str(exc), event=exc.index, id=exc.event_id or None) from None
    except ConcurrencyError as exc:
        raise problem(409, str(exc), id=exc.event_id or None) from None
    except LogUnavailable as exc:
        raise problem(503, str(exc)) from None
    except web.HTTPException as exc:
        if exc.content_type != "application/json" and exc.status >= 400:
            raise problem(exc.status, exc.text or exc.reason) from None
        raise
    except Exception as exc:
        if isinstance(exc, DiskFull) or is_disk_full(exc):
            raise _disk_full(request, exc) from None
        # Not the client's fault, and not a known condition: a bug. Say what failed
        # (a bare "Server got itself in trouble" helps nobody) and keep the traceback.
        log.exception("%s %s failed", request.method, request.path)
        raise problem(500, f"the server failed on this request ({type(exc).__name__}: "
                           f"{str(exc)[:300]}); this is a bug in runstream, see the "
                           "server's log. The request may be retried.") from None


def _disk_full(request: web.Request, exc: Exception) -> web.HTTPException:
    """507 with the reason: the client keeps its data and retries once space is freed."""
    settings = request.app[services_key].settings
    if isinstance(exc, DiskFull) and exc.readonly:
        reason = str(exc)
    else:
        reason = disk_full_reason(settings.data_dir, settings.db_url)
    stored = exc.stored if isinstance(exc, DiskFull) else 0
    what = (f"the first {stored} events of this batch were stored, the rest was not "
            "(resend it: the stored ones count as duplicates)" if stored
            else "nothing of this batch was stored")
    log.warning("refused a write: %s", reason)
    return problem(507, f"{reason}; {what}. Free space on the server: writes then work "
                        "again, and clients retry until they do.")
