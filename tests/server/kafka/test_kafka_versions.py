"""A Kafka-mode server on a real broker: its HTTP ingest answers what happened (stored,
duplicates, unknown, position) as the embedded one does, and events of a type or
version it does not know are stored and reported, whether they come over HTTP or
straight from the topic, while later events still apply."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from runstream.client import ApiError
from runstream.codec import encode_batch
from runstream.events import Envelope, run_stream
from tests.conftest import ServerProcess
from tests.server.history import RunWriter
from tests.server.kafka.test_kafka_server import eventually, kafka_server, produce

pytestmark = pytest.mark.kafka


@pytest.fixture
def topic() -> str:
    return f"test.{uuid.uuid4().hex[:10]}"


@pytest.fixture
def server_on_kafka(tmp_path: Path, kafka_bootstrap: str, topic: str) -> Iterator[ServerProcess]:
    server = kafka_server(tmp_path, kafka_bootstrap, topic).start()
    yield server
    server.stop()


def strangers(run_id: str, seq: int) -> list[Envelope]:
    """An event of a type this server does not know, and one of a newer version."""
    stream = run_stream(run_id)
    return [Envelope(f"{run_id}-f1", stream, seq, "run.teleported", 1, 2.0,
                     msgspec.Raw(msgspec.msgpack.encode({"to": "mars"}))),
            Envelope(f"{run_id}-f2", stream, seq + 1, "run.started", 99, 3.0,
                     msgspec.Raw(msgspec.msgpack.encode({"pid": 1})))]


def test_http_ingest_in_kafka_mode_answers_stored_duplicates_and_unknown(
        server_on_kafka: ServerProcess) -> None:
    client = server_on_kafka.client()
    w = RunWriter("iris_1")
    w.submitted()
    first = client.post_events(encode_batch(w.events))
    assert (first.stored, first.duplicates, first.unknown) == (1, [], [])
    assert first.position > 0
    batch = [*w.events, *strangers("iris_1", 1)]
    reply = client.post_events(encode_batch(batch))
    assert reply.stored == 2 and reply.duplicates == [w.events[0].id]
    assert reply.unknown == ["iris_1-f1", "iris_1-f2"] and reply.position > first.position
    again = client.post_events(encode_batch(batch))
    assert (again.stored, again.duplicates, again.unknown) == (0, [e.id for e in batch], [])
    # Answered once applied: the store already holds it all, nothing lags.
    audit = client.get_json("/api/runs/iris_1/events")
    assert [a["type"] for a in audit] == ["run.submitted", "run.teleported", "run.started"]
    assert "unknown to this server" in audit[2]["summary"]
    w.seq = 3
    w.completed()
    assert client.post_events(encode_batch(w.events[-1:])).stored == 1
    assert client.get_json("/api/runs/iris_1")["status"] == "completed"
    assert client.get_json("/api")["unknown_events"] == {"run.teleported v1": 1,
                                                         "run.started v99": 1}


def test_http_ingest_in_kafka_mode_refuses_a_gap_and_another_writer_with_409(
        server_on_kafka: ServerProcess) -> None:
    client = server_on_kafka.client()
    w = RunWriter("iris_1")
    w.submitted()
    w.started()
    w.lines("a")
    client.post_events(encode_batch(w.events[:1]))
    with pytest.raises(ApiError) as gap:
        client.post_events(encode_batch(w.events[2:]))
    assert gap.value.status == 409 and "expected seq 1, got 2" in gap.value.message
    impostor = RunWriter("iris_1")
    impostor.submitted()
    with pytest.raises(ApiError) as taken:
        client.post_events(encode_batch(impostor.events))
    assert taken.value.status == 409 and "already holds another event" in taken.value.message
    assert client.post_events(encode_batch(w.events[1:])).stored == 2
    assert [a["seq"] for a in client.get_json("/api/runs/iris_1/events")] == [0, 1, 2]


def test_unknown_events_from_the_topic_are_stored_reported_and_later_ones_apply(
        server_on_kafka: ServerProcess, kafka_bootstrap: str, topic: str) -> None:
    client = server_on_kafka.client()
    w = RunWriter("iris_2")
    w.submitted()
    produce(kafka_bootstrap, topic, [*w.events, *strangers("iris_2", 1)])
    w.seq = 3
    w.completed()
    produce(kafka_bootstrap, topic, w.events[-1:])
    eventually(lambda: client.get_json("/api/runs/iris_2")["status"] == "completed")
    assert client.get_json("/api")["unknown_events"] == {"run.teleported v1": 1,
                                                         "run.started v99": 1}
    assert client.get_json("/api/dead-letters") == []
    audit = client.get_json("/api/runs/iris_2/events")
    assert [a["seq"] for a in audit] == [0, 1, 2, 3]
    assert "unknown to this server" in audit[1]["summary"]
