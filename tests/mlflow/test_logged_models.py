"""MLflow 3's logged models with the real client: ``log_model`` of a scikit-learn model
inside a run, loaded back with ``pyfunc.load_model`` and predicting; the logged-model
calls one by one, with their refusals; search with filters, ordering and pages."""

from __future__ import annotations

import http.client
import json
import uuid
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LinearRegression

from tests.conftest import ServerProcess
from tests.mlflow.conftest import ALL_BACKENDS, unique

API = "/api/2.0/mlflow"
pytestmark = pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True, scope="module")


def error_code(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(MlflowException) as caught:
        call(*args, **kwargs)
    return str(caught.value.error_code)


def raw(server: ServerProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    return resp.status, json.loads(data) if data else {}


def run_tags(server: ServerProcess, run_id: str) -> dict[str, str]:
    return dict(server.client().get_json(f"/api/runs/{run_id}")["tags"])


def test_sklearn_log_model_and_load_it_back(tracking: ServerProcess, tmp_path: Path) -> None:
    X = np.array([[1.0], [2.0], [3.0], [4.0]])
    y = 2 * X[:, 0] + 1
    fitted = LinearRegression().fit(X, y)
    mlflow.set_experiment(unique("logged-models"))
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", "0.5")
        # pickle: the default format (skops) needs the skops package in the client
        info = mlflow.sklearn.log_model(
            fitted, name="model", serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_PICKLE)
    assert info.model_uri.startswith("models:/m-")
    model = MlflowClient().get_logged_model(info.model_id)
    assert model.status == LoggedModelStatus.READY
    assert model.source_run_id == run.info.run_id
    assert model.experiment_id == run.info.experiment_id
    assert model.name == "model"
    assert model.params["alpha"] == "0.5"  # log_model copies the run's parameters
    assert model.artifact_location == (f"mlflow-artifacts:/{run.info.experiment_id}/models/"
                                       f"{info.model_id}/artifacts")
    names = {f.path for f in MlflowClient().list_logged_model_artifacts(info.model_id)}
    assert {"MLmodel", "model.pkl", "requirements.txt"} <= names

    loaded = mlflow.pyfunc.load_model(info.model_uri)
    assert np.allclose(loaded.predict(np.array([[10.0], [0.5]])), [21.0, 2.0])
    again = mlflow.sklearn.load_model(f"models:/{info.model_id}")
    assert np.allclose(again.predict(np.array([[5.0]])), [11.0])

    # The model names its run, so runs/outputs recorded nothing on the run.
    assert not [k for k in run_tags(tracking, run.info.run_id)
                if k.startswith("mlflow.runstream.output.")]
    found = MlflowClient().search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'")
    assert [m.model_id for m in found] == [info.model_id]
    # …and the run answers the model it output (MLflow 3's run.outputs).
    outputs = MlflowClient().get_run(run.info.run_id).outputs
    assert [(o.model_id, o.step) for o in outputs.model_outputs] == [(info.model_id, 0)]


def test_logged_model_calls_and_refusals(tracking: ServerProcess) -> None:
    client = MlflowClient()
    exp = mlflow.set_experiment(unique("lm-calls")).experiment_id
    with mlflow.start_run() as run:
        pass
    model = client.create_logged_model(exp, name="clf", source_run_id=run.info.run_id,
                                       params={"depth": "3"}, tags={"team": "vision"},
                                       model_type="classifier")
    assert model.model_id.startswith("m-") and model.status == LoggedModelStatus.PENDING
    assert (model.params, model.tags, model.model_type) == (
        {"depth": "3"}, {"team": "vision"}, "classifier")

    client.set_logged_model_tags(model.model_id, {"stage": "dev", "a/b": "slashed"})
    client.delete_logged_model_tag(model.model_id, "a/b")  # a key with a slash
    assert client.get_logged_model(model.model_id).tags == {"team": "vision", "stage": "dev"}
    assert error_code(client.delete_logged_model_tag, model.model_id,
                      "absent") == "RESOURCE_DOES_NOT_EXIST"
    status, body = raw(tracking, "PATCH", f"{API}/logged-models/{model.model_id}",
                       {"model_id": model.model_id, "status": "LOGGED_MODEL_PENDING"})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    failed = client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
    assert failed.status == LoggedModelStatus.FAILED
    ready = client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    assert ready.status == LoggedModelStatus.READY
    assert ready.last_updated_timestamp >= ready.creation_timestamp

    missing = f"m-{uuid.uuid4().hex}"
    assert error_code(client.get_logged_model, missing) == "RESOURCE_DOES_NOT_EXIST"
    status, body = raw(tracking, "PATCH", f"{API}/logged-models/{missing}/tags",
                       {"tags": [{"key": "k", "value": "v"}]})
    assert (status, body["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert error_code(client.finalize_logged_model, missing,
                      LoggedModelStatus.READY) == "RESOURCE_DOES_NOT_EXIST"

    before = {m.model_id for m in client.search_logged_models([exp])}
    assert error_code(client.create_logged_model, "987654",
                      name="x") == "RESOURCE_DOES_NOT_EXIST"
    assert error_code(client.create_logged_model, exp, name="x",
                      source_run_id="no-such-run") == "RESOURCE_DOES_NOT_EXIST"
    assert error_code(client.create_logged_model, exp, name="x",
                      params={"p": "v" * 7000}) == "INVALID_PARAMETER_VALUE"
    assert {m.model_id for m in client.search_logged_models([exp])} == before

    client.delete_logged_model(model.model_id)
    assert error_code(client.get_logged_model, model.model_id) == "RESOURCE_DOES_NOT_EXIST"
    assert model.model_id not in {m.model_id for m in client.search_logged_models([exp])}
    status, body = raw(tracking, "GET", f"{API}/logged-models/{model.model_id}"
                                        "?allow_deleted=true")
    assert status == 200 and body["model"]["info"]["model_id"] == model.model_id


def test_more_than_100_params_is_refused_by_name(tracking: ServerProcess) -> None:
    """Parameters past the first 100 come in a later call runstream cannot record."""
    exp = mlflow.set_experiment(unique("lm-params")).experiment_id
    many = {f"p{i}": str(i) for i in range(101)}
    assert error_code(MlflowClient().create_logged_model, exp, name="wide",
                      params=many) == "INVALID_PARAMETER_VALUE"


def test_outputs_of_another_run_are_tagged(tracking: ServerProcess) -> None:
    client = MlflowClient()
    exp = mlflow.set_experiment(unique("lm-outputs")).experiment_id
    model = client.create_logged_model(exp, name="shared")  # no source run
    with mlflow.start_run() as run:
        client.log_outputs(run.info.run_id, [LoggedModelOutput(model.model_id, step=7)])
    assert run_tags(tracking, run.info.run_id)[
        f"mlflow.runstream.output.{model.model_id}"] == "7"
    assert error_code(client.log_outputs, run.info.run_id,
                      [LoggedModelOutput(f"m-{uuid.uuid4().hex}", step=0)],
                      ) == "RESOURCE_DOES_NOT_EXIST"
    assert error_code(client.log_outputs, "no-such-run",
                      [LoggedModelOutput(model.model_id, step=0)]) == "RESOURCE_DOES_NOT_EXIST"


def test_search_filters_orders_and_pages(tracking: ServerProcess) -> None:
    client = MlflowClient()
    exp = mlflow.set_experiment(unique("lm-search")).experiment_id
    other = mlflow.set_experiment(unique("lm-search-other")).experiment_id
    made = {}
    for name, depth, team in [("alpha-tree", "3", "a"), ("beta-tree", "5", "b"),
                              ("gamma-net", "5", "a")]:
        made[name] = client.create_logged_model(exp, name=name, params={"depth": depth},
                                                tags={"team": team}).model_id
    client.finalize_logged_model(made["beta-tree"], LoggedModelStatus.READY)
    client.create_logged_model(other, name="alpha-tree")

    def names(filter_string: str | None = None, **kw: Any) -> list[str]:
        return [m.name for m in client.search_logged_models([exp], filter_string, **kw)]

    assert names(order_by=[{"field_name": "name"}]) == ["alpha-tree", "beta-tree", "gamma-net"]
    assert names() == ["gamma-net", "beta-tree", "alpha-tree"]  # newest first
    assert names("name = 'beta-tree'") == ["beta-tree"]
    assert sorted(names("name LIKE '%-tree'")) == ["alpha-tree", "beta-tree"]
    assert names("name ILIKE 'GAMMA%'") == ["gamma-net"]
    assert sorted(names("params.depth = '5' AND tags.team = 'b'")) == ["beta-tree"]
    assert names("status = 'READY'") == ["beta-tree"]
    assert sorted(names("status != 'LOGGED_MODEL_READY'")) == ["alpha-tree", "gamma-net"]
    assert names("name IN ('alpha-tree', 'x')") == ["alpha-tree"]
    assert names(f"model_id = '{made['gamma-net']}'") == ["gamma-net"]
    assert names(order_by=[{"field_name": "params.depth", "ascending": False},
                           {"field_name": "name", "ascending": True}]) == [
        "beta-tree", "gamma-net", "alpha-tree"]
    both = client.search_logged_models([exp, other], "name = 'alpha-tree'")
    assert len(both) == 2

    pages, token = [], None
    while True:
        page = client.search_logged_models([exp], max_results=2, page_token=token,
                                           order_by=[{"field_name": "name"}])
        pages.append([m.name for m in page])
        token = page.token
        if not token:
            break
    assert pages == [["alpha-tree", "beta-tree"], ["gamma-net"]]

    for bad in ["metrics.acc > 0.5", "name = ", "unknown_attr = 'x'", "name = 'a' OR name = 'b'",
                "creation_timestamp > 'yesterday'"]:
        assert error_code(client.search_logged_models, [exp], bad) == "INVALID_PARAMETER_VALUE"
    assert error_code(client.search_logged_models, [exp],
                      page_token="garbage") == "INVALID_PARAMETER_VALUE"
    assert error_code(client.search_logged_models, [exp],
                      order_by=[{"field_name": "metrics.acc"}]) == "INVALID_PARAMETER_VALUE"


def test_registered_versions_are_the_models_registrations(tracking: ServerProcess,
                                                          tmp_path: Path) -> None:
    client = MlflowClient()
    exp = mlflow.set_experiment(unique("lm-registered")).experiment_id
    model = client.create_logged_model(exp, name="to-register")
    (tmp_path / "MLmodel").write_text(f"model_id: {model.model_id}\nflavors: {{}}\n")
    client.log_model_artifacts(model.model_id, str(tmp_path))
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    assert [f.path for f in client.list_logged_model_artifacts(model.model_id)] == ["MLmodel"]
    name = unique("registered")
    version = mlflow.register_model(f"models:/{model.model_id}", name)
    status, body = raw(tracking, "GET", f"{API}/logged-models/{model.model_id}")
    assert status == 200
    assert body["model"]["info"]["registrations"] == [{"name": name,
                                                       "version": str(version.version)}]
