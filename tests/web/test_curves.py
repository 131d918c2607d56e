"""Curves across runs in a real browser: two scripts, submitted for real, log a loss
curve step by step while the dashboard's overlay chart shows them. The chart grows by
Vega changesets (its view is constructed once while points arrive), keeps a brushed
zoom while points keep coming, resets to the full range, switches its y axis to log,
shows each run's value under the pointer, and draws the two runs in two colours."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess
from tests.web.conftest import agent_env, shot, wait_for

pytestmark = pytest.mark.browser

CHART = "curves:loss"

# Logs loss = scale / (step + 1), one step at a time, up to the number the test writes
# into TARGET; ends when STOP exists (or after two minutes).
TRAIN = """
    import os, sys, time
    from pathlib import Path
    import runstream
    scale = float(sys.argv[1])
    target, stop = Path(os.environ["CURVE_TARGET"]), Path(os.environ["CURVE_STOP"])
    log = runstream.get_logger()
    step, deadline = 0, time.monotonic() + 120
    while not stop.exists() and time.monotonic() < deadline:
        want = int(target.read_text() or 0) if target.exists() else 0
        while step < want:
            log.log("loss", scale / (step + 1), step=step)
            step += 1
        time.sleep(0.05)
"""

# Where the overlay's plot is on the page, from its Vega view.
PLOT_JS = """(name) => {
  const view = window.__runstreamCharts.get(name);
  const rect = view.container().querySelector("canvas").getBoundingClientRect();
  const [ox, oy] = view.origin();
  const pad = view.padding();
  return {left: rect.left + pad.left + ox, top: rect.top + pad.top + oy,
          width: view.width(), height: view.height()};
}"""

# The stroke colours of the chart's drawn lines.
STROKES_JS = """(name) => {
  const view = window.__runstreamCharts.get(name);
  const out = new Set();
  const walk = (mark) => {
    for (const item of mark.items || []) {
      if (mark.marktype === "group") for (const child of item.items || []) walk(child);
      else if (mark.marktype === "line" && item.stroke && (item.strokeOpacity ?? 1) > 0)
        out.add(item.stroke);
    }
  };
  walk(view.scenegraph().root);
  return [...out].sort();
}"""


@pytest.fixture
def server(tmp_path: Path, web_build: None) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "server").start()
    yield proc
    proc.stop()


def rows(page: Any) -> int:
    return int(page.locator(f'[data-chart="{CHART}"]').get_attribute("data-rows") or 0)


def builds(page: Any) -> int:
    n: int = page.evaluate("(name) => (window.__runstreamChartBuilds || {})[name] || 0", CHART)
    return n


def x_domain(page: Any) -> list[float]:
    d: list[float] = page.evaluate(
        "(name) => window.__runstreamCharts.get(name).scale('x').domain()", CHART)
    return d


def test_curves_grow_live_without_a_rebuild_and_keep_a_brushed_zoom(
        server: ServerProcess, page: Any, tmp_path: Path) -> None:
    lab = tmp_path / "work" / "curves"
    lab.mkdir(parents=True)
    (lab / "train.py").write_text(textwrap.dedent(TRAIN))
    target, stop = tmp_path / "target", tmp_path / "stop"
    target.write_text("20")
    env = {**agent_env(server, tmp_path), "CURVE_TARGET": str(target), "CURVE_STOP": str(stop)}
    run_ids: list[str] = []
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "/api/series" in r.url else None)
    try:
        for scale in ("1", "2"):
            done = subprocess.run(
                [sys.executable, "-m", "runstream_agent.cli", "submit", "--detach", "-c", "local",
                 "train.py", scale], cwd=lab, env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stdout + done.stderr
            run_ids.append(done.stdout.split("RunId: ", 1)[1].split()[0])
        client = server.client()

        def logging() -> bool:
            listed = client.get_json("/api/runs", archived="include", limit=10)["runs"]
            return sum(r["metrics"].get("loss") is not None for r in listed) == 2

        wait_for(logging, 60, "both runs logging loss")

        page.goto(f"{server.url}/?curve=loss")
        chart = page.locator(f'[data-chart="{CHART}"]')
        chart.wait_for()
        wait_for(lambda: rows(page) == 40, 20, "the two histories' 40 points")
        assert builds(page) == 1

        # Two runs, two colours: in the legend and in the lines drawn.
        legend = [page.locator(f'.curves-legend [data-run-id="{r}"]').get_attribute("data-color")
                  for r in run_ids]
        assert len(set(legend)) == 2
        assert page.evaluate(STROKES_JS, CHART) == sorted(legend)

        # Live: the curves grow by changesets; the view is never constructed again.
        for count in (30, 45):
            target.write_text(str(count))
            wait_for(lambda: rows(page) == 2 * count, 20, f"{2 * count} points")  # noqa: B023
            assert builds(page) == 1
        asked = len(fetched)
        assert asked == 1, fetched  # one request for the history; the rest came live
        assert x_domain(page) == [0, 44]

        # Hover: every run's value at the step under the pointer.
        chart.scroll_into_view_if_needed()
        plot = page.evaluate(PLOT_JS, CHART)
        page.mouse.move(plot["left"] + plot["width"] * 0.5, plot["top"] + plot["height"] / 2)
        tip = page.get_by_test_id("curves-tooltip")
        tip.wait_for()
        assert all(tip.locator(f'[data-run-id="{r}"]').count() == 1 for r in run_ids)
        assert "step 22" in tip.inner_text()

        # Brush steps ~11..~33: the chart zooms, asks for that range, and keeps it while
        # points keep arriving beyond it.
        y = plot["top"] + plot["height"] / 2
        page.mouse.move(plot["left"] + plot["width"] * 0.25, y)
        page.mouse.down()
        page.mouse.move(plot["left"] + plot["width"] * 0.5, y, steps=5)
        page.mouse.move(plot["left"] + plot["width"] * 0.75, y, steps=5)
        page.mouse.up()
        section = page.get_by_test_id("curves")
        wait_for(lambda: bool(section.get_attribute("data-zoom")), 5, "a zoomed range")
        zoomed = [float(v) for v in (section.get_attribute("data-zoom") or "").split(",")]
        assert 10 < zoomed[0] < 12 and 32 < zoomed[1] < 34, zoomed
        wait_for(lambda: len(fetched) == asked + 1, 10, "the zoomed range asked for")
        assert "start=" in fetched[-1] and "end=" in fetched[-1]
        assert x_domain(page) == pytest.approx(zoomed)
        target.write_text("60")
        wait_for(lambda: rows(page) == 120, 20, "120 points held while zoomed")
        assert x_domain(page) == pytest.approx(zoomed)
        assert builds(page) == 1
        shot(page, "curves-zoomed", full=False)

        # Reset: the full range again, from the server.
        page.get_by_role("button", name="Full range").click()
        wait_for(lambda: x_domain(page) == [0, 59], 10, "the full range")
        assert section.get_attribute("data-zoom") == ""
        assert builds(page) == 1

        # Log y: the chart is drawn again with a log scale (a new spec), every point kept.
        page.get_by_label("log y").check()
        y_type = "(n) => window.__runstreamCharts.get(n)?.scale('y')?.type"
        wait_for(lambda: page.evaluate(y_type, CHART) == "log", 10, "log y")
        wait_for(lambda: rows(page) == 120, 10, "every point in the log chart")
        # Log x: step 0 has no place on it, and the chart says so.
        page.get_by_label("log x").check()
        page.get_by_test_id("log-note-x").get_by_text("2 points").wait_for()
        shot(page, "curves-log", full=False)
    finally:
        stop.touch()
    for run_id in run_ids:
        wait_for(lambda: server.client().get_json(f"/api/runs/{run_id}")["status"]  # noqa: B023
                 == "completed", 60, f"{run_id} completed")

    # In compare: the same overlay, of the compared runs.
    page.goto(f"{server.url}/compare?runs={','.join(run_ids)}")
    page.get_by_test_id("compare").get_by_label("curve metric").select_option("loss")
    page.locator(f'[data-chart="{CHART}"]').wait_for()
    wait_for(lambda: rows(page) == 120, 20, "both runs' 60 points in compare")
    strokes = page.evaluate(STROKES_JS, CHART)
    assert strokes == sorted(legend)  # each run keeps its colour


def test_the_lab_regularization_rate_chart_switches_to_a_log_scale(
        seeded: ServerProcess, page: Any) -> None:
    name = "scalar:Regularization Rate"
    page.goto(seeded.url + "/")
    chart = page.locator(f'[data-chart="{name}"]')
    chart.wait_for()
    wait_for(lambda: chart.get_attribute("data-rows") == "3", 15, "the three runs' rates")
    y_type = "(n) => window.__runstreamCharts.get(n)?.scale('y')?.type"
    assert page.evaluate(y_type, name) == "linear"
    page.get_by_label("log scale Regularization Rate").check()
    wait_for(lambda: page.evaluate(y_type, name) == "log", 10, "a log y scale")
    wait_for(lambda: chart.get_attribute("data-rows") == "3", 10, "the three rates, drawn again")
    ticks = page.evaluate("(n) => window.__runstreamCharts.get(n).scale('y').domain()", name)
    assert ticks[0] <= 0.05 and ticks[1] >= 1.0  # the rates 0.05, 0.5 and 1.0 fit
    shot(page, "scalar-log", full=False)
