"""A run whose agent is SIGKILLed ends as failed, "agent lost", and leaves no script behind.

Real ``runstream submit`` (attached and ``--detach``) and ``runstream server``
processes, with a lease of half a second so that expiry takes about a second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from runstream.client import Client
from tests.conftest import ServerProcess

LEASE = "0.5"
FAST_EXPIRY = {"RUNSTREAM_LEASE_CHECK": "0.2", "RUNSTREAM_LEASE_GRACE": "2"}

# Starts a child of its own (as DataLoader workers would be), tells who it is, waits.
SCRIPT = """
    import os, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with open(sys.argv[1] + ".tmp", "w") as out:
        out.write(f"{os.getpid()} {os.getppid()} {child.pid}")
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    print("ready", flush=True)
    time.sleep(120)
"""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="PR_SET_PDEATHSIG and /proc are Linux's")


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"  # a zombie has ended, only nobody reaped it yet


def wait_until(condition: Any, within: float, what: str) -> float:
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > within:
            raise AssertionError(f"{what} did not happen within {within} s")
        time.sleep(0.05)
    return time.monotonic() - began


class Lab:
    def __init__(self, tmp_path: Path, server: ServerProcess, script: str = SCRIPT) -> None:
        self.root = tmp_path / "iris"
        self.root.mkdir()
        (self.root / "train.py").write_text(textwrap.dedent(script))
        self.spool = tmp_path / "spool"
        self.pids = tmp_path / "pids"
        self.server = server
        self.env = {**os.environ, "RUNSTREAM_URL": server.url,
                    "RUNSTREAM_SPOOL_DIR": str(self.spool), "RUNSTREAM_EXIT_PATIENCE": "1",
                    "RUNSTREAM_LEASE": LEASE}
        self.env.pop("RUNSTREAM_AGENT_SOCKET", None)

    def submit(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "runstream_agent.cli", "submit", *args, "train.py",
             str(self.pids)], cwd=self.root, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)

    def sync(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "runstream_agent.cli", "sync"],
                              cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=60)

    def started(self) -> tuple[str, int, int, int]:
        """(run id, script pid, agent pid, the script's child's pid) once it runs."""
        wait_until(self.pids.exists, 60, "the script's start")
        script, agent, child = map(int, self.pids.read_text().split())
        [folder] = [p for p in self.spool.iterdir() if p.name.startswith("run")]
        return unquote(folder.name).removeprefix("run/"), script, agent, child

    def run(self, run_id: str) -> dict[str, Any]:
        view: dict[str, Any] = Client(self.server.url).get_json(f"/api/runs/{run_id}")
        return view

    def lost_events(self, run_id: str) -> list[dict[str, Any]]:
        audit = Client(self.server.url).get_json(f"/api/runs/{run_id}/events")
        return [e for e in audit if e["type"] == "run.lost"]


@pytest.fixture
def expiring(tmp_path: Path) -> Any:
    proc = ServerProcess(tmp_path / "server", FAST_EXPIRY).start()
    yield proc
    proc.stop()


@pytest.mark.parametrize("mode", ["attached", "detached"])
def test_a_killed_agent_takes_its_script_along_and_the_run_ends_failed_by_lease(
        mode: str, tmp_path: Path, expiring: ServerProcess) -> None:
    lab = Lab(tmp_path, expiring)
    submit = lab.submit(*(["--detach"] if mode == "detached" else []))
    try:
        run_id, script, agent, child = lab.started()
        if mode == "attached":
            assert agent == submit.pid  # the script is the agent's own child
        else:
            assert submit.wait(30) == 0 and agent != submit.pid
        assert lab.run(run_id)["lease"] == float(LEASE)
        os.kill(agent, signal.SIGKILL)
        gone = wait_until(lambda: not alive(script), 5, "the script's end")
        assert gone < 2  # the kernel kills it with its agent, nobody has to look
        took = wait_until(lambda: lab.run(run_id)["status"] == "failed", 15, "the run's end")
        assert took < 5  # 2 leases of silence (1 s) and the server's next look
        view = lab.run(run_id)
        assert view["reason"].startswith("agent lost: no sign of life for ")
        assert len(lab.lost_events(run_id)) == 1
        # The script's own child lives on (it is not the agent's child) until sync,
        # the spool's writer now, stops what is left of the script's process group.
        assert alive(child)
        synced = lab.sync()
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert "its writer was gone" in synced.stdout and "leftover" in synced.stdout
        wait_until(lambda: not alive(child), 5, "the end of the script's child")
        view = lab.run(run_id)
        assert view["status"] == "failed"
        assert view["reason"].startswith("agent lost: its agent stopped without recording")
        assert not [p for p in lab.spool.iterdir() if p.name.startswith("run")]  # delivered
    finally:
        submit.kill()
        submit.wait()


def test_sync_alone_ends_the_run_of_a_killed_agent(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server", {"RUNSTREAM_LEASE_CHECK": "0"}).start()
    lab = Lab(tmp_path, server)
    submit = lab.submit()
    try:
        run_id, script, agent, child = lab.started()
        os.kill(agent, signal.SIGKILL)
        wait_until(lambda: not alive(script), 5, "the script's end")
        time.sleep(1.5)  # three leases: with expiry off, the server still says running
        assert lab.run(run_id)["status"] == "running"
        synced = lab.sync()
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert f"run/{run_id}: its writer was gone: stopped 1 leftover" in synced.stdout
        assert not alive(child)
        view = lab.run(run_id)
        assert view["status"] == "failed" and view["reason"].startswith("agent lost")
        assert lab.sync().stdout.startswith("Nothing to send")  # delivered and removed
    finally:
        submit.kill()
        submit.wait()
        server.stop()


def test_a_quiet_script_keeps_its_run_alive_with_heartbeats(
        tmp_path: Path, expiring: ServerProcess) -> None:
    lab = Lab(tmp_path, expiring, script="import time\ntime.sleep(3)\n")  # six leases
    submit = lab.submit()
    out, _ = submit.communicate(timeout=60)
    assert submit.returncode == 0, out
    run_id = out.split("RunId: ", 1)[1].split()[0]
    view = lab.run(run_id)
    assert (view["status"], view["reason"]) == ("completed", "")
    assert lab.lost_events(run_id) == []
    audit = Client(expiring.url).get_json(f"/api/runs/{run_id}/events")
    types = [e["type"] for e in audit]
    assert types.count("run.heartbeat") >= 3 and types[-1] == "run.completed"
