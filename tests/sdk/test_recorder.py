"""The run recorder: the one place a run's writer records its start, its end and delivers it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runstream.codec import decode_payload
from runstream.events import ArtifactAdded, Payload, RunCompleted, RunStarted, RunSubmitted
from runstream.memorysink import MemorySink
from runstream.recorder import Ending, RunRecorder
from runstream.spool import Spool


def recorder(tmp_path: Path, sink: MemorySink, *, lease: float = 0.0,
             problems: list[str] | None = None) -> RunRecorder:
    spool = Spool.create(tmp_path / "spool", "run/iris_0000000000001_abcd")
    say = problems.append if problems is not None else None
    return RunRecorder(spool, sink, lease=lease, on_problem=say)


def submitted() -> RunSubmitted:
    return RunSubmitted(project="iris", script="train.py", args=[], target="local", user="u",
                        host="h")


def artifact(name: str) -> ArtifactAdded:
    return ArtifactAdded(path=f"outputs/{name}", sha256="0" * 64, size=1,
                         media_type="text/plain")


def payloads(sink: MemorySink, rec: RunRecorder) -> list[object]:
    return [decode_payload(e) for e in sink.events[rec.spool.stream]]


def test_a_run_is_recorded_from_submitted_to_completed_and_delivered(tmp_path: Path) -> None:
    sink = MemorySink()
    rec = recorder(tmp_path, sink, lease=0.1)
    rec.ship()
    rec.writer.append([submitted(), RunStarted(pid=1, host="h", lease=0.1)])
    rec.alive()
    time.sleep(0.3)  # quiet: the heartbeat keeps the lease
    uploads: list[str] = []

    def upload() -> list[Payload]:
        uploads.append("outputs")
        return [artifact("model.pkl")]

    rec.complete(Ending("completed", 0), upload)
    assert rec.deliver(patience=5)
    got = payloads(sink, rec)
    types = [type(p).__name__ for p in got]
    assert types[:2] == ["RunSubmitted", "RunStarted"] and "RunHeartbeat" in types
    assert types[-2:] == ["ArtifactAdded", "RunCompleted"] and uploads == ["outputs"]
    assert got[-1] == RunCompleted(status="completed", exit_code=0, reason="")
    assert rec.spool.finished and rec.spool.pending == 0
    beats = rec.heartbeat.beats
    time.sleep(0.2)
    assert rec.heartbeat.beats == beats  # stopped before run.completed


def test_an_interrupted_upload_still_completes_the_run_on_record(tmp_path: Path) -> None:
    sink = MemorySink()
    rec = recorder(tmp_path, sink)
    rec.ship()
    rec.writer.append([submitted()])

    def upload() -> list[Payload]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rec.complete(Ending("failed", 3, "exit code 3"), upload)
    assert rec.spool.finished
    assert rec.deliver(patience=5)
    assert payloads(sink, rec)[-1] == RunCompleted(status="failed", exit_code=3,
                                                   reason="exit code 3")


def test_losses_make_the_run_end_failed_saying_what_was_kept(tmp_path: Path) -> None:
    problems: list[str] = []
    rec = recorder(tmp_path, MemorySink(), problems=problems)
    assert rec.settle(Ending("completed", 0)) == Ending("completed", 0)  # nothing lost
    rec.losses.kept(10)
    rec.losses.lost("[Errno 28] No space left on device", points=5)
    ending = rec.settle(Ending("canceled", 130, "canceled by the user"))
    assert ending.status == "failed" and ending.exit_code == 130
    assert ending.reason.startswith("canceled by the user; 15 points logged, 10 kept; 5 could "
                                    "not be kept: [Errno 28] No space left on device (spool ")
    assert problems == [f"run iris_0000000000001_abcd ends failed: "
                        f"{ending.reason.removeprefix('canceled by the user; ')}"]
    assert rec.settle(Ending("completed", 0)).reason == ending.reason.removeprefix(
        "canceled by the user; ")  # no reason of its own: the losses alone


def test_a_server_that_is_down_leaves_the_run_in_its_spool_within_patience(
        tmp_path: Path) -> None:
    sink = MemorySink()
    sink.reachable = False
    rec = recorder(tmp_path, sink)
    rec.ship()
    rec.writer.append([submitted()])
    rec.complete(Ending("completed", 0))
    began = time.monotonic()
    assert not rec.deliver(patience=0.3)
    assert time.monotonic() - began < 3
    assert rec.spool.finished and rec.spool.pending == 2 and not sink.events
    rec.stop()  # again: harmless
