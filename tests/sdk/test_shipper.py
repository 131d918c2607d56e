"""The shipper delivers a spool through a sink: in order, whole, once, whatever the sink does."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

import runstream.shipper as shipper_module
from runstream.codec import decode_batch, decode_payload, encode_event, join_encoded
from runstream.events import (
    EventDropped,
    LogLines,
    RunStarted,
    RunSubmitted,
    new_event,
    run_stream,
)
from runstream.httpsink import HttpSink
from runstream.memorysink import MemorySink
from runstream.setaside import list_set_aside
from runstream.shipper import Shipper
from runstream.sink import SinkRejected, SinkTooLarge, SinkUnusable
from runstream.spool import Spool
from runstream.writer import StreamWriter
from tests.conftest import ServerProcess

STREAM = run_stream("a_1")


def lines(first: int, n: int = 1) -> LogLines:
    return LogLines(first=first, lines=[f"line {i}" for i in range(first, first + n)],
                    times=[0.0] * n, fds=[1] * n)


def start(tmp_path: Path, sink: MemorySink, **kwargs: Any) -> tuple[Shipper, StreamWriter]:
    spool = Spool.create(tmp_path, STREAM)
    shipper = Shipper(spool, sink, on_problem=lambda message: None, **kwargs).start()
    return shipper, StreamWriter(spool, shipper.notify)


def stored_lines(sink: MemorySink) -> list[str]:
    out: list[str] = []
    for event in sink.events.get(STREAM, []):
        payload = decode_payload(event)
        assert isinstance(payload, LogLines)
        out.extend(payload.lines)
    return out


def test_events_are_delivered_in_seq_order_and_trimmed(tmp_path: Path) -> None:
    sink = MemorySink()
    shipper, writer = start(tmp_path, sink)
    for i in range(50):
        writer.append([lines(i)])
    assert shipper.drain(timeout=5)
    assert [e.seq for e in sink.events[STREAM]] == list(range(50))
    assert stored_lines(sink) == [f"line {i}" for i in range(50)]
    assert writer.spool.pending == 0
    shipper.close()


def test_events_wait_while_the_sink_is_down_and_go_once_it_is_back(tmp_path: Path) -> None:
    sink = MemorySink()
    sink.reachable = False
    shipper, writer = start(tmp_path, sink, max_backoff=0.05)
    for i in range(10):
        writer.append([lines(i)])
    assert not shipper.drain(timeout=0.3)
    assert shipper.down_since is not None and writer.spool.pending == 10
    sink.reachable = True
    assert shipper.drain(timeout=5)
    assert stored_lines(sink) == [f"line {i}" for i in range(10)]
    assert sink.duplicates == 0
    shipper.close()


def test_drain_gives_up_after_patience_when_the_sink_stays_down(tmp_path: Path) -> None:
    sink = MemorySink()
    sink.reachable = False
    shipper, writer = start(tmp_path, sink)
    writer.append([lines(0)])
    began = time.monotonic()
    assert not shipper.drain(patience=0.3)
    assert 0.25 < time.monotonic() - began < 3
    shipper.close()
    assert writer.spool.pending == 1  # still on disk


def test_a_gap_makes_the_shipper_resend_from_the_start_of_the_spool(tmp_path: Path) -> None:
    """The spool was acknowledged up to seq 2 by a server that then lost those events."""
    spool = Spool.create(tmp_path, STREAM)
    writer = StreamWriter(spool)
    for i in range(5):
        writer.append([lines(i)])
    spool.ack(2)
    sink = MemorySink()  # knows nothing of seq 0-2
    shipper = Shipper(spool, sink, on_problem=lambda message: None).start()
    assert shipper.drain(timeout=5)
    assert [e.seq for e in sink.events[STREAM]] == [0, 1, 2, 3, 4]
    shipper.close()


def test_a_second_writer_stops_the_shipper_with_an_error(tmp_path: Path) -> None:
    sink = MemorySink()
    other = StreamWriter(Spool.create(tmp_path / "other", STREAM))
    other.append([RunStarted(pid=1)])
    Shipper(other.spool, sink).ship_all()
    problems: list[str] = []
    spool = Spool.create(tmp_path / "mine", STREAM)
    StreamWriter(spool).append([RunStarted(pid=2)])
    shipper = Shipper(spool, sink, on_problem=problems.append).start()
    assert not shipper.drain(timeout=5)
    assert "second writer" in shipper.error
    assert any("stopped sending" in p for p in problems)
    shipper.close()


def test_resending_what_the_sink_already_has_stores_nothing_twice(tmp_path: Path) -> None:
    sink = MemorySink()
    spool = Spool.create(tmp_path, STREAM)
    writer = StreamWriter(spool)
    for i in range(3):
        writer.append([lines(i)])
    Shipper(spool, sink).ship_all()
    spool.close()
    # The acknowledgement was lost (say the process died before writing it):
    (tmp_path / "run%2Fa_1" / "acked").write_text("-1")
    again = Spool.open(tmp_path / "run%2Fa_1")
    assert Shipper(again, sink).ship_all() == 3
    assert sink.duplicates == 3 and len(sink.events[STREAM]) == 3


def test_batches_are_bounded_by_event_count(tmp_path: Path) -> None:
    sink = MemorySink()
    spool = Spool.create(tmp_path, STREAM)
    writer = StreamWriter(spool)
    for i in range(25):
        writer.append([lines(i)])
    sent: list[int] = []
    Shipper(spool, sink, max_events=10).ship_all(progress=sent.append)
    assert sent == [10, 10, 5]


def test_stashed_blobs_are_uploaded_before_the_events_after_them(tmp_path: Path) -> None:
    sink = MemorySink()
    sink.reachable = False
    shipper, writer = start(tmp_path, sink, max_backoff=0.05)
    model = tmp_path / "model.pkl"
    model.write_bytes(b"weights")
    sha = hashlib.sha256(b"weights").hexdigest()
    writer.spool.stash_blob(model, sha)
    writer.append([lines(0)])
    sink.reachable = True
    assert shipper.drain(timeout=5)
    assert sink.blobs == {sha: b"weights"}
    assert writer.spool.stashed_blobs() == []
    shipper.close()


def test_when_acked_fires_once_the_events_are_stored(tmp_path: Path) -> None:
    sink = MemorySink()
    sink.reachable = False
    shipper, writer = start(tmp_path, sink, max_backoff=0.05)
    seq = writer.append([lines(0)])
    results: list[bool] = []
    shipper.when_acked(seq, results.append)
    time.sleep(0.1)
    assert results == []
    sink.reachable = True
    assert shipper.drain(timeout=5)
    assert results == [True]
    shipper.close()


def test_waiters_are_told_not_stored_once_the_sink_stayed_down_for_their_patience(
        tmp_path: Path) -> None:
    sink = MemorySink()
    sink.reachable = False
    shipper, writer = start(tmp_path, sink, max_backoff=0.05, wait_patience=0.3)
    results: list[bool] = []
    began = time.monotonic()
    shipper.when_acked(writer.append([lines(0)]), results.append)
    deadline = time.monotonic() + 5
    while not results and time.monotonic() < deadline:
        time.sleep(0.02)
    assert results == [False]
    assert 0.25 < time.monotonic() - began < 3
    sink.reachable = True  # the events were kept and still go out
    assert shipper.drain(timeout=5)
    assert stored_lines(sink) == ["line 0"]
    shipper.close()


def test_waiters_are_told_when_the_shipper_closes_first(tmp_path: Path) -> None:
    sink = MemorySink()
    sink.reachable = False
    shipper, writer = start(tmp_path, sink)
    results: list[bool] = []
    shipper.when_acked(writer.append([lines(0)]), results.append)
    shipper.close()
    assert results == [False]


# -- refused events never block the stream ---------------------------------------------

class RefusingSink(MemorySink):
    """A sink that refuses, as the server does, any batch holding a "poison" line
    (naming it as ``event #i`` when ``name_index``), and batches over ``limit`` bytes."""

    def __init__(self, *, name_index: bool = True, limit: int = 1 << 30) -> None:
        super().__init__()
        self.name_index = name_index
        self.limit = limit
        self.requests = 0

    def send(self, stream: str, body: bytes, count: int) -> None:
        self.requests += 1
        if len(body) > self.limit:
            raise SinkTooLarge(f"a batch may be at most {self.limit} bytes (HTTP 413)")
        for i, event in enumerate(decode_batch(body)):
            payload = decode_payload(event)
            if isinstance(payload, LogLines) and "poison" in payload.lines:
                where = f"event #{i} id {event.id}: " if self.name_index else ""
                raise SinkRejected(f"{where}field `data`: poison (HTTP 400)")
        super().send(stream, body, count)


def poison(first: int) -> LogLines:
    return LogLines(first=first, lines=["poison"], times=[0.0], fds=[1])


def stored_types(sink: MemorySink) -> list[tuple[int, str]]:
    return [(e.seq, e.type) for e in sink.events.get(STREAM, [])]


@pytest.mark.parametrize("name_index", [True, False], ids=["named", "halved"])
def test_a_refused_event_is_set_aside_and_the_rest_of_the_stream_goes_on(
        tmp_path: Path, name_index: bool) -> None:
    sink = RefusingSink(name_index=name_index)
    problems: list[str] = []
    spool = Spool.create(tmp_path, STREAM)
    writer = StreamWriter(spool)
    writer.append([lines(i) for i in range(10)] + [poison(10)]
                  + [lines(i) for i in range(11, 40)])
    shipper = Shipper(spool, sink, on_problem=problems.append).start()
    writer = StreamWriter(spool, shipper.notify)
    writer.append([lines(40)])  # later events go on too
    assert shipper.drain(timeout=5) and not shipper.error
    assert [seq for seq, _ in stored_types(sink)] == list(range(41))  # gapless
    assert stored_types(sink)[10] == (10, EventDropped.TYPE)
    kept = [decode_payload(e) for e in sink.events[STREAM]]
    assert [line for p in kept if isinstance(p, LogLines) for line in p.lines] == [
        f"line {i}" for i in range(41) if i != 10]
    dropped = decode_payload(sink.events[STREAM][10])
    assert isinstance(dropped, EventDropped)
    assert (dropped.type, dropped.size) == ("log.lines", spool_size_of(spool, 10, tmp_path))
    assert "poison" in dropped.reason
    [info] = list_set_aside(spool.path)
    assert (info.seq, info.type, info.kept) == (10, "log.lines", True)
    assert [p for p in problems if "set aside" in p and "event 10 of" in p]  # said once
    assert len([p for p in problems if "set aside" in p]) == 1
    shipper.close()
    assert not spool.close()  # kept until the set-aside event is discarded


def spool_size_of(spool: Spool, seq: int, tmp_path: Path) -> int:
    return len((spool.path / "set-aside" / f"{seq:020d}.event").read_bytes())


def test_a_batch_too_large_for_the_sink_is_sent_in_halves(tmp_path: Path) -> None:
    sink = RefusingSink(limit=20_000)
    shipper, writer = start(tmp_path, sink)
    writer.append([LogLines(first=i, lines=["x" * 1_000], times=[0.0], fds=[1])
                   for i in range(100)])
    assert shipper.drain(timeout=5) and not shipper.error
    assert [seq for seq, _ in stored_types(sink)] == list(range(100))
    assert list_set_aside(writer.spool.path) == []
    shipper.close()


def test_an_event_larger_than_any_sink_takes_is_set_aside_unsent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shipper_module, "MAX_EVENT_BYTES", 10_000)
    sink = RefusingSink()
    shipper, writer = start(tmp_path, sink)
    writer.append([lines(0), LogLines(first=1, lines=["y" * 20_000], times=[0.0], fds=[1]),
                   lines(2)])
    assert shipper.drain(timeout=5) and not shipper.error
    assert stored_types(sink) == [(0, "log.lines"), (1, EventDropped.TYPE), (2, "log.lines")]
    assert sink.requests == 1  # the large one never went out
    [info] = list_set_aside(writer.spool.path)
    assert "at most 10,000 bytes" in info.reason and info.size > 20_000
    shipper.close()


