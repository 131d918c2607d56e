"""A script run with plain ``python`` becomes a run on the server by itself (a real server)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runstream import standalone
from runstream.client import Client
from tests.conftest import ServerProcess, free_port

SCRIPT = textwrap.dedent("""
    import sys
    import runstream
    logger = runstream.get_logger()
    print("RUN", logger.run_id, flush=True)
    for i in range(1000):
        logger.log("loss", 1.0 / (i + 1))
    logger.log("note", "done")
    if "--crash" in sys.argv:
        raise RuntimeError("diverged at step 1000")
""")


def run_script(tmp_path: Path, url: str,
               *args: str) -> tuple[str, subprocess.CompletedProcess[str]]:
    project = tmp_path / "iris"
    project.mkdir(exist_ok=True)
    (project / "train.py").write_text(SCRIPT)
    env = {**os.environ, "RUNSTREAM_URL": url, "RUNSTREAM_SPOOL_DIR": str(tmp_path / "spool"),
           "RUNSTREAM_EXIT_PATIENCE": "0.5"}
    env.pop("RUNSTREAM_AGENT_SOCKET", None)
    done = subprocess.run([sys.executable, "train.py", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)
    run_id = done.stdout.split()[1]
    return run_id, done


def events_of(client: Client, run_id: str) -> list[tuple[int, str]]:
    return [(e["seq"], e["type"]) for e in client.get_json(f"/api/runs/{run_id}/events")]


def test_a_script_with_the_sdk_is_a_completed_run_with_its_metrics(
        tmp_path: Path, server: ServerProcess) -> None:
    run_id, done = run_script(tmp_path, server.url)
    assert done.returncode == 0, done.stderr
    client = server.client()
    run = client.get_json(f"/api/runs/{run_id}")
    assert (run["project"], run["status"], run["target"]) == ("iris", "completed", "standalone")
    series = client.get_json(f"/api/runs/{run_id}/metrics/loss")
    assert series["steps"] == list(range(1000)) and series["values"][-1] == 1 / 1000
    assert client.get_json(f"/api/runs/{run_id}/metrics/note")["points"][0]["value"] == "done"
    assert list((tmp_path / "spool").iterdir()) == []  # delivered: nothing left behind


def test_an_uncaught_exception_fails_the_run(tmp_path: Path, server: ServerProcess) -> None:
    run_id, done = run_script(tmp_path, server.url, "--crash")
    assert done.returncode == 1 and "diverged" in done.stderr
    run = server.client().get_json(f"/api/runs/{run_id}")
    assert (run["status"], run["reason"]) == ("failed", "RuntimeError: diverged at step 1000")


def test_offline_runs_wait_in_the_spool_until_sync_sends_them_once(
        tmp_path: Path, server: ServerProcess) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    run_id, done = run_script(tmp_path, dead)
    assert done.returncode == 0
    assert "runstream sync" in done.stderr
    [folder] = (tmp_path / "spool").iterdir()
    env = {**os.environ, "RUNSTREAM_URL": server.url,
           "RUNSTREAM_SPOOL_DIR": str(tmp_path / "spool")}
    sync = subprocess.run([sys.executable, "-m", "runstream_agent.cli", "sync"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert sync.returncode == 0, sync.stderr
    assert f"run/{run_id}: " in sync.stdout and "delivered in full" in sync.stdout
    assert not folder.exists()
    client = server.client()
    assert client.get_json(f"/api/runs/{run_id}")["status"] == "completed"
    seqs = [seq for seq, _type in events_of(client, run_id)]
    assert seqs == list(range(len(seqs)))  # every event once, in order
    assert len(client.get_json(f"/api/runs/{run_id}/metrics/loss")["steps"]) == 1000
    again = subprocess.run([sys.executable, "-m", "runstream_agent.cli", "sync"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "Nothing to send" in again.stdout


def test_two_hosts_creating_runs_in_the_same_millisecond_get_different_ids(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(standalone.time, "time", lambda: 1764322000.123)
    ids = []
    for host in range(20):  # 20 hosts (spool roots), one clock
        run_id, spool = standalone.create_run_spool(tmp_path / f"host{host}", "iris")
        spool.close()
        ids.append(run_id)
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"iris_1764322000123_[0-9a-z]{4}", i) for i in ids)


def test_run_ids_sort_by_time() -> None:
    earlier = standalone.new_run_id("iris", 999_999_999_999)
    later = standalone.new_run_id("iris", 1_764_322_000_000)
    assert sorted([later, earlier]) == [earlier, later]
