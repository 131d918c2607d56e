"""The MLflow API's writes: every call becomes events, appended by the server to its own
streams (``mlflow/<run id>``, ``experiments/all``, ``logged-model/<id>``, ``registry/<name>``,
``model/<name>``) through the event log port, never around it.

Calls about one stream are serialized in this process (one lock per stream), so that
concurrent requests of one client (MLflow's async logging) do not race for the same
seq; in Kafka mode a seq taken by another replica is retried by the log itself."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from aiohttp import web

from runstream.events import Payload
from runstream_server.eventstore import StoredEvent
from runstream_server.services import services_key

__all__ = ["StreamLocks", "locks_key", "write", "write_one"]


class StreamLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def of(self, stream: str) -> asyncio.Lock:
        lock = self._locks.get(stream)
        if lock is None:
            lock = self._locks[stream] = asyncio.Lock()
        return lock


locks_key = web.AppKey("runstream_mlflow_locks", StreamLocks)


async def write(request: web.Request, stream: str,
                payloads: Sequence[Payload] | Callable[[int], Sequence[Payload]],
                ) -> list[StoredEvent]:
    """Append ``payloads`` (or what ``payloads(first seq)`` answers) to ``stream``, all
    or none, and answer once they are applied (the views show them)."""
    if callable(payloads):
        make = payloads
    else:
        fixed = list(payloads)
        if not fixed:
            return []

        def make(_seq: int) -> Sequence[Payload]:
            return fixed

    async with request.app[locks_key].of(stream):
        return await request.app[services_key].log.write_all(stream, make)


async def write_one(request: web.Request, stream: str, payload: Payload) -> StoredEvent:
    return (await write(request, stream, [payload]))[0]
