"""Hostile callers: tokens in URLs, read-only tokens writing, other sites' pages posting
(CSRF), DNS-rebinding pages reading, other origins opening the live feed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine

from runstream.codec import encode_batch
from runstream.events import Envelope
from runstream_server.settings import Settings
from tests.server.api import ClientFactory, make_app, post
from tests.server.history import finished_run

MSGPACK = {"Content-Type": "application/msgpack"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post_as(client: TestClient[Any, Any], token: str, events: list[Envelope]) -> None:
    resp = await client.post("/api/events", data=encode_batch(events),
                             headers={**MSGPACK, **bearer(token)})
    assert resp.status == 200, await resp.text()


async def test_a_token_in_the_url_is_refused_on_every_route(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path, token="s3cret"))
    for path in ["/api", "/api/runs", "/api/models", "/api/openapi.json"]:
        resp = await client.get(path, params={"token": "s3cret"})
        assert resp.status == 401, path
        assert "not accepted in the URL" in (await resp.json())["error"]
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/api/ws", params={"token": "s3cret"})
    assert refused.value.status == 401
    with pytest.raises(WSServerHandshakeError):
        await client.ws_connect("/api/ws", protocols=("runstream", "runstream.token.nope"))


async def test_a_read_token_reads_but_cannot_write(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path, token="w-secret",
                                           read_token="r-secret"))
    await post_as(client, "w-secret", finished_run("iris_1"))
    runs = await client.get("/api/runs", headers=bearer("r-secret"))
    assert runs.status == 200 and (await runs.json())["total"] == 1
    ws = await client.ws_connect("/api/ws", protocols=("runstream", "runstream.token.r-secret"))
    await ws.close()
    for method, path in [("POST", "/api/events"), ("POST", "/api/runs/iris_1/archive"),
                         ("POST", "/api/models"), ("PUT", f"/api/blobs/{'a' * 64}")]:
        resp = await client.request(method, path, data=b"x", headers=bearer("r-secret"))
        assert resp.status == 403, path
        assert "read-only" in (await resp.json())["error"]
    run = await (await client.get("/api/runs/iris_1", headers=bearer("w-secret"))).json()
    assert run["archived"] is False
    # MLflow's searches are POSTs that change nothing: the read token may search…
    found = await client.post("/api/2.0/mlflow/runs/search", json={"experiment_ids": ["0"]},
                              headers=bearer("r-secret"))
    assert found.status == 200, await found.text()
    # …but not write through MLflow's API.
    for path in ["/api/2.0/mlflow/runs/create", "/api/2.0/mlflow/experiments/create"]:
        resp = await client.post(path, json={"name": "x"}, headers=bearer("r-secret"))
        assert resp.status == 403, path


async def test_another_sites_page_cannot_post_csrf(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))  # tokenless loopback
    await post(client, finished_run("iris_1"))
    batch = encode_batch(finished_run("iris_2"))
    evil = {"Origin": "http://evil.example"}
    for path, body in [("/api/runs/iris_1/archive", b"{}"), ("/api/events", batch)]:
        # What a form or `fetch(..., {mode: "no-cors"})` on evil.example sends.
        resp = await client.post(path, data=body, headers={**evil, "Content-Type": "text/plain"})
        assert resp.status == 403, path
        assert "RUNSTREAM_ALLOWED_ORIGINS" in (await resp.json())["error"]
        # Even without an Origin (old browsers, privacy proxies): a form's body type.
        plain = await client.post(path, data=body, headers={"Content-Type": "text/plain"})
        assert plain.status == 415, path
        json = await client.post(path, data=body, headers={**evil, **MSGPACK})
        assert json.status == 403, path
    listed = await (await client.get("/api/runs", params={"archived": "include"})).json()
    assert [(r["run_id"], r["archived"]) for r in listed["runs"]] == [("iris_1", False)]

    # A PUT needs a CORS preflight from a page (never granted): no form can send one, so
    # its body type is free (MLflow uploads an artifact typed by its name: text/plain).
    put = await client.put("/api/2.0/mlflow-artifacts/artifacts/0/nope/artifacts/a.txt",
                           data=b"x", headers={"Content-Type": "text/plain"})
    assert put.status != 415
    put = await client.put("/api/2.0/mlflow-artifacts/artifacts/0/nope/artifacts/a.txt",
                           data=b"x", headers={**evil, "Content-Type": "text/plain"})
    assert put.status == 403

    # The web UI's own page (same origin) and clients that send no Origin still write.
    own = f"http://{client.server.host}:{client.server.port}"
    mine = await client.post("/api/runs/iris_1/archive", json={}, headers={"Origin": own})
    assert mine.status == 200 and (await mine.json())["archived"] is True


async def test_a_dns_rebinding_page_cannot_read(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    await post(client, finished_run("iris_1"))
    port = client.server.port
    for host in [f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"]:
        resp = await client.get("/api/runs", headers={"Host": host})
        assert resp.status == 403, host
        assert "RUNSTREAM_ALLOWED_HOSTS" in (await resp.json())["error"]
        with pytest.raises(WSServerHandshakeError):
            await client.ws_connect("/api/ws", headers={"Host": host})
    for host in [f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost"]:
        assert (await client.get("/api/runs", headers={"Host": host})).status == 200, host


async def test_allowed_hosts_and_origins_are_configurable(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(
        engine, tmp_path, allowed_hosts=("tracker.lab",),
        allowed_origins=("https://dash.lab",)))
    await post(client, finished_run("iris_1"))
    assert (await client.get("/api/runs", headers={"Host": "tracker.lab:8787"})).status == 200
    assert (await client.get("/api/runs", headers={"Host": "evil.example"})).status == 403
    ok = await client.post("/api/runs/iris_1/archive", json={},
                           headers={"Origin": "https://dash.lab"})
    assert ok.status == 200
    with pytest.raises(WSServerHandshakeError):
        await client.ws_connect("/api/ws", headers={"Origin": "https://evil.example"})
    ws = await client.ws_connect("/api/ws", headers={"Origin": "https://dash.lab"})
    await ws.close()


def test_tokens_hosts_and_origins_come_from_the_environment_or_files(tmp_path: Path) -> None:
    (tmp_path / "write").write_text("w-secret\n")
    (tmp_path / "read").write_text("r-secret\n")
    settings = Settings.from_env({
        "RUNSTREAM_TOKEN_FILE": str(tmp_path / "write"),
        "RUNSTREAM_READ_TOKEN_FILE": str(tmp_path / "read"),
        "RUNSTREAM_ALLOWED_HOSTS": "tracker.lab, 10.0.0.5",
        "RUNSTREAM_ALLOWED_ORIGINS": "https://dash.lab"})
    assert (settings.token, settings.read_token) == ("w-secret", "r-secret")
    assert settings.allowed_hosts == ("tracker.lab", "10.0.0.5")
    assert settings.allowed_origins == ("https://dash.lab",)
    with pytest.raises(ValueError, match="empty"):
        (tmp_path / "blank").write_text("\n")
        Settings.from_env({"RUNSTREAM_TOKEN_FILE": str(tmp_path / "blank")})
    with pytest.raises(ValueError, match="RUNSTREAM_TOKEN too"):
        Settings(read_token="r", data_dir=tmp_path).check()
