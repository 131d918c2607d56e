"""``runs/search`` answers from kept encodings (``runstream_server.mlflow.answers``): a
repeated search answers what a fresh one would, and every change of a run — a metric,
a tag, its end, its deletion, its experiment's deletion — shows in the next search."""

from __future__ import annotations

import math
import time

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from runstream_server.mlflow.answers import RunAnswers, page_json
from runstream_server.projections.runs import RunView
from runstream_server.queries import LatestMetric, MlflowRun
from tests.conftest import ServerProcess
from tests.mlflow.conftest import unique


def _search(experiment_id: str, **kw: object) -> dict[str, dict[str, object]]:
    runs = MlflowClient().search_runs([experiment_id], **kw)  # type: ignore[arg-type]
    return {r.info.run_name: {"metrics": dict(r.data.metrics), "tags": dict(r.data.tags),
                              "status": r.info.status, "stage": r.info.lifecycle_stage}
            for r in runs}


def test_a_repeated_search_shows_every_change_of_a_run(tracking: ServerProcess) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment(unique("answers"))
    a = client.create_run(experiment_id, run_name="a").info.run_id
    b = client.create_run(experiment_id, run_name="b").info.run_id
    client.log_metric(a, "loss", 0.5, step=1)
    first = _search(experiment_id)
    assert first == _search(experiment_id)  # kept answers equal fresh ones
    assert first["a"]["metrics"] == {"loss": 0.5}

    client.log_metric(a, "loss", 0.25, step=2)
    client.set_tag(b, "team", "ml")
    client.set_terminated(b, "FAILED")
    now = _search(experiment_id)
    assert now["a"]["metrics"] == {"loss": 0.25}
    assert now["b"]["tags"]["team"] == "ml" and now["b"]["status"] == "FAILED"

    client.log_metric(a, "loss", math.nan, step=3)  # NaN goes out as MLflow's "NaN"
    assert math.isnan(_search(experiment_id)["a"]["metrics"]["loss"])  # type: ignore[arg-type]

    client.delete_run(b)
    assert set(_search(experiment_id)) == {"a"}
    assert _search(experiment_id, run_view_type=ViewType.ALL)["b"]["stage"] == "deleted"

    client.delete_experiment(experiment_id)
    everything = _search(experiment_id, run_view_type=ViewType.ALL)
    assert {name: run["stage"] for name, run in everything.items()} == {
        "a": "deleted", "b": "deleted"}
    client.restore_experiment(experiment_id)
    assert _search(experiment_id)["a"]["stage"] == "active"


def _run(run_id: str, position: int, *, deleted: bool = False) -> MlflowRun:
    view = RunView(run_id=run_id, project="p", status="running", submitted=time.time(),
                   position=position)
    return MlflowRun(view, deleted, [LatestMetric("m", 1.0, 0.0, 0)])


def test_kept_answers_are_keyed_by_position_and_deletion_and_bounded() -> None:
    answers = RunAnswers(limit=10_000)
    encoded = answers.put(_run("r1", 5))
    assert answers.get("r1", 5, False) == encoded
    assert answers.get("r1", 6, False) is None  # a newer event: read again
    assert answers.get("r1", 5, True) is None  # its experiment deleted since
    for i in range(100):
        answers.put(_run(f"x{i}", i))
    assert answers.size <= 10_000 and 0 < len(answers) < 101
    assert answers.get("r1", 5, False) is None  # the least recently used went first


@pytest.mark.parametrize(("runs", "token", "expected"), [
    ([], None, b'{"runs":[]}'),
    ([b'{"a":1}', b'{"b":2}'], None, b'{"runs":[{"a":1},{"b":2}]}'),
    ([b'{"a":1}'], "tok", b'{"runs":[{"a":1}],"next_page_token":"tok"}'),
])
def test_a_page_is_its_runs_and_the_next_token(runs: list[bytes], token: str | None,
                                               expected: bytes) -> None:
    assert page_json(runs, token) == expected
