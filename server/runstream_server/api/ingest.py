"""Ingest for the embedded mode: event batches and blobs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Annotated

import msgspec
from aiohttp import web

from runstream.client import IngestReply
from runstream.codec import EventError, decode_batch
from runstream.events import ModelVersionCreated, RunArchived, RunLost, RunRestored
from runstream_server import deadletters
from runstream_server.api.download import send_blob
from runstream_server.api.errors import problem
from runstream_server.api.params import params
from runstream_server.api.routing import Route, json_response, read, services
from runstream_server.blobs import BlobMismatch, valid_sha256

__all__ = ["ROUTES", "BlobPath"]

MAX_BATCH_BYTES = 64 << 20


async def post_events(request: web.Request) -> web.Response:
    """Validate every event, append the batch atomically, report stored and duplicates."""
    if request.content_length and request.content_length > MAX_BATCH_BYTES:
        raise problem(413, f"a batch may be at most {MAX_BATCH_BYTES >> 20} MiB; send smaller ones")
    body = await request.read()
    events = decode_batch(body)
    for i, event in enumerate(events):
        kind = event.stream.partition("/")[0]
        if kind in SERVER_STREAMS:
            raise EventError(
                f"field `stream`: {kind}/ streams are written by the server only "
                f"({SERVER_STREAMS[kind]}); use the API for that, or write to run/<id>",
                index=i, event_id=event.id)
        if kind != "run":
            raise EventError(f"field `stream`: {event.stream!r} is not a run's stream; "
                             "clients write only to run/<run id>", index=i, event_id=event.id)
        if event.type in SERVER_TYPES:
            raise EventError(
                f"field `type`: {event.type} events are written by the server only "
                f"({SERVER_TYPES[event.type]}), never into a run's stream",
                index=i, event_id=event.id)
    return json_response(await services(request).log.accept(events))


# Streams only the server writes, at their next seq (a client's event there would take
# a seq, or a model version number, that the server hands out).
SERVER_STREAMS: Mapping[str, str] = {
    "review": "archive, restore, lost runs", "model": "model versions"}
# ...and the events it writes there, which would forge a model or an archive anywhere.
SERVER_TYPES: Mapping[str, str] = {
    ModelVersionCreated.TYPE: "POST /api/models",
    RunArchived.TYPE: "POST /api/runs/<id>/archive",
    RunRestored.TYPE: "POST /api/runs/<id>/restore",
    RunLost.TYPE: "the server's lease check",
}


class BlobPath(msgspec.Struct):
    """/api/blobs/{sha256}"""

    sha256: Annotated[str, msgspec.Meta(
        description="the blob's sha256: 64 lowercase hex digits")]


def _sha(request: web.Request) -> str:
    sha = params(request, BlobPath).sha256
    if not valid_sha256(sha):
        raise problem(400, f"{sha!r} is not a sha256 (64 lowercase hex digits)")
    return sha


async def put_blob(request: web.Request) -> web.Response:
    sha = _sha(request)
    store = services(request).blobs
    if store.exists(sha):
        await request.release()
        return json_response({"sha256": sha, "stored": False}, status=200)

    async def chunks() -> AsyncIterator[bytes]:
        async for chunk in request.content.iter_chunked(1 << 20):
            yield chunk

    try:
        size = await store.put(sha, chunks())
    except BlobMismatch as exc:
        raise problem(400, str(exc)) from None
    return json_response({"sha256": sha, "stored": True, "size": size}, status=201)


async def head_blob(request: web.Request) -> web.StreamResponse:
    sha = _sha(request)
    if not services(request).blobs.exists(sha):
        raise problem(404, f"no blob {sha}")
    return web.Response(status=200)


async def get_blob(request: web.Request) -> web.StreamResponse:
    sha = _sha(request)
    return await send_blob(request, sha, {"Content-Type": "application/octet-stream"})


async def list_dead_letters(request: web.Request) -> web.Response:
    return json_response(await read(request, deadletters.recent))


ROUTES = [
    Route("POST", "/api/events", post_events,
          "Append a batch of events (MessagePack array of envelopes); all or nothing.",
          returns=IngestReply),
    Route("PUT", "/api/blobs/{sha256}", put_blob,
          "Upload a blob; refused unless its bytes hash to the sha256 in the path.",
          returns=dict, status=201, params=BlobPath),
    Route("HEAD", "/api/blobs/{sha256}", head_blob, "Is this blob stored?", returns=None,
          params=BlobPath),
    Route("GET", "/api/blobs/{sha256}", get_blob, "Download a blob.", returns=None,
          content="application/octet-stream", params=BlobPath),
    Route("GET", "/api/dead-letters", list_dead_letters,
          "Log records that could not be applied, newest first, with the reason.",
          returns=list[deadletters.DeadLetter]),
]
