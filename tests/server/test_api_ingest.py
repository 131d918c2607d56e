"""The ingest endpoint: atomic batches, duplicates reported, bad events named."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from sqlalchemy import Engine

from runstream.codec import encode_batch
from runstream.events import Envelope, RunStarted, run_stream
from runstream_server.eventstore import read_events
from tests.server.api import ClientFactory, make_app, post
from tests.server.history import RunWriter, finished_run


async def test_a_batch_is_stored_and_projected(engine: Engine, tmp_path: Path,
                                               aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    reply = await post(client, finished_run("iris_1"))
    assert reply["stored"] == 5 and reply["duplicates"] == []
    run = await (await client.get("/api/runs/iris_1")).json()
    assert run["status"] == "completed" and run["metrics"] == {"Accuracy": 0.9}


async def test_resent_batches_change_nothing(engine: Engine, tmp_path: Path,
                                             aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    events = finished_run("iris_1")
    await post(client, events)
    before = await (await client.get("/api/runs/iris_1")).json()
    logs_before = await (await client.get("/api/runs/iris_1/logs")).json()
    reply = await post(client, events)
    assert reply["stored"] == 0
    assert reply["duplicates"] == [e.id for e in events]
    assert await (await client.get("/api/runs/iris_1")).json() == before
    assert await (await client.get("/api/runs/iris_1/logs")).json() == logs_before
    with engine.connect() as conn:
        assert len(read_events(conn)) == len(events)


async def test_a_malformed_event_is_named_and_nothing_of_its_batch_is_stored(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    good = RunWriter("iris_1")
    good.submitted()
    bad_payload = msgspec.msgpack.encode({"names": ["loss"], "index": [0], "steps": [0],
                                          "times": [1.0], "values": [{"nested": "object"}]})
    bad = Envelope("bad-id", run_stream("iris_1"), 1, "metrics.logged", 1, 1.0,
                   msgspec.Raw(bad_payload))
    resp = await client.post("/api/events", data=encode_batch([good.events[0], bad]))
    body = await resp.json()
    assert resp.status == 400
    assert body["event"] == 1 and body["id"] == "bad-id"
    assert "values[0]" in body["error"] and "metrics.logged" in body["error"]
    with engine.connect() as conn:
        assert read_events(conn) == []
    assert (await client.get("/api/runs/iris_1")).status == 404


async def test_mismatched_columns_are_rejected(engine: Engine, tmp_path: Path,
                                               aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    bad = Envelope("x", run_stream("r_1"), 0, "log.lines", 1, 1.0, msgspec.Raw(
        msgspec.msgpack.encode({"first": 0, "lines": ["a", "b"], "times": [1.0], "fds": [1]})))
    resp = await client.post("/api/events", data=encode_batch([bad]))
    assert resp.status == 400
    assert "same length" in (await resp.json())["error"]


async def test_not_a_batch_is_a_400_that_says_so(engine: Engine, tmp_path: Path,
                                                 aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    resp = await client.post("/api/events", data=b"\x01\x02")
    assert resp.status == 400
    assert "not a batch of event envelopes" in (await resp.json())["error"]


async def test_a_gap_is_a_409(engine: Engine, tmp_path: Path,
                              aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    w = RunWriter("iris_1")
    w.submitted()
    w.started()
    resp = await client.post("/api/events", data=encode_batch(w.events[1:]))
    assert resp.status == 409
    assert "expected seq 0" in (await resp.json())["error"]


async def test_unknown_types_and_newer_versions_are_stored_and_reported(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    w = RunWriter("iris_1")
    w.submitted()
    future = Envelope("f1", run_stream("iris_1"), 1, "run.teleported", 1, 2.0,
                      msgspec.Raw(msgspec.msgpack.encode({"to": "mars"})))
    newer = Envelope("f2", run_stream("iris_1"), 2, "run.started", 99, 3.0,
                     msgspec.Raw(msgspec.msgpack.encode({"pid": 1})))
    reply = await post(client, [*w.events, future, newer])
    assert reply["stored"] == 3 and reply["unknown"] == ["f1", "f2"]
    status = await (await client.get("/api")).json()
    assert status["unknown_events"] == {"run.teleported v1": 1, "run.started v99": 1}
    run = await (await client.get("/api/runs/iris_1")).json()
    assert run["status"] == "submitted"  # the unknown version was not applied
    audit = await (await client.get("/api/runs/iris_1/events")).json()
    assert [a["type"] for a in audit] == ["run.submitted", "run.teleported", "run.started"]
    assert "unknown to this server" in audit[1]["summary"]
    w.seq = 3
    w.completed()
    assert (await post(client, w.events[-1:]))["stored"] == 1
    run = await (await client.get("/api/runs/iris_1")).json()
    assert run["status"] == "completed"  # later events still apply


async def test_an_old_version_without_an_upgrade_is_stored_and_reported(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # This code "knows" run.started v2 but has no upgrade from v1 (the upgrade table
    # is empty): the v1 event is stored and reported, never a KeyError.
    monkeypatch.setattr(RunStarted, "VERSION", 2)
    client = await aiohttp_client(make_app(engine, tmp_path))
    w = RunWriter("iris_1")
    w.submitted()
    old = w.emit(RunStarted(pid=1))
    w.events[-1] = old = msgspec.structs.replace(old, v=1)
    w.completed()
    reply = await post(client, w.events)
    assert reply["stored"] == 3 and reply["unknown"] == [old.id]
    status = await (await client.get("/api")).json()
    assert status["unknown_events"] == {"run.started v1": 1}
    run = await (await client.get("/api/runs/iris_1")).json()
    assert run["status"] == "completed"


async def test_blobs_are_verified_by_hash(engine: Engine, tmp_path: Path,
                                          aiohttp_client: ClientFactory) -> None:
    import hashlib

    client = await aiohttp_client(make_app(engine, tmp_path))
    data = b"model bytes" * 1000
    sha = hashlib.sha256(data).hexdigest()
    wrong = await client.put(f"/api/blobs/{sha}", data=data + b"!")
    assert wrong.status == 400 and "hash to" in (await wrong.json())["error"]
    assert (await client.head(f"/api/blobs/{sha}")).status == 404
    assert (await client.put(f"/api/blobs/{sha}", data=data)).status == 201
    assert (await client.put(f"/api/blobs/{sha}", data=data)).status == 200
    assert (await client.head(f"/api/blobs/{sha}")).status == 200
    assert await (await client.get(f"/api/blobs/{sha}")).read() == data
    assert (await client.put("/api/blobs/nothex", data=data)).status == 400

