"""Browser tests: Python Playwright driving Debian's Chromium against a real
``runstream server`` subprocess that serves the built web UI.

Screenshots of each view go to tests/web/screenshots/ (git-ignored)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runstream.client import Client
from tests.conftest import ServerProcess, missing_service
from tests.web.seed import seed_iris

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("RUNSTREAM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SCREENS = Path(__file__).parent / "screenshots"
IRIS = ROOT / "examples" / "classifying_iris"


@pytest.fixture
def seeded(tmp_path: Path, web_build: None) -> Iterator[ServerProcess]:
    """A server of its own with three runs of the iris sweep (rates 0.05, 0.5, 1.0)."""
    server = ServerProcess(tmp_path / "server").start()
    seed_iris(server.client(), tmp_path / "files", rates=(0.05, 0.5, 1.0))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def web_build() -> None:
    """The UI, built into the server's static folder (a no-op when up to date)."""
    if shutil.which("npm") is None:
        missing_service("npm (Node.js 20+), to build the web UI")
    subprocess.run([str(ROOT / "scripts" / "build-web")], check=True, cwd=ROOT)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Per module: Playwright's sync API holds an event loop while it runs, which
    # pytest-asyncio's tests elsewhere must not find running.
    if not Path(CHROMIUM).exists():
        missing_service(f"Chromium ({CHROMIUM}; apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_service("Python Playwright (pip install playwright)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, web_build: None) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.set_default_timeout(15_000)
    yield pg
    context.close()
    assert not errors, f"errors in the page: {errors}"


def shot(page: Any, name: str, full: bool = True) -> Path:
    """Save a screenshot of the current view as screenshots/<name>.png."""
    SCREENS.mkdir(exist_ok=True)
    path = SCREENS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    return path


def agent_env(server: ServerProcess, tmp: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "RUNSTREAM_URL": server.url, "RUNSTREAM_SPOOL_DIR": str(tmp / "spool"),
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}


def wait_for(check: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Lab:
    """A server with the iris lab's sweep, submitted for real (``runstream submit``)."""

    def __init__(self, server: ServerProcess, work: Path) -> None:
        self.server = server
        self.work = work
        self.client = Client(server.url)
        self.submitted = False

    def submit_sweep(self) -> subprocess.CompletedProcess[bytes]:
        """examples/classifying_iris/run.py: 11 detached runs, side by side."""
        self.submitted = True
        return subprocess.run([sys.executable, "run.py"], cwd=IRIS, capture_output=True,
                              env=agent_env(self.server, self.work), timeout=300, check=True)

    def runs(self, archived: str = "include") -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.client.get_json(
            "/api/runs", archived=archived, limit=1000)["runs"]
        return runs

    def wait_finished(self, n: int = 11, timeout: float = 240) -> list[dict[str, Any]]:
        wait_for(lambda: sum(r["status"] in ("completed", "failed") for r in self.runs()) >= n,
                 timeout, f"{n} finished runs")
        return self.runs()

    def ensure_sweep(self) -> list[dict[str, Any]]:
        if not self.submitted:
            self.submit_sweep()
        return self.wait_finished()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, web_build: None) -> Iterator[Lab]:
    work = tmp_path_factory.mktemp("lab")
    server = ServerProcess(work / "server").start()
    yield Lab(server, work)
    server.stop()
