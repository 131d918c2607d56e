"""The sink contract: every adapter (memory, HTTP to a real server) behaves the same."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from runstream.client import Client
from runstream.codec import encode_batch
from runstream.events import Envelope, LogLines, RunSubmitted, new_event
from runstream.httpsink import HttpSink
from runstream.memorysink import MemorySink
from runstream.sink import Sink, SinkConflict, SinkRejected, SinkUnavailable
from tests.conftest import ServerProcess, free_port

STREAM = "run/contract_1"


@dataclass
class Adapter:
    sink: Sink
    stored: Callable[[], list[tuple[int, str]]]  # (seq, type) of what the sink holds
    down: Callable[[], Sink]  # the same kind of sink, unreachable


def _memory() -> Adapter:
    sink = MemorySink()

    def down() -> Sink:
        dead = MemorySink()
        dead.reachable = False
        return dead

    return Adapter(sink, lambda: [(e.seq, e.type) for e in sink.events.get(STREAM, [])], down)


def _http(server: ServerProcess) -> Adapter:
    client = server.client()

    def stored() -> list[tuple[int, str]]:
        try:
            entries = client.get_json("/api/runs/contract_1/events")
        except Exception:
            return []
        return [(e["seq"], e["type"]) for e in entries if e["stream"] == STREAM]

    return Adapter(HttpSink(client), stored,
                   lambda: HttpSink(Client(f"http://127.0.0.1:{free_port()}", timeout=2)))


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("server")).start()
    yield server
    server.stop()


@pytest.fixture(params=["memory", "http"])
def adapter(request: pytest.FixtureRequest) -> Iterator[Adapter]:
    if request.param == "memory":
        yield _memory()
        return
    server: ServerProcess = request.getfixturevalue("shared_server")
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
    impostor = new_event(STREAM, 1, LogLines(first=0, lines=["other"], times=[1.0], fds=[1]))
    with pytest.raises(SinkConflict):
        send(adapter.sink, [impostor])


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
