"""The agent runs a script and records it as one ordered stream (real scripts, memory sink)."""

from __future__ import annotations

import sys
import textwrap
import threading
from pathlib import Path

import msgspec
import pytest

from runstream.codec import decode_payload
from runstream.events import (
    ArtifactAdded,
    LogLines,
    MetricsLogged,
    Payload,
    RunCompleted,
    RunStarted,
    RunSubmitted,
)
from runstream.memorysink import MemorySink
from runstream.shipper import Shipper
from runstream.spool import Spool
from runstream_agent.agent import Agent, RunSpec

TRAIN = """
import sys, os, runstream
logger = runstream.get_logger()
print("start", sys.argv[1:])
for epoch in range(3):
    logger.log("loss", 1.0 / (epoch + 1))
    print("epoch", epoch)
print("a warning", file=sys.stderr)
os.makedirs("outputs/plots", exist_ok=True)
open("outputs/model.pkl", "wb").write(b"weights")
open("outputs/plots/loss.png", "wb").write(b"png")
"""


def make_agent(tmp_path: Path, script: str, sink: MemorySink, *args: str,
               echo: object = None) -> Agent:
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "train.py").write_text(textwrap.dedent(script))
    spec = RunSpec(run_id="iris_1", project="iris", script="train.py", args=list(args),
                   python=sys.executable, workdir=str(workdir), url="http://unused",
                   snapshot="", host="here")
    spool = Spool.create(tmp_path / "spool", "run/iris_1")
    return Agent(spec, spool, sink, echo=echo,  # type: ignore[arg-type]
                 on_problem=lambda message: None, delivery_patience=0.5)


def stored(sink: MemorySink) -> list[Payload]:
    return [p for e in sink.events["run/iris_1"] if (p := decode_payload(e)) is not None]


def lines_of(payloads: list[Payload]) -> list[tuple[int, str]]:
    return [(fd, line) for p in payloads if isinstance(p, LogLines)
            for fd, line in zip(p.fds, p.lines, strict=True)]


def test_a_run_is_submitted_started_logged_stored_and_completed(tmp_path: Path) -> None:
    sink = MemorySink()
    agent = make_agent(tmp_path, TRAIN, sink, "--alpha", "0.5")
    outcome = agent.run()
    assert (outcome.status, outcome.exit_code, agent.delivered) == ("completed", 0, True)
    payloads = stored(sink)
    assert isinstance(payloads[0], RunSubmitted) and payloads[0].args == ["--alpha", "0.5"]
    assert isinstance(payloads[1], RunStarted) and payloads[1].pid > 0
    assert isinstance(payloads[-1], RunCompleted) and payloads[-1].status == "completed"
    assert lines_of(payloads) == [(1, "start ['--alpha', '0.5']"), (1, "epoch 0"),
                                  (1, "epoch 1"), (1, "epoch 2"), (2, "a warning")]
    metrics = [p for p in payloads if isinstance(p, MetricsLogged)]
    assert [v for p in metrics for v in p.values] == [1.0, 0.5, 1 / 3]
    artifacts = [p for p in payloads if isinstance(p, ArtifactAdded)]
    assert [(a.path, a.size, a.media_type) for a in artifacts] == [
        ("outputs/model.pkl", 7, "application/octet-stream"),
        ("outputs/plots/loss.png", 3, "image/png")]
    assert set(sink.blobs.values()) == {b"weights", b"png"}
    assert not Path(agent.spec.workdir).exists()  # the working copy is cleaned up
    assert agent.spool.close() is True  # delivered in full: the spool folder goes


def test_a_crash_fails_the_run_with_the_traceback_in_the_log(tmp_path: Path) -> None:
    sink = MemorySink()
    outcome = make_agent(tmp_path, "print('go')\nimport json\njson.loads('{')\n", sink).run()
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert outcome.reason.startswith("json.decoder.JSONDecodeError: Expecting property name")
    payloads = stored(sink)
    stderr = [line for fd, line in lines_of(payloads) if fd == 2]
    assert stderr[0] == "Traceback (most recent call last):" and stderr[-1] == outcome.reason
    completed = payloads[-1]
    assert isinstance(completed, RunCompleted) and completed.reason == outcome.reason


def test_a_missing_interpreter_fails_the_run_instead_of_the_agent(tmp_path: Path) -> None:
    sink = MemorySink()
    agent = make_agent(tmp_path, "print(1)", sink)
    agent.spec = msgspec.structs.replace(agent.spec, python=str(tmp_path / "no-python"))
    outcome = agent.run()
    assert outcome.status == "failed" and "cannot start" in outcome.reason


def test_cancel_interrupts_the_script_and_marks_the_run_canceled(tmp_path: Path) -> None:
    sink = MemorySink()
    script = """
        import time
        try:
            print("ready", flush=True)
            time.sleep(60)
        finally:
            print("cleaning up", flush=True)
    """
    agent: Agent

    def echo(fd: int, chunk: bytes) -> None:
        if b"ready" in chunk:
            threading.Timer(0.1, agent.cancel).start()

    agent = make_agent(tmp_path, script, sink, echo=echo)
    outcome = agent.run()
    assert outcome.status == "canceled" and outcome.cli_exit_code == 130
    assert "cleaning up" in [line for _, line in lines_of(stored(sink))]


def test_everything_waits_in_the_spool_while_the_server_is_down(tmp_path: Path) -> None:
    sink = MemorySink()
    sink.reachable = False
    agent = make_agent(tmp_path, TRAIN, sink)
    outcome = agent.run()
    assert outcome.status == "completed" and agent.delivered is False
    assert "run/iris_1" not in sink.events
    spool = agent.spool
    assert spool.pending > 0 and len(spool.stashed_blobs()) == 2
    sink.reachable = True
    Shipper(spool, sink).ship_all()
    payloads = stored(sink)
    assert isinstance(payloads[-1], RunCompleted)
    assert [e.seq for e in sink.events["run/iris_1"]] == list(range(len(payloads)))
    assert set(sink.blobs.values()) == {b"weights", b"png"}
    assert spool.close() is True


@pytest.mark.parametrize("count", [20_000])
def test_a_fast_printer_loses_nothing_and_keeps_order(tmp_path: Path, count: int) -> None:
    sink = MemorySink()
    script = f"for i in range({count}):\n    print(i)\n"
    assert make_agent(tmp_path, script, sink).run().status == "completed"
    printed = [line for _, line in lines_of(stored(sink))]
    assert printed == [str(i) for i in range(count)]
