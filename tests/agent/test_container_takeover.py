"""The host finishing a stream its container left: given a spool as the container
left it, expect the stream delivered and ended exactly once (memory sink, no engine)."""

from __future__ import annotations

from pathlib import Path

from runstream.codec import decode_payload
from runstream.events import ArtifactAdded, LogLines, Payload, RunCompleted, RunSubmitted
from runstream.memorysink import MemorySink
from runstream.spool import Spool
from runstream.writer import StreamWriter
from runstream_agent.agent import RunSpec
from runstream_agent.containers.takeover import finish_stream
from runstream_agent.outcome import Outcome

STREAM = "run/lab_1"
SPEC = RunSpec(run_id="lab_1", project="lab", script="train.py", python="python3",
               workdir="/unused", url="http://unused", target="docker-python")
KILLED = Outcome("failed", 137, "killed by the engine (exit 137)")


def container_left(tmp_path: Path, *payloads: Payload, finished: bool = False) -> Path:
    """A spool as the agent inside wrote it before its container went away."""
    spool = Spool.create(tmp_path / "spool", STREAM)
    if payloads:
        StreamWriter(spool).append(list(payloads))
    if finished:
        spool.mark_finished()
    spool.close()
    return spool.path


def stored(sink: MemorySink) -> list[Payload]:
    return [decode_payload(e) for e in sink.events.get(STREAM, [])]


SUBMITTED = RunSubmitted(project="lab", script="train.py", target="docker-python")
LINES = LogLines(first=0, lines=["epoch 1"], times=[1.0], fds=[1])


def test_an_unfinished_stream_is_ended_with_the_engines_reason(tmp_path: Path) -> None:
    spool_dir = container_left(tmp_path, SUBMITTED, LINES)
    outputs = tmp_path / "work" / "outputs"
    outputs.mkdir(parents=True)
    (outputs / "checkpoint.pt").write_bytes(b"half trained")
    sink = MemorySink()
    end = finish_stream(spool_dir, SPEC, sink, KILLED, outputs=outputs, patience=1)
    assert (end.took_over, end.delivered, end.undelivered, end.recorded) == (
        True, True, 0, KILLED)
    payloads = stored(sink)
    assert payloads[:2] == [SUBMITTED, LINES]
    assert isinstance(payloads[2], ArtifactAdded) and payloads[2].path == \
        "outputs/checkpoint.pt"
    assert payloads[3] == RunCompleted(status="failed", exit_code=137,
                                       reason="killed by the engine (exit 137)")
    assert b"half trained" in sink.blobs.values()
    assert not spool_dir.exists()  # delivered in full


def test_a_container_that_died_before_its_agent_wrote_still_leaves_a_failed_run(
        tmp_path: Path) -> None:
    spool_dir = container_left(tmp_path)
    sink = MemorySink()
    oom = Outcome("failed", 137, "out of memory (OOM-killed)")
    end = finish_stream(spool_dir, SPEC, sink, oom, outputs=None, patience=1)
    assert end.took_over
    payloads = stored(sink)
    assert isinstance(payloads[0], RunSubmitted) and payloads[0].target == "docker-python"
    assert payloads[1] == RunCompleted(status="failed", exit_code=137,
                                       reason="out of memory (OOM-killed)")


def test_a_finished_stream_is_only_delivered_never_ended_twice(tmp_path: Path) -> None:
    done = RunCompleted(status="completed", exit_code=0)
    spool_dir = container_left(tmp_path, SUBMITTED, LINES, done, finished=True)
    sink = MemorySink()
    end = finish_stream(spool_dir, SPEC, sink, KILLED, outputs=None, patience=1)
    assert (end.took_over, end.recorded) == (False, Outcome("completed", 0, ""))
    assert stored(sink) == [SUBMITTED, LINES, done]


def test_a_spool_the_agent_delivered_and_emptied_needs_nothing(tmp_path: Path) -> None:
    emptied = tmp_path / "spool" / "run%2Flab_1"
    emptied.mkdir(parents=True)  # the mount point the agent inside could not remove
    sink = MemorySink()
    end = finish_stream(emptied, SPEC, sink, KILLED, outputs=None, patience=1)
    assert (end.took_over, end.delivered, end.recorded) == (False, True, None)
    assert sink.events == {} and not emptied.exists()


def test_what_the_server_cannot_take_now_stays_in_the_spool(tmp_path: Path) -> None:
    spool_dir = container_left(tmp_path, SUBMITTED, LINES)
    sink = MemorySink()
    sink.reachable = False
    end = finish_stream(spool_dir, SPEC, sink, KILLED, outputs=None, patience=0.2)
    assert (end.took_over, end.delivered, end.undelivered) == (True, False, 3)
    spool = Spool.open(spool_dir)
    assert spool.finished and spool.pending == 3  # for `runstream sync`
    spool.close()