def test_a_resent_event_dropped_is_the_same_event(tmp_path: Path) -> None:
    sink = RefusingSink()
    spool = Spool.create(tmp_path, STREAM)
    StreamWriter(spool).append([lines(0), poison(1), lines(2)])
    first = Shipper(spool, sink, on_problem=lambda m: None)
    first.ship_all()
    spool.close()
    again = Spool.open(tmp_path / "run%2Fa_1")
    again.acked = -1  # as if the acknowledgements were lost in a crash: resend it all
    second = Shipper(again, sink, on_problem=lambda m: None)
    assert second._cursor == -1
    second.ship_all()
    assert stored_types(sink) == [(0, "log.lines"), (1, EventDropped.TYPE), (2, "log.lines")]
    assert sink.duplicates >= 1 and second.set_aside == 0  # not refused, not reported again
    again.close()


def test_a_sink_that_refuses_everything_sets_nothing_aside(tmp_path: Path) -> None:
    class Locked(MemorySink):
        def send(self, stream: str, body: bytes, count: int) -> None:
            raise SinkUnusable("the server refused 3 events: bad token (HTTP 401)")

    shipper, writer = start(tmp_path, Locked())
    writer.append([lines(0), lines(1), lines(2)])
    assert not shipper.drain(timeout=2)
    assert "bad token" in shipper.error and writer.spool.pending == 3
    assert list_set_aside(writer.spool.path) == []
    shipper.close()


