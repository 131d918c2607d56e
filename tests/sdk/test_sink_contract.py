"""The sink contract: every adapter (memory, HTTP to a real server, HTTP to a real
Kafka-mode server, Kafka to a real broker consumed by a real Kafka-mode server)
behaves the same.

One difference is part of the contract: a sink that only appends to a log (Kafka)
cannot see another writer's events, so an event at a seq another event holds is
not refused at send time; the consumer then keeps the first and dead-letters the
other."""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from runstream.client import ApiError, Client
from runstream.codec import encode_batch
from runstream.events import Envelope, LogLines, RunStarted, RunSubmitted, new_event
from runstream.httpsink import HttpSink
from runstream.kafkasink import KafkaSink
from runstream.memorysink import MemorySink
from runstream.sink import Sink, SinkConflict, SinkRejected, SinkUnavailable
from tests.conftest import ServerProcess, free_port
from tests.kafka_broker import server_group, wait_consumed

STREAM = "run/contract_1"


@dataclass
class Adapter:
    sink: Sink
    stored: Callable[[], list[tuple[int, str]]]  # (seq, type) of what the sink holds
    down: Callable[[], Sink]  # the same kind of sink, unreachable
    refuses_second_writer: bool = True  # at send time (else the consumer dead-letters)
    dead_letters: Callable[[], int] = lambda: 0


def _memory() -> Adapter:
    sink = MemorySink()

    def down() -> Sink:
        dead = MemorySink()
        dead.reachable = False
        return dead

    return Adapter(sink, lambda: [(e.seq, e.type) for e in sink.events.get(STREAM, [])], down)


def _server_events(client: Client) -> list[tuple[int, str]]:
    try:
        entries = client.get_json("/api/runs/contract_1/events")
    except ApiError:
        return []
    return [(e["seq"], e["type"]) for e in entries if e["stream"] == STREAM]


def _dead_http() -> HttpSink:
    return HttpSink(Client(f"http://127.0.0.1:{free_port()}", timeout=2))


def _http(server: ServerProcess) -> Adapter:
    client = server.client()
    return Adapter(HttpSink(client), lambda: _server_events(client), _dead_http)


def _kafka(server: ServerProcess, bootstrap: str, topic: str) -> Adapter:
    client = server.client()
    sink = KafkaSink(bootstrap, topic, blobs=HttpSink(client))

    def stored() -> list[tuple[int, str]]:
        # Stored in Kafka; the server shows it once its consumer group caught up.
        wait_consumed(bootstrap, topic, server_group(topic))
        return _server_events(client)

    def dead_letters() -> int:
        wait_consumed(bootstrap, topic, server_group(topic))
        return len(client.get_json("/api/dead-letters"))

    def down() -> Sink:
        return KafkaSink(f"127.0.0.1:{free_port()}", topic, blobs=_dead_http(), timeout=2)

    return Adapter(sink, stored, down, refuses_second_writer=False, dead_letters=dead_letters)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("server")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shared_kafka_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("kafka-server"))
    yield server
    server.stop()


@pytest.fixture(params=["memory", "http", pytest.param("http-kafka", marks=pytest.mark.kafka),
                        pytest.param("kafka", marks=pytest.mark.kafka)])
def adapter(request: pytest.FixtureRequest) -> Iterator[Adapter]:
    if request.param == "memory":
        yield _memory()
        return
    if request.param in ("kafka", "http-kafka"):
        bootstrap: str = request.getfixturevalue("kafka_bootstrap")
        server = request.getfixturevalue("shared_kafka_server")
        # An empty server on a topic of its own for each test.
        topic = f"contract.{uuid.uuid4().hex[:10]}"
        server.env.update({"RUNSTREAM_KAFKA": bootstrap, "RUNSTREAM_KAFKA_TOPIC": topic,
                           "RUNSTREAM_KAFKA_PARTITIONS": "2"})
        server.start()
        # http-kafka: the server's HTTP ingest in Kafka mode answers like the embedded
        # one (duplicates, gaps, another writer), since it answers once applied.
        adapter = (_kafka(server, bootstrap, topic) if request.param == "kafka"
                   else _http(server))
        yield adapter
        adapter.sink.close()
        server.stop()
        shutil.rmtree(server.data_dir)
        return
    server = request.getfixturevalue("shared_server")
    yield _http(server)
    # The next test starts from an empty server: a fresh data dir, same port.
    server.stop()
    shutil.rmtree(server.data_dir)
    server.start()


def run_events(n: int) -> list[Envelope]:
    events = [new_event(STREAM, 0, RunSubmitted(project="contract", script="train.py"))]
    events += [new_event(STREAM, i, LogLines(first=i - 1, lines=[f"line {i}"], times=[1.0],
                                             fds=[1])) for i in range(1, n)]
    return events


def send(sink: Sink, events: list[Envelope]) -> None:
    sink.send(STREAM, encode_batch(events), len(events))


def test_a_batch_in_order_is_stored(adapter: Adapter) -> None:
    events = run_events(4)
    send(adapter.sink, events[:2])
    send(adapter.sink, events[2:])
    assert adapter.stored() == [(0, "run.submitted")] + [(i, "log.lines") for i in range(1, 4)]


def test_resending_stored_events_is_harmless(adapter: Adapter) -> None:
    events = run_events(3)
    send(adapter.sink, events)
    send(adapter.sink, events)
    send(adapter.sink, events[1:])
    assert len(adapter.stored()) == 3


def test_a_gap_is_a_conflict_and_stores_nothing(adapter: Adapter) -> None:
    events = run_events(4)
    send(adapter.sink, events[:1])
    with pytest.raises(SinkConflict):
        send(adapter.sink, events[2:])
    assert adapter.stored() == [(0, "run.submitted")]


def test_another_event_at_a_taken_seq_is_a_conflict(adapter: Adapter) -> None:
    send(adapter.sink, run_events(2))
    impostor = new_event(STREAM, 1, RunStarted(pid=1, host="elsewhere"))
    if adapter.refuses_second_writer:
        with pytest.raises(SinkConflict):
            send(adapter.sink, [impostor])
    else:
        send(adapter.sink, [impostor])
        assert adapter.dead_letters() == 1
    assert adapter.stored() == [(0, "run.submitted"), (1, "log.lines")]


def test_an_invalid_event_rejects_its_whole_batch(adapter: Adapter) -> None:
    good = run_events(1)[0]
    bad = Envelope("bad-id", STREAM, 1, "log.lines", 1, 1.0,
                   msgspec.Raw(msgspec.msgpack.encode({"first": 0, "lines": [1]})))
    with pytest.raises(SinkRejected):
        send(adapter.sink, [good, bad])
    assert adapter.stored() == []


def test_blobs_are_stored_by_hash_and_refused_when_it_differs(adapter: Adapter,
                                                              tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(b"weights")
    adapter.sink.put_blob(path, hashlib.sha256(b"weights").hexdigest())
    adapter.sink.put_blob(path, hashlib.sha256(b"weights").hexdigest())  # again: fine
    with pytest.raises(SinkRejected):
        adapter.sink.put_blob(path, hashlib.sha256(b"other").hexdigest())


def test_an_unreachable_sink_says_retry_later(adapter: Adapter, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    dead = adapter.down()
    with pytest.raises(SinkUnavailable):
        send(dead, run_events(1))
    with pytest.raises(SinkUnavailable):
        dead.put_blob(path, hashlib.sha256(b"x").hexdigest())
