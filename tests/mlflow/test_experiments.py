"""The MLflow client's experiments against runstream: create, get, get by name, search
(filters, order, view types, pages), rename, delete, restore, tags, and the errors by
code; a project that only an agent's runs name is an experiment too."""

from __future__ import annotations

import time

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from runstream.codec import encode_batch
from runstream.events import RunSubmitted, new_event, run_stream
from tests.conftest import ServerProcess
from tests.mlflow.conftest import unique


def code_of(caught: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(caught.value.error_code)


def test_default_experiment_always_exists(tracking: ServerProcess) -> None:
    client = MlflowClient()
    default = client.get_experiment("0")
    assert (default.name, default.lifecycle_stage) == ("Default", "active")
    assert default.artifact_location == "mlflow-artifacts:/0"
    by_name = client.get_experiment_by_name("Default")
    assert by_name is not None and by_name.experiment_id == "0"


def test_create_get_and_name_lookup(tracking: ServerProcess) -> None:
    client = MlflowClient()
    name = unique("exp")
    before = int(time.time() * 1000)
    experiment_id = client.create_experiment(name, tags={"team": "ml"})
    got = client.get_experiment(experiment_id)
    assert got.name == name and got.tags == {"team": "ml"}
    assert got.lifecycle_stage == "active"
    assert got.artifact_location == f"mlflow-artifacts:/{experiment_id}"
    assert before - 5000 <= got.creation_time <= got.last_update_time
    assert client.get_experiment_by_name(name).experiment_id == experiment_id
    assert client.get_experiment_by_name(unique("absent")) is None
    stored = client.create_experiment(unique("located"), artifact_location="s3://b/x")
    assert client.get_experiment(stored).artifact_location == "s3://b/x"
    with pytest.raises(MlflowException) as caught:
        client.create_experiment(name)
    assert code_of(caught) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as caught:
        client.get_experiment("987654")
    assert code_of(caught) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as caught:
        client.create_experiment("")
    assert code_of(caught) == "INVALID_PARAMETER_VALUE"


def test_set_experiment_creates_then_finds(tracking: ServerProcess) -> None:
    name = unique("fluent")
    made = mlflow.set_experiment(name)
    again = mlflow.set_experiment(name)
    assert made.experiment_id == again.experiment_id and made.name == name


def test_rename_delete_restore_and_tags(tracking: ServerProcess) -> None:
    client = MlflowClient()
    name, new = unique("old"), unique("new")
    experiment_id = client.create_experiment(name)
    run_id = client.create_run(experiment_id).info.run_id
    client.rename_experiment(experiment_id, new)
    assert client.get_experiment(experiment_id).name == new
    assert client.get_experiment_by_name(name) is None
    taken = client.create_experiment(unique("taken"))
    with pytest.raises(MlflowException) as caught:
        client.rename_experiment(taken, new)
    assert code_of(caught) == "RESOURCE_ALREADY_EXISTS"

    client.set_experiment_tag(experiment_id, "k", "v")
    client.set_experiment_tag(experiment_id, "k2", "v2")
    client.delete_experiment_tag(experiment_id, "k")
    assert client.get_experiment(experiment_id).tags == {"k2": "v2"}
    with pytest.raises(MlflowException) as caught:
        client.delete_experiment_tag(experiment_id, "never")
    assert code_of(caught) == "RESOURCE_DOES_NOT_EXIST"

    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    # Its runs count as deleted, and nothing more goes to it.
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert client.search_runs([experiment_id]) == []
    assert [r.info.run_id for r in client.search_runs(
        [experiment_id], run_view_type=ViewType.DELETED_ONLY)] == [run_id]
    for refused in (lambda: client.create_run(experiment_id),
                    lambda: client.rename_experiment(experiment_id, unique("x")),
                    lambda: client.set_experiment_tag(experiment_id, "k", "v")):
        with pytest.raises(MlflowException) as caught:
            refused()
        assert code_of(caught) in ("INVALID_PARAMETER_VALUE", "INVALID_STATE")
    with pytest.raises(MlflowException) as caught:
        client.create_experiment(new)  # a deleted experiment's name stays taken
    assert code_of(caught) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as caught:
        client.delete_experiment(experiment_id)
    assert code_of(caught) == "RESOURCE_DOES_NOT_EXIST"

    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"
    assert client.get_run(run_id).info.lifecycle_stage == "active"
    with pytest.raises(MlflowException) as caught:
        client.restore_experiment(experiment_id)
    assert code_of(caught) == "RESOURCE_DOES_NOT_EXIST"
    events = tracking.client().get_json("/api/runs", project=name)
    assert [r["run_id"] for r in events["runs"]] == [run_id]


def test_search_filters_orders_view_types_and_pages(tracking: ServerProcess) -> None:
    client = MlflowClient()
    prefix = unique("search")
    ids = [client.create_experiment(f"{prefix}-{i}", tags={"n": str(i), "team": "ml" if i % 2
                                                            else "ops"})
           for i in range(5)]
    client.delete_experiment(ids[4])

    def names(**kw: object) -> list[str]:
        return [e.name for e in client.search_experiments(**kw)]  # type: ignore[arg-type]

    mine = f"name LIKE '{prefix}-%'"
    assert names(filter_string=mine) == [f"{prefix}-{i}" for i in (3, 2, 1, 0)]  # newest first
    assert names(filter_string=mine, order_by=["name ASC"]) == [
        f"{prefix}-{i}" for i in range(4)]
    assert names(filter_string=f"{mine} and tags.team = 'ml'", order_by=["name"]) == [
        f"{prefix}-1", f"{prefix}-3"]
    assert names(filter_string=f"name ILIKE '{prefix.upper()}-1'") == [f"{prefix}-1"]
    assert names(filter_string=f"{mine} and tags.n != '0'", order_by=["experiment_id DESC"]) \
        == [f"{prefix}-{i}" for i in (3, 2, 1)]
    assert names(filter_string=f"{mine} and tags.missing IS NULL", order_by=["name"])[:1] == [
        f"{prefix}-0"]
    created = client.get_experiment(ids[2]).creation_time
    assert set(names(filter_string=f"{mine} and creation_time >= {created}")) == {
        f"{prefix}-2", f"{prefix}-3"}
    assert names(filter_string=mine, view_type=ViewType.DELETED_ONLY) == [f"{prefix}-4"]
    assert len(names(filter_string=mine, view_type=ViewType.ALL)) == 5

    pages, token, seen = 0, None, []
    while True:
        page = client.search_experiments(filter_string=mine, max_results=2, page_token=token,
                                         order_by=["name"])
        seen += [e.name for e in page]
        pages, token = pages + 1, page.token
        if not token:
            break
    assert (pages, seen) == (2, [f"{prefix}-{i}" for i in range(4)])
    everything = [e.experiment_id for e in client.search_experiments(max_results=50000)]
    assert "0" in everything and ids[0] in everything

    for bad in ("metrics.m > 1", "name = 'x' or name = 'y'", "colour = 'red'",
                "creation_time > 'soon'"):
        with pytest.raises(MlflowException) as caught:
            client.search_experiments(filter_string=bad)
        assert code_of(caught) == "INVALID_PARAMETER_VALUE", bad
    with pytest.raises(MlflowException) as caught:
        client.search_experiments(order_by=["tags.n"])
    assert code_of(caught) == "INVALID_PARAMETER_VALUE"


def test_an_agents_project_is_an_experiment(tracking: ServerProcess) -> None:
    project = unique("agent-project")
    tracking.client().post_events(encode_batch([new_event(
        run_stream(unique("r").replace("-", "")), 0, RunSubmitted(project=project,
                                                                  script="t.py"))]))
    found = MlflowClient().get_experiment_by_name(project)
    assert found is not None and found.lifecycle_stage == "active"
    listed = {e.name for e in MlflowClient().search_experiments()}
    assert project in listed
