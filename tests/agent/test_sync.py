"""``runstream sync`` sends every spool nobody holds, and removes what is delivered in full."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from runstream.codec import decode_payload
from runstream.events import RunCompleted, RunStarted
from runstream.memorysink import MemorySink
from runstream.spool import Spool
from runstream.writer import StreamWriter
from runstream_agent.orphans import hold_watch
from runstream_agent.sync import sync_spools


def spooled_run(root: Path, run_id: str, *, finished: bool) -> Spool:
    spool = Spool.create(root, f"run/{run_id}")
    writer = StreamWriter(spool)
    writer.append([RunStarted(pid=1)])
    if finished:
        writer.append([RunCompleted(status="completed", exit_code=0)])
        spool.mark_finished()
    return spool


def test_finished_runs_are_delivered_and_removed(tmp_path: Path) -> None:
    spooled_run(tmp_path, "a_1", finished=True).close()
    blob = tmp_path / "model.pkl"
    blob.write_bytes(b"weights")
    spool = spooled_run(tmp_path, "a_2", finished=True)
    spool.stash_blob(blob, hashlib.sha256(b"weights").hexdigest())
    spool.close()
    sink = MemorySink()
    totals: list[tuple[int, int]] = []
    reports = sync_spools(tmp_path, sink, on_total=lambda e, b: totals.append((e, b)))
    assert totals == [(4, 7)]
    assert [(r.stream, r.state, r.events, r.blobs, r.removed) for r in reports] == [
        ("run/a_1", "sent", 2, 0, True), ("run/a_2", "sent", 2, 1, True)]
    assert sorted(sink.events) == ["run/a_1", "run/a_2"] and list(sink.blobs.values()) == [
        b"weights"]
    assert sync_spools(tmp_path, sink) == []


def test_a_spool_held_by_a_running_agent_is_left_alone(tmp_path: Path) -> None:
    held = spooled_run(tmp_path, "a_1", finished=False)
    [report] = sync_spools(tmp_path, MemorySink())
    assert report.state == "busy" and "locked" in report.message
    assert held.pending == 1
    held.close()


def test_an_abandoned_run_is_ended_as_failed_agent_lost_and_delivered(tmp_path: Path) -> None:
    spooled_run(tmp_path, "a_1", finished=False).close()  # its writer died: nobody holds it
    sink = MemorySink()
    [report] = sync_spools(tmp_path, sink)
    assert (report.state, report.events, report.removed) == ("sent", 2, True)
    assert "ended as failed (agent lost)" in report.ended
    end = decode_payload(sink.events["run/a_1"][-1])
    assert isinstance(end, RunCompleted) and end.status == "failed"
    assert end.reason.startswith("agent lost: its agent or script stopped without recording")


def test_a_run_whose_end_was_written_but_not_marked_gets_no_second_end(tmp_path: Path) -> None:
    spool = spooled_run(tmp_path, "a_1", finished=False)
    StreamWriter(spool).append([RunCompleted(status="completed", exit_code=0)])
    spool.close()  # killed between run.completed and marking the spool finished
    sink = MemorySink()
    [report] = sync_spools(tmp_path, sink)
    assert report.removed and [e.type for e in sink.events["run/a_1"]] == [
        "run.started", "run.completed"]


def test_a_spool_watched_for_its_container_is_left_alone(tmp_path: Path) -> None:
    spooled_run(tmp_path, "a_1", finished=False).close()
    watch = hold_watch(tmp_path / "run%2Fa_1")  # the host's submit, while the agent inside starts
    try:
        [report] = sync_spools(tmp_path, MemorySink())
        assert report.state == "busy" and "container" in report.message
    finally:
        os.close(watch)
    [report] = sync_spools(tmp_path, MemorySink())  # its submit died too: now it is ended
    assert report.removed and report.ended


def test_an_unreachable_server_stops_the_sync_and_keeps_everything(tmp_path: Path) -> None:
    spooled_run(tmp_path, "a_1", finished=True).close()
    spooled_run(tmp_path, "a_2", finished=True).close()
    sink = MemorySink()
    sink.reachable = False
    reports = sync_spools(tmp_path, sink)
    assert [r.state for r in reports] == ["unreachable", "skipped"]
    assert all(not r.removed for r in reports)
    sink.reachable = True
    assert all(r.removed for r in sync_spools(tmp_path, sink))