def test_a_batch_the_server_refuses_as_too_large_is_split_and_delivered(
        tmp_path: Path, server: ServerProcess) -> None:
    """A real server's 413 (a batch over its 64 MiB limit): halved until it fits."""
    sink = HttpSink(server.client())
    spool = Spool.create(tmp_path, STREAM)
    line = "z" * (13 << 20)  # 5 of these: 65+ MiB in one request
    StreamWriter(spool).append([RunSubmitted(project="a", script="t.py", target="local")]
                               + [LogLines(first=i, lines=[line], times=[0.0], fds=[1])
                                  for i in range(5)])
    shipper = Shipper(spool, sink, max_bytes=1 << 30, on_problem=lambda m: None)
    assert shipper.ship_all() == 6 and spool.pending == 0
    assert list_set_aside(spool.path) == []
    events = server.client().get_json(f"/api/runs/{STREAM.split('/')[1]}/events")
    assert [e["seq"] for e in events] == list(range(6))
    spool.close()


def test_the_kafka_sink_refuses_an_event_larger_than_any_sink_takes() -> None:
    from runstream.kafkasink import KafkaSink

    huge = new_event(STREAM, 0, LogLines(first=0, lines=["k" * (17 << 20)], times=[0.0],
                                         fds=[1]))
    sink = KafkaSink("127.0.0.1:1", blobs=MemorySink())  # refused before any connection
    with pytest.raises(SinkTooLarge, match=r"event #0 .* at most 16,777,216"):
        sink.send(STREAM, join_encoded([encode_event(huge)]), 1)
