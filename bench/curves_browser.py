"""The overlay chart of one metric across 100 runs, in Debian's Chromium against a real
``runstream server`` process: from navigation to the chart drawn. Prints figures;
decides nothing.

    python bench/curves_browser.py --dir STORE [--metric loss] [--loads 3]
    python bench/curves_browser.py --build 100x10000      # a small store of its own

``--dir`` is a server data directory that already holds the runs (the one
``bench/curves.py --build-only`` builds: 100 runs × 1,000,000 points of ``loss``);
``--build RUNSxPOINTS`` seeds the runs first (into ``--dir``, else a temporary store:
for development). Each load
opens ``/?curve=METRIC`` in a fresh browser context (the dashboard draws every
visible run's curve) and reports, from navigation start:

* runs listed / series sent / series answered: the /api/runs answer, and the /api/series
  request's start and end (the browser's resource timing; the dashboard sends it as soon
  as the runs list arrives, see web/src/views/curvesFirst.ts);
* drawn: the chart holds every point of the answer and has painted (polled per frame);
then, in the page, the time to fetch one run's raw points of the metric, for comparison.
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

from runstream.events import MetricValue  # noqa: E402
from tests.conftest import ServerProcess  # noqa: E402
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.web.seed import IrisRun, post  # noqa: E402

# performance.now() once the overlay holds what the server answered (and a frame passed).
DRAWN = """() => {
  const s = document.querySelector('[data-testid="curves"]');
  const c = s && s.querySelector('[data-chart]');
  if (!s || !c || !s.dataset.expected || c.dataset.rows !== s.dataset.expected) return null;
  return performance.now();
}"""
SERIES = """() => performance.getEntriesByType("resource")
  .filter((e) => e.name.includes("/api/series"))
  .map((e) => [e.responseEnd, e.duration, e.transferSize, e.startTime])"""
# When the runs list (the overlay's run ids) had arrived: the series request cannot leave before.
LISTED = """() => performance.getEntriesByType("resource")
  .filter((e) => e.name.includes("/api/runs?")).map((e) => e.responseEnd)[0] ?? NaN"""
RAW = """async ([run, metric]) => {
  const t = performance.now();
  const path = `${encodeURIComponent(run)}/metrics/${encodeURIComponent(metric)}`;
  const r = await fetch(`/api/runs/${path}`);
  const body = await r.json();
  return [performance.now() - t, body.steps ? body.steps.length : 0];
}"""


def build(server: ServerProcess, runs: int, points: int, metric: str) -> None:
    """Seeds `runs` finished runs, each with `points` points of `metric` (a noisy decay)."""
    client = server.client()
    t0 = time.time() - 3600
    for r in range(runs):
        run = IrisRun(f"curve_{r:03d}", t0 + r)
        run.submitted("train.py", [str(r)])
        run.started()
        for first in range(0, points, 50_000):
            n = min(50_000, points - first)
            values = list[MetricValue]([(1 + r % 7) / (s + 1) + ((s * 7919) % 101) / 1e4
                                        for s in range(first, first + n)])
            run.metrics({metric: values}, first_step=first, dt=0.001)
        run.completed()
        post(client, run.events, batch=4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, help="a server data directory holding the runs")
    parser.add_argument("--build", help="RUNSxPOINTS: seed the runs first")
    parser.add_argument("--metric", default="loss")
    parser.add_argument("--loads", type=int, default=3)
    args = parser.parse_args()
    if not args.dir and not args.build:
        parser.error("give --dir (a store bench/curves.py --build-only built) "
                     "or --build RUNSxPOINTS")
    from playwright.sync_api import sync_playwright

    subprocess.run([str(ROOT / "scripts" / "build-web")], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(args.dir or Path(tmp) / "server").start(timeout=300)
        try:
            if args.build:
                runs, points = (int(v) for v in args.build.lower().split("x"))
                t = time.perf_counter()
                build(server, runs, points, args.metric)
                print(f"seeded {runs} runs × {points:,} points in {time.perf_counter() - t:.1f} s")
            listed: list[dict[str, Any]] = server.client().get_json(
                "/api/runs", archived="include", limit=1000)["runs"]
            with_metric = [r for r in listed if args.metric in r["metrics"]]
            print(f"{len(with_metric)} runs with {args.metric} in the store")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                drawn, answered = [], []
                for i in range(args.loads):
                    context = browser.new_context(viewport={"width": 1440, "height": 900})
                    page = context.new_page()
                    page.goto(f"{server.url}/?curve={args.metric}")
                    at = page.wait_for_function(DRAWN, polling="raf", timeout=120_000).json_value()
                    series = page.evaluate(SERIES)
                    rows = page.locator('[data-testid="curves"] [data-chart]').get_attribute(
                        "data-rows")
                    end, duration, size, sent = series[-1]
                    listed = page.evaluate(LISTED)
                    drawn.append(at)
                    answered.append(end)
                    timing = page.evaluate("() => window.__runstreamTiming || {}")
                    curves = page.evaluate("() => window.__runstreamCurves || {}")
                    print(f"load {i + 1}: dashboard interactive at "
                          f"{timing.get('interactive', float('nan')):.0f} ms; runs listed at "
                          f"{listed:.0f} ms, /api/series sent at {sent:.0f} ms, taken by the "
                          f"overlay at {curves.get('asked', float('nan')):.0f} ms, answer parsed "
                          f"at {curves.get('answered', float('nan')):.0f} ms, stored at "
                          f"{curves.get('stored', float('nan')):.0f} ms")
                    print(f"load {i + 1}: /api/series answered at {end:.0f} ms "
                          f"(request {duration:.0f} ms, {size / 1e6:.2f} MB), "
                          f"chart drawn at {at:.0f} ms ({rows} points held)")
                    if i == args.loads - 1 and with_metric:
                        ms, n = page.evaluate(RAW, [with_metric[0]["run_id"], args.metric])
                        print(f"raw points of one run (GET /api/runs/…/metrics/{args.metric}, "
                              f"in the page): {n:,} points in {ms:.0f} ms")
                    context.close()
                browser.close()
            print(f"median of {args.loads} loads: navigation → series answered "
                  f"{statistics.median(answered):.0f} ms, navigation → overlay drawn "
                  f"{statistics.median(drawn):.0f} ms")
        finally:
            server.stop()


if __name__ == "__main__":
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium")
    main()
