"""MLflow's model registry against runstream's, with the real client: registered models,
versions from a run's files, aliases, tags, stages, search, deletion — and one registry
with runstream's own (``history promote`` versions seen by MLflow, MLflow's versions
listed and downloaded by runstream)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from runstream.client import ApiError, Client
from runstream.codec import encode_batch
from runstream_agent.cli import main
from tests.conftest import ServerProcess
from tests.mlflow.conftest import ALL_BACKENDS, unique
from tests.server.history import RunWriter

MLMODEL = b"artifact_path: model\nflavors:\n  python_function: {}\n"
PICKLE = b"\x80\x04pickled weights"
# The core flows hold on every store (SQLite, PostgreSQL, Kafka); the rest run on SQLite.
every_backend = pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True, scope="module")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def agent_run(tracking: ServerProcess, files: dict[str, bytes]) -> str:
    """A run as runstream's agent makes one (its own ``run/<id>`` stream, its files
    uploaded to the blob store): MLflow registers from the files runstream has."""
    client = tracking.client()
    run_id = unique("reg").replace("-", "_")
    w = RunWriter(run_id, project=unique("registry"))
    w.submitted()
    for path, data in files.items():
        client.request("PUT", f"/api/blobs/{sha(data)}", data).read()
        w.artifact(path, sha(data), len(data))
    client.post_events(encode_batch(w.events))
    return run_id


def model_run(tracking: ServerProcess) -> str:
    return agent_run(tracking, {"model/MLmodel": MLMODEL, "model/model.pkl": PICKLE,
                                "notes.txt": b"not in the model"})


def code(exc: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(exc.value.error_code)


def rs(tracking: ServerProcess, path: str) -> Any:
    return tracking.client().get_json(path)


def test_registered_models_are_created_once_and_named_safely(tracking: ServerProcess) -> None:
    client, name = MlflowClient(), unique("forest")
    made = client.create_registered_model(name, tags={"team": "ml"}, description="a forest")
    assert (made.name, made.description, made.tags) == (name, "a forest", {"team": "ml"})
    got = client.get_registered_model(name)
    assert got.tags == {"team": "ml"} and got.latest_versions == []
    assert got.creation_timestamp > 1_600_000_000_000  # epoch milliseconds
    with pytest.raises(MlflowException) as dup:
        client.create_registered_model(name, description="another")
    assert code(dup) == "RESOURCE_ALREADY_EXISTS"
    assert client.get_registered_model(name).description == "a forest"  # unchanged
    for bad in ("a/b", "../up", "", " lead"):
        with pytest.raises(MlflowException) as refused:
            client.create_registered_model(bad)
        assert code(refused) == "INVALID_PARAMETER_VALUE", bad
    assert not client.search_registered_models(filter_string="name = 'a/b'")
    with pytest.raises(MlflowException) as absent:
        client.get_registered_model(unique("nothing"))
    assert code(absent) == "RESOURCE_DOES_NOT_EXIST"
    # A model with no version yet is in runstream's own listing too.
    listed = {m["name"]: m for m in rs(tracking, "/api/models")}
    assert listed[name]["latest"] == 0 and listed[name]["versions"] == 0
    assert listed[name]["description"] == "a forest"


@every_backend
def test_versions_from_a_runs_files_are_ready_and_numbered(tracking: ServerProcess) -> None:
    client, name = MlflowClient(), unique("clf")
    run_id = model_run(tracking)
    client.create_registered_model(name)
    source = f"runs:/{run_id}/model"
    first = client.create_model_version(name, source, run_id, tags={"k": "v"},
                                        description="first")
    second = client.create_model_version(name, source, run_id)
    assert (first.version, second.version) == ("1", "2")
    assert first.status == "READY" and first.source == source and first.run_id == run_id
    assert first.tags == {"k": "v"} and first.description == "first"
    got = client.get_model_version(name, "1")
    assert (got.version, got.current_stage, got.status) == ("1", "None", "READY")
    uri = client.get_model_version_download_uri(name, "2")
    assert uri.startswith("mlflow-artifacts:/") and uri.endswith(f"/{run_id}/artifacts/model")
    assert [v.version for v in client.get_registered_model(name).latest_versions] == ["2"]
    # runstream sees the same versions: a directory, its files with their hashes.
    detail = rs(tracking, f"/api/models/{quote(name)}")
    assert [(v["version"], v["kind"], v["run_id"]) for v in detail["versions"]] == [
        (1, "directory", run_id), (2, "directory", run_id)]
    assert detail["versions"][0]["size"] == len(MLMODEL) + len(PICKLE)
    files = rs(tracking, f"/api/models/{quote(name)}/versions/1/files")
    assert files == [{"path": "MLmodel", "sha256": sha(MLMODEL), "size": len(MLMODEL)},
                     {"path": "model.pkl", "sha256": sha(PICKLE), "size": len(PICKLE)}]
    got_file = tracking.client().request(
        "GET", f"/api/models/{quote(name)}/versions/2/files/model.pkl").read()
    assert got_file == PICKLE
    # An mlflow-artifacts URI of the run's folder names the same files.
    third = client.create_model_version(name, uri, run_id)
    assert third.version == "3"
    assert rs(tracking, f"/api/models/{quote(name)}/versions/3")["sha256"] == \
        detail["versions"][0]["sha256"]


def test_a_source_without_files_is_refused_and_makes_no_version(
        tracking: ServerProcess) -> None:
    client, name = MlflowClient(), unique("empty")
    run_id = model_run(tracking)
    client.create_registered_model(name)
    cases = [(f"runs:/{run_id}/nothing-here", run_id, "INVALID_PARAMETER_VALUE"),
             ("runs:/no_such_run/model", None, "RESOURCE_DOES_NOT_EXIST"),
             ("s3://bucket/model", None, "INVALID_PARAMETER_VALUE"),
             (f"runs:/{run_id}/../x", run_id, "INVALID_PARAMETER_VALUE"),
             (f"runs:/{run_id}/model", "another_run", "INVALID_PARAMETER_VALUE"),
             (f"models:/{name}/1", None, "INVALID_PARAMETER_VALUE"),
             ("models:/m-" + "0" * 32, None, "RESOURCE_DOES_NOT_EXIST")]
    for source, run, expected in cases:
        with pytest.raises(MlflowException) as refused:
            client.create_model_version(name, source, run)
        assert code(refused) == expected, source
    with pytest.raises(MlflowException) as no_model:
        client.create_model_version(unique("unregistered"), f"runs:/{run_id}/model", run_id)
    assert code(no_model) == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_model_versions(f"name = '{name}'") == []
    # Nothing was numbered by the refusals: the first version made is 1.
    assert client.create_model_version(name, f"runs:/{run_id}/model", run_id).version == "1"


@every_backend
def test_aliases_tags_descriptions_and_stages(tracking: ServerProcess) -> None:
    client, name = MlflowClient(), unique("aliased")
    run_id = model_run(tracking)
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, f"runs:/{run_id}/model", run_id)
    client.set_registered_model_alias(name, "champion", "2")
    client.set_registered_model_alias(name, "challenger", 1)
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    assert client.get_registered_model(name).aliases == {"champion": "2", "challenger": "1"}
    assert client.get_model_version(name, "2").aliases == ["champion"]
    client.set_registered_model_alias(name, "champion", "1")  # an alias moves
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    for alias in ("latest", "v1", "has space"):
        with pytest.raises(MlflowException) as reserved:
            client.set_registered_model_alias(name, alias, "1")
        assert code(reserved) == "INVALID_PARAMETER_VALUE", alias
    with pytest.raises(MlflowException) as no_version:
        client.set_registered_model_alias(name, "future", "9")
    assert code(no_version) == "RESOURCE_DOES_NOT_EXIST"
    client.delete_registered_model_alias(name, "challenger")
    with pytest.raises(MlflowException) as gone:
        client.get_model_version_by_alias(name, "challenger")
    assert code(gone) == "RESOURCE_DOES_NOT_EXIST"
    assert rs(tracking, f"/api/models/{quote(name)}")["aliases"] == {"champion": 1}

    client.set_registered_model_tag(name, "owner", "me")
    client.set_registered_model_tag(name, "drop", "x")
    client.delete_registered_model_tag(name, "drop")
    client.set_model_version_tag(name, "1", "validated", "yes")
    client.delete_model_version_tag(name, "1", "absent")  # nothing to delete: fine
    assert client.get_registered_model(name).tags == {"owner": "me"}
    assert client.get_model_version(name, "1").tags == {"validated": "yes"}
    client.update_registered_model(name, description="the best")
    client.update_model_version(name, "2", description="newer")
    assert client.get_registered_model(name).description == "the best"
    assert client.get_model_version(name, "2").description == "newer"

    moved = client.transition_model_version_stage(name, "1", "production")
    assert moved.current_stage == "Production"
    client.transition_model_version_stage(name, "2", "Production",
                                          archive_existing_versions=True)
    assert client.get_model_version(name, "1").current_stage == "Archived"
    latest = client.get_latest_versions(name, stages=["Production"])
    assert [v.version for v in latest] == ["2"]
    with pytest.raises(MlflowException) as bad_stage:
        client.transition_model_version_stage(name, "1", "Heaven")
    assert code(bad_stage) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as no_version_tag:
        client.set_model_version_tag(name, "7", "k", "v")
    assert code(no_version_tag) == "RESOURCE_DOES_NOT_EXIST"


def test_search_filters_orders_and_pages(tracking: ServerProcess) -> None:
    client, stem = MlflowClient(), unique("search")
    names = [f"{stem}-{i}" for i in range(5)]
    for i, name in enumerate(names):
        client.create_registered_model(name, tags={"parity": "even" if i % 2 == 0 else "odd"})
    found = client.search_registered_models(filter_string=f"name LIKE '{stem}-%'")
    assert [m.name for m in found] == names
    desc = client.search_registered_models(filter_string=f"name LIKE '{stem}%'",
                                           order_by=["name DESC"])
    assert [m.name for m in desc] == names[::-1]
    assert [m.name for m in client.search_registered_models(
        filter_string=f"name = '{names[3]}'")] == [names[3]]
    upper = client.search_registered_models(filter_string=f"name ILIKE '{stem.upper()}-%' "
                                                          "AND tags.parity = 'even'")
    assert [m.name for m in upper] == [names[0], names[2], names[4]]
    seen, token = [], None
    while True:
        page = client.search_registered_models(filter_string=f"name LIKE '{stem}-%'",
                                               max_results=2, page_token=token)
        seen += [m.name for m in page]
        assert len(page) <= 2
        token = page.token
        if not token:
            break
    assert seen == names
    for bad in ("name ~ 'x'", "colour = 'red'", "name = 'x' OR name = 'y'"):
        with pytest.raises(MlflowException) as refused:
            client.search_registered_models(filter_string=bad)
        assert code(refused) == "INVALID_PARAMETER_VALUE", bad
    with pytest.raises(MlflowException) as bad_order:
        client.search_registered_models(order_by=["colour ASC"])
    assert code(bad_order) == "INVALID_PARAMETER_VALUE"

    run_a, run_b = model_run(tracking), model_run(tracking)
    for run in (run_a, run_b, run_a):
        client.create_model_version(names[0], f"runs:/{run}/model", run)
    by_name = client.search_model_versions(f"name = '{names[0]}'",
                                           order_by=["version_number ASC"])
    assert [v.version for v in by_name] == ["1", "2", "3"]
    by_run = client.search_model_versions(f"run_id = '{run_a}'")
    assert sorted(v.version for v in by_run) == ["1", "3"]
    both = client.search_model_versions(f"name = '{names[0]}' AND version_number >= 2",
                                        order_by=["version_number DESC"])
    assert [v.version for v in both] == ["3", "2"]


@every_backend
def test_deleted_versions_and_models_are_hidden_from_both_apis(
        tracking: ServerProcess) -> None:
    client, name = MlflowClient(), unique("doomed")
    run_id = model_run(tracking)
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, f"runs:/{run_id}/model", run_id)
    client.set_registered_model_alias(name, "champion", "2")
    client.delete_model_version(name, "2")
    with pytest.raises(MlflowException) as gone:
        client.get_model_version(name, "2")
    assert code(gone) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_registered_model(name).aliases == {}  # its alias went with it
    assert [v.version for v in client.search_model_versions(f"name = '{name}'")] == ["1"]
    assert [v["version"] for v in rs(tracking, f"/api/models/{quote(name)}")["versions"]] == [1]
    with pytest.raises(ApiError) as not_there:
        rs(tracking, f"/api/models/{quote(name)}/versions/2")
    assert not_there.value.status == 404

    client.delete_registered_model(name)
    with pytest.raises(MlflowException) as deleted:
        client.get_registered_model(name)
    assert code(deleted) == "RESOURCE_DOES_NOT_EXIST"
    assert name not in [m["name"] for m in rs(tracking, "/api/models")]
    assert client.search_model_versions(f"name = '{name}'") == []
    with pytest.raises(MlflowException) as twice:
        client.delete_registered_model(name)
    assert code(twice) == "RESOURCE_DOES_NOT_EXIST"
    # Created again it starts afresh; version numbers go on (one stream numbers them).
    client.create_registered_model(name)
    assert client.get_registered_model(name).latest_versions == []
    again = client.create_model_version(name, f"runs:/{run_id}/model", run_id)
    assert again.version == "3"
    assert [v.version for v in client.search_model_versions(f"name = '{name}'")] == ["3"]


def test_rename_is_refused_by_name(tracking: ServerProcess) -> None:
    client, name = MlflowClient(), unique("fixed")
    client.create_registered_model(name)
    with pytest.raises(MlflowException) as refused:
        client.rename_registered_model(name, unique("other"))
    assert code(refused) == "ENDPOINT_NOT_FOUND" and "rename" in refused.value.message
    assert client.get_registered_model(name).name == name


@every_backend
def test_runstream_promote_is_a_version_mlflow_sees(tracking: ServerProcess) -> None:
    client, name = MlflowClient(), unique("promoted")
    run_id = model_run(tracking)
    rs_client: Client = tracking.client()
    made = rs_client.send_json("POST", "/api/models",
                               {"run_id": run_id, "path": "model/model.pkl", "name": name})
    assert made["version"] == 1 and made["kind"] == "file"
    model = client.get_registered_model(name)
    assert [v.version for v in model.latest_versions] == ["1"]
    version = client.get_model_version(name, "1")
    assert version.run_id == run_id and version.status == "READY"
    assert version.source.endswith(f"/{run_id}/artifacts/model/model.pkl")
    assert version.source.startswith("mlflow-artifacts:/")
    assert client.get_model_version_download_uri(name, "1") == version.source
    assert [v.version for v in client.search_model_versions(f"run_id = '{run_id}'")
            if v.name == name] == ["1"]
    # MLflow's next version of the same model is 2: one numbering for both.
    assert client.create_model_version(name, f"runs:/{run_id}/model", run_id).version == "2"
    again = rs_client.send_json("POST", "/api/models",
                                {"run_id": run_id, "path": "notes.txt", "name": name})
    assert again["version"] == 3
    client.set_registered_model_alias(name, "prod", "2")
    by_alias = rs(tracking, f"/api/models/{quote(name)}/versions/@prod")
    assert (by_alias["version"], by_alias["kind"], by_alias["aliases"]) == (
        2, "directory", ["prod"])
    # A directory version is no single file: its download says where its files are.
    with pytest.raises(ApiError) as directory:
        rs_client.request("GET", f"/api/models/{quote(name)}/versions/2/download").read()
    assert directory.value.status == 409 and "files" in str(directory.value)
    got = rs_client.request("GET", f"/api/models/{quote(name)}/versions/1/download").read()
    assert got == PICKLE


def test_log_register_alias_load_and_download_the_model(tracking: ServerProcess,
                                                        tmp_path: Path) -> None:
    """The acceptance flow: an sklearn model logged and registered twice through MLflow,
    loaded back by alias, and downloaded by runstream's CLI with every hash verified."""
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    fitted = LogisticRegression().fit(x, y)
    mlflow.set_experiment(unique("acceptance"))
    name = unique("iris")
    with mlflow.start_run() as run:
        # pickle: skops (the default) is not installed; requirements given, not inferred
        # by a subprocess (seconds)
        info = mlflow.sklearn.log_model(
            fitted, name="model", serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_PICKLE,
            pip_requirements=["scikit-learn"])
    first = mlflow.register_model(info.model_uri, name)  # models:/m-…
    second = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    assert (first.version, second.version) == ("1", "2")
    # No MLmodel among the run's own files: the client finds the run's logged model.
    assert first.source == second.source == info.model_uri
    assert second.run_id == run.info.run_id  # the logged model's run, found by the server
    # (the client's ModelVersion drops model_id; runstream's API shows it)
    made = rs(tracking, f"/api/models/{quote(name)}/versions/2")
    assert (made["model_id"], made["kind"]) == (info.model_id, "directory")
    client = MlflowClient()
    client.set_registered_model_alias(name, "champion", second.version)
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert list(loaded.predict(x)) == list(fitted.predict(x))

    got = CliRunner().invoke(main, ["asset", "download", "--model", f"{name}@champion",
                                    "-d", str(tmp_path / "out")],
                             env={"RUNSTREAM_URL": tracking.url})
    assert got.exit_code == 0, got.output
    written = tmp_path / "out" / name
    listed = rs(tracking, f"/api/models/{quote(name)}/versions/@champion/files")
    assert {"MLmodel", "model.pkl"} <= {f["path"] for f in listed}
    for f in listed:
        assert sha((written / f["path"]).read_bytes()) == f["sha256"], f["path"]
    # The same files MLflow's own client downloads for that version.
    theirs = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/2",
                                                      dst_path=str(tmp_path / "mlflow")))
    assert {p.relative_to(theirs).as_posix(): p.read_bytes()
            for p in theirs.rglob("*") if p.is_file()} == {
        f["path"]: (written / f["path"]).read_bytes() for f in listed}


