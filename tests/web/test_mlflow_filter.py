"""The dashboard's filter box takes an MLflow run filter: the server matches it, runs
that come to match appear live, and a bad filter shows the server's caret message."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import ServerProcess
from tests.web.conftest import shot, wait_for
from tests.web.seed import IrisRun, post

pytestmark = pytest.mark.browser


def shown(page: Any) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        ".runs-table .trow[data-run-id]", "(els) => els.map((e) => e.dataset.runId)")
    return ids


def test_the_filter_box_runs_an_mlflow_filter_live_and_shows_its_errors(
        seeded: ServerProcess, page: Any) -> None:
    page.goto(seeded.url + "/")
    count = page.get_by_test_id("run-count")
    wait_for(lambda: count.inner_text().startswith("3 runs"), 10, "three runs")
    box = page.get_by_label("filter runs")
    # Accuracy of the sweep's rates 0.05, 0.5, 1.0: 0.65, 0.89, 0.95.
    box.fill("metrics.Accuracy > 0.75 and attributes.status = 'FINISHED'")
    wait_for(lambda: count.inner_text().startswith("2 runs"), 10, "the two best runs")
    assert page.get_by_test_id("filter-error").count() == 0

    late = IrisRun("late_1", time.time())
    late.submitted("iris_sklearn.py", ["3.0"])
    late.started()
    late.metrics({"Accuracy": [0.99]})
    late.completed()
    post(seeded.client(), late.events)
    page.locator('.runs-table .trow[data-run-id="late_1"]').wait_for()
    wait_for(lambda: count.inner_text().startswith("3 runs"), 10, "the late run, live")
    shot(page, "mlflow-filter")

    box.fill("metrics.Accuracy >> 0.5")
    error = page.get_by_test_id("filter-error")
    error.wait_for()
    lines = error.inner_text().splitlines()
    assert lines[0].startswith("unexpected `>` at column 18: expected a value")
    assert lines[1:] == ["  metrics.Accuracy >> 0.5", "  " + " " * 18 + "^"]
    assert shown(page) == []
    shot(page, "mlflow-filter-error", full=False)

    box.fill("iris")  # words again: the substring search, no server filter
    wait_for(lambda: count.inner_text().startswith("4 runs"), 10, "all four runs")
    assert page.get_by_test_id("filter-error").count() == 0
