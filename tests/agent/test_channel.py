"""The SDK channel: a script's metrics join the run's stream through the agent."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from runstream.channel import Ack, AgentChannel, Emit, Sync, read_message, write_message
from runstream.codec import decode_payload, encode_payload
from runstream.events import LogLines, MetricsLogged
from runstream.logger import Logger
from runstream.memorysink import MemorySink
from runstream.shipper import Shipper
from runstream.spool import Spool
from runstream.writer import StreamWriter
from runstream_agent.channel import ChannelServer

STREAM = "run/ch_1"


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.sink = MemorySink()
        spool = Spool.create(tmp_path / "spool", STREAM)
        self.shipper = Shipper(spool, self.sink, on_problem=lambda m: None,
                               max_backoff=0.05).start()
        self.writer = StreamWriter(spool, self.shipper.notify)
        self.server = ChannelServer(tmp_path / "agent.sock", self.writer, self.shipper).start()

    def stored(self) -> list[object]:
        return [decode_payload(e) for e in self.sink.events.get(STREAM, [])]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    yield rig
    rig.server.finish(grace=1)
    rig.shipper.close()


def test_logged_points_reach_the_sink_and_wait_is_acknowledged(rig: Rig) -> None:
    logger = Logger(AgentChannel.connect(str(rig.server.path), "ch_1"))
    for i in range(500):
        logger.log("loss", float(i))
    assert logger.wait(timeout=5)
    metrics = [p for p in rig.stored() if isinstance(p, MetricsLogged)]
    assert [s for p in metrics for s in p.steps] == list(range(500))
    logger.close()


def test_metrics_and_lines_share_one_seq_order(rig: Rig) -> None:
    logger = Logger(AgentChannel.connect(str(rig.server.path), "ch_1"))
    rig.writer.append([LogLines(first=0, lines=["before"], times=[0.0], fds=[1])])
    logger.log("loss", 1.0)
    assert logger.wait(timeout=5)
    rig.writer.append([LogLines(first=1, lines=["after"], times=[0.0], fds=[1])])
    assert rig.shipper.drain(timeout=5)
    kinds = [type(p).__name__ for p in rig.stored()]
    assert kinds == ["LogLines", "MetricsLogged", "LogLines"]
    assert [e.seq for e in rig.sink.events[STREAM]] == [0, 1, 2]
    logger.close()


def test_wait_is_not_acknowledged_while_the_server_is_down(rig: Rig) -> None:
    rig.sink.reachable = False
    logger = Logger(AgentChannel.connect(str(rig.server.path), "ch_1"))
    logger.log("loss", 1.0)
    assert not logger.wait(timeout=0.3)
    rig.sink.reachable = True
    assert logger.wait(timeout=5)
    logger.close()


def test_close_returns_once_the_agent_spooled_everything(rig: Rig) -> None:
    rig.sink.reachable = False
    logger = Logger(AgentChannel.connect(str(rig.server.path), "ch_1"))
    for i in range(100):
        logger.log("loss", float(i))
    logger.close()
    assert rig.writer.spool.pending == 1  # one batch, on disk, though nothing was delivered


def test_an_invalid_emit_is_refused_with_an_explanation(rig: Rig) -> None:
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(str(rig.server.path))
    reader = conn.makefile("rb")
    bad = msgspec.msgpack.encode({"names": ["m"], "index": [0], "steps": [0], "times": [0.0],
                                  "values": [{"x": 1}]})
    write_message(conn, Emit("metrics.logged", 1, bad, 0.0))
    write_message(conn, Emit("run.completed", 1, b"\x80", 0.0))
    write_message(conn, Sync(7, stored=False))
    replies = [read_message(reader) for _ in range(3)]
    assert isinstance(replies[0], Ack) and not replies[0].ok and "values[0]" in replies[0].error
    assert isinstance(replies[1], Ack) and "does not accept 'run.completed'" in replies[1].error
    assert replies[2] == Ack(7, True)
    assert rig.writer.spool.pending == 0
    conn.close()


def test_a_vanished_agent_makes_waits_fail_not_hang(rig: Rig) -> None:
    channel = AgentChannel.connect(str(rig.server.path), "ch_1")
    logger = Logger(channel)
    rig.server.finish(grace=0)  # the agent hangs up
    logger.log("loss", 1.0)
    assert not logger.wait(timeout=5)
    logger.close(timeout=1)


def metrics(first: int, n: int) -> bytes:
    return encode_payload(MetricsLogged(names=["loss"], index=[0] * n,
                                        steps=list(range(first, first + n)),
                                        times=[0.0] * n, values=[0.5] * n))


def test_points_the_spool_cannot_keep_are_counted_and_the_script_told_once(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    real = rig.writer.append_encoded
    calls = iter(range(1_000))

    def full_after_two(items: Any, **kwargs: Any) -> int:
        if next(calls) >= 2:
            raise OSError(28, "No space left on device")
        return real(items, **kwargs)

    monkeypatch.setattr(rig.writer, "append_encoded", full_after_two)
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(str(rig.server.path))
    reader = conn.makefile("rb")
    for i in range(5):
        write_message(conn, Emit(MetricsLogged.TYPE, 1, metrics(i * 10, 10), 0.0))
    write_message(conn, Sync(1, stored=False))
    replies = [read_message(reader), read_message(reader)]
    assert isinstance(replies[0], Ack) and replies[0].token == 0 and not replies[0].ok
    assert "No space left" in replies[0].error and "counted" in replies[0].error
    assert replies[1] == Ack(1, True)  # told once, not three times
    losses = rig.server.losses
    assert (losses.points_kept, losses.points_lost) == (20, 30)
    assert "No space left" in losses.first
    conn.close()


def test_points_the_sdk_could_not_hand_over_are_told_to_the_agent(rig: Rig) -> None:
    channel = AgentChannel.connect(str(rig.server.path), "ch_1")
    channel.emit(MetricsLogged.TYPE, 1, metrics(0, 3), 0.0)
    channel.close(lost=7, reason="the encoder failed")
    rig.server.finish(grace=1)
    losses = rig.server.losses
    assert (losses.points_kept, losses.points_lost, losses.first) == (3, 7, "the encoder failed")
    assert "10 points logged, 3 kept; 7 could not be kept: the encoder failed" in \
        losses.summary(rig.writer.spool)
