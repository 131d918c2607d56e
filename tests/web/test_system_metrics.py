"""Run details' System section in a real browser: a script submitted for real
(``runstream submit``) is sampled by its agent, and the run page shows the ``sys/``
series as charts that grow while the run runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runstream.client import ApiError
from tests.conftest import ServerProcess
from tests.web.conftest import agent_env, shot, wait_for

pytestmark = pytest.mark.browser

# Sampled at 0.5, 1, 2, 4 and 8 s: the page opens while samples are still to come.
BUSY = """
import time, runstream
log = runstream.get_logger()
print("started", flush=True)
end = time.monotonic() + 9
step = 0
while time.monotonic() < end:
    sum(range(100_000))
    step += 1
log.log("loss", 1 / step)
"""
CPU = "series:sys/cpu_percent"


@pytest.fixture
def server(tmp_path: Path, web_build: None) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "server").start()
    yield proc
    proc.stop()


def test_the_run_page_shows_the_system_section_growing_live(
        server: ServerProcess, page: Any, tmp_path: Path) -> None:
    work = tmp_path / "busy"
    work.mkdir()
    (work / "busy.py").write_text(textwrap.dedent(BUSY))
    sub = subprocess.Popen([sys.executable, "-m", "runstream_agent.cli", "submit", "busy.py"],
                           cwd=work, env=agent_env(server, tmp_path), text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert sub.stdout is not None
        first = sub.stdout.readline()
        assert first.startswith("RunId: "), first
        run_id = first.split()[1]
        client = server.client()

        def sampled() -> bool:
            try:
                names = client.get_json(f"/api/runs/{run_id}/metrics")["scalars"]
            except ApiError:  # not on the server yet
                return False
            return any(n.startswith("sys/") for n in names)

        wait_for(sampled, 20, "a first system sample")

        page.goto(f"{server.url}/runs/{run_id}")
        section = page.locator('[data-testid="system-metrics"]')
        section.wait_for()
        assert section.locator("h3").text_content() == "System"
        cpu = section.locator(f'[data-chart="{CPU}"]')
        cpu.wait_for()
        section.locator('[data-chart="series:sys/memory_rss_bytes"]').wait_for()

        def rows() -> int:
            return int(cpu.get_attribute("data-rows") or 0)

        wait_for(lambda: rows() >= 1, 15, "the cpu chart's first points")
        shown = rows()
        assert client.get_json(f"/api/runs/{run_id}")["status"] == "running"
        # The samples still to come join the open chart, live.
        wait_for(lambda: rows() > shown, 20, "a live system sample in the chart")
        shot(page, "run-system-metrics", full=True)
        assert sub.wait(60) == 0, sub.communicate()
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    # Once the run ended, every sample is in the chart (the history and the live ones).
    stored = client.get_json(f"/api/runs/{run_id}/metrics/sys%2Fcpu_percent")
    wait_for(lambda: rows() == len(stored["steps"]), 15, "every sample in the chart")
    assert len(stored["steps"]) >= 4
    # The run's own metrics are not in the System section.
    assert section.locator('[data-chart="series:loss"]').count() == 0
