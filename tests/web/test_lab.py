"""The acceptance list of the web view, in a real browser, against a real server
with the iris lab's sweep submitted by ``runstream submit``."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture says what is missing
    expect = None  # type: ignore[assignment]

from tests.web.charts import chart_points, click_point
from tests.web.conftest import Lab, agent_env, shot, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DONE = ("completed", "failed")


def open_dashboard(page: Any, lab: Lab) -> None:
    page.goto(lab.server.url + "/")
    page.get_by_test_id("connection").get_by_text("live").wait_for()


def test_the_sweep_appears_and_turns_completed_without_reload(page: Any, lab: Lab) -> None:
    open_dashboard(page, lab)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    lab.submit_sweep()
    jobs = page.get_by_test_id("jobs").locator("li.job")
    jobs.nth(10).wait_for()  # all 11 submitted, shown as they came
    seen = {jobs.nth(i).get_attribute("data-status") for i in range(jobs.count())}
    assert seen & {"submitted", "running"}, seen  # we saw them before they finished
    shot(page, "jobs-running")
    wait_for(lambda: page.locator('li.job[data-status="completed"]').count() == 11, 240,
             "11 jobs Completed in the page")
    assert navigations == []  # no reload
    assert page.get_by_test_id("run-count").inner_text().startswith("11 runs")
    page.wait_for_function("() => window.__runstreamCharts && "
                           "window.__runstreamCharts.has('scalar:MaxFscore')")
    shot(page, "dashboard")


def test_a_printed_line_shows_in_the_open_log_within_a_second(
        page: Any, lab: Lab, tmp_path: Path) -> None:
    project = tmp_path / "slowprint"
    project.mkdir()
    trigger = tmp_path / "go"
    (project / "printer.py").write_text(
        "import pathlib, sys, time\n"
        "print('\\x1b[36mwaiting\\x1b[0m for the trigger', flush=True)\n"
        "while not pathlib.Path(sys.argv[1]).exists():\n"
        "    time.sleep(0.01)\n"
        "print('the marker line', flush=True)\n"
        "time.sleep(2)\n")
    out = subprocess.run([sys.executable, "-m", "runstream_agent.cli", "submit", "--detach",
                          "printer.py", str(trigger)], cwd=project, capture_output=True,
                         env=agent_env(lab.server, tmp_path), check=True, timeout=60)
    run_id = re.search(rb"RunId: (\S+)", out.stdout).group(1).decode()  # type: ignore[union-attr]
    open_dashboard(page, lab)
    job = page.locator(f'li.job[data-run-id="{run_id}"]')
    job.wait_for()
    job.locator("button.status").click()  # the status opens the output, tailing
    drawer = page.get_by_role("region", name="Output")
    drawer.get_by_text("for the trigger").wait_for()
    trigger.touch()
    started = time.monotonic()
    drawer.get_by_text("the marker line").wait_for(timeout=5_000)
    latency = time.monotonic() - started
    shot(page, "log-drawer")
    assert latency < 1.0, f"the line took {latency:.2f} s to show"


def test_click_the_best_point_then_compare_two_runs(page: Any, lab: Lab) -> None:
    runs = [r for r in lab.ensure_sweep() if not r["archived"]]
    open_dashboard(page, lab)
    page.wait_for_function("() => window.__runstreamTiming && window.__runstreamTiming.interactive")
    points = chart_points(page, "scalar:MaxFscore")
    assert len(points) == len([r for r in runs if "MaxFscore" in r["metrics"]])
    best = max(points, key=lambda p: (p["datum"]["value"], -p["y"]))
    assert best["y"] == min(p["y"] for p in points)  # the highest point is drawn on top
    click_point(page, best)
    row = page.locator(f'.runs-table .trow[data-run-id="{best["datum"]["run_id"]}"]')
    expect(row).to_have_attribute("aria-selected", "true")
    assert page.locator('.runs-table .trow[aria-selected="true"]').count() == 1
    top = max(r["metrics"]["MaxFscore"] for r in runs if "MaxFscore" in r["metrics"])
    assert float(row.locator('[data-col="MaxFscore"]').inner_text()) == pytest.approx(top, abs=1e-4)

    other = min(chart_points(page, "scalar:MaxFscore"), key=lambda p: p["datum"]["value"])
    click_point(page, other, add=True)
    expect(page.locator('.runs-table .trow[aria-selected="true"]')).to_have_count(2)
    shot(page, "dashboard-selected")
    page.get_by_role("button", name="Compare").click()
    page.get_by_test_id("compare").wait_for()
    accuracy = page.locator('tr[data-row="Accuracy"] td')
    wait_for(lambda: accuracy.count() == 2, 10, "two accuracies")
    shown = [float(accuracy.nth(i).inner_text()) for i in range(2)]
    by_id = {r["run_id"]: r for r in runs}
    want = [by_id[p["datum"]["run_id"]]["metrics"]["Accuracy"] for p in (best, other)]
    assert shown == pytest.approx(want, abs=1e-4)
    page.locator(".chart[data-chart='array:Precision']").wait_for()
    page.wait_for_timeout(500)
    shot(page, "compare")


def test_promote_from_details_then_download_from_models(page: Any, lab: Lab) -> None:
    runs = lab.ensure_sweep()
    best = max((r for r in runs if "MaxFscore" in r["metrics"]),
               key=lambda r: r["metrics"]["MaxFscore"])
    page.goto(f"{lab.server.url}/runs/{best['run_id']}")
    page.get_by_role("heading", name=f"Run #{best['number']}").wait_for()
    page.locator(".images img").first.wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('.images img')]"
                           ".every((i) => i.complete && i.naturalWidth > 0)")
    shot(page, "run-details")
    row = page.locator('tr[data-path="outputs/model.pkl"]')
    row.get_by_role("button", name="Promote").click()
    row.get_by_label("model name").fill("iris-classifier")
    shot(page, "promote", full=False)
    row.get_by_role("button", name="Register").click()
    promoted = row.get_by_test_id("promoted")
    promoted.wait_for()
    assert "iris-classifier version 1" in promoted.inner_text()

    page.get_by_role("link", name="Models").click()
    model_row = page.locator('tr[data-model="iris-classifier"]')
    model_row.wait_for()
    assert model_row.locator("td").nth(1).inner_text() == "1"
    shot(page, "models")
    model_row.get_by_role("link").click()
    version = page.locator('tr[data-version="1"]')
    version.wait_for()
    assert best["run_id"] in version.inner_text()
    shot(page, "model")
    with page.expect_download() as info:
        version.get_by_role("link", name="Download").click()
    path = info.value.path()
    sha = lab.client.get_json("/api/models/iris-classifier/versions/1")["sha256"]
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha


def test_archive_a_run_and_restore_it(page: Any, lab: Lab) -> None:
    lab.ensure_sweep()
    open_dashboard(page, lab)
    count = page.get_by_test_id("run-count")
    rows = page.locator(".runs-table .trow[data-run-id]")
    rows.first.wait_for()
    before = int(count.inner_text().split()[0])
    victim = rows.nth(2).get_attribute("data-run-id")
    rows.nth(2).locator('[data-col="script"]').click()
    page.get_by_role("button", name="Archive").click()
    gone = page.locator(f'.runs-table .trow[data-run-id="{victim}"]')
    gone.wait_for(state="detached")
    assert int(count.inner_text().split()[0]) == before - 1
    assert page.locator(f'li.job[data-run-id="{victim}"]').count() == 0
    page.get_by_label("show archived").check()
    gone.wait_for()
    assert "archived" in (gone.get_attribute("class") or "")
    shot(page, "archived")
    gone.locator('[data-col="script"]').click()
    page.get_by_role("button", name="Restore").click()
    page.get_by_label("show archived").uncheck()
    gone.wait_for()
    assert int(count.inner_text().split()[0]) == before


def test_replay_a_finished_run(page: Any, lab: Lab) -> None:
    run = lab.ensure_sweep()[0]
    page.goto(f"{lab.server.url}/runs/{run['run_id']}/replay")
    replay = page.get_by_test_id("replay")
    replay.wait_for()
    total = int(replay.get_attribute("data-total") or 0)
    assert total > 3
    page.get_by_role("button", name="10×").click()
    wait_for(lambda: int(replay.get_attribute("data-index") or 0) > 0, 10, "replay started")
    page.wait_for_timeout(300)
    assert int(replay.get_attribute("data-index") or 0) < total  # paced, not all at once
    page.get_by_role("button", name="instant").click()
    wait_for(lambda: replay.get_attribute("data-index") == str(total), 10, "replay finished")
    # The status is the server's fold as of the replay's position (/api/asof/runs),
    # which answers just after the last event is shown.
    status = replay.locator(".status").first
    wait_for(lambda: status.inner_text() == "Completed", 10, "the replayed run completed")
    replay.get_by_text("Accuracy is").first.wait_for()
    page.wait_for_timeout(400)
    shot(page, "replay")
    page.get_by_role("link", name="Audit").click()
    audit = page.get_by_test_id("audit")
    audit.wait_for()
    types = audit.locator("tbody tr td:nth-child(4)").all_inner_texts()
    assert types[0] == "run.submitted" and "run.completed" in types
    shot(page, "audit")


def test_drag_the_time_slider_back_and_see_fewer_runs(page: Any, lab: Lab) -> None:
    runs = lab.ensure_sweep()
    open_dashboard(page, lab)
    count = page.get_by_test_id("run-count")
    now = int(count.inner_text().split()[0])
    first_done = min(lab.client.get_json(f"/api/runs/{r['run_id']}")["position"] for r in runs)
    page.get_by_label("time slider").fill(str(first_done))
    page.get_by_test_id("asof-label").get_by_text("as of").wait_for()
    wait_for(lambda: int(count.inner_text().split()[0]) < now, 10, "fewer runs")
    shot(page, "time-slider")
    page.get_by_role("button", name="back to live").click()
    wait_for(lambda: int(count.inner_text().split()[0]) == now, 10, "all runs again")


def test_settings_choose_charted_metrics_and_columns(page: Any, lab: Lab) -> None:
    lab.ensure_sweep()
    open_dashboard(page, lab)
    page.locator(".chart[data-chart='scalar:MaxFscore']").wait_for()
    page.get_by_role("button", name="Settings").click()
    dialog = page.get_by_role("dialog", name="Settings")
    dialog.get_by_label("chart Accuracy").uncheck()
    dialog.get_by_label("column MaxFscore").uncheck()
    shot(page, "settings", full=False)
    dialog.get_by_role("button", name="Done").click()
    assert page.locator(".chart[data-chart='scalar:Accuracy']").count() == 0
    assert page.locator(".runs-table .th", has_text="MaxFscore").count() == 0
    page.reload()  # remembered in this browser
    page.locator(".chart[data-chart='scalar:MaxFscore']").wait_for()
    assert page.locator(".chart[data-chart='scalar:Accuracy']").count() == 0
    page.get_by_role("button", name="Settings").click()
    page.get_by_role("button", name="Reset").click()
    page.get_by_role("button", name="Done").click()
    page.locator(".chart[data-chart='scalar:Accuracy']").wait_for()
