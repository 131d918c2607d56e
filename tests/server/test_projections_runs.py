"""The runs view, given events → expected view (the fold is pure)."""

from __future__ import annotations

from sqlalchemy import Engine

from runstream.events import RunSubmitted
from runstream_server import queries
from runstream_server.eventstore import StoredEvent, append
from runstream_server.projections.runner import Projector
from runstream_server.projections.runs import RunView, apply
from tests.server.history import RunWriter


def fold(events: list[StoredEvent]) -> RunView | None:
    view = None
    for e in events:
        payload = e.payload()
        assert payload is not None
        view = apply(view, e, payload)
    return view


def stored(writer: RunWriter) -> list[StoredEvent]:
    return [StoredEvent(i + 1, e.id, e.stream, e.seq, e.type, e.v, e.ts, e.ts, bytes(e.data))
            for i, e in enumerate(writer.events)]


def test_a_completed_run_has_status_times_duration_and_latest_scalars() -> None:
    w = RunWriter("iris_1")
    w.submitted("iris_sklearn.py", ("0.5",))
    started = w.started()
    w.metrics({"Accuracy": [0.5, 0.8], "Precision": [[0.1, 0.2]], "note": ["ok"]})
    w.lines("a", "b", "c")
    w.artifact("outputs/model.pkl")
    done = w.completed()
    view = fold(stored(w))
    assert view is not None
    assert view.status == "completed"
    assert view.script == "iris_sklearn.py" and view.args == ["0.5"]
    assert view.started == started.ts and view.ended == done.ts
    assert view.duration == done.ts - started.ts
    assert view.metrics == {"Accuracy": 0.8, "note": "ok"}  # arrays are not columns
    assert view.log_lines == 3
    assert view.artifacts == 1
    assert view.exit_code == 0


def test_a_failed_run_keeps_its_reason_and_exit_code() -> None:
    from runstream.events import RunCompleted

    w = RunWriter("iris_1")
    w.submitted()
    w.started()
    w.emit(RunCompleted(status="failed", exit_code=1, reason="ZeroDivisionError: division by zero"))
    view = fold(stored(w))
    assert view is not None
    assert (view.status, view.exit_code) == ("failed", 1)
    assert view.reason.startswith("ZeroDivisionError")


def test_events_before_submission_are_ignored_and_nan_is_kept_as_text() -> None:
    w = RunWriter("iris_1")
    w.started()  # seq 0 is not run.submitted: nothing is known yet
    assert fold(stored(w)) is None
    w = RunWriter("iris_2")
    w.submitted()
    w.metrics({"loss": [float("nan")], "gain": [float("inf")]})
    view = fold(stored(w))
    assert view is not None
    assert view.metrics == {"loss": "NaN", "gain": "Infinity"}


def test_run_numbers_count_a_projects_runs_in_log_order(engine: Engine) -> None:
    projector = Projector()
    projector.prepare(engine)
    writers = [RunWriter(f"iris_{i}") for i in range(3)] + [RunWriter("other_1", "other")]
    for w in writers:
        w.submitted()
    for batch in ([writers[0].events[0]], [w.events[0] for w in writers[1:]]):
        with engine.begin() as conn:
            projector.apply(conn, append(conn, batch).stored)
    with engine.connect() as conn:
        numbers = {r.run_id: r.number for r in queries.list_runs(conn, archived="include").runs}
    assert numbers == {"iris_0": 1, "iris_1": 2, "iris_2": 3, "other_1": 1}


def test_a_lost_run_is_failed_with_the_reason_until_its_writer_ends_it() -> None:
    from runstream.events import RunHeartbeat, RunLost, RunStarted, new_event, review_stream

    w = RunWriter("iris_1")
    w.submitted()
    w.emit(RunStarted(pid=1, host="h", lease=30.0))
    w.emit(RunHeartbeat(lease=30.0))
    events = stored(w)
    lost = new_event(review_stream("iris_1"), 0, RunLost(run_id="iris_1", reason="agent lost: x"),
                     ts=events[-1].ts + 100)
    events.append(StoredEvent(len(events) + 1, lost.id, lost.stream, lost.seq, lost.type,
                              lost.v, lost.ts, lost.ts, bytes(lost.data)))
    view = fold(events)
    assert view is not None
    assert (view.status, view.reason, view.lease) == ("failed", "agent lost: x", 0.0)
    assert view.ended == lost.ts and view.duration == lost.ts - events[1].ts
    late = w.completed()  # the agent was only cut off: what really happened wins
    events.append(StoredEvent(len(events) + 1, late.id, late.stream, late.seq, late.type,
                              late.v, late.ts, late.ts, bytes(late.data)))
    view = fold(events)
    assert view is not None
    assert (view.status, view.reason, view.exit_code, view.ended) == ("completed", "", 0, late.ts)


