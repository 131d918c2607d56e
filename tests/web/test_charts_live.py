"""A stepped series charted live in a real browser: points logged while the run page
is open join its chart in step order, a re-logged step replaces its point, and the
series is fetched once (live points come as changesets, not refetches)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runstream.events import MetricValue
from tests.conftest import ServerProcess
from tests.web.charts import chart_points
from tests.web.conftest import shot, wait_for
from tests.web.seed import IrisRun, post

pytestmark = pytest.mark.browser

CHART = "series:loss"


@pytest.fixture
def server(tmp_path: Path, web_build: None) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "server").start()
    yield proc
    proc.stop()


def loss(step: int) -> float:
    return round(1 / (step + 1), 4)


def log(run: IrisRun, steps: range | list[int], value: Any = loss) -> None:
    """One metrics.logged event with ``loss`` at each of ``steps``."""
    for step in steps:  # one event per step keeps first_step simple
        run.metrics({"loss": list[MetricValue]([value(step)])}, first_step=step)


def vega_rows(page: Any) -> int:
    """Rows the chart's Vega dataset holds (what ``data-rows`` must say)."""
    n: int = page.evaluate("(name) => window.__runstreamCharts.get(name).data('points').length",
                           CHART)
    return n


def drawn(page: Any) -> list[tuple[int, float]]:
    """The chart's points as drawn, left to right."""
    return [(p["datum"]["step"], p["datum"]["value"]) for p in chart_points(page, CHART)]


def test_a_series_logged_live_grows_in_its_chart_in_step_order(
        server: ServerProcess, page: Any) -> None:
    client = server.client()
    run = IrisRun("stepper_1", time.time())
    run.submitted("train.py", ["--epochs", "40"])
    run.started()
    log(run, range(0, 5))
    post(client, run.events)
    fetched: list[str] = []

    def seen(request: Any) -> None:
        if "/metrics/loss" in request.url:
            fetched.append(request.url)

    page.on("request", seen)

    page.goto(f"{server.url}/runs/stepper_1")
    chart = page.locator(f'[data-chart="{CHART}"]')
    chart.wait_for()

    def rows() -> int:  # what the chart holds
        return int(chart.get_attribute("data-rows") or 0)

    wait_for(lambda: rows() == 5, 15, "the history's 5 points")

    sent = len(run.events)
    for first in range(5, 30, 5):  # the run goes on logging while the page is open
        log(run, range(first, first + 5))
        post(client, run.events[sent:])
        sent = len(run.events)
        count = first + 5
        wait_for(lambda: rows() == count, 15, f"{count} points")  # noqa: B023 (waited for here)
    wait_for(lambda: len(drawn(page)) == 30, 10, "30 points drawn")
    assert drawn(page) == [(s, loss(s)) for s in range(30)]

    # Step 12 logged again: its point is replaced, not added.
    log(run, [12], lambda _: 0.75)
    # A step logged late, before the last one: drawn in its place.
    log(run, [35, 32])
    post(client, run.events[sent:])
    final = [(s, 0.75 if s == 12 else loss(s)) for s in [*range(30), 32, 35]]
    wait_for(lambda: drawn(page) == final, 15, "step 12 replaced and steps 32, 35 in order")
    assert rows() == vega_rows(page) == 32
    shot(page, "series-live", full=False)
    assert len(fetched) == 1, fetched  # the history once; every later point came live


def test_a_long_series_logged_live_stays_within_the_charts_bound(
        server: ServerProcess, page: Any) -> None:
    client = server.client()
    run = IrisRun("stepper_2", time.time())
    run.submitted("train.py", ["--epochs", "10000"])
    run.started()
    run.metrics({"loss": list[MetricValue]([loss(s) for s in range(2_000)])})
    post(client, run.events)
    page.goto(f"{server.url}/runs/stepper_2")
    chart = page.locator(f'[data-chart="{CHART}"]')
    chart.wait_for()
    wait_for(lambda: chart.get_attribute("data-rows") == "2000", 15, "the history's 2,000 points")

    sent = len(run.events)
    for first in range(2_000, 12_000, 1_000):  # 10,000 more, live
        run.metrics({"loss": list[MetricValue]([loss(s) for s in range(first, first + 1_000)])},
                    first_step=first)
    post(client, run.events[sent:], batch=1)
    wait_for(lambda: bool(drawn(page)) and drawn(page)[-1][0] == 11_999, 20, "the last step drawn")
    held = int(chart.get_attribute("data-rows") or 0)
    assert 0 < held <= 3_000 and held == vega_rows(page)
    steps = [step for step, _ in drawn(page)]
    assert steps == sorted(steps) and steps[0] == 0
