"""Sending a stored blob: its hash checked as it streams, never wrong bytes as complete.

A blob file can rot or be changed on disk after it was verified at upload. Small blobs
are hashed before the first byte goes out, so a mismatch is a clean error. Larger ones
stream, but the last chunk is held back until the whole file has hashed right: on a
mismatch the connection is cut short of its Content-Length, which every client takes
as a failed download. ``X-Content-SHA256`` goes out first so clients check too. A
mismatch is logged and recorded as a dead letter (``/api/dead-letters``, counted on
``/api/status``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import select

from runstream_server import deadletters
from runstream_server.api.errors import problem
from runstream_server.api.routing import services

__all__ = ["CHUNK", "content_disposition", "send_blob"]

log = logging.getLogger(__name__)

CHUNK = 1 << 20
_UNSAFE = re.compile(r'[^A-Za-z0-9._ +()\[\]-]')  # for the ASCII fallback file name


def content_disposition(kind: str, name: str) -> str:
    """A header that names the file safely: an ASCII fallback (no quotes, backslashes,
    control characters or slashes) and the exact name percent-encoded (RFC 6266)."""
    base = name.rsplit("/", 1)[-1]
    fallback = _UNSAFE.sub("_", base).strip(" .") or "download"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(base, safe='')}"


async def _corrupt(request: web.Request, sha256: str, actual: str, path: Path) -> None:
    """Log the fault and record it once per blob as a dead letter."""
    reason = (f"blob {sha256} is corrupted on the server: its file {path} now hashes to "
              f"{actual}. Re-upload the file (`runstream sync` from the machine that has "
              "it) or restore it from a backup.")
    log.error("%s (refused %s %s)", reason, request.method, request.path)
    engine = services(request).engine
    source = f"blob/{sha256}"

    def record() -> None:
        t = deadletters.dead_letters
        with engine.begin() as conn:
            if conn.execute(select(t.c.id).where(t.c.source == source)).first() is None:
                deadletters.record(conn, source, sha256, reason, b"")

    try:
        await asyncio.to_thread(record)
    except Exception:  # the refusal matters more than its record (e.g. a read-only disk)
        log.exception("could not record the corrupted blob %s", sha256)


def _refusal(sha256: str) -> web.HTTPException:
    return problem(500, f"blob {sha256} is corrupted on the server (its bytes no longer "
                        "match their sha256), so it is not served; the fault is recorded "
                        "in /api/dead-letters. Upload the file again (`runstream sync`).")


async def send_blob(request: web.Request, sha256: str,
                    headers: dict[str, str]) -> web.StreamResponse:
    """Stream blob ``sha256`` with ``headers``; refuse or cut it if it does not hash."""
    store = services(request).blobs
    if not store.exists(sha256):
        raise problem(404, f"no blob {sha256}: its content was never uploaded; upload it "
                           "again (`runstream sync`)")
    path = store.path(sha256)
    source: BinaryIO = await asyncio.to_thread(path.open, "rb")
    try:
        return await _stream(request, sha256, path, source, headers)
    finally:
        source.close()


async def _stream(request: web.Request, sha256: str, path: Path, source: BinaryIO,
                  headers: dict[str, str]) -> web.StreamResponse:
    size = (await asyncio.to_thread(path.stat)).st_size
    digest = hashlib.sha256()
    held = await asyncio.to_thread(source.read, CHUNK)
    digest.update(held)
    if len(held) >= size and digest.hexdigest() != sha256:  # all in hand: check first
        await _corrupt(request, sha256, digest.hexdigest(), path)
        raise _refusal(sha256)
    response = web.StreamResponse(headers={**headers, "X-Content-SHA256": sha256,
                                           "ETag": f'"{sha256}"'})
    response.content_length = size
    await response.prepare(request)
    while True:
        chunk = await asyncio.to_thread(source.read, CHUNK)
        if not chunk:
            break
        digest.update(chunk)
        await response.write(held)
        held = chunk
    if digest.hexdigest() != sha256:
        await _corrupt(request, sha256, digest.hexdigest(), path)
        # Headers are out: cut the connection before the last bytes, so the client
        # sees a short body instead of a complete file with the wrong content.
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write(held)
    await response.write_eof()
    return response
