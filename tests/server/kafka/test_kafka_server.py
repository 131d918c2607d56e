"""The server on a real Kafka broker: consumer group, dead letters, writes through
the topic, crash recovery, replicas, replay from offset 0."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from sqlalchemy import select

from runstream.client import ApiError, ServerUnreachable
from runstream.codec import encode_batch
from runstream.events import Envelope, partition_key
from runstream_server.database import open_engine
from runstream_server.kafka import KafkaSettings
from runstream_server.kafka.replay import replay_from_kafka
from runstream_server.projections.runs import runs_table
from tests.conftest import ServerProcess
from tests.server.history import RunWriter, finished_run
from tests.server.test_replay import snapshot, without_positions

pytestmark = pytest.mark.kafka


def produce(bootstrap: str, topic: str, events: list[Envelope], per_record: int = 50) -> None:
    """As an agent would: one record per batch of one stream's events, key = its stream."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    futures = []
    by_stream: dict[str, list[Envelope]] = {}
    for e in events:
        by_stream.setdefault(e.stream, []).append(e)
    for stream, evs in by_stream.items():
        for i in range(0, len(evs), per_record):
            futures.append(producer.send(topic, key=partition_key(stream).encode(),
                                         value=encode_batch(evs[i:i + per_record])))
    producer.flush()
    for f in futures:
        f.get(30)
    producer.close()


