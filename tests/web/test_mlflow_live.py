"""MLflow-logging scripts, submitted for real, live on the dashboard: their runs appear
while they run (no reload) with their MLflow parameters as columns, and the filter box
narrows the table with an MLflow filter on those parameters."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import ServerProcess
from tests.web.conftest import agent_env, shot, wait_for

pytestmark = pytest.mark.browser

# Logs its parameters and a first metric with MLflow, then waits (bounded) for the test
# to let it finish, so that its run is seen running.
TRAIN = """
    import os, sys, time, mlflow
    alpha, first, last = sys.argv[1:]
    with mlflow.start_run():
        mlflow.log_params({"alpha": alpha, "solver": "lbfgs"})
        mlflow.log_metric("Accuracy", float(first), step=0)
        print(f"alpha {alpha}: waiting for the test", flush=True)
        deadline = time.monotonic() + 120
        while not os.path.exists(os.environ["LIVE_TEST_GO"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        mlflow.log_metric("Accuracy", float(last), step=1)
    print("done")
"""
MLFLOW_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_DISABLE_TELEMETRY": "true",
              "DO_NOT_TRACK": "true", "GIT_PYTHON_REFRESH": "quiet"}


@pytest.fixture
def server(tmp_path: Path, web_build: None) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "server").start()
    yield proc
    proc.stop()


def rows(page: Any) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        ".runs-table .trow[data-run-id]", "(els) => els.map((e) => e.dataset.runId)")
    return ids


def cell(page: Any, run_id: str, col: str) -> Any:
    return page.locator(f'.runs-table .trow[data-run-id="{run_id}"] [data-col="{col}"]')


def test_mlflow_runs_appear_live_with_their_parameters_and_filter_by_them(
        server: ServerProcess, page: Any, tmp_path: Path) -> None:
    lab = tmp_path / "work" / "mlflowlab"
    lab.mkdir(parents=True)
    (lab / "train.py").write_text(textwrap.dedent(TRAIN))
    go = tmp_path / "go"
    env = {**agent_env(server, tmp_path), **MLFLOW_ENV, "LIVE_TEST_GO": str(go)}
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "RUNSTREAM_PROJECT"):
        env.pop(name, None)

    # The runs the page loads (the filter box's own asks, `?filter=`, are not reloads).
    loads: list[str] = []
    page.on("request", lambda r: loads.append(r.url) if urlparse(r.url).path == "/api/runs"
            and "filter" not in parse_qs(urlparse(r.url).query) else None)
    page.goto(server.url + "/")
    page.get_by_test_id("connection").get_by_text("live").wait_for()
    assert len(loads) == 1

    run_ids = []
    try:
        for args in (("0.5", "0.61", "0.71"), ("0.9", "0.82", "0.92")):
            done = subprocess.run(
                [sys.executable, "-m", "runstream_agent.cli", "submit", "--detach",
                 "train.py", *args], cwd=lab, env=env, capture_output=True, text=True,
                timeout=60)
            assert done.returncode == 0, done.stdout + done.stderr
            run_ids.append(done.stdout.split("RunId: ", 1)[1].split()[0])
        first, second = run_ids
        # Live, no reload: both rows, their MLflow parameter that differs as a column
        # (the one they share is not a default column), their MLflow metric.
        page.locator(f'li.job[data-run-id="{first}"][data-status="running"]').wait_for()
        page.locator(f'li.job[data-run-id="{second}"][data-status="running"]').wait_for()
        cell(page, first, "params.alpha").get_by_text("0.5", exact=True).wait_for()
        cell(page, second, "params.alpha").get_by_text("0.9", exact=True).wait_for()
        assert page.locator('.runs-table .thead button.th[title="sort by params.solver"]') \
            .count() == 0
        cell(page, first, "Accuracy").get_by_text("0.61").wait_for()
        cell(page, second, "Accuracy").get_by_text("0.82").wait_for()
        assert len(loads) == 1, f"the page loaded the runs again: {loads}"
        shot(page, "mlflow-live-running")

        box = page.get_by_label("filter runs")
        box.fill("params.alpha = '0.5'")
        wait_for(lambda: rows(page) == [first], 10, "only the alpha 0.5 run")
        assert page.get_by_test_id("filter-error").count() == 0
        box.fill("params.alpha != '0.5' and params.solver = 'lbfgs'")
        wait_for(lambda: rows(page) == [second], 10, "only the alpha 0.9 run")
        shot(page, "mlflow-live-filtered", full=False)
        box.fill("")
        wait_for(lambda: sorted(rows(page)) == sorted(run_ids), 10, "both runs again")
    finally:
        go.touch()  # the scripts end (also when an assert failed)

    for run_id in run_ids:  # the agent ends each run when its script exits: live too
        page.locator(f'li.job[data-run-id="{run_id}"][data-status="completed"]').wait_for(
            timeout=60_000)
    cell(page, first, "Accuracy").get_by_text("0.71").wait_for()  # their last steps
    cell(page, second, "Accuracy").get_by_text("0.92").wait_for()
    assert len(loads) == 1, f"the page loaded the runs again: {loads}"
    shot(page, "mlflow-live-completed")

    # The link MLflow printed at end_run ("View run at <tracking uri>/#/experiments/…")
    # opens the run's page.
    lines = server.client().get_json(f"/api/runs/{first}/logs", start=0, limit=1000)["lines"]
    link = next(text.split(" at: ", 1)[1].strip() for *_n, text in lines
                if "View run" in text and " at: " in text)
    assert link == f"{server.url}/#/experiments/{link.split('/')[-3]}/runs/{first}"
    page.goto(link)  # in the tab that shows the dashboard: a hash change
    page.locator(f'.run-page[data-run-id="{first}"]').wait_for()
    assert page.url == f"{server.url}/runs/{first}"
    page.goto("about:blank")
    page.goto(link.replace(first, second))  # a new tab, as from a terminal
    page.locator(f'.run-page[data-run-id="{second}"]').wait_for()
    assert page.url == f"{server.url}/runs/{second}"
