"""A blob whose file changed on disk is never served as if it were right; download
headers name files safely whatever the artifact's name."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine

from runstream_server.api.download import CHUNK
from tests.server.api import ClientFactory, make_app, post, run_with_files
from tests.server.history import RunWriter


async def stored_run(client: TestClient[Any, Any], tmp_path: Path, path: str,
                     data: bytes) -> str:
    """A run ``iris_1`` with the artifact ``path`` holding ``data``, promoted as ``model``."""
    sha = hashlib.sha256(data).hexdigest()
    assert (await client.put(f"/api/blobs/{sha}", data=data)).status == 201
    w = RunWriter("iris_1")
    w.submitted()
    w.artifact(path, sha, len(data))
    await post(client, w.events)
    promoted = await client.post("/api/models", json={"run_id": "iris_1", "path": path,
                                                      "name": "model"})
    assert promoted.status == 201, await promoted.text()
    return sha


def corrupt(tmp_path: Path, sha: str) -> None:
    blob = tmp_path / "blobs" / sha[:2] / sha[2:]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    blob.write_bytes(bytes(data))


@pytest.mark.parametrize("size", [100, 3 * CHUNK + 17], ids=["small", "streamed"])
async def test_a_corrupted_blob_is_refused_on_every_download_route(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory, size: int) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    sha = await stored_run(client, tmp_path, "outputs/model.pkl", data)
    whole = await client.get("/api/models/model/versions/1/download")
    assert whole.headers["X-Content-SHA256"] == sha and await whole.read() == data
    corrupt(tmp_path, sha)

    for url in [f"/api/blobs/{sha}", "/api/runs/iris_1/artifacts/outputs/model.pkl",
                "/api/models/model/versions/1/download"]:
        resp = await client.get(url)
        if size < CHUNK:  # checked before the first byte: a clean error
            assert resp.status == 500, url
            assert "corrupted" in (await resp.json())["error"]
        else:  # found at the end: cut short, so no client takes it as complete
            assert resp.headers["X-Content-SHA256"] == sha
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
    status = await (await client.get("/api")).json()
    assert status["dead_letters"] == 1  # reported once per blob, not per request
    [letter] = await (await client.get("/api/dead-letters")).json()
    assert letter["source"] == f"blob/{sha}" and "runstream sync" in letter["reason"]


NAMES = ["outputs/confusion matrix.png", "outputs/a#b?c.txt", 'outputs/q"uote\\d.bin',
         "outputs/\u6a21\u578b.bin", "outputs/cr\r\nX-Injected: 1.txt"]


async def test_downloads_name_any_file_safely(engine: Engine, tmp_path: Path,
                                              aiohttp_client: ClientFactory) -> None:
    from urllib.parse import quote

    client = await aiohttp_client(make_app(engine, tmp_path))
    data = b"bytes"
    await run_with_files(client, "iris_1", NAMES, data)
    for path in NAMES:
        resp = await client.get("/api/runs/iris_1/artifacts/" + quote(path))
        assert resp.status == 200 and await resp.read() == data, path
        assert "X-Injected" not in resp.headers
        disposition = resp.headers["Content-Disposition"]
        assert disposition.isascii() and disposition.startswith("attachment; "), path
        name = path.rsplit("/", 1)[-1]
        assert f"filename*=UTF-8''{quote(name, safe='')}" in disposition
        assert resp.content_disposition is not None
        assert resp.content_disposition.filename == name


async def test_an_inline_page_from_a_run_cannot_run_as_the_server(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    await stored_run(client, tmp_path, "outputs/report.html", b"<script>fetch('/api')</script>")
    resp = await client.get("/api/runs/iris_1/artifacts/outputs/report.html",
                            params={"inline": "1"})
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Content-Security-Policy"] == "sandbox"
