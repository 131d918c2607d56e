"""MLflow's wire conventions, checked with raw HTTP (what clients other than the Python
one — R, Java, curl, the integrations — rely on): exactly 200 with a JSON object on
success, ``{"error_code", "message"}`` with a 4xx on failure, int64s as numbers or
strings, NaN and the infinities as strings, ``run_uuid`` for ``run_id``, and no
``next_page_token`` on a list's last page."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.conftest import ServerProcess
from tests.mlflow.conftest import unique

API = "/api/2.0/mlflow"


def call(server: ServerProcess, method: str, path: str, body: Any = None,
         params: dict[str, str] | None = None) -> tuple[int, Any]:
    resp = requests.request(method, server.url + path, json=body, params=params, timeout=30)
    return resp.status_code, resp.json()


def new_run(server: ServerProcess) -> tuple[str, str]:
    status, created = call(server, "POST", API + "/experiments/create",
                           {"name": unique("wire")})
    assert status == 200, created
    exp = created["experiment_id"]
    status, run = call(server, "POST", API + "/runs/create",
                       {"experiment_id": exp, "start_time": "1700000000000"})  # int64 as text
    assert status == 200, run
    return exp, run["run"]["info"]["run_id"]


def test_success_is_200_with_a_json_object_and_errors_carry_a_code(
        tracking: ServerProcess) -> None:
    _exp, run_id = new_run(tracking)
    status, body = call(tracking, "POST", API + "/runs/set-tag",
                        {"run_id": run_id, "key": "k", "value": "v"})
    assert (status, body) == (200, {})
    status, body = call(tracking, "GET", API + "/experiments/get-by-name",
                        params={"experiment_name": unique("absent")})
    assert status == 404 and body["error_code"] == "RESOURCE_DOES_NOT_EXIST", body
    assert isinstance(body["message"], str) and body["message"]
    status, body = call(tracking, "GET", API + "/runs/get", params={"run_id": "f" * 32})
    assert status == 404 and body["error_code"] == "RESOURCE_DOES_NOT_EXIST", body
    status, body = call(tracking, "POST", API + "/runs/log-metric",
                        {"run_id": run_id, "key": "m"})  # no value, no timestamp
    assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE", body
    status, body = call(tracking, "POST", API + "/experiments/create", {"name": ""})
    assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE", body


def test_a_path_runstream_does_not_serve_answers_endpoint_not_found(
        tracking: ServerProcess) -> None:
    for method, path in [("POST", API + "/no-such/thing"),
                         ("GET", "/api/2.0/mlflow-artifacts/mpu/nope"),
                         ("GET", "/api/3.0/mlflow/server-info")]:
        status, body = call(tracking, method, path, {})
        assert status == 404 and body["error_code"] == "ENDPOINT_NOT_FOUND", (path, body)


def test_int64_as_text_run_uuid_alone_and_non_finite_values_as_strings(
        tracking: ServerProcess) -> None:
    _exp, run_id = new_run(tracking)
    points = [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"), (1.5, 1.5)]
    for step, (value, _shown) in enumerate(points):
        status, body = call(tracking, "POST", API + "/runs/log-metric", {
            "run_uuid": run_id, "key": "loss", "value": value,
            "timestamp": str(1700000000000 + step), "step": str(step)})
        assert status == 200, body
    status, body = call(tracking, "GET", API + "/metrics/get-history",
                        params={"run_id": run_id, "metric_key": "loss"})
    assert status == 200, body
    got = [(m["step"], m["value"], m["timestamp"]) for m in body["metrics"]]
    assert [(int(s), v) for s, v, _t in got] == [(i, shown) for i, (_v, shown) in
                                                  enumerate(points)]
    assert [int(t) for _s, _v, t in got] == [1700000000000 + i for i in range(4)]
    assert "next_page_token" not in body  # the last page says so by leaving it out
    status, body = call(tracking, "GET", API + "/runs/get", params={"run_uuid": run_id})
    assert status == 200 and body["run"]["info"]["run_id"] == run_id
    latest = {m["key"]: m["value"] for m in body["run"]["data"]["metrics"]}
    assert latest == {"loss": 1.5}


@pytest.mark.parametrize("value", ["1e999x", [], {"a": 1}, True])
def test_a_value_that_is_no_number_is_refused_and_nothing_is_stored(
        tracking: ServerProcess, value: Any) -> None:
    _exp, run_id = new_run(tracking)
    status, body = call(tracking, "POST", API + "/runs/log-metric", {
        "run_id": run_id, "key": "m", "value": value, "timestamp": 1, "step": 0})
    assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE", body
    status, body = call(tracking, "GET", API + "/metrics/get-history",
                        params={"run_id": run_id, "metric_key": "m"})
    assert status == 200 and not body.get("metrics"), body


def test_a_body_that_is_not_json_is_refused_with_a_code(tracking: ServerProcess) -> None:
    resp = requests.post(tracking.url + API + "/runs/create", data=b"{not json",
                         headers={"Content-Type": "application/json"}, timeout=30)
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "JSON" in resp.json()["message"]
