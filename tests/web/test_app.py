"""The app's robustness in a real browser: token prompt, resume after a dropped
connection, errors shown, long logs. Runs are written straight to the server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from runstream.client import Client
from tests.conftest import ServerProcess
from tests.web.conftest import shot, wait_for
from tests.web.seed import IrisRun, post, seed_iris

pytestmark = pytest.mark.browser


def job_ids(page: Any) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        "li.job", "(els) => els.map((e) => e.dataset.runId)")
    return ids


def test_the_token_is_asked_for_when_the_server_requires_one(
        page: Any, tmp_path: Path, web_build: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNSTREAM_TOKEN", "s3cret")  # the server's, and its readiness check's
    server = ServerProcess(tmp_path / "server")
    server.start()
    try:
        seed_iris(Client(server.url, token="s3cret"), tmp_path / "files", rates=(0.1, 0.2))
        urls: list[str] = []
        page.on("request", lambda request: urls.append(request.url))
        page.goto(server.url + "/")
        prompt = page.get_by_role("dialog", name="API token")
        prompt.wait_for()
        assert "requires an API token" in prompt.inner_text()
        shot(page, "token-prompt", full=False)
        prompt.get_by_label("token").fill("s3cret")
        prompt.get_by_role("button", name="Connect").click()
        page.get_by_test_id("connection").get_by_text("live").wait_for()
        wait_for(lambda: page.locator("li.job").count() == 2, 10, "two jobs")
        # Images are fetched with the token in the header, the feed carries it as a
        # websocket subprotocol: no URL ever holds it (URLs end up in logs and history).
        page.locator("li.job a.job-name").first.click()
        page.locator(".images img").first.wait_for()
        page.wait_for_function("() => document.querySelector('.images img').naturalWidth > 0")
        assert urls and not [url for url in urls if "s3cret" in url]
    finally:
        server.stop()


def test_after_a_dropped_connection_the_app_resumes_without_gap_or_duplicate(
        seeded: ServerProcess, page: Any) -> None:
    page.goto(seeded.url + "/")
    conn = page.get_by_test_id("connection")
    conn.get_by_text("live").wait_for()
    wait_for(lambda: len(job_ids(page)) == 3, 10, "three jobs")
    seeded.kill()
    conn.get_by_text("reconnecting").wait_for()
    # While the app is away, runs go on: they must all show once it is back.
    seeded.start()
    client = seeded.client()
    late = IrisRun("late_1", time.time())
    late.submitted("iris_sklearn.py", ["2.0"])
    late.started()
    post(client, late.events)
    conn.get_by_text("live").wait_for(timeout=20_000)
    page.locator('li.job[data-run-id="late_1"][data-status="running"]').wait_for()
    late.completed()
    post(client, late.events[-1:])
    page.locator('li.job[data-run-id="late_1"][data-status="completed"]').wait_for()
    ids = job_ids(page)
    assert len(ids) == len(set(ids)) == 4
    assert page.locator('li.job[data-run-id="late_1"] .job-number').inner_text() == "#4"


def test_errors_are_shown_not_swallowed(seeded: ServerProcess, page: Any) -> None:
    page.goto(seeded.url + "/runs/no_such_run")
    page.get_by_text("no run 'no_such_run'").wait_for()
    page.goto(seeded.url + "/compare?runs=no_such_run,other")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "no run" in alert.inner_text()
    shot(page, "error", full=False)


def test_a_long_log_tails_live_and_stops_following_when_scrolled_up(
        seeded: ServerProcess, page: Any) -> None:
    run = IrisRun("chatty_1", time.time())
    run.submitted("train.py", ["--epochs", "100"])
    run.started()
    for k in range(20):  # 100,000 lines, a fifth with ANSI colours
        run.lines([f"\x1b[32mepoch {k}\x1b[0m step {i} loss {1 / (i + 1):.5f}" if i % 5 == 0
                   else f"epoch {k} step {i}" for i in range(5_000)])
    client = seeded.client()
    post(client, run.events, batch=5)
    page.goto(seeded.url + "/runs/chatty_1/log")
    view = page.locator(".logview")
    wait_for(lambda: view.get_attribute("data-lines") == "100000", 30, "100,000 lines")
    page.get_by_text("epoch 19 step 4999").wait_for()  # followed to the end
    assert page.locator(".logline").count() < 200  # only what is in view is drawn
    shot(page, "run-log", full=False)

    started = time.monotonic()
    post(client, [run.lines(["the newest line"])])
    page.get_by_text("the newest line").wait_for()
    assert time.monotonic() - started < 1.0

    page.locator(".logscroll").hover()
    page.mouse.wheel(0, -3_000)  # the user scrolls up: following stops
    page.get_by_role("button", name="follow").wait_for()
    post(client, [run.lines(["one more line"])])
    page.get_by_role("button", name="follow (1 new)").wait_for()
    assert page.get_by_text("one more line").count() == 0
    page.get_by_role("button", name="follow (1 new)").click()
    page.get_by_text("one more line").wait_for()
