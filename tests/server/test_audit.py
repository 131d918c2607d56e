"""The audit's summaries: each event type of a run's life says what happened, in words."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from runstream.events import EventDropped, RunHeartbeat, RunLost, RunStarted, new_event
from runstream_server.audit import run_events
from runstream_server.ledger import Ledger
from runstream_server.projections.runner import Projector
from tests.server.history import RunWriter


def test_a_lost_runs_heartbeats_dropped_event_and_verdict_are_told_in_words(
        engine: Engine, tmp_path: Path) -> None:
    run = RunWriter("iris_1")
    run.submitted()
    run.emit(RunStarted(pid=42, host="box", lease=30.0))
    run.emit(RunHeartbeat(lease=30.0))
    run.emit(EventDropped(type="metrics.logged", v=1, size=75_000_000,
                          reason="the event is 75,000,000 bytes; at most 16,777,216"))
    verdict = new_event("review/iris_1", 0, RunLost(
        run_id="iris_1", reason="agent lost: no sign of life for 95 s (lease 30 s)"))
    projector = Projector()
    projector.prepare(engine)
    ledger = Ledger(engine, projector)
    ledger.commit([*run.events, verdict])
    with engine.connect() as conn:
        summaries = {e.type: e.summary for e in run_events(conn, "iris_1")}
    ledger.close()
    assert summaries["run.started"] == "pid 42 on box, lease 30 s"
    assert summaries["run.heartbeat"] == "alive (lease 30 s)"
    assert summaries["event.dropped"] == (
        "a metrics.logged v1 event of 75,000,000 bytes was refused and set aside: "
        "the event is 75,000,000 bytes; at most 16,777,216")
    assert summaries["run.lost"] == "agent lost: no sign of life for 95 s (lease 30 s)"
