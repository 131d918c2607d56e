"""The history, models and asset commands against a real server process."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from runstream.codec import encode_batch
from runstream.events import RunSubmitted
from runstream_agent.cli import main
from tests.conftest import ServerProcess
from tests.server.history import RunWriter


def cli(server: ServerProcess, *args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env={"RUNSTREAM_URL": server.url},
                                catch_exceptions=False)
    return result


def seed(server: ServerProcess, tmp_path: Path) -> dict[str, Any]:
    """Two finished runs, the better one with a model and a code snapshot."""
    client = server.client()
    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    sha = client.put_blob(model)
    snap = io.BytesIO()
    with tarfile.open(fileobj=snap, mode="w:gz") as tf:
        data = b"print('hello')\n"
        info = tarfile.TarInfo("train.py")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    snap_file = tmp_path / "snap.tgz"
    snap_file.write_bytes(snap.getvalue())
    snap_sha = client.put_blob(snap_file)
    events = []
    for run_id, acc, loss in [("iris_1", 0.8, 0.5), ("iris_2", 0.95, 0.7)]:
        w = RunWriter(run_id)
        w.emit(RunSubmitted(project="iris", script="train.py", args=["0.5"], snapshot=snap_sha))
        w.started()
        w.lines("Accuracy is 0.9", "Max F_1 is 0.5")
        w.metrics({"Accuracy": [acc], "loss": [loss]})
        w.artifact("outputs/model.pkl", sha, model.stat().st_size)
        w.completed()
        events += w.events
    client.post_events(encode_batch(events))
    return {"model_sha": sha, "model": model}


def test_list_info_last_and_query(server: ServerProcess, tmp_path: Path) -> None:
    seed(server, tmp_path)
    listed = cli(server, "history", "list", "-o", "json")
    assert listed.exit_code == 0, listed.output
    runs = json.loads(listed.output)["runs"]
    assert [(r["number"], r["status"]) for r in runs] == [(2, "completed"), (1, "completed")]
    queried = cli(server, "history", "list", "--query", "runs[].metrics.Accuracy")
    assert json.loads(queried.output) == [0.95, 0.8]
    table = cli(server, "history", "list")
    assert "iris_1" in table.output and "Accuracy" in table.output
    info = cli(server, "history", "info", "--run", "iris_1", "-o", "json")
    assert json.loads(info.output)["metrics"] == {"Accuracy": 0.8, "loss": 0.5}
    log = cli(server, "history", "info", "--run", "iris_1", "--artifact", "driver_log")
    assert log.output.splitlines() == ["Accuracy is 0.9", "Max F_1 is 0.5"]
    last = cli(server, "history", "last", "--query", "run_id")
    assert json.loads(last.output) == "iris_2"


def test_an_unknown_run_lists_the_nearest(server: ServerProcess, tmp_path: Path) -> None:
    seed(server, tmp_path)
    result = CliRunner().invoke(main, ["history", "info", "--run", "iris_3"],
                                env={"RUNSTREAM_URL": server.url})
    assert result.exit_code == 1
    assert "no run 'iris_3'" in result.output and "iris_1" in result.output


def test_a_stopped_server_is_explained(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["history", "list"],
                                env={"RUNSTREAM_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 1
    assert "cannot reach the runstream server" in result.output
    assert "runstream server" in result.output


def test_compare_marks_the_best_values(server: ServerProcess, tmp_path: Path) -> None:
    seed(server, tmp_path)
    result = cli(server, "history", "compare", "iris_1", "iris_2", "-o", "json")
    data = json.loads(result.output)
    assert data["best"] == {"Accuracy": "iris_2", "loss": "iris_1"}  # lower loss is better
    table = cli(server, "history", "compare", "iris_1", "iris_2")
    assert "★" in table.output


def test_promote_twice_then_download_by_link_file(server: ServerProcess, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    seeded = seed(server, tmp_path)
    monkeypatch.chdir(tmp_path)
    for expected in (1, 2):
        result = cli(server, "history", "promote", "--run", "iris_2", "--artifact-path",
                     "outputs/model.pkl", "--name", "model.pkl")
        assert result.exit_code == 0, result.output
        link = json.loads((tmp_path / "assets" / "model.pkl.link").read_text())
        assert link["version"] == expected and link["sha256"] == seeded["model_sha"]
    models = cli(server, "models", "list", "-o", "json")
    assert [(m["name"], m["latest"]) for m in json.loads(models.output)] == [("model.pkl", 2)]
    shown = cli(server, "models", "show", "model.pkl", "--query", "versions[].run_id")
    assert json.loads(shown.output) == ["iris_2", "iris_2"]
    got = cli(server, "asset", "download", "--link-file", "assets/model.pkl.link", "-d", "out")
    assert got.exit_code == 0, got.output
    data = (tmp_path / "out" / "model.pkl").read_bytes()
    assert hashlib.sha256(data).hexdigest() == seeded["model_sha"]
    assert pickle.loads(data) == {"weights": [1, 2, 3]}

    link = json.loads((tmp_path / "assets" / "model.pkl.link").read_text())
    link["sha256"] = "0" * 64
    (tmp_path / "bad.link").write_text(json.dumps(link))
    bad = CliRunner().invoke(main, ["asset", "download", "--link-file", "bad.link", "-d", "b"],
                             env={"RUNSTREAM_URL": server.url})
    assert bad.exit_code == 1 and "hashes to" in bad.output
    assert not (tmp_path / "b" / "model.pkl").exists()


def test_download_archive_restore_and_checkout(server: ServerProcess, tmp_path: Path) -> None:
    seeded = seed(server, tmp_path)
    out = tmp_path / "dl"
    assert cli(server, "history", "download", "--run", "iris_1", "-d", str(out)).exit_code == 0
    assert (out / "outputs" / "model.pkl").read_bytes() == seeded["model"].read_bytes()
    assert "Accuracy is 0.9" in (out / "driver_log.txt").read_text()

    assert cli(server, "history", "archive", "--run", "iris_1").exit_code == 0
    ids = json.loads(cli(server, "history", "list", "--query", "runs[].run_id").output)
    assert ids == ["iris_2"]
    assert cli(server, "history", "restore", "--run", "iris_1").exit_code == 0
    ids = json.loads(cli(server, "history", "list", "--query", "runs[].run_id").output)
    assert ids == ["iris_2", "iris_1"]

    code = tmp_path / "code"
    assert cli(server, "history", "checkout", "--run", "iris_1", "-d", str(code)).exit_code == 0
    assert (code / "train.py").read_text() == "print('hello')\n"


def test_logs_and_audit(server: ServerProcess, tmp_path: Path) -> None:
    seed(server, tmp_path)
    logs = cli(server, "logs", "--run", "iris_1")
    assert logs.output.splitlines() == ["Accuracy is 0.9", "Max F_1 is 0.5"]
    audit = cli(server, "audit", "--run", "iris_1", "--query", "[].type")
    assert json.loads(audit.output) == ["run.submitted", "run.started", "log.lines",
                                        "metrics.logged", "artifact.added", "run.completed"]


def test_logs_follow_prints_lines_as_they_come_until_the_run_ends(
        server: ServerProcess) -> None:
    client = server.client()
    w = RunWriter("iris_live")
    w.submitted()
    w.started()
    w.lines("first")
    client.post_events(encode_batch(w.events))

    def later() -> None:
        time.sleep(1.0)
        more = [w.lines("second"), w.completed()]
        client.post_events(encode_batch(more))

    threading.Thread(target=later).start()
    result = cli(server, "logs", "--run", "iris_live", "--follow")
    assert result.output.splitlines() == ["first", "second"]
    assert result.exit_code == 0


def test_list_filters_and_orders_with_mlflow_syntax(server: ServerProcess, tmp_path: Path) -> None:
    events = []
    for run_id, acc, reg in [("iris_1", 0.8, "0.5"), ("iris_2", 0.95, "2"), ("iris_3", 0.9, "0.1")]:
        w = RunWriter(run_id)
        w.submitted()
        w.params(reg=reg)
        w.metrics({"Accuracy": [acc]})
        w.completed()
        events += w.events
    server.client().post_events(encode_batch(events))

    found = cli(server, "history", "list", "--filter",
                "metrics.Accuracy > 0.75 and params.reg != '2'", "--order-by",
                "metrics.Accuracy DESC", "--query", "runs[].run_id")
    assert found.exit_code == 0, found.output
    assert json.loads(found.output) == ["iris_3", "iris_1"]
    ordered = cli(server, "history", "list", "--order-by", "params.reg ASC, metrics.Accuracy",
                  "--query", "runs[].run_id")
    assert json.loads(ordered.output) == ["iris_3", "iris_1", "iris_2"]

    bad = cli(server, "history", "list", "--filter", "metrics.Accuracy >> 0.5")
    assert bad.exit_code == 2
    assert "Invalid value for --filter" in bad.output
    assert "unexpected `>` at column 18: expected a value" in bad.output
    lines = bad.output.splitlines()
    shown = lines.index("  metrics.Accuracy >> 0.5")
    assert lines[shown + 1] == "  " + " " * 18 + "^"
    bad_order = cli(server, "history", "list", "--order-by", "metrics.Accuracy sideways")
    assert bad_order.exit_code == 2 and "Invalid value for --order-by" in bad_order.output
    assert "expected ASC, DESC" in bad_order.output
