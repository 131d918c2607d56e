"""The iris lab at scale: agents produce to Kafka, the server consumes into PostgreSQL, and
what the user sees equals the embedded run's (HTTP, SQLite) for the same inputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from runstream.client import Client
from runstream.events import SYSTEM_PREFIX
from tests.conftest import ServerProcess
from tests.kafka_broker import server_group, wait_consumed
from tests.server.kafka.test_kafka_server import kafka_server

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]

LAB = Path(__file__).resolve().parents[2] / "examples" / "classifying_iris"
RUNS = 11


def run_lab(tmp_path: Path, name: str, server: ServerProcess,
            extra_env: dict[str, str]) -> None:
    """``python run.py`` (11 detached submits) in a fresh copy of the lab; returns once
    the server shows every run finished."""
    lab = tmp_path / name / "classifying_iris"
    shutil.copytree(LAB, lab, ignore=shutil.ignore_patterns("outputs", "assets", "__pycache__"))
    env = {**os.environ, "RUNSTREAM_URL": server.url,
           "RUNSTREAM_SPOOL_DIR": str(tmp_path / name / "spool"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **extra_env}
    env.pop("RUNSTREAM_AGENT_SOCKET", None)
    submitted = subprocess.run([sys.executable, "run.py"], cwd=lab, env=env,
                               capture_output=True, text=True, timeout=300)
    assert submitted.returncode == 0, submitted.stderr
    client = server.client()
    deadline = time.monotonic() + 600
    while True:
        runs = client.get_json("/api/runs", limit=100)["runs"]
        if len(runs) == RUNS and all(r["status"] in ("completed", "failed") for r in runs):
            return
        assert time.monotonic() < deadline, [r["status"] for r in runs]
        time.sleep(1)


def projections(client: Client) -> dict[str, Any]:
    """Everything the lab's user sees of each run, keyed by its regularization rate,
    without ids, times, durations, hosts or log positions."""
    seen: dict[str, Any] = {}
    for run in client.get_json("/api/runs", limit=100)["runs"]:
        rid = run["run_id"]
        names = client.get_json(f"/api/runs/{rid}/metrics")
        series = {}
        # The agent's system metrics are there, but they measure the machine, which no
        # two labs share: compared by name only.
        system = sorted(n for n in names["scalars"] if n.startswith(SYSTEM_PREFIX))
        for kind, metric_names in names.items():
            for name in metric_names:
                if name.startswith(SYSTEM_PREFIX):
                    continue
                got = client.get_json(f"/api/runs/{rid}/metrics/{Client.quote(name)}")
                series[name] = (kind, got["steps"], got["values"]) if "steps" in got else \
                    (kind, [(p["step"], p["value"]) for p in got["points"]])
        artifacts = sorted((a["path"], a["sha256"], a["size"], a["media_type"])
                           for a in client.get_json(f"/api/runs/{rid}/artifacts"))
        assert all(client.has_blob(sha) for _p, sha, _s, _m in artifacts)
        lines = [(fd, text) for _n, _t, fd, text in
                 client.get_json(f"/api/runs/{rid}/logs", limit=100_000)["lines"]]
        seen[run["args"][0]] = {
            "number": run["number"], "status": run["status"], "args": run["args"],
            "project": run["project"], "script": run["script"], "target": run["target"],
            "exit_code": run["exit_code"], "reason": run["reason"],
            "latest": run["metrics"], "series": series, "system": system,
            "artifacts": artifacts,
            "lines": lines, "log_lines": run["log_lines"], "archived": run["archived"]}
    return seen


def best(client: Client) -> str:
    runs = client.get_json("/api/runs", limit=100)["runs"]
    top = max(runs, key=lambda r: (r["metrics"]["MaxFscore"], r["metrics"]["Accuracy"]))
    return str(top["args"][0])


def test_the_lab_through_kafka_on_postgresql_equals_the_embedded_lab(
        tmp_path: Path, kafka_bootstrap: str, postgres_db: str) -> None:
    embedded = ServerProcess(tmp_path / "embedded-server").start()
    try:
        run_lab(tmp_path, "embedded", embedded, {})
        expected = projections(embedded.client())
        expected_best = best(embedded.client())
    finally:
        embedded.stop()

    topic = f"lab.{uuid.uuid4().hex[:10]}"
    scaled = kafka_server(tmp_path, kafka_bootstrap, topic, "kafka-server", postgres_db).start()
    try:
        run_lab(tmp_path, "kafka", scaled,
                {"RUNSTREAM_KAFKA": kafka_bootstrap, "RUNSTREAM_KAFKA_TOPIC": topic})
        wait_consumed(kafka_bootstrap, topic, server_group(topic))
        client = scaled.client()
        got = projections(client)
        got_best = best(client)
        assert client.get_json("/api/dead-letters") == []
        # The events came through Kafka, not over HTTP: the topic holds every run.
        assert client.get_json("/api")["position"] > RUNS * 5
    finally:
        scaled.stop()

    assert sorted(got) == sorted(expected) and len(got) == RUNS
    assert sorted(r["number"] for r in got.values()) == list(range(1, RUNS + 1))
    assert all(r["status"] == "completed" for r in got.values())
    for rate, run in expected.items():
        # What is compared is all there: files, every logged metric, the printed output.
        assert [a[0] for a in run["artifacts"]] == [
            "outputs/cm.png", "outputs/model.pkl", "outputs/roc.png"]
        assert set(run["series"]) == {"Regularization Rate", "Accuracy", "Precision", "Recall",
                                      "Thresholds", "Fscore", "MaxFscore", "Predicted class"}
        assert "sys/cpu_percent" in run["system"] and "sys/memory_rss_bytes" in run["system"]
        assert any(text.startswith("Max F_1 is ") for _fd, text in run["lines"])
        # model.pkl too: pickling the fitted model is deterministic here (same
        # interpreter and libraries), so its hash is part of the comparison.
        assert got[rate] == run, f"run with rate {rate} differs"
    assert got_best == expected_best
