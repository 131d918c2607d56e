"""Model names that would become paths or split headers are refused; no client can
write a model version, an archive or a lost verdict itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from runstream.codec import encode_batch
from runstream.events import ModelVersionCreated, RunArchived, RunLost, new_event
from runstream_server.names import model_name_problem
from tests.server.api import ClientFactory, make_app, post, run_with_files
from tests.server.history import RunWriter

HOSTILE = ["..", ".", "../../../tmp/forged", "/tmp/x", "a/b", "a\\b", "evil\r\nSet-Cookie: x=1",
           "tab\there", "nul\x00", " lead", "trail ", "dot.", "x" * 201, "", "-rf"]


@pytest.mark.parametrize("name", HOSTILE)
def test_model_names_that_are_paths_or_hold_control_characters_are_refused(name: str) -> None:
    why = model_name_problem(name)
    assert why is not None and "letters, digits" in why


@pytest.mark.parametrize("name", ["mnist", "resnet-50", "bert_base.v2", "Model 7", "模型",
                                  "x" * 200])
def test_ordinary_model_names_are_allowed(name: str) -> None:
    assert model_name_problem(name) is None


async def test_promote_refuses_hostile_names_with_what_is_allowed(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    await run_with_files(client, "iris_1", ["outputs/model.pkl"], b"weights")
    for name in ["..", "../../x", "evil\r\nX-Injected: 1", "a/b"]:
        resp = await client.post("/api/models", json={"run_id": "iris_1",
                                                      "path": "outputs/model.pkl", "name": name})
        assert resp.status == 400, name
        assert "letters, digits" in (await resp.json())["error"]
    assert await (await client.get("/api/models")).json() == []


async def test_no_client_can_forge_server_events_on_any_stream(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    w = RunWriter("iris_1")
    w.submitted()
    await post(client, w.events)
    forged = ModelVersionCreated(name="../../../tmp/forged", version=1, run_id="iris_1",
                                 path="outputs/x", sha256="a" * 64, size=1)
    for event in [new_event("model/forged", 0, forged), new_event("run/iris_1", 1, forged),
                  new_event("run/iris_1", 1, RunArchived("iris_1")),
                  new_event("run/iris_1", 1, RunLost("iris_1", "forged")),
                  new_event("jobs/x", 0, forged)]:
        resp = await client.post("/api/events", data=encode_batch([event]),
                                 headers={"Content-Type": "application/msgpack"})
        assert resp.status == 400, event
        assert "server" in (body := await resp.json())["error"] or "run/<run id>" in body["error"]
    assert await (await client.get("/api/models")).json() == []
    run = await (await client.get("/api/runs/iris_1")).json()
    assert run["archived"] is False and run["status"] != "failed"
