"""The model-selection lab, end to end, as a new user runs it from the terminal:
eleven iris runs on a fresh embedded server, compare, promote, download, score."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess

pytestmark = pytest.mark.slow

LAB = Path(__file__).resolve().parents[2] / "examples" / "classifying_iris"
RATES = [10 / 2**i for i in range(11)]


def runstream(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "runstream_agent.cli", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"runstream {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_iris_lab(server: ServerProcess, tmp_path: Path) -> None:
    lab = tmp_path / "classifying_iris"
    shutil.copytree(LAB, lab, ignore=shutil.ignore_patterns("outputs", "assets", "__pycache__"))
    env = {**os.environ, "RUNSTREAM_URL": server.url,
           "RUNSTREAM_SPOOL_DIR": str(tmp_path / "spool"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

    submitted = subprocess.run([sys.executable, "run.py"], cwd=lab, env=env,
                               capture_output=True, text=True, timeout=300)
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.count("runstream submit") == 11

    deadline = time.monotonic() + 300
    while True:
        runs: list[dict[str, Any]] = json.loads(
            runstream(env, lab, "history", "list", "-o", "json"))["runs"]
        if len(runs) == 11 and all(r["status"] in ("completed", "failed") for r in runs):
            break
        assert time.monotonic() < deadline, f"runs not done: {[r['status'] for r in runs]}"
        time.sleep(1)

    assert sorted(r["number"] for r in runs) == list(range(1, 12))
    assert all(r["status"] == "completed" for r in runs)
    assert all(r["duration"] and r["duration"] > 0 for r in runs)
    by_rate = {r["metrics"]["Regularization Rate"]: r for r in runs}
    assert sorted(by_rate) == sorted(RATES)
    client = server.client()
    for r in runs:  # every metric of every run, logged the natural NumPy way, is stored
        assert set(r["metrics"]) == {"Regularization Rate", "Accuracy", "MaxFscore",
                                     "Predicted class"}
        assert 0 < r["metrics"]["Accuracy"] <= 1
        assert 0 < r["metrics"]["MaxFscore"] <= 1
        assert re.fullmatch(r"Iris-\w+", r["metrics"]["Predicted class"])
        path = f"/api/runs/{client.quote(r['run_id'])}/metrics"
        names = client.get_json(path)
        assert "sys/memory_rss_bytes" in names["scalars"]  # the agent's system metrics
        names["scalars"] = [n for n in names["scalars"] if not n.startswith("sys/")]
        assert names == {
            "scalars": ["Accuracy", "MaxFscore", "Regularization Rate"],
            "arrays": ["Fscore", "Precision", "Recall", "Thresholds"],
            "strings": ["Predicted class"]}
        curves = {name: client.get_json(f"{path}/{name}")["points"]
                  for name in ("Precision", "Recall", "Thresholds", "Fscore")}
        assert all(len(points) == 1 and points[0]["value"] for points in curves.values())
        assert max(curves["Fscore"][0]["value"]) == r["metrics"]["MaxFscore"]

    last = by_rate[0.009765625]
    log = runstream(env, lab, "history", "info", "--run", last["run_id"], "--artifact",
                    "driver_log")
    match = re.search(r"^Max F_1 is (\S+)$", log, re.M)
    assert match, log
    assert float(match.group(1)) == last["metrics"]["MaxFscore"]

    top_two = sorted(runs, key=lambda r: r["metrics"]["MaxFscore"], reverse=True)[:2]
    compared = json.loads(runstream(env, lab, "history", "compare", top_two[0]["run_id"],
                                    top_two[1]["run_id"], "-o", "json"))
    accuracies = {r["run_id"]: r["metrics"]["Accuracy"] for r in compared["runs"]}
    best = max(accuracies, key=lambda k: accuracies[k])
    assert compared["best"]["Accuracy"] == best

    artifacts = json.loads(runstream(env, lab, "history", "info", "--run", best, "-o", "json",
                                     "--query", "artifacts"))
    assert artifacts >= 3  # model.pkl, cm.png, roc.png
    for version in (1, 2):
        runstream(env, lab, "history", "promote", "--run", best, "--artifact-path",
                  "outputs/model.pkl", "--name", "model.pkl")
        link = json.loads((lab / "assets" / "model.pkl.link").read_text())
        assert (link["model"], link["version"], link["run_id"]) == ("model.pkl", version, best)

    runstream(env, lab, "asset", "download", "--link-file", "assets/model.pkl.link",
              "-d", "outputs")
    model = lab / "outputs" / "model.pkl"
    assert hashlib.sha256(model.read_bytes()).hexdigest() == link["sha256"]
    scored = subprocess.run([sys.executable, "score.py", str(model)], cwd=lab, env=env,
                            capture_output=True, text=True, timeout=60)
    assert scored.returncode == 0, scored.stderr
    assert re.match(r"Predicted class is Iris-\w+", scored.stdout)
