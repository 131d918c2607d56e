"""What MLflow logged is runstream history like any run: listed by `runstream history
list`, audited event by event by `runstream audit`, and answered identically — through
MLflow's own client — after `runstream replay` rebuilt every view from the event store."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess
from tests.mlflow.conftest import mlflow_server, unique


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def restartable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    with mlflow_server(request.param, tmp_path) as server:
        yield server


def cli(server: ServerProcess, *args: str) -> Any:
    done = subprocess.run([sys.executable, "-m", "runstream_agent.cli", *args],
                          capture_output=True, text=True, timeout=120, env=server.env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def log_two_runs(experiment: str, tmp: Path) -> list[str]:
    import mlflow

    mlflow.set_experiment(experiment)
    ids = []
    for reg in ("0.5", "0.01"):
        with mlflow.start_run(run_name=f"reg-{reg}") as run:
            mlflow.log_params({"reg": reg, "solver": "lbfgs"})
            for step in range(5):
                mlflow.log_metric("loss", 1.0 / (step + 1) + float(reg), step=step)
            mlflow.log_metric("Accuracy", 0.9 - float(reg) / 10)
            mlflow.set_tag("team", "iris")
            mlflow.log_text(f"reg {reg}\n", "notes/summary.txt")
            ids.append(run.info.run_id)
    return ids


def seen_through_mlflow(experiment: str, ids: list[str]) -> dict[str, Any]:
    """Everything the MLflow client answers about the experiment's runs, without times
    that a replay may not keep to the millisecond (none: they come from the events)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], order_by=["metrics.Accuracy DESC"])
    seen: dict[str, Any] = {"experiment": (exp.experiment_id, exp.name, exp.lifecycle_stage,
                                           exp.artifact_location),
                            "order": [r.info.run_id for r in runs]}
    for run_id in ids:
        run = client.get_run(run_id)
        seen[run_id] = {
            "info": (run.info.run_name, run.info.status, run.info.start_time,
                     run.info.end_time, run.info.artifact_uri, run.info.lifecycle_stage,
                     run.info.experiment_id),
            "params": run.data.params, "metrics": run.data.metrics,
            "tags": {k: v for k, v in run.data.tags.items()},
            "history": [(m.step, m.value, m.timestamp)
                        for m in client.get_metric_history(run_id, "loss")],
            "artifacts": sorted((f.path, f.is_dir, f.file_size)
                                for f in client.list_artifacts(run_id, "notes")),
        }
    return seen


def test_mlflow_runs_are_listed_audited_and_the_same_after_a_replay(
        restartable: ServerProcess, tmp_path: Path) -> None:
    experiment = unique("replayed")
    ids = log_two_runs(experiment, tmp_path)
    before = seen_through_mlflow(experiment, ids)
    assert before[ids[0]]["params"] == {"reg": "0.5", "solver": "lbfgs"}
    assert [s for s, _v, _t in before[ids[0]]["history"]] == [0, 1, 2, 3, 4]

    listed = json.loads(cli(restartable, "history", "list", "--url", restartable.url,
                            "--filter", "params.solver = 'lbfgs'", "-o", "json"))
    runs = listed["runs"] if isinstance(listed, dict) else listed
    by_id = {r["run_id"]: r for r in runs}
    assert set(ids) <= set(by_id)
    assert by_id[ids[1]]["name"] == "reg-0.01" and by_id[ids[1]]["params"]["reg"] == "0.01"
    assert by_id[ids[1]]["project"] == experiment

    audit = json.loads(cli(restartable, "audit", "--run", ids[0], "--url", restartable.url,
                           "-o", "json"))
    entries = audit["events"] if isinstance(audit, dict) else audit
    assert {e["stream"] for e in entries} == {f"mlflow/{ids[0]}"}
    types = [e["type"] for e in entries]
    assert types[:2] == ["run.submitted", "run.started"]
    assert {"params.logged", "metrics.logged", "tags.set", "artifact.added",
            "run.completed"} <= set(types)

    restartable.stop()
    cli(restartable, "replay", "--data-dir", str(restartable.data_dir))
    restartable.start()
    after = seen_through_mlflow(experiment, ids)
    assert after == before
