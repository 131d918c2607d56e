"""Under ``runstream submit``, an agent whose spool fills up counts exactly what it could
not keep, ends the run failed with the true numbers, and ``runstream sync`` later
delivers exactly what was kept (a real 2 MiB tmpfs, the server unreachable)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import free_port
from tests.sdk.test_standalone_full_spool import (
    POINTS,
    SUMMARY,
    assert_sync_delivers_the_kept_points,
    counts,
    last_event,
    small_disk,
)

__all__ = ["small_disk"]  # the fixture, shared with the standalone test

SCRIPT = textwrap.dedent(f"""
    import runstream
    log = runstream.get_logger()
    for i in range({POINTS}):
        log.log("loss", i * 0.5)
""")


def test_a_full_agent_spool_is_counted_exactly_and_the_run_ends_failed(
        tmp_path: Path, small_disk: Path) -> None:
    project = tmp_path / "full"
    project.mkdir()
    (project / "train.py").write_text(SCRIPT)
    env = {**os.environ, "RUNSTREAM_URL": f"http://127.0.0.1:{free_port()}",
           "RUNSTREAM_SPOOL_DIR": str(small_disk), "RUNSTREAM_EXIT_PATIENCE": "0.2"}
    env.pop("RUNSTREAM_AGENT_SOCKET", None)
    done = subprocess.run([sys.executable, "-m", "runstream_agent.cli", "submit", "train.py"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    run_id = done.stdout.split("RunId: ", 1)[1].split()[0]
    logged, kept, lost = counts(done.stdout)  # the footer's reason
    assert (logged, kept + lost) == (POINTS, POINTS) and kept > 10_000 and lost > 0
    assert "Status: Failed" in done.stdout
    assert len(SUMMARY.findall(done.stderr)) == 1, done.stderr  # the final summary, once
    # The script was told once by its agent, not once per refused batch.
    assert done.stderr.count("could not keep points") == 1, done.stderr
    end = last_event(small_disk, run_id)
    assert end.status == "failed" and counts(end.reason) == (logged, kept, lost)

    assert_sync_delivers_the_kept_points(small_disk, tmp_path, run_id, (logged, kept, lost))