def test_run_lost_after_the_writers_end_changes_nothing() -> None:
    from runstream.events import RunLost, new_event, review_stream

    w = RunWriter("iris_1")
    w.submitted()
    w.started()
    w.completed()
    events = stored(w)
    lost = new_event(review_stream("iris_1"), 0, RunLost(run_id="iris_1", reason="agent lost"))
    events.append(StoredEvent(len(events) + 1, lost.id, lost.stream, lost.seq, lost.type,
                              lost.v, lost.ts, lost.ts, bytes(lost.data)))
    view = fold(events)
    assert view is not None and (view.status, view.reason) == ("completed", "")


def test_run_numbers_are_derived_from_submission_time_wherever_they_are_read(
        engine: Engine) -> None:
    from runstream_server.asof import fold_runs
    from runstream_server.eventstore import head_position

    projector = Projector()
    projector.prepare(engine)
    late = RunWriter("iris_b")
    late.emit(RunSubmitted(project="iris", script="t.py"), ts=10.0)
    early = RunWriter("iris_a")  # submitted before iris_b, delivered after it
    early.emit(RunSubmitted(project="iris", script="t.py"), ts=5.0)
    tie = RunWriter("iris_c")  # the same time as iris_b: the run id decides
    tie.emit(RunSubmitted(project="iris", script="t.py"), ts=10.0)
    for w in (late, early, tie):
        with engine.begin() as conn:
            projector.apply(conn, append(conn, w.events).stored)
    expected = {"iris_a": 1, "iris_b": 2, "iris_c": 3}
    with engine.connect() as conn:
        listed = {r.run_id: r.number for r in queries.list_runs(conn).runs}
        one_by_one = {rid: queries.get_run(conn, rid).number for rid in expected}  # type: ignore[union-attr]
        as_of = {rid: v.number for rid, v in fold_runs(conn, head_position(conn)).items()}
        newest_first = [r.run_id for r in queries.list_runs(conn, sort="-number").runs]
    assert listed == one_by_one == as_of == expected
    assert newest_first == ["iris_c", "iris_b", "iris_a"]


def test_a_runs_parameters_keep_their_first_value_and_tags_their_last() -> None:
    w = RunWriter("iris_7")
    w.submitted("iris_sklearn.py", ("0.5",), name="baseline")
    w.params(reg="0.5", solver="lbfgs")
    w.params(reg="10", seed="1")  # a writer refuses this; the view keeps the first value anyway
    w.tags(team="vision", stage="try")
    w.tags(stage="keep")
    w.untag("team", "absent")
    w.renamed("best so far")
    view = fold(stored(w))
    assert view is not None
    assert view.params == {"reg": "0.5", "solver": "lbfgs", "seed": "1"}
    assert view.tags == {"stage": "keep"}
    assert view.name == "best so far"


def test_a_parameter_logged_again_with_its_value_changes_nothing() -> None:
    w = RunWriter("iris_8")
    w.submitted()
    w.params(reg="0.5")
    before = fold(stored(w))
    w.params(reg="0.5")
    assert fold(stored(w)) == before  # not even its position moves


def test_params_and_tags_are_kept_in_the_view_table(engine: Engine) -> None:
    w = RunWriter("iris_9")
    w.submitted(name="first")
    w.params(reg="0.25")
    w.tags(**{"mlflow.note": "x" * 8000})
    projector = Projector()
    projector.prepare(engine)
    with engine.begin() as conn:
        projector.apply(conn, append(conn, w.events).stored)
    with engine.connect() as conn:
        view = queries.get_run(conn, "iris_9")
    assert view is not None
    assert (view.name, view.params, view.tags) == ("first", {"reg": "0.25"},
                                                   {"mlflow.note": "x" * 8000})
