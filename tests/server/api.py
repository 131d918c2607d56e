"""An in-process server for API tests (aiohttp's test client, a real database)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine

from runstream.codec import encode_batch
from runstream.events import Envelope
from runstream_server.app import create_app
from runstream_server.settings import Settings
from tests.server.history import RunWriter

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


def make_app(engine: Engine, data_dir: Path, **settings: Any) -> web.Application:
    return create_app(Settings(data_dir=data_dir, **settings), engine=engine)


async def post(client: TestClient[Any, Any], events: Sequence[Envelope]) -> Any:
    resp = await client.post("/api/events", data=encode_batch(events),
                             headers={"Content-Type": "application/msgpack"})
    body = await resp.json()
    assert resp.status == 200, body
    return body


async def run_with_files(client: TestClient[Any, Any], run_id: str, paths: Sequence[str],
                         data: bytes) -> str:
    """A submitted run whose artifacts ``paths`` all hold ``data`` (uploaded once);
    returns the blob's sha256."""
    sha = hashlib.sha256(data).hexdigest()
    assert (await client.put(f"/api/blobs/{sha}", data=data)).status == 201
    w = RunWriter(run_id)
    w.submitted()
    for path in paths:
        w.artifact(path, sha, len(data))
    await post(client, w.events)
    return sha
