"""A run's name, parameters and tags: given to ``runstream submit``, logged by the
script, shown by ``runstream history`` — against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from runstream.codec import encode_batch
from runstream_agent.cli import main
from tests.agent.cli.test_run import env_for, project, run_id_in, runstream
from tests.agent.cli.test_run_kafka import kafka_env, submit
from tests.conftest import ServerProcess
from tests.kafka_broker import server_group, wait_consumed
from tests.server.history import RunWriter
from tests.server.kafka.test_kafka_server import kafka_server

SCRIPT = """
    import sys, numpy as np, runstream
    logger = runstream.get_logger()
    print("args", sys.argv[1:])
    logger.log_params({"lr": np.float64(0.01), "epochs": 3})
    logger.log("loss", 0.5)
    logger.set_tag("stage", "training")
    logger.set_tag("tmp", "x")
    logger.log("loss", 0.25)
    logger.set_tags({"stage": "done"})
    logger.delete_tag("tmp")
    logger.log_param("lr", 0.02)  # refused: a parameter is fixed
"""


def cli(server: ServerProcess, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"RUNSTREAM_URL": server.url},
                              catch_exceptions=False)


def test_submit_records_the_name_params_and_tags_given_and_those_the_script_logs(
        tmp_path: Path, server: ServerProcess) -> None:
    project(tmp_path, SCRIPT + '    logger.log_param("seed", 7)  # as given: a no-op\n'
                      '    logger.log_param("seed", 8)  # refused: given as 7 at submission\n')
    done = runstream(tmp_path, server.url, "submit", "--name", "baseline", "--param",
                     "seed=7", "--param", "data=iris=v2", "--tag", "team=vision",
                     "train.py", "--alpha", "0.5")
    assert done.returncode == 0, done.stderr
    run_id = run_id_in(done.stdout)
    assert "args ['--alpha', '0.5']" in done.stdout
    assert "parameter 'lr' is already logged as '0.01', so '0.02' was refused" in done.stderr
    assert "parameter 'seed' is already logged as '7', so '8' was refused" in done.stderr
    assert "'seed' is already logged as '7', so '7'" not in done.stderr
    run = server.client().get_json(f"/api/runs/{run_id}")
    assert run["status"] == "completed" and run["args"] == ["--alpha", "0.5"]
    assert run["name"] == "baseline"
    assert run["params"] == {"seed": "7", "data": "iris=v2", "lr": "0.01", "epochs": "3"}
    assert run["tags"] == {"team": "vision", "stage": "done"}
    assert server.client().get_json(f"/api/runs/{run_id}/metrics/loss")["values"] == [0.5, 0.25]
    types = [e["type"] for e in server.client().get_json(f"/api/runs/{run_id}/events")]
    assert types[:3] == ["run.submitted", "params.logged", "tags.set"]  # right after submitted

    shown = cli(server, "history", "info", "--run", run_id)
    assert shown.exit_code == 0, shown.output
    for text in ("baseline", "params.seed", "params.lr", "0.01", "params.data", "iris=v2",
                 "tags.team", "vision", "tags.stage", "done"):
        assert text in shown.output
    assert "tags.tmp" not in shown.output
    as_json = cli(server, "history", "info", "--run", run_id, "--query", "[name, params, tags]")
    assert json.loads(as_json.output) == ["baseline", run["params"], run["tags"]]
    listed = cli(server, "history", "list", "-o", "json", "--query", "runs[].[name, params]")
    assert json.loads(listed.output) == [["baseline", run["params"]]]


def test_submit_refuses_a_param_or_tag_not_given_as_key_value(
        tmp_path: Path, server: ServerProcess) -> None:
    project(tmp_path, SCRIPT)
    for flags, says in ((["--param", "seed"], "give it as KEY=VALUE"),
                        (["--tag", "=x"], "give it as KEY=VALUE"),
                        (["--param", "a=1", "--param", "a=2"], "given twice"),
                        (["--param", "k" * 251 + "=1"], "longer than 250"),
                        (["--name", "n" * 251], "at most 250 characters")):
        done = runstream(tmp_path, server.url, "submit", *flags, "train.py")
        assert done.returncode != 0 and says in done.stderr, (flags, done.stderr)
        assert "RunId:" not in done.stdout  # refused before a run was made
    assert server.client().get_json("/api/runs")["total"] == 0


def test_history_shows_the_name_column_only_when_a_run_has_a_name(
        server: ServerProcess) -> None:
    unnamed = RunWriter("iris_1")
    unnamed.submitted("train.py", ("0.5",))
    server.client().post_events(encode_batch(unnamed.events))
    plain = cli(server, "history", "list")
    assert plain.exit_code == 0 and "iris_1" in plain.output and "Name" not in plain.output
    named = RunWriter("iris_2")
    named.submitted("train.py", ("0.1",), name="sweep-low")
    named.params(reg="0.1")
    server.client().post_events(encode_batch(named.events))
    both = cli(server, "history", "list")
    assert "Name" in both.output and "sweep-low" in both.output
    compared = cli(server, "history", "compare", "iris_1", "iris_2")
    assert compared.exit_code == 0 and "params.reg" in compared.output
    assert "0.1" in compared.output


@pytest.mark.kafka
def test_params_and_tags_travel_through_kafka_from_a_submitted_and_a_standalone_script(
        tmp_path: Path, kafka_bootstrap: str) -> None:
    topic = f"params.{uuid.uuid4().hex[:10]}"
    server = kafka_server(tmp_path, kafka_bootstrap, topic).start()
    try:
        root = project(tmp_path, SCRIPT)
        env = kafka_env(kafka_bootstrap, topic)
        done = submit(tmp_path, server.url, "submit", "--name", "on-kafka", "--param",
                      "seed=7", "train.py", env=env)
        assert done.returncode == 0, done.stderr
        submitted = run_id_in(done.stdout)
        alone = subprocess.run([sys.executable, "train.py"], cwd=root, capture_output=True,
                               text=True, timeout=120, env={**env_for(tmp_path, server.url),
                                                            **env})
        assert alone.returncode == 0, alone.stderr
        wait_consumed(kafka_bootstrap, topic, server_group(topic))
        runs = {r["run_id"]: r for r in server.client().get_json("/api/runs")["runs"]}
        assert set(runs) >= {submitted} and len(runs) == 2
        assert runs[submitted]["name"] == "on-kafka"
        assert runs[submitted]["params"] == {"seed": "7", "lr": "0.01", "epochs": "3"}
        [standalone] = [r for r in runs.values() if r["run_id"] != submitted]
        assert standalone["params"] == {"lr": "0.01", "epochs": "3"}
        for run in runs.values():
            assert run["tags"] == {"stage": "done"}
    finally:
        server.stop()
