"""The runs as they were at a past position, and one run alone (what a replay asks)."""

from __future__ import annotations

from sqlalchemy import Engine

from runstream_server import queries
from runstream_server.asof import runs_as_of
from runstream_server.eventstore import append
from runstream_server.projections.runner import Projector
from tests.server.history import RunWriter


def test_one_run_as_of_a_position_is_folded_from_its_own_events(engine: Engine) -> None:
    projector = Projector()
    projector.prepare(engine)
    first, second = RunWriter("iris_1"), RunWriter("iris_2")
    first.submitted()
    second.submitted()
    first.started()
    second.started()
    first.metrics({"Accuracy": [0.5]})
    first.completed()
    second.params(reg="10")
    with engine.begin() as conn:
        stored = append(conn, first.events[:2] + second.events[:1] + first.events[2:]
                        + second.events[1:]).stored
        projector.apply(conn, stored)
    started_at = next(e.position for e in stored if e.stream == "run/iris_1" and e.seq == 1)
    with engine.connect() as conn:
        then = runs_as_of(conn, started_at, archived="include", run_id="iris_1")
        now = runs_as_of(conn, 10**6, archived="include", run_id="iris_1")
        whole = runs_as_of(conn, started_at, archived="include")
        live = queries.get_run(conn, "iris_1")
        unknown = runs_as_of(conn, 10**6, run_id="nope")
    assert [v.run_id for v in then.runs] == ["iris_1"]
    assert then.runs[0].status == "running" and then.runs[0].metrics == {}
    assert then.runs[0] == next(v for v in whole.runs if v.run_id == "iris_1")
    assert now.runs[0].status == "completed" and now.runs[0].metrics == {"Accuracy": 0.5}
    assert live is not None and now.runs[0] == live
    assert unknown.runs == [] and unknown.total == 0