def registry_seen(tracking: ServerProcess, name: str, gone: str) -> dict[str, Any]:
    client = MlflowClient()
    model = client.get_registered_model(name)
    versions = client.search_model_versions(f"name = '{name}'",
                                            order_by=["version_number ASC"])
    return {
        "model": (model.name, model.description, model.tags, model.aliases,
                  model.creation_timestamp, model.last_updated_timestamp,
                  [v.version for v in model.latest_versions]),
        "versions": [(v.version, v.source, v.run_id, v.tags, v.current_stage, v.description,
                      v.aliases, v.status, v.creation_timestamp, v.last_updated_timestamp,
                      client.get_model_version_download_uri(name, v.version))
                     for v in versions],
        "runstream": rs(tracking, f"/api/models/{quote(name)}"),
        "listed": [m for m in rs(tracking, "/api/models") if m["name"] in (name, gone)],
    }


def test_the_registry_is_the_same_after_a_replay(tracking: ServerProcess) -> None:
    client, name, gone = MlflowClient(), unique("replayed"), unique("gone")
    run_id = model_run(tracking)
    client.create_registered_model(name, tags={"t": "1"}, description="kept")
    for _ in range(3):
        client.create_model_version(name, f"runs:/{run_id}/model", run_id, tags={"v": "x"})
    tracking.client().send_json("POST", "/api/models",
                                {"run_id": run_id, "path": "notes.txt", "name": name})
    client.set_registered_model_alias(name, "champion", "2")
    client.set_registered_model_alias(name, "old", "3")
    client.delete_model_version(name, "3")
    client.transition_model_version_stage(name, "1", "Staging")
    client.update_model_version(name, "2", description="second")
    client.delete_registered_model_tag(name, "t")
    client.create_registered_model(gone)
    client.delete_registered_model(gone)
    before = registry_seen(tracking, name, gone)
    assert [v[0] for v in before["versions"]] == ["1", "2", "4"]
    assert before["model"][3] == {"champion": "2"}

    tracking.stop()
    done = subprocess.run([sys.executable, "-m", "runstream_agent.cli", "replay",
                           "--data-dir", str(tracking.data_dir)], capture_output=True,
                          text=True, timeout=120, env=tracking.env)
    assert done.returncode == 0, done.stderr
    tracking.start()
    assert registry_seen(tracking, name, gone) == before
