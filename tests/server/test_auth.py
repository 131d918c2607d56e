"""The API token: required off loopback, then demanded by every HTTP and websocket call."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import WSServerHandshakeError
from sqlalchemy import Engine

from runstream_server.settings import Settings
from tests.server.api import ClientFactory, make_app


def test_binding_off_loopback_without_a_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="without an API token"):
        Settings(host="0.0.0.0", data_dir=tmp_path).check()
    Settings(host="0.0.0.0", token="s3cret", data_dir=tmp_path).check()
    Settings(host="127.0.0.1", data_dir=tmp_path).check()
    Settings(host="::1", data_dir=tmp_path).check()


async def test_with_a_token_every_call_needs_it(engine: Engine, tmp_path: Path,
                                                aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path, token="s3cret"))
    for method, path in [("GET", "/api"), ("GET", "/api/runs"), ("POST", "/api/events"),
                         ("GET", "/api/openapi.json"), ("POST", "/api/models")]:
        resp = await client.request(method, path)
        assert resp.status == 401, path
        assert "RUNSTREAM_TOKEN" in (await resp.json())["error"]
    wrong = await client.get("/api/runs", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    ok = await client.get("/api/runs", headers={"Authorization": "Bearer s3cret"})
    assert ok.status == 200
    with pytest.raises(WSServerHandshakeError):
        await client.ws_connect("/api/ws")
    ws = await client.ws_connect("/api/ws", protocols=("runstream", "runstream.token.s3cret"))
    assert ws.protocol == "runstream"  # the token is never echoed back
    await ws.close()
    assert (await client.get("/api")).status == 401
    status = await (await client.get("/api", headers={"Authorization": "Bearer s3cret"})).json()
    assert status["token_required"] is True