def eventually(check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (ApiError, ServerUnreachable, AssertionError) as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {last}")


@pytest.fixture
def topic() -> str:
    return f"test.{uuid.uuid4().hex[:10]}"


def kafka_server(tmp_path: Path, bootstrap: str, topic: str, name: str = "server",
                 database_url: str = "") -> ServerProcess:
    env = {"RUNSTREAM_KAFKA": bootstrap, "RUNSTREAM_KAFKA_TOPIC": topic,
           "RUNSTREAM_KAFKA_PARTITIONS": "3"}
    if database_url:
        env["RUNSTREAM_DATABASE_URL"] = database_url
    return ServerProcess(tmp_path / name, env=env)


@pytest.fixture
def server_on_kafka(tmp_path: Path, kafka_bootstrap: str, topic: str) -> Iterator[ServerProcess]:
    server = kafka_server(tmp_path, kafka_bootstrap, topic).start()
    yield server
    server.stop()


def test_produced_events_are_projected_and_poison_is_dead_lettered(
        server_on_kafka: ServerProcess, kafka_bootstrap: str, topic: str) -> None:
    client = server_on_kafka.client()
    produce(kafka_bootstrap, topic, finished_run("iris_1"))
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(topic, key=b"run/iris_bad", value=b"\x93not msgpack envelopes").get(10)
    wrong_key = encode_batch(finished_run("iris_x"))
    producer.send(topic, key=b"run/iris_y", value=wrong_key).get(10)
    producer.close()
    produce(kafka_bootstrap, topic, finished_run("iris_2"))
    runs = eventually(lambda: client.get_json("/api/runs")["total"] == 2 and
                      client.get_json("/api/runs")["runs"])
    assert {r["status"] for r in runs} == {"completed"}
    dead = eventually(lambda: len(client.get_json("/api/dead-letters")) == 2 and
                      client.get_json("/api/dead-letters"))
    reasons = " | ".join(d["reason"] for d in dead)
    assert "not a batch of event envelopes" in reasons and "record key 'run/iris_y'" in reasons
    assert client.get_json("/api")["dead_letters"] == 2


def test_http_ingest_and_the_servers_own_events_go_through_the_topic(
        server_on_kafka: ServerProcess, kafka_bootstrap: str, topic: str,
        tmp_path: Path) -> None:
    client = server_on_kafka.client()
    model = tmp_path / "model.pkl"
    model.write_bytes(b"weights")
    sha = client.put_blob(model)
    w = RunWriter("iris_1")
    w.submitted()
    w.artifact("outputs/model.pkl", sha, 7)
    w.completed()
    reply = client.post_events(encode_batch(w.events))
    assert reply.stored == 3
    eventually(lambda: client.get_json("/api/runs/iris_1")["status"] == "completed")
    body = {"run_id": "iris_1", "path": "outputs/model.pkl", "name": "model.pkl"}
    versions = [client.send_json("POST", "/api/models", body)["version"] for _ in range(3)]
    assert versions == [1, 2, 3]
    assert client.send_json("POST", "/api/runs/iris_1/archive", {})["archived"] is True
    # A second server rebuilding from the topic sees the server's own events too.
    engine = open_engine(f"sqlite:///{tmp_path / 'from-kafka.db'}")
    replay_from_kafka(KafkaSettings(kafka_bootstrap, topic), engine)
    with engine.connect() as conn:
        archived = conn.execute(select(runs_table.c.archived)).scalar_one()
    assert archived is True


def test_a_killed_server_loses_and_duplicates_nothing(
        tmp_path: Path, kafka_bootstrap: str, topic: str) -> None:
    server = kafka_server(tmp_path, kafka_bootstrap, topic).start()
    runs = [RunWriter(f"iris_{i}") for i in range(4)]
    for w in runs:
        w.submitted()
        w.started()
        for n in range(0, 2_000, 10):
            w.lines(*[f"{w.run_id} line {k}" for k in range(n, n + 10)])
        w.completed()
    events = [e for w in runs for e in w.events]
    produce(kafka_bootstrap, topic, events[: len(events) // 2], per_record=5)
    client = server.client()
    eventually(lambda: client.get_json("/api")["position"] > 0)
    server.kill()  # SIGKILL mid-ingest
    produce(kafka_bootstrap, topic, events[len(events) // 2:], per_record=5)
    server.start()
    for w in runs:
        eventually(lambda w=w: client.get_json(f"/api/runs/{w.run_id}")["status"]
                   == "completed", timeout=60)
        text = client.request("GET", f"/api/runs/{w.run_id}/driver_log").read().decode()
        assert text.splitlines() == [f"{w.run_id} line {k}" for k in range(2_000)]
    assert client.get_json("/api")["position"] == len(events)
    server.stop()


def test_two_replicas_share_the_work_and_survive_one_being_killed(
        tmp_path: Path, kafka_bootstrap: str, topic: str, postgres_db: str) -> None:
    a = kafka_server(tmp_path, kafka_bootstrap, topic, "a", postgres_db).start()
    b = kafka_server(tmp_path, kafka_bootstrap, topic, "b", postgres_db).start()
    import asyncio

    import websockets

    seen: list[int] = []

    async def watch(expected: int) -> None:
        async with websockets.connect(b.url.replace("http", "ws") + "/api/ws") as ws:
            await ws.send(json.dumps({"subscribe": "jobs", "after": 0}))
            async with asyncio.timeout(90):
                while len(seen) < expected:
                    frame = json.loads(await ws.recv())
                    seen.extend(e["position"] for e in frame["events"])

    sweep = [finished_run(f"iris_{i}", accuracy=i / 20) for i in range(12)]
    produce(kafka_bootstrap, topic, [e for run in sweep[:6] for e in run])
    eventually(lambda: a.client().get_json("/api/runs")["total"] >= 1)
    a.kill()
    produce(kafka_bootstrap, topic, [e for run in sweep[6:] for e in run])
    client = b.client()
    eventually(lambda: client.get_json("/api/runs", status="completed")["total"] == 12,
               timeout=90)
    numbers = sorted(r["number"] for r in client.get_json("/api/runs", limit=100)["runs"])
    assert numbers == list(range(1, 13))
    assert client.get_json("/api")["position"] == sum(len(r) for r in sweep)
    # Replica b's websocket shows every run's life, whichever replica applied it.
    asyncio.run(watch(12 * 3))
    assert len(seen) == len(set(seen)) == 36 and seen == sorted(seen)
    b.stop()


def test_replay_from_kafka_equals_incremental_consumption(
        server_on_kafka: ServerProcess, kafka_bootstrap: str, topic: str,
        tmp_path: Path) -> None:
    client = server_on_kafka.client()
    events: list[Envelope] = []
    for i in range(6):
        w = RunWriter(f"iris_{i}")
        w.submitted()
        w.started()
        w.lines("a", "b")
        w.metrics({"Accuracy": [i / 10], "Precision": [[0.1, 0.2]], "loss": [1.0, 0.5, 0.25]})
        w.completed()
        events += w.events
    produce(kafka_bootstrap, topic, events, per_record=2)
    eventually(lambda: client.get_json("/api")["position"] == len(events))
    client.send_json("POST", "/api/runs/iris_2/archive", {})
    server_on_kafka.stop()
    live = open_engine(f"sqlite:///{server_on_kafka.data_dir / 'runstream.db'}")
    rebuilt = open_engine(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    assert replay_from_kafka(KafkaSettings(kafka_bootstrap, topic), rebuilt) > 0
    assert without_positions(snapshot(rebuilt), rebuilt) == \
        without_positions(snapshot(live), live)
