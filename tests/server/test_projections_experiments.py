"""The experiments view and a run's experiment: ids by the order of the ``experiments``
stream, and the same views whichever of a run and its project's experiment comes first
(they are on different streams, so Kafka's partitions may deliver them either way)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from runstream.events import (
    EXPERIMENTS_STREAM,
    Envelope,
    ExperimentCreated,
    ExperimentDeleted,
    ExperimentRenamed,
    ExperimentTagsDeleted,
    ExperimentTagsSet,
    Payload,
    RunSubmitted,
    mlflow_stream,
    new_event,
)
from runstream_server.database import metadata
from runstream_server.eventstore import append
from runstream_server.projections.experiments import experiments_table
from runstream_server.projections.runner import Projector
from runstream_server.projections.runs import runs_table
from tests.server.history import RunWriter


class Experiments:
    def __init__(self) -> None:
        self.events: list[Envelope] = []

    def emit(self, payload: Payload) -> Envelope:
        event = new_event(EXPERIMENTS_STREAM, len(self.events), payload)
        self.events.append(event)
        return event


def fold(engine: Engine, events: list[Envelope]) -> tuple[dict[str, str], list[Any]]:
    """(run id → experiment id, experiment rows) after applying ``events`` one by one."""
    metadata.drop_all(engine)
    projector = Projector()
    projector.prepare(engine)
    for event in events:
        with engine.begin() as conn:
            projector.apply(conn, append(conn, [event]).stored)
    with engine.connect() as conn:
        runs = dict(conn.execute(select(runs_table.c.run_id, runs_table.c.experiment_id)).all())
        t = experiments_table.c
        rows = conn.execute(select(t.experiment_id, t.name, t.former_names, t.lifecycle_stage,
                                   t.tags).order_by(t.ordinal)).all()
    return {str(k): str(v) for k, v in runs.items()}, [tuple(r) for r in rows]


def test_ids_follow_the_experiments_stream_and_a_run_gets_its_projects_experiment(
        engine: Engine) -> None:
    exp = Experiments()
    exp.emit(ExperimentCreated(name="mnist", tags={"team": "vision"}))
    exp.emit(ExperimentCreated(name="iris"))
    exp.emit(ExperimentCreated(name="iris"))  # taken: the first creation wins
    iris = RunWriter("iris_1", "iris")
    iris.submitted()
    lone = RunWriter("cifar_1", "cifar")  # no experiment names its project (yet)
    lone.submitted()
    runs, rows = fold(engine, [*exp.events, *iris.events, *lone.events])
    assert runs == {"iris_1": "2", "cifar_1": ""}
    assert rows == [("1", "mnist", [], "active", {"team": "vision"}),
                    ("2", "iris", [], "active", {})]


def test_a_run_folded_before_its_experiment_was_created_belongs_to_it_all_the_same(
        engine: Engine) -> None:
    exp = Experiments()
    exp.emit(ExperimentCreated(name="iris"))
    w = RunWriter("iris_1", "iris")
    w.submitted()
    first = fold(engine, [*exp.events, *w.events])
    second = fold(engine, [*w.events, *exp.events])
    assert first == second
    assert first[0] == {"iris_1": "1"}


def test_a_renamed_experiment_keeps_the_runs_of_its_former_name_in_either_order(
        engine: Engine) -> None:
    exp = Experiments()
    exp.emit(ExperimentCreated(name="iris"))
    exp.emit(ExperimentRenamed(experiment_id="1", name="iris-2026"))
    late = RunWriter("iris_2", "iris")  # still names the project by its former name
    late.submitted()
    new = RunWriter("iris-2026_1", "iris-2026")
    new.submitted()
    orders = [[*exp.events, *late.events, *new.events],
              [*late.events, *new.events, *exp.events],
              [exp.events[0], *late.events, exp.events[1], *new.events]]
    results = [fold(engine, order) for order in orders]
    assert results[0] == results[1] == results[2]
    assert results[0][0] == {"iris_2": "1", "iris-2026_1": "1"}
    assert results[0][1] == [("1", "iris-2026", ["iris"], "active", {})]


def test_a_run_that_chose_its_experiment_by_id_keeps_it(engine: Engine) -> None:
    exp = Experiments()
    exp.emit(ExperimentCreated(name="iris"))
    exp.emit(ExperimentCreated(name="other"))
    mlflow_run = [new_event(mlflow_stream("abc"), 0, RunSubmitted(
        project="iris", script="", target="mlflow", experiment_id="2"))]
    assert fold(engine, [*exp.events, *mlflow_run])[0] == {"abc": "2"}
    assert fold(engine, [*mlflow_run, *exp.events])[0] == {"abc": "2"}


def test_changes_to_the_default_experiment_make_its_row_and_unknown_ids_are_ignored(
        engine: Engine) -> None:
    exp = Experiments()
    exp.emit(ExperimentTagsSet(experiment_id="0", tags={"a": "1", "b": "2"}))
    exp.emit(ExperimentTagsDeleted(experiment_id="0", keys=["a"]))
    exp.emit(ExperimentDeleted(experiment_id="7"))  # no such experiment
    exp.emit(ExperimentCreated(name="Default"))  # the default's name is taken
    _runs, rows = fold(engine, exp.events)
    assert rows == [("0", "Default", [], "active", {"b": "2"})]


def test_a_project_stays_with_the_first_experiment_of_its_name_in_every_order(
        engine: Engine) -> None:
    """Found by the replay property test: renamed away, then a new experiment takes the
    name; folding the runs at different moments must not split the project."""
    exp = Experiments()
    exp.emit(ExperimentCreated(name="iris"))
    exp.emit(ExperimentRenamed(experiment_id="1", name="other"))
    exp.emit(ExperimentCreated(name="iris"))  # "2", named like the project again
    first = RunWriter("iris_0", "iris")
    first.submitted()
    second = RunWriter("iris_1", "iris")
    second.submitted()
    e = exp.events
    orders = [[e[0], *first.events, e[1], e[2], *second.events],
              [*first.events, *second.events, *e],
              [*e, *first.events, *second.events]]
    results = [fold(engine, order) for order in orders]
    assert results[0] == results[1] == results[2]
    assert results[0][0] == {"iris_0": "1", "iris_1": "1"}
    # Batched as a rebuild applies them (one transaction), too.
    metadata.drop_all(engine)
    projector = Projector()
    projector.prepare(engine)
    with engine.begin() as conn:
        projector.apply(conn, append(conn, orders[0]).stored)
    with engine.connect() as conn:
        runs = dict(conn.execute(select(runs_table.c.run_id, runs_table.c.experiment_id)).all())
    assert runs == {"iris_0": "1", "iris_1": "1"}
