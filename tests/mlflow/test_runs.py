"""The MLflow client's run tracking against runstream, on every store (SQLite, PostgreSQL,
Kafka): the fluent flow, the run's fields, batches, parameters' immutability, errors by
code, deletion, and runs that an agent (not MLflow) owns."""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    Metric,
    Param,
    RunTag,
)
from mlflow.exceptions import MlflowException

from runstream.codec import encode_batch
from runstream.events import MetricsLogged, RunStarted, RunSubmitted, new_event, run_stream
from tests.conftest import ServerProcess
from tests.mlflow.conftest import ALL_BACKENDS, unique

pytestmark = pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True, scope="module")


def code_of(caught: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(caught.value.error_code)


def call(tracking: ServerProcess, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST a raw MLflow request (what the client would not send): status, JSON answer."""
    request = urllib.request.Request(f"{tracking.url}/api/2.0/mlflow/{path}",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_fluent_run_is_tracked_and_finished(tracking: ServerProcess) -> None:
    name = unique("fluent")
    experiment_id = mlflow.set_experiment(name).experiment_id
    before = int(time.time() * 1000)
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("lr", 0.1)
        mlflow.log_params({"layers": 3, "opt": "adam"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.5, "f1": 0.25}, step=2)
        mlflow.set_tag("team", "ml")
        run_id = run.info.run_id
        assert run.info.status == "RUNNING"
    got = MlflowClient().get_run(run_id)
    info, data = got.info, got.data
    assert info.run_id == run_id and info.run_name == "first"
    assert info.experiment_id == experiment_id
    assert info.status == "FINISHED" and info.lifecycle_stage == "active"
    assert info.artifact_uri == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"
    assert before - 5000 <= info.start_time <= info.end_time <= int(time.time() * 1000) + 5000
    assert info.user_id  # the client sends its user
    assert data.params == {"lr": "0.1", "layers": "3", "opt": "adam"}
    assert data.metrics == {"loss": 0.2, "acc": 0.5, "f1": 0.25}
    assert data.tags["team"] == "ml" and data.tags["mlflow.runName"] == "first"
    assert "mlflow.user" in data.tags  # the client's own context tags are kept
    history = MlflowClient().get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(5)]
    assert all(before - 5000 <= m.timestamp <= int(time.time() * 1000) + 5000 for m in history)

    # runstream's own API sees the same run.
    own = tracking.client().get_json(f"/api/runs/{run_id}")
    assert own["name"] == "first" and own["status"] == "completed"
    assert own["project"] == name and own["experiment_id"] == experiment_id
    assert own["target"] == "mlflow"
    assert own["params"] == {"lr": "0.1", "layers": "3", "opt": "adam"}
    assert own["tags"]["team"] == "ml"
    assert own["metrics"] == {"loss": 0.2, "acc": 0.5, "f1": 0.25}
    listed = tracking.client().get_json("/api/runs", project=name)
    assert [r["run_id"] for r in listed["runs"]] == [run_id]


def test_failed_and_killed_runs_and_renaming(tracking: ServerProcess) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment(unique("ends"))
    failed = client.create_run(experiment_id, run_name="will-fail")
    client.set_terminated(failed.info.run_id, "FAILED")
    killed = client.create_run(experiment_id, tags={"mlflow.runName": "from-tag"})
    assert killed.info.run_name == "from-tag"
    client.update_run(killed.info.run_id, status="KILLED", name="renamed")
    unnamed = client.create_run(experiment_id)
    assert unnamed.info.run_name and unnamed.data.tags["mlflow.runName"] == \
        unnamed.info.run_name
    assert unnamed.info.status == "RUNNING"
    assert client.get_run(failed.info.run_id).info.status == "FAILED"
    got = client.get_run(killed.info.run_id)
    assert got.info.status == "KILLED" and got.info.run_name == "renamed"
    assert got.data.tags["mlflow.runName"] == "renamed"
    client.set_tag(unnamed.info.run_id, "mlflow.runName", "by-tag")
    assert client.get_run(unnamed.info.run_id).info.run_name == "by-tag"
    with pytest.raises(MlflowException) as caught:
        client.create_run(experiment_id, run_name="a", tags={"mlflow.runName": "b"})
    assert code_of(caught) == "INVALID_PARAMETER_VALUE"


def test_log_batch_is_one_write_and_values_round_trip(tracking: ServerProcess) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment(unique("batch"))
    run_id = client.create_run(experiment_id).info.run_id
    stamp = 1_700_000_000_123
    metrics = [Metric("m", float(i), stamp + i, i) for i in range(998)]  # + 2: one request
    client.log_batch(run_id, metrics=metrics, params=[Param("p", "1")],
                     tags=[RunTag("t", "x")])
    odd = [Metric("nan", math.nan, stamp, 0), Metric("inf", math.inf, stamp, 0),
           Metric("ninf", -math.inf, stamp, 0), Metric("big", 1e300, stamp, 7)]
    client.log_batch(run_id, metrics=odd)
    events = tracking.client().get_json(f"/api/runs/{run_id}/events")
    types = [e["type"] for e in events]
    # run.submitted, run.started, tags.set (create); params, tags, metrics (one batch); metrics
    assert types == ["run.submitted", "run.started", "tags.set", "params.logged", "tags.set",
                     "metrics.logged", "metrics.logged"], types
    data = client.get_run(run_id).data
    assert data.params == {"p": "1"} and data.tags["t"] == "x"
    assert data.metrics["m"] == 997.0 and data.metrics["big"] == 1e300
    assert math.isnan(data.metrics["nan"])
    assert data.metrics["inf"] == math.inf and data.metrics["ninf"] == -math.inf
    history = client.get_metric_history(run_id, "m")
    assert [(m.step, m.value, m.timestamp) for m in history] == [
        (i, float(i), stamp + i) for i in range(998)]
    nan = client.get_metric_history(run_id, "nan")
    assert len(nan) == 1 and math.isnan(nan[0].value) and nan[0].timestamp == stamp


def test_parameters_are_immutable_and_a_refused_batch_stores_nothing(
        tracking: ServerProcess) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment(unique("params"))
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "lr", "0.1")
    client.log_param(run_id, "lr", "0.1")  # the same value again is fine
    with pytest.raises(MlflowException) as caught:
        client.log_param(run_id, "lr", "0.2")
    assert code_of(caught) == "INVALID_PARAMETER_VALUE"
    assert "Changing param values is not allowed" in caught.value.message
    with pytest.raises(MlflowException) as caught:
        client.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)],
                         params=[Param("lr", "0.3"), Param("new", "x")])
    assert code_of(caught) == "INVALID_PARAMETER_VALUE"
    data = client.get_run(run_id).data
    assert data.params == {"lr": "0.1"} and data.metrics == {}  # nothing of the batch
    assert client.get_metric_history(run_id, "m") == []
    events = tracking.client().get_json(f"/api/runs/{run_id}/events")
    assert [e["type"] for e in events].count("params.logged") == 1


@pytest.mark.parametrize(("call", "args"), [
    ("get_run", ()), ("log_metric", ("m", 1.0)), ("log_param", ("p", "v")),
    ("set_tag", ("t", "v")), ("delete_run", ()), ("set_terminated", ()),
    ("get_metric_history", ("m",)),
])
def test_an_unknown_run_is_resource_does_not_exist(tracking: ServerProcess, call: str,
                                                   args: tuple[Any, ...]) -> None:
    with pytest.raises(MlflowException) as caught:
        getattr(MlflowClient(), call)("0" * 32, *args)
    assert code_of(caught) == "RESOURCE_DOES_NOT_EXIST"


def test_bad_input_is_refused_by_name(tracking: ServerProcess) -> None:
    client = MlflowClient()
    run_id = client.create_run(client.create_experiment(unique("bad"))).info.run_id
    # The client splits batches itself: over the wire, a batch beyond MLflow's limit.
    too_many = [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(1001)]
    status, answer = call(tracking, "runs/log-batch", {"run_id": run_id, "metrics": too_many})
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "at most 1000 metrics" in answer["message"]
    status, answer = call(tracking, "runs/log-metric", {"run_id": run_id, "key": "m",
                                                        "value": "lots", "timestamp": 1})
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    status, answer = call(tracking, "runs/log-metric", {"run_id": run_id, "key": "m",
                                                        "value": 1, "timestamp": 1, "step": -1})
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    status, answer = call(tracking, "runs/update", {"run_id": run_id, "status": "DONE"})
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    with pytest.raises(MlflowException) as caught:
        client.log_param(run_id, "p", "x" * 6001)
    assert code_of(caught) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as caught:
        client.delete_tag(run_id, "never-set")
    assert code_of(caught) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as caught:
        client.create_run("987654")
    assert code_of(caught) == "RESOURCE_DOES_NOT_EXIST"
    got = client.get_run(run_id)
    assert got.data.params == {} and got.data.metrics == {} and got.info.status == "RUNNING"


def test_delete_and_restore_a_run(tracking: ServerProcess) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment(unique("delete"))
    keep = client.create_run(experiment_id).info.run_id
    gone = client.create_run(experiment_id).info.run_id
    client.delete_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "deleted"
    with pytest.raises(MlflowException) as caught:
        client.log_metric(gone, "m", 1.0)
    assert code_of(caught) == "INVALID_PARAMETER_VALUE"
    active = client.search_runs([experiment_id])
    deleted = client.search_runs([experiment_id], run_view_type=2)
    both = client.search_runs([experiment_id], run_view_type=3)
    assert [r.info.run_id for r in active] == [keep]
    assert [r.info.run_id for r in deleted] == [gone]
    assert {r.info.run_id for r in both} == {keep, gone}
    assert tracking.client().get_json(f"/api/runs/{gone}")["archived"] is True
    client.restore_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "active"
    assert {r.info.run_id for r in client.search_runs([experiment_id])} == {keep, gone}


def test_a_run_an_agent_owns_is_not_ended_by_mlflow(tracking: ServerProcess) -> None:
    project = unique("agent-project")
    run_id = unique("agentrun").replace("-", "")
    tracking.client().post_events(encode_batch([
        new_event(run_stream(run_id), 0, RunSubmitted(project=project, script="train.py",
                                                      user="ann", name="agent-run")),
        new_event(run_stream(run_id), 1, RunStarted(pid=1, lease=0.0)),
        new_event(run_stream(run_id), 2, MetricsLogged(names=["own"], index=[0], steps=[3],
                                                       times=[1700000000.5], values=[7.0])),
    ]))
    client = MlflowClient()
    experiment = client.get_experiment_by_name(project)
    assert experiment is not None
    got = client.get_run(run_id)
    assert got.info.experiment_id == experiment.experiment_id
    assert got.info.status == "RUNNING" and got.info.run_name == "agent-run"
    assert got.data.metrics == {"own": 7.0}
    own = client.get_metric_history(run_id, "own")
    assert [(m.step, m.timestamp, m.value) for m in own] == [(3, 1700000000500, 7.0)]
    client.log_metric(run_id, "from_mlflow", 2.0, step=1)
    client.log_param(run_id, "lr", "0.5")
    client.set_terminated(run_id, "FINISHED")  # its writer ends it, not MLflow
    mlflow.set_experiment(experiment_id=experiment.experiment_id)
    with mlflow.start_run(run_id=run_id) as resumed:  # as a script under the agent does
        assert resumed.info.run_id == run_id
        mlflow.log_metric("from_mlflow", 2.0, step=2)
    after = client.get_run(run_id)
    assert after.info.status == "RUNNING"
    assert after.data.metrics == {"own": 7.0, "from_mlflow": 2.0}
    assert after.data.params == {"lr": "0.5"}
    assert [r.info.run_id for r in client.search_runs([experiment.experiment_id])] == [run_id]
    events = tracking.client().get_json(f"/api/runs/{run_id}/events")
    streams = {e["stream"] for e in events}
    assert streams == {f"run/{run_id}", f"mlflow/{run_id}"}


def test_dataset_and_model_inputs_are_kept_and_shown(tracking: ServerProcess) -> None:
    client = MlflowClient()
    run_id = client.create_run(client.create_experiment(unique("inputs"))).info.run_id
    iris = Dataset("iris", "d1g3st", "local", '{"uri": "/data/iris.csv"}', schema='{"a": 1}')
    training = DatasetInput(iris, tags=[InputTag("mlflow.data.context", "training")])
    client.log_inputs(run_id, datasets=[training], models=[LoggedModelInput("m-123")])
    client.log_inputs(run_id, datasets=[training])  # the same input again: kept once
    got = client.get_run(run_id)
    (shown,) = got.inputs.dataset_inputs
    assert (shown.dataset.name, shown.dataset.digest, shown.dataset.source_type) == (
        "iris", "d1g3st", "local")
    assert shown.dataset.source == '{"uri": "/data/iris.csv"}'
    assert shown.dataset.schema == '{"a": 1}'
    assert [(t.key, t.value) for t in shown.tags] == [("mlflow.data.context", "training")]
    assert [m.model_id for m in got.inputs.model_inputs] == ["m-123"]
    assert "mlflow.datasets" not in got.data.tags  # shown as inputs, not as a tag
    own = tracking.client().get_json(f"/api/runs/{run_id}")
    assert "iris" in own["tags"]["mlflow.datasets"]  # where runstream keeps them
    status, answer = call(tracking, "runs/log-inputs", {
        "run_id": run_id, "datasets": [{"dataset": {"name": "no-digest"}}]})
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
