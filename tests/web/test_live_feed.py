"""One feed per tab, and views the server folded: a run's life shows live on the
dashboard with its metrics and no refetch, over the tab's one websocket."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.conftest import ServerProcess
from tests.web.conftest import shot, wait_for
from tests.web.seed import IrisRun, post, seed_iris

pytestmark = pytest.mark.browser


@pytest.fixture
def seeded(tmp_path: Path, web_build: None) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "server").start()
    seed_iris(server.client(), tmp_path / "files", rates=(0.05, 0.5))
    yield server
    server.stop()


def test_a_run_goes_live_on_the_dashboard_with_its_metrics_and_no_refetch(
        seeded: ServerProcess, page: Any) -> None:
    sockets: list[str] = []
    requests: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("request", lambda r: requests.append(urlparse(r.url).path))
    page.goto(seeded.url + "/")
    page.get_by_test_id("connection").get_by_text("live").wait_for()
    wait_for(lambda: page.locator("li.job").count() == 2, 10, "two jobs")
    loaded = list(requests)
    assert loaded.count("/api/runs") == 1
    requests.clear()

    client = seeded.client()
    run = IrisRun("live_1", time.time())
    job = page.locator('li.job[data-run-id="live_1"]')
    row = page.locator('.trow[data-run-id="live_1"]')
    run.submitted("iris_sklearn.py", ["2.0"])
    post(client, run.events[-1:])
    job.and_(page.locator('[data-status="submitted"]')).wait_for()
    assert job.locator(".job-number").inner_text() == "#3"  # the server's number
    run.started()
    post(client, run.events[-1:])
    job.and_(page.locator('[data-status="running"]')).wait_for()
    run.metrics({"Accuracy": [0.5, 0.75]})
    post(client, run.events[-1:])
    row.locator('[data-col="Accuracy"]').get_by_text("0.75").wait_for()
    run.metrics({"Accuracy": [0.97]}, first_step=2)
    run.completed()
    post(client, run.events[-2:])
    job.and_(page.locator('[data-status="completed"]')).wait_for()
    row.locator('[data-col="Accuracy"]').get_by_text("0.97").wait_for()
    shot(page, "live-feed-dashboard")
    # Nothing was asked again: the views came folded on the feed.
    assert [p for p in requests if p.startswith("/api/runs")] == [], requests

    # Run page, its log, the log drawer, a replay: still the tab's one websocket.
    job.locator("a.job-name").click()
    page.locator('.run-page[data-run-id="live_1"]').wait_for()
    page.get_by_test_id("metrics").get_by_text("0.97").wait_for()
    page.get_by_role("link", name="Driver log").click()
    page.locator(".log-tab").wait_for()
    page.locator('li.job[data-run-id="live_1"] .status').first.click()  # the drawer
    page.get_by_role("region", name="Output").wait_for()
    page.get_by_role("link", name="Replay").click()
    replay = page.get_by_test_id("replay")
    replay.wait_for()
    replay.get_by_role("button", name="instant").click()
    wait_for(lambda: replay.get_attribute("data-index") == replay.get_attribute("data-total"),
             10, "replay finished")
    replay.locator(".status").get_by_text("Completed").wait_for()
    page.get_by_role("link", name="All Runs").click()
    page.get_by_test_id("runs-table").wait_for()
    assert len(sockets) == 1, sockets
