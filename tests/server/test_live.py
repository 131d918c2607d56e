"""The live feed: backlog then live tail, resume without gap or duplicate, slow clients dropped."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import ClientWebSocketResponse
from sqlalchemy import Engine

from runstream_server.eventstore import StoredEvent
from runstream_server.live import Hub
from tests.server.api import ClientFactory, make_app, post
from tests.server.history import RunWriter, finished_run


async def receive_until(ws: ClientWebSocketResponse, count: int,
                        topic: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while len(events) < count:
            frame = json.loads((await ws.receive()).data)
            assert frame["topic"] == topic
            events.extend(frame["events"])
    return events


async def test_backlog_then_live_tail(engine: Engine, tmp_path: Path,
                                      aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    await post(client, finished_run("iris_1"))
    ws = await client.ws_connect("/api/ws")
    await ws.send_json({"subscribe": "jobs", "after": 0})
    backlog = await receive_until(ws, 3, "jobs")
    assert [e["type"] for e in backlog] == ["run.submitted", "run.started", "run.completed"]
    marker = json.loads((await ws.receive()).data)
    assert marker["live"] is True and marker["position"] == 5
    await post(client, finished_run("iris_2"))
    live = await receive_until(ws, 3, "jobs")
    assert [e["stream"] for e in live] == ["run/iris_2"] * 3
    assert live[0]["data"]["script"] == "iris_sklearn.py"
    await ws.close()


async def test_resume_from_a_position_gives_exactly_the_missing_events(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    w = RunWriter("iris_1")
    w.submitted()
    w.started()
    for i in range(10):
        w.lines(f"line {i}")
    await post(client, w.events)
    ws = await client.ws_connect("/api/ws")
    await ws.send_json({"subscribe": "log/iris_1", "after": 6})
    got = await receive_until(ws, 6, "log/iris_1")
    assert [e["position"] for e in got] == [7, 8, 9, 10, 11, 12]
    assert [e["data"]["lines"][0] for e in got] == [f"line {i}" for i in range(4, 10)]
    assert json.loads((await ws.receive()).data)["live"] is True
    await ws.close()


async def test_subscribing_during_ingest_misses_and_repeats_nothing(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    w = RunWriter("iris_1")
    w.submitted()
    for i in range(400):
        w.lines(f"line {i}")
    batches = [w.events[i:i + 5] for i in range(0, len(w.events), 5)]

    async def ingest() -> None:
        for batch in batches:
            await post(client, batch)

    producer = asyncio.create_task(ingest())
    await asyncio.sleep(0.05)  # some batches are stored, more are coming
    ws = await client.ws_connect("/api/ws")
    await ws.send_json({"subscribe": "run/iris_1", "after": 0})
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(20):
        while len(got) < len(w.events):
            frame = json.loads((await ws.receive()).data)
            got.extend(frame["events"])
    await producer
    assert [e["seq"] for e in got] == list(range(len(w.events)))
    await ws.close()


async def test_a_bad_subscription_is_answered_with_an_error(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    ws = await client.ws_connect("/api/ws")
    await ws.send_json({"subscribe": "weather"})
    reply = json.loads((await ws.receive()).data)
    assert "unknown topic" in reply["error"]
    await ws.close()


def stored(n: int) -> list[StoredEvent]:
    w = RunWriter("iris_1")
    w.submitted()
    for i in range(n - 1):
        w.lines(str(i))
    return [StoredEvent(i + 1, e.id, e.stream, e.seq, e.type, e.v, e.ts, e.ts, bytes(e.data))
            for i, e in enumerate(w.events)]


async def test_a_slow_client_is_dropped_without_stalling_the_others() -> None:
    hub = Hub(client_buffer=1_000)  # a few small events
    stuck = asyncio.Event()
    received: list[bytes] = []
    dropped: list[str] = []

    async def never_returns(_frame: bytes) -> None:
        await stuck.wait()

    async def records(frame: bytes) -> None:
        received.append(frame)

    async def no_backlog(_flt: Any, _after: int) -> list[StoredEvent]:
        return []

    slow = hub.new_subscriber(never_returns, lambda: dropped.append("slow"))
    fast = hub.new_subscriber(records, lambda: dropped.append("fast"))
    tasks = [asyncio.create_task(s.run(no_backlog)) for s in (slow, fast)]
    for s in (slow, fast):
        s.subscribe("all", 0)
    await asyncio.sleep(0.01)
    for event in stored(10):
        hub.publish([event])
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    assert dropped == ["slow"] and slow.dropped and not fast.dropped
    positions = [e["position"] for f in received for e in json.loads(f)["events"]]
    assert positions == list(range(1, 11))
    for t in tasks:
        t.cancel()


def test_stopping_the_server_closes_websockets_at_once(server: Any) -> None:
    import time

    import websockets

    async def connect_then_stop() -> tuple[int | None, float]:
        async with websockets.connect(server.url.replace("http", "ws") + "/api/ws") as ws:
            await ws.send(json.dumps({"subscribe": "jobs", "after": 0}))
            await ws.recv()  # the live marker: subscribed
            started = time.monotonic()
            await asyncio.to_thread(server.stop)
            try:
                await ws.recv()
            except websockets.ConnectionClosed as closed:
                return (closed.rcvd.code if closed.rcvd else None), time.monotonic() - started
        return None, 0.0

    code, took = asyncio.run(connect_then_stop())
    assert code == 1001  # going away: the client reconnects to the next server
    assert took < 5
