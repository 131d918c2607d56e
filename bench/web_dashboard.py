"""The dashboard's page load with many runs, in Debian's Chromium against a real
``runstream server`` process. Prints figures; decides nothing.

    python bench/web_dashboard.py [--runs 10000] [--loads 3]

Seeds N finished runs (about 6 events each: submitted, started, a line, three
scalar metrics, completed), builds the UI if needed, then loads the dashboard
``--loads`` times in fresh browser contexts and reports, from navigation start:

* first chart: the first chart has drawn its data (``runstream:first-chart``);
* interactive: every chart has drawn and the table is filled (``runstream:interactive``);
then, on the loaded page, how long a click on a chart point takes to select the
run's row, a sort by a metric column, and a filter keystroke (median of a few).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import ServerProcess  # noqa: E402
from tests.web.charts import chart_points, click_point  # noqa: E402
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.web.seed import seed_many  # noqa: E402

TIMING = "() => window.__runstreamTiming && window.__runstreamTiming.interactive"


def settle(page: Any) -> None:
    """Two animation frames: React has rendered and the browser has painted."""
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => "
                  "requestAnimationFrame(() => r(null))))")


def interactions(page: Any) -> dict[str, float]:
    out: dict[str, list[float]] = {"click a chart point → row selected": [],
                                   "sort by a metric column": [], "filter keystroke": []}
    points = sorted(chart_points(page, "scalar:MaxFscore"), key=lambda p: -p["datum"]["value"])
    for point in points[:5]:
        t = time.perf_counter()
        click_point(page, point)
        page.locator(f'.trow[data-run-id="{point["datum"]["run_id"]}"][aria-selected="true"]'
                     ).wait_for()
        settle(page)
        out["click a chart point → row selected"].append(time.perf_counter() - t)
    header = page.locator(".runs-table .th", has_text="MaxFscore")
    for _ in range(4):
        t = time.perf_counter()
        header.click()
        settle(page)
        out["sort by a metric column"].append(time.perf_counter() - t)
    box = page.get_by_label("filter runs")
    for text in ("0", "0.", "0.5"):
        t = time.perf_counter()
        box.fill(text)
        settle(page)
        out["filter keystroke"].append(time.perf_counter() - t)
    return {k: statistics.median(v) * 1000 for k, v in out.items() if v}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    subprocess.run([str(ROOT / "scripts" / "build-web")], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "server").start()
        try:
            t = time.perf_counter()
            seed_many(server.client(), args.runs)
            print(f"seeded {args.runs} runs in {time.perf_counter() - t:.1f} s")
            t = time.perf_counter()
            body = server.client().request("GET", "/api/runs", query={
                "archived": "include", "limit": 100_000}).read()
            print(f"GET /api/runs (all {args.runs}): {len(body) / 1e6:.1f} MB in "
                  f"{(time.perf_counter() - t) * 1000:.0f} ms")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                firsts, ready = [], []
                for i in range(args.loads):
                    context = browser.new_context(viewport={"width": 1440, "height": 900})
                    page = context.new_page()
                    page.goto(server.url + "/")
                    page.wait_for_function(TIMING, timeout=120_000)
                    timing = page.evaluate("() => window.__runstreamTiming")
                    count = page.get_by_test_id("run-count").inner_text()
                    firsts.append(timing["first-chart"])
                    ready.append(timing["interactive"])
                    print(f"load {i + 1}: first chart {timing['first-chart']:.0f} ms, "
                          f"interactive {timing['interactive']:.0f} ms ({count})")
                    if i == args.loads - 1:
                        for name, ms in interactions(page).items():
                            print(f"{name}: {ms:.0f} ms (median)")
                    context.close()
                browser.close()
            print(f"median of {args.loads} loads, {args.runs} runs: time to first chart "
                  f"{statistics.median(firsts):.0f} ms, time to interactive "
                  f"{statistics.median(ready):.0f} ms")
        finally:
            server.stop()


if __name__ == "__main__":
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium")
    main()
