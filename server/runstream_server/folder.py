"""The server's folding task: the grid summaries follow the chunks (``projections/
folding.py``) while the server runs, a bounded fold at a time on the writer's thread,
so that a write never waits for more than one fold."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import Connection

from runstream_server.ledger import DiskFull
from runstream_server.projections.folding import FOLD_CHUNKS, FOLD_EVERY, FOLDING, fold
from runstream_server.services import services_key

__all__ = ["folding"]

log = logging.getLogger(__name__)


def _fold(conn: Connection) -> int:
    with FOLDING:
        return fold(conn)


async def _run(app: web.Application) -> None:
    svc = app[services_key]
    while True:
        try:
            n = await svc.ledger.maintain(_fold)
        except DiskFull:
            n = 0  # read-only until space is freed: the summaries wait with the writes
        except Exception:
            log.exception("folding chunks into the series summaries failed; retrying")
            n = 0
        # A full fold: more wait, go on (after the writes queued meanwhile).
        await asyncio.sleep(0 if n >= FOLD_CHUNKS else FOLD_EVERY)


async def folding(app: web.Application) -> AsyncIterator[None]:
    """A ``cleanup_ctx``: the folding task, from start to shutdown."""
    task = asyncio.create_task(_run(app), name="runstream-folding")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
