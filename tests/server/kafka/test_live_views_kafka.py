"""Kafka mode: the ``runs`` topic of the websocket is fed by the store feed (each
replica publishes what any replica committed), views and numbers included."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess
from tests.server.history import RunWriter, finished_run
from tests.server.kafka.test_kafka_server import eventually, kafka_server, produce

pytestmark = pytest.mark.kafka


@pytest.fixture
def topic() -> str:
    return f"test.{uuid.uuid4().hex[:10]}"


async def follow_runs(server: ServerProcess, done: Any, held: dict[str, dict[str, Any]],
                      seen: list[dict[str, Any]]) -> None:
    import websockets

    async with websockets.connect(server.url.replace("http", "ws") + "/api/ws") as ws:
        await ws.send(json.dumps({"subscribe": "runs", "after": 0, "id": "dash"}))
        async with asyncio.timeout(90):
            while not done():
                frame = json.loads(await ws.recv())
                assert frame["topic"] == "runs" and frame["id"] == "dash", frame
                for v in frame["views"]:
                    seen.append(v)
                    old = held.get(v["run_id"])
                    if old is None or old["position"] <= v["position"]:  # the later at a tie
                        held[v["run_id"]] = v


def test_a_replica_publishes_the_views_any_replica_committed(
        tmp_path: Path, kafka_bootstrap: str, topic: str, postgres_db: str) -> None:
    a = kafka_server(tmp_path, kafka_bootstrap, topic, "a", postgres_db).start()
    b = kafka_server(tmp_path, kafka_bootstrap, topic, "b", postgres_db).start()
    try:
        held: dict[str, dict[str, Any]] = {}
        seen: list[dict[str, Any]] = []
        running = RunWriter("iris_live")
        running.submitted()
        running.started()
        running.metrics({"loss": [0.5, 0.25]})
        sweep = [finished_run(f"iris_{i}", accuracy=i / 10) for i in range(6)]

        def done() -> bool:
            return len(held) == 7 and all(
                v["status"] == "completed" for v in held.values())

        async def scenario() -> None:
            watcher = asyncio.create_task(follow_runs(b, done, held, seen))
            await asyncio.sleep(0.5)  # subscribed: what follows is the live tail
            await asyncio.to_thread(produce, kafka_bootstrap, topic,
                                    running.events + [e for run in sweep for e in run])
            await asyncio.to_thread(eventually, lambda: held.get("iris_live", {}).get(
                "status") == "running")
            more = RunWriter("iris_live", seq=len(running.events))
            more.metrics({"loss": [0.125]}, first_step=2)
            more.completed()
            await asyncio.to_thread(produce, kafka_bootstrap, topic, more.events)
            await watcher

        asyncio.run(scenario())
        listed = b.client().get_json("/api/runs", limit=100)["runs"]
        assert sorted(held.values(), key=lambda v: v["run_id"]) == sorted(
            listed, key=lambda v: v["run_id"])
        assert held["iris_live"]["metrics"] == {"loss": 0.125}
        assert sorted(v["number"] for v in held.values()) == list(range(1, 8))
        assert any(v["run_id"] == "iris_live" and v["status"] == "running"
                   and v["metrics"] == {"loss": 0.25} for v in seen)
    finally:
        a.stop()
        b.stop()
