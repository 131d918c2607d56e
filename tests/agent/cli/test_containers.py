"""The docker target's commands when no engine is at hand: clear errors, nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DOCKER = '[targets.docker-python]\ntype = "docker"\nimage = "python:3.11-slim"\n'


def runstream(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runstream_agent.cli", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=60)


def lab(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    project = tmp_path / "lab"
    project.mkdir()
    (project / "runstream.toml").write_text(DOCKER)
    (project / "train.py").write_text("print('hi')\n")
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
           "RUNSTREAM_URL": "http://127.0.0.1:9", "RUNSTREAM_SPOOL_DIR": str(tmp_path / "spool")}
    return project, env


def test_submit_without_an_engine_says_how_to_point_docker_host_at_one(tmp_path: Path) -> None:
    project, env = lab(tmp_path)
    done = runstream(project, "submit", "-c", "docker-python", "train.py", env=env)
    assert done.returncode == 1
    assert f"no container engine is reachable at unix://{tmp_path}/no-engine.sock" in done.stderr
    assert "export DOCKER_HOST=" in done.stderr and "podman system service" in done.stderr
    assert "RunId" not in done.stdout  # no run was created for it
    assert not (tmp_path / "spool").exists()


def test_prepare_without_an_engine_fails_the_same_way(tmp_path: Path) -> None:
    project, env = lab(tmp_path)
    done = runstream(project, "prepare", "-c", "docker-python", env=env)
    assert done.returncode == 1 and "DOCKER_HOST" in done.stderr


def test_a_local_target_needs_no_preparation(tmp_path: Path) -> None:
    project, env = lab(tmp_path)
    done = runstream(project, "prepare", "-c", "local", env=env)
    assert done.returncode == 0 and "nothing to prepare" in done.stdout


def test_prepare_is_a_command_of_the_cli(tmp_path: Path) -> None:
    done = runstream(tmp_path, "--help", env=dict(os.environ))
    assert "prepare" in done.stdout and "docker target's image" in done.stdout
