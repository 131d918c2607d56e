"""``runstream asset download --model NAME[/VERSION|@ALIAS]`` and ``runstream models``
over one registry: versions promoted by runstream (a file) and registered through the
MLflow API (a directory, written file by file, every sha256 checked, all or nothing)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from runstream.client import Client
from runstream.codec import encode_batch
from runstream_agent.cli import main
from tests.agent.cli.recording import recording_server
from tests.conftest import ServerProcess
from tests.server.history import RunWriter

MLFLOW = "/api/2.0/mlflow"
FILES = {"model/MLmodel": b"flavors: {}\n", "model/model.pkl": b"\x80\x04weights",
         "model/env/conda.yaml": b"name: env\n", "outputs/model.pkl": b"promoted weights"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cli(url: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"RUNSTREAM_URL": url})


def seed(server: ServerProcess) -> Client:
    """A run with an MLflow model folder and a file; ``clf`` version 1 is the promoted
    file, version 2 the MLflow model (alias ``champion``)."""
    client = server.client()
    w = RunWriter("iris_1")
    w.submitted()
    for path, data in FILES.items():
        client.request("PUT", f"/api/blobs/{sha(data)}", data).read()
        w.artifact(path, sha(data), len(data))
    client.post_events(encode_batch(w.events))
    client.send_json("POST", "/api/models",
                     {"run_id": "iris_1", "path": "outputs/model.pkl", "name": "clf"})
    client.send_json("POST", f"{MLFLOW}/model-versions/create",
                     {"name": "clf", "source": "runs:/iris_1/model", "run_id": "iris_1"})
    client.send_json("POST", f"{MLFLOW}/registered-models/alias",
                     {"name": "clf", "alias": "champion", "version": "2"})
    client.send_json("POST", f"{MLFLOW}/registered-models/create", {"name": "empty"})
    return client


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One seeded server for the module: its tests only read."""
    server = ServerProcess(tmp_path_factory.mktemp("registry") / "server").start()
    try:
        seed(server)
        yield server
    finally:
        server.stop()


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_directory_version_is_written_as_its_files(seeded: ServerProcess,
                                                      tmp_path: Path) -> None:
    server = seeded
    model = {k.removeprefix("model/"): v for k, v in FILES.items() if k.startswith("model/")}
    for spec in ("clf@champion", "clf/2", "clf"):
        out = tmp_path / spec.replace("/", "_")
        got = cli(server.url, "asset", "download", "--model", spec, "-d", str(out))
        assert got.exit_code == 0, got.output
        assert tree(out) == {f"clf/{k}": v for k, v in model.items()}, spec
        said = " ".join(got.output.split())  # rich wraps long lines
        assert "3 files written" in said and "(sha256 verified)" in said


def test_a_file_version_is_written_as_the_models_file(seeded: ServerProcess,
                                                      tmp_path: Path) -> None:
    server = seeded
    got = cli(server.url, "asset", "download", "--model", "clf/1", "-d", str(tmp_path / "o"))
    assert got.exit_code == 0, got.output
    assert tree(tmp_path / "o") == {"clf": FILES["outputs/model.pkl"]}


def test_models_lists_both_kinds_and_models_without_versions(seeded: ServerProcess) -> None:
    server = seeded
    listed = json.loads(cli(server.url, "models", "list", "-o", "json").output)
    assert [(m["name"], m["latest"], m["versions"], m["aliases"]) for m in listed] == [
        ("clf", 2, 2, {"champion": 2}), ("empty", 0, 0, {})]
    shown = json.loads(cli(server.url, "models", "show", "clf", "-o", "json").output)
    assert [(v["version"], v["kind"]) for v in shown["versions"]] == [(1, "file"),
                                                                       (2, "directory")]
    table = cli(server.url, "models", "show", "clf").output
    assert "model/ (directory)" in table and "@champion" in table
    assert "—" in cli(server.url, "models", "list").output  # empty has no latest version


@pytest.mark.parametrize(("spec", "message"), [
    ("nope@champion", "no model 'nope'"),
    ("clf@retired", "no alias 'retired'"),
    ("clf/9", "not '9'"),
    ("empty", "no versions yet"),
])
def test_a_version_that_is_not_there_is_explained(seeded: ServerProcess, tmp_path: Path,
                                                  spec: str, message: str) -> None:
    server = seeded
    got = cli(server.url, "asset", "download", "--model", spec, "-d", str(tmp_path / "o"))
    assert got.exit_code == 1 and message in got.output, got.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args", [
    ["--model", "a/b/c"], ["--model", "clf@"], [], ["--model", "clf", "--link-file", "x"]])
def test_the_version_must_be_named_once(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "x").write_text("{}")
    result = CliRunner().invoke(main, ["asset", "download", *args, "-d", str(tmp_path / "o")],
                                env={"RUNSTREAM_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "o").exists()


def directory() -> dict[str, Any]:
    return {"name": "m", "version": 1, "kind": "directory", "run_id": "r", "path": "",
            "sha256": "0" * 64, "size": 1}


@pytest.mark.parametrize("hostile", ["../escape", "/abs/x", "a/../../x", "ok\x00"])
def test_a_hostile_file_list_writes_nothing(tmp_path: Path, hostile: str) -> None:
    with recording_server() as fake:
        files = [{"path": "MLmodel", "sha256": sha(b"x"), "size": 1},
                 {"path": hostile, "sha256": sha(b"x"), "size": 1}]
        fake.json("/api/models/m/versions/latest", directory())
        fake.json("/api/models/m/versions/1/files", files)
        fake.file("/api/models/m/versions/1/files/MLmodel", b"x")
        got = cli(fake.url, "asset", "download", "--model", "m", "-d", str(tmp_path / "o"))
    assert got.exit_code == 1, got.output
    assert not (tmp_path / "o").exists() and not (tmp_path / "escape").exists()
    assert [r.path for r in fake.requests] == ["/api/models/m/versions/latest",
                                               "/api/models/m/versions/1/files"]


def test_a_corrupted_file_writes_nothing(tmp_path: Path) -> None:
    with recording_server() as fake:
        files = [{"path": "MLmodel", "sha256": sha(b"x"), "size": 1},
                 {"path": "model.pkl", "sha256": sha(b"good"), "size": 4}]
        fake.json("/api/models/m/versions/latest", directory())
        fake.json("/api/models/m/versions/1/files", files)
        fake.file("/api/models/m/versions/1/files/MLmodel", b"x")
        fake.file("/api/models/m/versions/1/files/model.pkl", b"evil")
        got = cli(fake.url, "asset", "download", "--model", "m", "-d", str(tmp_path / "o"))
    assert got.exit_code == 1 and "hashes to" in got.output, got.output
    assert not (tmp_path / "o" / "m").exists()
