"""Parameters, tags and run names in a real browser: the dashboard's columns (shown,
sorted, chosen, appearing live), the run page's tables, compare's differences.
Runs are written straight to the server, as their agents would write them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess
from tests.web.conftest import shot, wait_for
from tests.web.seed import IrisRun, post

pytestmark = pytest.mark.browser


@dataclass
class Seeded:
    server: ServerProcess
    runs: dict[str, IrisRun]  # "baseline", "sgd", "deep" (still running)


@pytest.fixture
def seeded(tmp_path: Path, web_build: None) -> Iterator[Seeded]:
    server = ServerProcess(tmp_path / "server").start()
    client = server.client()
    t = time.time() - 300
    runs: dict[str, IrisRun] = {}
    for k, (key, params, tags) in enumerate([
        ("baseline", {"lr": "0.1", "layers": "10", "opt": "adam", "seed": "7"}, {"team": "vision"}),
        ("sgd", {"lr": "0.05", "layers": "9", "opt": "sgd", "seed": "7"}, {"team": "nlp"}),
        ("deep", {"lr": "0.001", "layers": "100", "opt": "adam", "seed": "7"}, {"team": "vision"}),
    ]):
        run = IrisRun(f"params_{k}", t + 10 * k)
        run.submitted("train.py", ["--lr", params["lr"]])
        if key == "baseline":
            run.renamed("baseline run")
        run.started()
        run.params(params)
        run.tags(tags)
        run.metrics({"Accuracy": [0.7 + 0.1 * k]})
        if key != "deep":
            run.completed()
        post(client, run.events)
        runs[key] = run
    yield Seeded(server, runs)
    server.stop()


def open_dashboard(page: Any, seeded: Seeded) -> None:
    page.goto(seeded.server.url + "/")
    page.get_by_test_id("connection").get_by_text("live").wait_for()
    wait_for(lambda: page.locator(".runs-table .trow[data-run-id]").count() == 3, 15, "three rows")


def cell(page: Any, run: IrisRun, col: str) -> str:
    text: str = page.locator(
        f'.runs-table .trow[data-run-id="{run.run_id}"] [data-col="{col}"]').inner_text()
    return text


def header(page: Any, col: str) -> Any:
    return page.locator(f'.runs-table .thead button.th[title="sort by {col}"]')


def row_order(page: Any) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        ".runs-table .trow[data-run-id]", "(els) => els.map((e) => e.dataset.runId)")
    return ids


def test_the_dashboard_shows_the_parameters_that_differ_as_columns(
        seeded: Seeded, page: Any) -> None:
    open_dashboard(page, seeded)
    runs = seeded.runs
    for col in ("params.layers", "params.lr", "params.opt", "Name"):
        header(page, col).wait_for()
    # seed is 7 in every run: nothing to tell them apart by, so not a default column;
    # tags are columns only when chosen
    assert header(page, "params.seed").count() == 0
    assert header(page, "tags.team").count() == 0
    assert cell(page, runs["baseline"], "params.lr") == "0.1"
    assert cell(page, runs["sgd"], "params.opt") == "sgd"
    assert cell(page, runs["deep"], "params.layers") == "100"
    assert cell(page, runs["baseline"], "name") == "baseline run"
    assert cell(page, runs["sgd"], "name") == ""
    job = page.locator(f'li.job[data-run-id="{runs["baseline"].run_id}"] a.job-name')
    assert job.inner_text().startswith("#1 baseline run")
    shot(page, "dashboard-params", full=False)


def test_sorting_by_a_parameter_is_numeric_when_its_values_are_numbers(
        seeded: Seeded, page: Any) -> None:
    open_dashboard(page, seeded)
    runs = seeded.runs
    header(page, "params.layers").click()  # numbers: largest first (as text "9" would lead)
    wait_for(lambda: row_order(page) == [runs[k].run_id for k in ("deep", "baseline", "sgd")],
             10, "rows by layers, descending")
    header(page, "params.layers").click()
    wait_for(lambda: row_order(page) == [runs[k].run_id for k in ("sgd", "baseline", "deep")],
             10, "rows by layers, ascending")
    header(page, "params.opt").click()  # text: a to z
    wait_for(lambda: row_order(page)[2] == runs["sgd"].run_id, 10, "sgd after adam")


def test_the_settings_choose_parameter_and_tag_columns(seeded: Seeded, page: Any) -> None:
    open_dashboard(page, seeded)
    runs = seeded.runs
    page.get_by_role("button", name="⚙ Settings").click()
    dialog = page.get_by_role("dialog", name="Settings")
    assert "Automatic" in dialog.get_by_test_id("params-hint").inner_text()
    seed_box = dialog.get_by_label("column params.seed", exact=True)
    assert not seed_box.is_checked()
    assert dialog.get_by_label("column params.lr", exact=True).is_checked()
    seed_box.check()
    dialog.get_by_label("column params.opt", exact=True).uncheck()
    dialog.get_by_label("column tags.team", exact=True).check()
    shot(page, "settings-params", full=False)
    dialog.get_by_role("button", name="Done").click()
    header(page, "params.seed").wait_for()
    header(page, "tags.team").wait_for()
    assert header(page, "params.opt").count() == 0
    assert cell(page, runs["sgd"], "params.seed") == "7"
    assert cell(page, runs["sgd"], "tags.team") == "nlp"


def test_the_run_page_shows_its_name_parameters_and_tags(seeded: Seeded, page: Any) -> None:
    run = seeded.runs["baseline"]
    page.goto(f"{seeded.server.url}/runs/{run.run_id}")
    assert page.get_by_test_id("run-name").inner_text() == "baseline run"
    params = page.get_by_test_id("params")
    assert params.locator('tr[data-key="lr"] td').inner_text() == "0.1"
    assert params.locator('tr[data-key="opt"] td').inner_text() == "adam"
    assert params.locator("tr").count() == 4
    assert page.get_by_test_id("tags").locator('tr[data-key="team"] td').inner_text() == "vision"
    shot(page, "run-params")


def test_the_run_page_follows_a_running_runs_tags_and_name_live(
        seeded: Seeded, page: Any) -> None:
    run = seeded.runs["deep"]
    page.goto(f"{seeded.server.url}/runs/{run.run_id}")
    tags = page.get_by_test_id("tags")
    tags.locator('tr[data-key="team"]').wait_for()
    held = len(run.events)
    run.tags({"stage": "tuning"})
    run.untag(["team"])
    run.renamed("deep net")
    post(seeded.server.client(), run.events[held:])
    tags.locator('tr[data-key="stage"]').wait_for(timeout=10_000)
    assert tags.locator('tr[data-key="stage"] td').inner_text() == "tuning"
    tags.locator('tr[data-key="team"]').wait_for(state="detached", timeout=10_000)
    wait_for(lambda: page.get_by_test_id("run-name").count() == 1
             and page.get_by_test_id("run-name").inner_text() == "deep net", 10, "the new name")


def test_compare_marks_the_parameters_that_differ(seeded: Seeded, page: Any) -> None:
    a, b = seeded.runs["baseline"], seeded.runs["deep"]
    page.goto(f"{seeded.server.url}/compare?runs={a.run_id},{b.run_id}")
    page.get_by_test_id("compare").wait_for()
    lr = page.locator('tr[data-row="params.lr"]')
    wait_for(lambda: lr.locator("td").count() == 2, 10, "the two runs' lr")
    assert [lr.locator("td").nth(i).inner_text() for i in range(2)] == ["0.1", "0.001"]
    assert "differs" in (lr.get_attribute("class") or "")
    for same in ("params.opt", "params.seed", "tags.team"):
        row = page.locator(f'tr[data-row="{same}"]')
        assert "differs" not in (row.get_attribute("class") or ""), same
    shot(page, "compare-params")


def test_a_parameter_logged_by_a_running_run_appears_as_a_column_live(
        seeded: Seeded, page: Any) -> None:
    open_dashboard(page, seeded)
    run = seeded.runs["deep"]
    assert header(page, "params.warmup").count() == 0
    page.evaluate("() => { window.__sameDocument = true; }")
    held = len(run.events)
    run.params({"warmup": "500"})
    post(seeded.server.client(), run.events[held:])
    header(page, "params.warmup").wait_for(timeout=10_000)
    assert cell(page, run, "params.warmup") == "500"
    assert cell(page, seeded.runs["baseline"], "params.warmup") == ""
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
