"""``MlflowClient.search_runs`` against runstream: filters over metrics, parameters, tags
and MLflow's run attributes, ``order_by``, view types, paging with tokens, and the
errors of a bad query."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from tests.conftest import ServerProcess
from tests.mlflow.conftest import unique


class Fleet:
    def __init__(self, experiment_id: str, other_id: str, ids: dict[str, str]) -> None:
        self.experiment_id, self.other_id, self.ids = experiment_id, other_id, ids

    def names(self, filter_string: str = "", order_by: list[str] | None = None,
              **kw: object) -> list[str]:
        runs = MlflowClient().search_runs([self.experiment_id], filter_string,
                                          order_by=order_by, **kw)  # type: ignore[arg-type]
        return [r.info.run_name for r in runs]


@pytest.fixture(scope="module")
def fleet(tracking: ServerProcess) -> Iterator[Fleet]:
    client = MlflowClient()
    experiment_id = client.create_experiment(unique("fleet"))
    other_id = client.create_experiment(unique("other"))
    ids: dict[str, str] = {}
    rows = [  # name, acc, lr, team, status
        ("alpha", 0.9, "0.01", "ml", "FINISHED"),
        ("beta", 0.6, "0.1", "ML-ops", "FAILED"),
        ("gamma", 0.75, "0.1", "ml", "RUNNING"),
        ("delta", None, "1", None, "KILLED"),
    ]
    for name, acc, lr, team, status in rows:
        run = client.create_run(experiment_id, run_name=name)
        run_id = run.info.run_id
        metrics = [] if acc is None else [Metric("acc", acc, int(time.time() * 1000), 1)]
        tags = [] if team is None else [RunTag("team", team)]
        client.log_batch(run_id, metrics=metrics, params=[Param("lr", lr)], tags=tags)
        if status != "RUNNING":
            client.set_terminated(run_id, status)
        ids[name] = run_id
        time.sleep(0.01)  # distinct start times
    client.create_run(other_id, run_name="elsewhere")
    yield Fleet(experiment_id, other_id, ids)


@pytest.mark.parametrize(("text", "expected"), [
    ("metrics.acc > 0.7", {"alpha", "gamma"}),
    ("metrics.acc <= 0.6", {"beta"}),
    ("params.lr = '0.1'", {"beta", "gamma"}),
    ("params.lr != '0.1' and metrics.acc > 0", {"alpha"}),
    ("tags.team = 'ml'", {"alpha", "gamma"}),
    ("tags.team LIKE 'ML%'", {"beta"}),
    ("tags.team ILIKE 'ml%'", {"alpha", "beta", "gamma"}),
    ("tags.`team` IS NULL", {"delta"}),
    ("tags.\"mlflow.runName\" = 'beta'", {"beta"}),
    ("tags.`mlflow.runName` LIKE '%lta'", {"delta"}),
    ("attributes.run_name = 'gamma'", {"gamma"}),
    ("run_name IN ('alpha', 'delta')", {"alpha", "delta"}),
    ("attributes.status = 'FINISHED'", {"alpha"}),
    ("attributes.status IN ('FAILED', 'KILLED')", {"beta", "delta"}),
    ("attributes.status != 'RUNNING'", {"alpha", "beta", "delta"}),
    ("attributes.lifecycle_stage = 'active'", {"alpha", "beta", "gamma", "delta"}),
    ("attributes.end_time > 0", {"alpha", "beta", "delta"}),
    ("attributes.user_id != ''", {"alpha", "beta", "gamma", "delta"}),
])
def test_filters(fleet: Fleet, text: str, expected: set[str]) -> None:
    assert set(fleet.names(text)) == expected


def test_attributes_by_id_and_artifact_uri(fleet: Fleet) -> None:
    alpha = fleet.ids["alpha"]
    assert fleet.names(f"attributes.run_id = '{alpha}'") == ["alpha"]
    uri = f"mlflow-artifacts:/{fleet.experiment_id}/{alpha}/artifacts"
    assert fleet.names(f"attributes.artifact_uri = '{uri}'") == ["alpha"]
    start = MlflowClient().get_run(fleet.ids["gamma"]).info.start_time
    assert set(fleet.names(f"attributes.start_time >= {start}")) == {"gamma", "delta"}


def test_order_by(fleet: Fleet) -> None:
    assert fleet.names() == ["delta", "gamma", "beta", "alpha"]  # newest first
    assert fleet.names(order_by=["attributes.start_time ASC"]) == [
        "alpha", "beta", "gamma", "delta"]
    assert fleet.names(order_by=["attributes.run_name"]) == ["alpha", "beta", "delta", "gamma"]
    assert fleet.names(order_by=["metrics.acc DESC"]) == ["alpha", "gamma", "beta", "delta"]
    assert fleet.names(order_by=["metrics.acc"]) == ["beta", "gamma", "alpha", "delta"]
    assert fleet.names(order_by=["params.lr DESC", "attributes.run_name DESC"]) == [
        "delta", "gamma", "beta", "alpha"]
    assert fleet.names(order_by=["tags.`mlflow.runName` DESC"]) == [
        "gamma", "delta", "beta", "alpha"]


def test_paging_through_every_run(fleet: Fleet) -> None:
    client, seen, token, pages = MlflowClient(), [], None, 0
    while True:
        page = client.search_runs([fleet.experiment_id], max_results=3, page_token=token,
                                  order_by=["attributes.run_name"])
        seen += [r.info.run_name for r in page]
        token, pages = page.token, pages + 1
        if not token:
            break
    assert (pages, seen) == (2, ["alpha", "beta", "delta", "gamma"])
    both = client.search_runs([fleet.experiment_id, fleet.other_id])
    assert {r.info.run_name for r in both} == {"alpha", "beta", "gamma", "delta", "elsewhere"}
    assert client.search_runs([unique("no-such")]) == []


def test_search_answers_full_runs(fleet: Fleet) -> None:
    (run,) = MlflowClient().search_runs([fleet.experiment_id], "attributes.run_name = 'alpha'")
    assert run.info.status == "FINISHED" and run.info.experiment_id == fleet.experiment_id
    assert run.data.metrics == {"acc": 0.9} and run.data.params == {"lr": "0.01"}
    assert run.data.tags["team"] == "ml" and run.data.tags["mlflow.runName"] == "alpha"


def test_deleted_runs_by_view_type(fleet: Fleet) -> None:
    client = MlflowClient()
    gone = client.create_run(fleet.other_id, run_name="gone")
    client.delete_run(gone.info.run_id)
    active = client.search_runs([fleet.other_id])
    deleted = client.search_runs([fleet.other_id], run_view_type=ViewType.DELETED_ONLY)
    every = client.search_runs([fleet.other_id], run_view_type=ViewType.ALL)
    assert [r.info.run_name for r in active] == ["elsewhere"]
    assert [r.info.run_name for r in deleted] == ["gone"]
    assert {r.info.run_name for r in every} == {"elsewhere", "gone"}
    assert [r.info.run_name for r in client.search_runs(
        [fleet.other_id], "attributes.lifecycle_stage = 'deleted'", ViewType.ALL)] == ["gone"]


@pytest.mark.parametrize("text", [
    "metrics.acc > 'high'", "metrics.acc > 1 or metrics.acc < 0", "params.lr = 0.1",
    "colour = 'red'", "metrics.acc LIKE '1%'", "datasets.name = 'iris'",
])
def test_a_bad_filter_is_invalid_parameter_value(fleet: Fleet, text: str) -> None:
    with pytest.raises(MlflowException) as caught:
        MlflowClient().search_runs([fleet.experiment_id], text)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_a_bad_order_or_token_is_invalid_parameter_value(fleet: Fleet) -> None:
    client = MlflowClient()
    with pytest.raises(MlflowException) as caught:
        client.search_runs([fleet.experiment_id], order_by=["metrics.acc sideways"])
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as caught:
        client.search_runs([fleet.experiment_id], page_token="garbage!")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    first = client.search_runs([fleet.experiment_id], max_results=1)
    assert first.token
    with pytest.raises(MlflowException) as caught:  # a token of another search
        client.search_runs([fleet.experiment_id], "metrics.acc > 0", max_results=1,
                           page_token=first.token)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as caught:
        client.search_runs([fleet.experiment_id], max_results=50001)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
