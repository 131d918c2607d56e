"""System metrics under ``runstream submit -c docker-python``: the agent samples inside the
container (where the script's process tree is), with psutil from the image."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.agent.test_docker_target import (  # noqa: F401 - the fixtures, reused
    Submission,
    engine,
    env_for,
    lab,
    lab_image,
)
from tests.agent.test_system_metrics import BUSY, sampled_cpu_seconds, system_series
from tests.conftest import ServerProcess

pytestmark = pytest.mark.docker


def test_submit_docker_python_shows_cpu_and_memory_series_and_none_when_turned_off(
        lab: Path, server: ServerProcess, engine: Any, tmp_path: Path) -> None:  # noqa: F811
    (lab / "busy.py").write_text(textwrap.dedent(BUSY))
    client = server.client()
    sub = Submission(lab, env_for(tmp_path, server.url), "-c", "docker-python", "busy.py")
    run_id = sub.run_id
    assert sub.finish() == 0, sub.transcript()
    series = system_series(client, run_id)
    assert {"sys/cpu_percent", "sys/memory_rss_bytes", "sys/net_recv_bytes"} <= set(series)
    cpu, rss = series["sys/cpu_percent"], series["sys/memory_rss_bytes"]
    assert cpu["steps"][:3] == [0, 1, 2]
    assert min(rss["values"]) > 5e6
    # The samples account for the script's CPU time as it counted it in the container.
    own = client.get_json(f"/api/runs/{run_id}/metrics/cpu_seconds")["values"][-1]
    seen = sampled_cpu_seconds(cpu, client.get_json(f"/api/runs/{run_id}")["started"])
    assert 0.3 * own < seen < own + 0.5, (seen, own, cpu)

    off = Submission(lab, env_for(tmp_path, server.url), "-c", "docker-python",
                     "--no-system-metrics", "busy.py")
    off_id = off.run_id
    assert off.finish() == 0, off.transcript()
    assert system_series(client, off_id) == {}
