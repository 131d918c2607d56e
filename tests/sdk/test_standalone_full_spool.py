"""A full spool is counted exactly: the script is told, the run ends failed with the true
numbers, and what was kept is delivered by ``runstream sync`` (a real 2 MiB tmpfs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from runstream.codec import decode_payload
from runstream.events import RunCompleted
from runstream.spool import Spool
from tests.conftest import ServerProcess, free_port, tmpfs

POINTS = 1_000_000

SCRIPT = textwrap.dedent(f"""
    import runstream
    log = runstream.get_logger()
    print("RUN", log.run_id, flush=True)
    for i in range({POINTS}):
        log.log("loss", i * 0.5)
""")

SUMMARY = re.compile(r"([\d,]+) points logged, ([\d,]+) kept; ([\d,]+) could not be kept: "
                     r"\[Errno 28\] No space left on device \(spool (.+?)\)")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs."""
    with tmpfs(tmp_path, "2m") as mount:
        yield mount


def counts(text: str) -> tuple[int, int, int]:
    match = SUMMARY.search(text)
    assert match, text
    logged, kept, lost = (int(g.replace(",", "")) for g in match.groups()[:3])
    return logged, kept, lost


def last_event(spool_dir: Path, run_id: str) -> RunCompleted:
    spool = Spool.open(spool_dir / f"run%2F{run_id}")
    try:
        [*_, last] = spool.read(-1, 1 << 30, 1 << 40)
    finally:
        spool.close()
    from runstream.codec import decode_batch, join_encoded

    [envelope] = decode_batch(join_encoded([last.data]))
    payload = decode_payload(envelope)
    assert isinstance(payload, RunCompleted), payload
    return payload


def sync(spool_dir: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNSTREAM_URL": url, "RUNSTREAM_SPOOL_DIR": str(spool_dir)}
    return subprocess.run([sys.executable, "-m", "runstream_agent.cli", "sync"], env=env,
                          capture_output=True, text=True, timeout=120)


def assert_sync_delivers_the_kept_points(spool_dir: Path, tmp_path: Path, run_id: str,
                                         numbers: tuple[int, int, int]) -> None:
    """Once a server is up, ``runstream sync`` delivers exactly the kept points, once each,
    in order, and the run is failed with the true counts."""
    server = ServerProcess(tmp_path / "server").start()
    try:
        synced = sync(spool_dir, server.url)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        client = server.client()
        run = client.get_json(f"/api/runs/{run_id}")
        assert run["status"] == "failed" and counts(run["reason"]) == numbers
        steps = client.get_json(f"/api/runs/{run_id}/metrics/loss")["steps"]
        assert len(steps) == numbers[1] and steps == sorted(set(steps)) and steps[0] == 0
        assert [p for p in spool_dir.iterdir() if not p.name.startswith(".")] == []
    finally:
        server.stop()


def test_a_full_spool_is_counted_exactly_and_the_run_ends_failed(
        tmp_path: Path, small_disk: Path) -> None:
    project = tmp_path / "full"
    project.mkdir()
    (project / "train.py").write_text(SCRIPT)
    dead = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "RUNSTREAM_URL": dead, "RUNSTREAM_SPOOL_DIR": str(small_disk),
           "RUNSTREAM_EXIT_PATIENCE": "0.2"}
    env.pop("RUNSTREAM_AGENT_SOCKET", None)
    done = subprocess.run([sys.executable, "train.py"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    run_id = done.stdout.split()[1]
    logged, kept, lost = counts(done.stderr)
    assert (logged, kept + lost) == (POINTS, POINTS) and kept > 10_000 and lost > 0
    assert len(SUMMARY.findall(done.stderr)) == 1, done.stderr  # the summary, once
    # The script was told once that points were being lost, not once per batch.
    assert done.stderr.count("No space left on device") <= 3, done.stderr
    end = last_event(small_disk, run_id)
    assert end.status == "failed" and counts(end.reason) == (logged, kept, lost)

    assert_sync_delivers_the_kept_points(small_disk, tmp_path, run_id, (logged, kept, lost))


def test_the_standalone_outlet_ends_the_run_failed_with_the_counts_it_is_given(
        small_disk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The outlet's side of ``close(lost, reason)``, with the counting a logger does."""
    from runstream.codec import encode_payload
    from runstream.events import MetricsLogged
    from runstream.memorysink import MemorySink
    from runstream.settings import SdkSettings
    from runstream.standalone import StandaloneRun

    sink = MemorySink()
    sink.reachable = False
    settings = SdkSettings.from_env({"RUNSTREAM_SPOOL_DIR": str(small_disk),
                                     "RUNSTREAM_PROJECT": "full",
                                     "RUNSTREAM_EXIT_PATIENCE": "0"})
    run = StandaloneRun.start(settings, ["train.py"], sink=sink, hook_exceptions=False)
    n = 1_000
    batch = encode_payload(MetricsLogged(names=["loss"], index=[0] * n, steps=list(range(n)),
                                         times=[1.0] * n, values=[0.5] * n))
    lost, first = 0, ""
    for _ in range(200):  # 200,000 points: far more than 2 MiB holds
        try:
            run.emit(MetricsLogged.TYPE, 1, batch, 1.0)
        except OSError as exc:
            lost += n
            first = first or str(exc)
    assert lost and first
    run.close(lost=lost, reason=first)
    logged, kept, counted_lost = counts(capsys.readouterr().err)
    assert (logged, counted_lost) == (200_000, lost) and kept == 200_000 - lost
    end = last_event(small_disk, run.run_id)
    assert end.status == "failed" and counts(end.reason) == (logged, kept, lost)
