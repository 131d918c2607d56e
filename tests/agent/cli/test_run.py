"""``runstream submit`` and ``runstream sync`` as a user runs them, against a real server."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runstream.client import ApiError, Client
from tests.conftest import ServerProcess, free_port

TRAIN = """
    import sys, os, runstream
    logger = runstream.get_logger()
    print("hello", sys.argv[1:])
    for epoch in range(3):
        logger.log("loss", 1.0 / (epoch + 1))
    os.makedirs("outputs", exist_ok=True)
    open("outputs/model.pkl", "wb").write(b"weights")
"""


def project(tmp_path: Path, script: str, name: str = "train.py") -> Path:
    root = tmp_path / "iris"
    root.mkdir(exist_ok=True)
    (root / name).write_text(textwrap.dedent(script))
    (root / ".gitignore").write_text("data/\n")
    return root


def env_for(tmp_path: Path, url: str) -> dict[str, str]:
    env = {**os.environ, "RUNSTREAM_URL": url, "RUNSTREAM_SPOOL_DIR": str(tmp_path / "spool"),
           "RUNSTREAM_EXIT_PATIENCE": "1"}
    env.pop("RUNSTREAM_AGENT_SOCKET", None)
    return env


def runstream(tmp_path: Path, url: str, *args: str, cwd: Path | None = None,
              timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runstream_agent.cli", *args],
                          cwd=cwd or tmp_path / "iris", env=env_for(tmp_path, url),
                          capture_output=True, text=True, timeout=timeout)


def run_id_in(output: str) -> str:
    return output.split("RunId: ", 1)[1].split()[0]


def all_lines(client: Client, run_id: str) -> list[list[Any]]:
    lines: list[list[Any]] = []
    while True:
        page = client.get_json(f"/api/runs/{run_id}/logs", start=len(lines), limit=100_000)
        if not page["lines"]:
            return lines
        lines += page["lines"]


def wait_for_status(client: Client, run_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            run: dict[str, Any] = client.get_json(f"/api/runs/{run_id}")
            if run["status"] in ("completed", "failed", "canceled"):
                return run
        except ApiError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish in {timeout}s")


def test_submit_streams_the_output_and_ends_with_execution_details(
        tmp_path: Path, server: ServerProcess) -> None:
    project(tmp_path, TRAIN)
    done = runstream(tmp_path, server.url, "submit", "-c", "local", "train.py", "--alpha", "0.5")
    assert done.returncode == 0, done.stderr
    run_id = run_id_in(done.stdout)
    assert "hello ['--alpha', '0.5']" in done.stdout
    footer = done.stdout.split("Execution Details", 1)[1]
    assert f"RunId: {run_id}" in footer and "Status: Completed" in footer
    assert "Number: 1" in footer and "Duration: " in footer
    client = server.client()
    run = client.get_json(f"/api/runs/{run_id}")
    assert (run["status"], run["project"], run["args"]) == ("completed", "iris",
                                                           ["--alpha", "0.5"])
    assert client.has_blob(run["snapshot"])
    [artifact] = client.get_json(f"/api/runs/{run_id}/artifacts")
    assert artifact["path"] == "outputs/model.pkl" and client.has_blob(artifact["sha256"])
    assert client.get_json(f"/api/runs/{run_id}/metrics/loss")["steps"] == [0, 1, 2]
    assert list((tmp_path / "spool").glob("run*")) == []


def test_a_script_printing_100000_lines_fast_loses_none_and_keeps_their_order(
        tmp_path: Path, server: ServerProcess) -> None:
    project(tmp_path, "for i in range(100_000):\n    print(f'line {i}')\n")
    done = runstream(tmp_path, server.url, "submit", "train.py")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = all_lines(server.client(), run_id_in(done.stdout))
    assert [n for n, _t, _fd, _text in lines] == list(range(100_000))
    assert [text for _n, _t, _fd, text in lines] == [f"line {i}" for i in range(100_000)]


def test_a_crashing_script_fails_with_its_traceback_and_exit_code(
        tmp_path: Path, server: ServerProcess) -> None:
    project(tmp_path, """
        import sys
        print("loading")
        if "--exit" in sys.argv:
            sys.exit(3)
        params = {}
        print(params["learning_rate"])
    """)
    done = runstream(tmp_path, server.url, "submit", "train.py")
    assert done.returncode == 1
    assert "Status: Failed" in done.stdout and "Reason: KeyError: 'learning_rate'" in done.stdout
    client = server.client()
    run_id = run_id_in(done.stdout)
    run = client.get_json(f"/api/runs/{run_id}")
    assert (run["status"], run["exit_code"], run["reason"]) == (
        "failed", 1, "KeyError: 'learning_rate'")
    stderr = [text for _n, _t, fd, text in all_lines(client, run_id) if fd == 2]
    assert stderr[0] == "Traceback (most recent call last):"
    assert stderr[-1] == "KeyError: 'learning_rate'"
    exited = runstream(tmp_path, server.url, "submit", "train.py", "--exit")
    assert exited.returncode == 3 and "Reason: exit code 3" in exited.stdout


def test_killing_the_server_mid_run_loses_and_duplicates_nothing(
        tmp_path: Path, server: ServerProcess) -> None:
    project(tmp_path, """
        import time, runstream
        logger = runstream.get_logger()
        for i in range(300):
            print(f"line {i}")
            logger.log("step", i)
            time.sleep(0.01)
    """)
    submit = subprocess.Popen(
        [sys.executable, "-m", "runstream_agent.cli", "submit", "train.py"],
        cwd=tmp_path / "iris", env={**env_for(tmp_path, server.url),
                                    "RUNSTREAM_EXIT_PATIENCE": "30"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.2)
    server.kill()
    time.sleep(1.5)
    server.start()
    out, err = submit.communicate(timeout=120)
    assert submit.returncode == 0, err
    client = server.client()
    run_id = run_id_in(out)
    assert client.get_json(f"/api/runs/{run_id}")["status"] == "completed"
    assert [text for *_rest, text in all_lines(client, run_id)] == [
        f"line {i}" for i in range(300)]
    steps = client.get_json(f"/api/runs/{run_id}/metrics/step")
    assert steps["steps"] == list(range(300)) and steps["values"] == list(range(300))
    seqs = [e["seq"] for e in client.get_json(f"/api/runs/{run_id}/events")]
    assert seqs == list(range(len(seqs)))


def test_detach_returns_at_once_and_the_run_goes_on(tmp_path: Path,
                                                    server: ServerProcess) -> None:
    project(tmp_path, "import time\ntime.sleep(2)\nprint('finished later')\n")
    began = time.monotonic()
    done = runstream(tmp_path, server.url, "submit", "--detach", "train.py")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - began < 2.0
    run_id = run_id_in(done.stdout)
    run = wait_for_status(server.client(), run_id)
    assert run["status"] == "completed"
    assert [text for *_r, text in all_lines(server.client(), run_id)] == ["finished later"]


def test_runs_submitted_together_run_at_once_with_their_own_ids(
        tmp_path: Path, server: ServerProcess) -> None:
    project(tmp_path, "import sys, time\ntime.sleep(1)\nprint(sys.argv[1])\n")
    began = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-m", "runstream_agent.cli", "submit",
                               "train.py", str(i)], cwd=tmp_path / "iris",
                              env=env_for(tmp_path, server.url), stdout=subprocess.PIPE,
                              text=True) for i in range(3)]
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert time.monotonic() - began < 6
    ids = {run_id_in(o) for o in outputs}
    assert len(ids) == 3
    client = server.client()
    assert sorted(client.get_json(f"/api/runs/{r}")["number"] for r in ids) == [1, 2, 3]


def test_an_unknown_target_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    project(tmp_path, "print(1)\n")
    done = runstream(tmp_path, f"http://127.0.0.1:{free_port()}", "submit", "-c", "gpu",
                     "train.py")
    assert done.returncode == 1
    assert "no compute target 'gpu'; known targets: local" in done.stderr
    assert not list((tmp_path / "spool").glob("run*"))


def test_a_run_submitted_while_the_server_is_down_is_delivered_by_sync(
        tmp_path: Path, server: ServerProcess) -> None:
    project(tmp_path, TRAIN)
    done = runstream(tmp_path, f"http://127.0.0.1:{free_port()}", "submit", "train.py")
    assert done.returncode == 0
    assert "Number: unknown" in done.stdout and "runstream sync" in done.stdout
    run_id = run_id_in(done.stdout)
    synced = runstream(tmp_path, server.url, "sync")
    assert synced.returncode == 0, synced.stderr
    assert f"run/{run_id}:" in synced.stdout and "2 files" in synced.stdout
    client = server.client()
    run = client.get_json(f"/api/runs/{run_id}")
    assert run["status"] == "completed" and client.has_blob(run["snapshot"])
    [artifact] = client.get_json(f"/api/runs/{run_id}/artifacts")
    assert client.has_blob(artifact["sha256"])
    assert list((tmp_path / "spool").glob("run*")) == []


def test_sync_reports_when_the_server_is_still_down(tmp_path: Path) -> None:
    project(tmp_path, "print(1)\n")
    dead = f"http://127.0.0.1:{free_port()}"
    assert runstream(tmp_path, dead, "submit", "train.py").returncode == 0
    synced = runstream(tmp_path, dead, "sync")
    assert synced.returncode == 1 and "unreachable" in synced.stdout


def test_a_printed_line_is_on_the_server_within_100_ms(tmp_path: Path,
                                                       server: ServerProcess) -> None:
    """Lines printed slowly, each with its print time; the test polls the logs API."""
    project(tmp_path, """
        import time
        for i in range(30):
            print(repr(time.time()))
            time.sleep(0.05)
    """)
    submit = subprocess.Popen(
        [sys.executable, "-m", "runstream_agent.cli", "submit", "train.py"],
        cwd=tmp_path / "iris", env=env_for(tmp_path, server.url), stdout=subprocess.PIPE,
        text=True)
    assert submit.stdout is not None
    run_id = run_id_in(submit.stdout.readline())
    threading.Thread(target=submit.stdout.read, daemon=True).start()
    client = Client(server.url)
    latencies: list[float] = []
    deadline = time.monotonic() + 30
    while len(latencies) < 30 and time.monotonic() < deadline:
        try:
            page = client.get_json(f"/api/runs/{run_id}/logs", start=len(latencies))
        except ApiError:
            page = {"lines": []}
        now = time.time()
        latencies += [now - float(text) for *_r, text in page["lines"]]
        time.sleep(0.002)
    submit.wait(60)
    assert len(latencies) == 30
    assert statistics.median(latencies) < 0.1, sorted(latencies)


@pytest.mark.parametrize("args", [["submit"], ["submit", "missing.py"]])
def test_submit_without_a_script_explains_itself(tmp_path: Path, args: list[str]) -> None:
    project(tmp_path, "print(1)\n")
    done = runstream(tmp_path, f"http://127.0.0.1:{free_port()}", *args)
    assert done.returncode != 0
    assert "SCRIPT" in done.stderr or "no script 'missing.py'" in done.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_cancels_the_run(tmp_path: Path, server: ServerProcess,
                                           sig: signal.Signals) -> None:
    project(tmp_path, """
        import time
        try:
            print("ready", flush=True)
            time.sleep(60)
        finally:
            print("cleaning up", flush=True)
    """)
    submit = subprocess.Popen(
        [sys.executable, "-m", "runstream_agent.cli", "submit", "train.py"],
        cwd=tmp_path / "iris", env=env_for(tmp_path, server.url), stdout=subprocess.PIPE,
        text=True)
    assert submit.stdout is not None
    run_id = run_id_in(submit.stdout.readline())
    while "ready" not in submit.stdout.readline():
        pass
    submit.send_signal(sig)
    out = submit.communicate(timeout=60)[0]
    assert submit.returncode == 130 and "Status: Canceled" in out
    client = server.client()
    assert client.get_json(f"/api/runs/{run_id}")["status"] == "canceled"
    assert "cleaning up" in [text for *_r, text in all_lines(client, run_id)]
