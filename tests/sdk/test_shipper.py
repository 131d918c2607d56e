"""The shipper delivers a spool through a sink: in order, whole, once, whatever the sink does."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from runstream.codec import decode_payload
from runstream.events import LogLines, RunStarted, run_stream
from runstream.memorysink import MemorySink
from runstream.shipper import Shipper
from runstream.spool import Spool
from runstream.writer import StreamWriter

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


def test_waiters_are_told_when_the_shipper_closes_first(tmp_path: Path) -> None:
    sink = MemorySink()
    sink.reachable = False
    shipper, writer = start(tmp_path, sink)
    results: list[bool] = []
    shipper.when_acked(writer.append([lines(0)]), results.append)
    shipper.close()
    assert results == [False]
