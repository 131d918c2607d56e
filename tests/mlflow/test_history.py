"""Metric history through the MLflow client: more points than one page, the pages on the
wire, values JSON cannot hold, the sampled bulk interval, and bad requests."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from tests.conftest import ServerProcess
from tests.mlflow.conftest import unique

POINTS = 30_000  # beyond one 25,000-point page
STAMP = 1_700_000_000_000


def get(tracking: ServerProcess, path: str, **query: Any) -> tuple[int, Any]:
    url = f"{tracking.url}/api/2.0/mlflow/{path}?{urllib.parse.urlencode(query, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def long_run(tracking: ServerProcess) -> str:
    client = MlflowClient()
    run_id = client.create_run(client.create_experiment(unique("history"))).info.run_id
    client.log_batch(run_id, metrics=[Metric("loss", i / 2, STAMP + i, i)
                                      for i in range(POINTS)])
    return run_id


def test_the_whole_history_beyond_one_page(long_run: str) -> None:
    history = MlflowClient().get_metric_history(long_run, "loss")
    assert len(history) == POINTS
    assert [(m.step, m.value, m.timestamp) for m in history[::997]] == [
        (i, i / 2, STAMP + i) for i in range(0, POINTS, 997)]
    assert (history[-1].step, history[-1].value) == (POINTS - 1, (POINTS - 1) / 2)
    assert MlflowClient().get_run(long_run).data.metrics == {"loss": (POINTS - 1) / 2}


def test_pages_on_the_wire(tracking: ServerProcess, long_run: str) -> None:
    status, first = get(tracking, "metrics/get-history", run_id=long_run, metric_key="loss",
                        max_results=25_000)
    assert status == 200 and len(first["metrics"]) == 25_000 and first["next_page_token"]
    assert first["metrics"][0] == {"key": "loss", "value": 0.0, "timestamp": STAMP, "step": 0}
    status, last = get(tracking, "metrics/get-history", run_id=long_run, metric_key="loss",
                       max_results=25_000, page_token=first["next_page_token"])
    assert status == 200 and len(last["metrics"]) == POINTS - 25_000
    assert "next_page_token" not in last  # the last page has none
    assert last["metrics"][0]["step"] == 25_000
    status, other = get(tracking, "metrics/get-history", run_id=long_run, metric_key="acc",
                        page_token=first["next_page_token"])
    assert (status, other["error_code"]) == (400, "INVALID_PARAMETER_VALUE")  # loss's token
    for bad in ({"max_results": 0}, {"page_token": "garbage!"}):
        status, answer = get(tracking, "metrics/get-history", run_id=long_run,
                             metric_key="loss", **bad)
        assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), bad


def test_values_json_cannot_hold_round_trip(tracking: ServerProcess) -> None:
    client = MlflowClient()
    run_id = client.create_run(client.create_experiment(unique("odd"))).info.run_id
    for step, value in enumerate([math.nan, math.inf, -math.inf, 1.5]):
        client.log_metric(run_id, "odd", value, step=step, timestamp=STAMP + step)
    values = [m.value for m in client.get_metric_history(run_id, "odd")]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf, 1.5]
    status, raw = get(tracking, "metrics/get-history", run_id=run_id, metric_key="odd")
    assert status == 200
    assert [m["value"] for m in raw["metrics"]] == ["NaN", "Infinity", "-Infinity", 1.5]


def test_unknown_metric_and_unknown_run(long_run: str) -> None:
    client = MlflowClient()
    assert client.get_metric_history(long_run, "never-logged") == []
    with pytest.raises(MlflowException) as caught:
        client.get_metric_history("f" * 32, "loss")
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_bulk_interval_samples_steps(tracking: ServerProcess, long_run: str) -> None:
    status, answer = get(tracking, "metrics/get-history-bulk-interval", run_ids=[long_run],
                         metric_key="loss", start_step=100, end_step=200, max_results=11)
    assert status == 200
    steps = [m["step"] for m in answer["metrics"]]
    assert steps == list(range(100, 201, 10))
    assert {m["run_id"] for m in answer["metrics"]} == {long_run}
    status, answer = get(tracking, "metrics/get-history-bulk-interval", run_ids=[long_run],
                         metric_key="loss", start_step=5)
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    status, answer = get(tracking, "metrics/get-history-bulk-interval", run_ids=["f" * 32],
                         metric_key="loss")
    assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
