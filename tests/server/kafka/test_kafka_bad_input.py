"""Bad input in Kafka mode: HTTP ingest answers the same 4xx as the embedded log (one
validation function), and hostile records on the topic become dead letters while the
consumer goes on applying the good ones."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from kafka import KafkaProducer

from runstream.client import ApiError
from runstream.codec import encode_batch
from runstream.events import Envelope
from tests.conftest import ServerProcess
from tests.server.history import finished_run
from tests.server.kafka.test_kafka_server import eventually, kafka_server, produce

pytestmark = pytest.mark.kafka


@pytest.fixture
def server_on_kafka(tmp_path: Path, kafka_bootstrap: str) -> Iterator[ServerProcess]:
    server = kafka_server(tmp_path, kafka_bootstrap, f"test.{uuid.uuid4().hex[:10]}").start()
    yield server
    server.stop()


def _event(stream: str, seq: int = 0, *, id: str = "", ts: float = 1.0,
           data: bytes = b"\x80") -> Envelope:
    return Envelope(id or uuid.uuid4().hex, stream, seq, "run.submitted", 1, ts,
                    msgspec.Raw(data))


def test_hostile_input_is_refused_over_http_and_dead_lettered_from_the_topic(
        server_on_kafka: ServerProcess, kafka_bootstrap: str) -> None:
    client = server_on_kafka.client()
    topic = server_on_kafka.env["RUNSTREAM_KAFKA_TOPIC"]
    submitted = msgspec.msgpack.encode({"project": "iris", "script": "t.py"})
    for bad, field in ((_event("run/x", ts=math.nan, data=submitted), "ts"),
                       (_event("run/nul\x00", data=submitted), "stream"),
                       (_event("run/x", seq=1 << 63, data=submitted), "seq")):
        with pytest.raises(ApiError) as caught:
            client.post_events(encode_batch([bad]))
        assert caught.value.status == 400 and f"field `{field}`" in caught.value.message

    produce(kafka_bootstrap, topic, finished_run("iris_1"))
    eventually(lambda: client.get_json("/api/runs/iris_1")["status"] == "completed")
    stored_id = _first_id(server_on_kafka)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    nested = b"\x91" * 200_000 + b"\x90"
    for key, value in (
            (b"run/deep", encode_batch([_event("run/deep", data=nested)])),
            (b"run/nan", encode_batch([_event("run/nan", ts=math.nan, data=submitted)])),
            (b"run/reuse", encode_batch([_event("run/reuse", id=stored_id, data=submitted)]))):
        producer.send(topic, key=key, value=value).get(10)
    producer.close()
    produce(kafka_bootstrap, topic, finished_run("iris_2"))

    eventually(lambda: client.get_json("/api/runs/iris_2")["status"] == "completed")
    dead = eventually(lambda: len(client.get_json("/api/dead-letters")) == 3 and
                      client.get_json("/api/dead-letters"))
    reasons = " | ".join(d["reason"] for d in dead)
    assert "nest" in reasons and "field `ts`" in reasons and stored_id in reasons
    assert client.get_json("/api/runs")["total"] == 2


def _first_id(server: ServerProcess) -> str:
    from sqlalchemy import select

    from runstream_server.database import open_engine
    from runstream_server.eventstore import events_table

    engine = open_engine(f"sqlite:///{server.data_dir / 'runstream.db'}")
    try:
        with engine.connect() as conn:
            return str(conn.execute(select(events_table.c.id).limit(1)).scalar_one())
    finally:
        engine.dispose()
