"""The artifact proxy with the real MLflow client: files logged through MLflow land in
runstream's blob store as the run's files, files an agent uploaded are listed and
downloaded through MLflow, hostile paths store nothing, and a big file streams."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from runstream.codec import encode_batch
from tests.conftest import ServerProcess
from tests.mlflow.conftest import ALL_BACKENDS, unique
from tests.server.history import RunWriter

PROXY = "/api/2.0/mlflow-artifacts/artifacts"
pytestmark = pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True, scope="module")


def raw(server: ServerProcess, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One request as it goes on the wire (no client normalizing the path)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(data) if data else {}
    except ValueError:
        return resp.status, data


def stored_blobs(server: ServerProcess) -> list[Path]:
    root = server.data_dir / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def runstream_files(server: ServerProcess, run_id: str) -> dict[str, dict[str, Any]]:
    return {a["path"]: a for a in server.client().get_json(f"/api/runs/{run_id}/artifacts")}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder with subfolders, text and binary files."""
    root = tmp_path / "folder"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "top.txt").write_text("top\n")
    (root / "sub" / "data.bin").write_bytes(bytes(range(256)) * 40)
    (root / "sub" / "deeper" / "notes.md").write_text("# deep\n")
    return root


def test_files_logged_listed_and_downloaded(tracking: ServerProcess, folder: Path,
                                            tmp_path: Path) -> None:
    one = tmp_path / "one.csv"
    one.write_text("a,b\n1,2\n")
    mlflow.set_experiment(unique("artifacts"))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(one))
        mlflow.log_artifacts(str(folder), artifact_path="data")
        mlflow.log_dict({"lr": 0.1, "layers": [1, 2]}, "config/params.json")
        mlflow.log_text("hello\n", "notes/readme.txt")
        mlflow.log_text("hello again\n", "notes/readme.txt")  # the latest upload wins
    run_id = run.info.run_id
    client = MlflowClient()

    root = {(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id)}
    assert root == {("one.csv", False, 8), ("data", True, None), ("config", True, None),
                    ("notes", True, None)}
    sub = [(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id, "data/sub")]
    assert sub == [("data/sub/data.bin", False, 10240), ("data/sub/deeper", True, None)]
    assert client.list_artifacts(run_id, "nothing/here") == []
    assert client.list_artifacts(run_id, "one.csv") == []  # a file is no directory

    got = Path(client.download_artifacts(run_id, "one.csv", str(tmp_path / "dl1")))
    assert got.read_bytes() == one.read_bytes()
    got = Path(client.download_artifacts(run_id, "data", str(tmp_path / "dl2")))
    assert tree(got) == tree(folder)
    assert json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/config/params.json")) == {
        "lr": 0.1, "layers": [1, 2]}
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.txt") == "hello again\n"

    # The same files are the run's files in runstream, by content.
    files = runstream_files(tracking, run_id)
    assert set(files) == {"one.csv", "data/top.txt", "data/sub/data.bin",
                          "data/sub/deeper/notes.md", "config/params.json", "notes/readme.txt"}
    blob = folder / "sub" / "data.bin"
    assert files["data/sub/data.bin"]["sha256"] == sha256_of(blob)
    assert files["data/sub/data.bin"]["size"] == blob.stat().st_size
    assert files["config/params.json"]["media_type"] == "application/json"
    assert files["notes/readme.txt"]["sha256"] == hashlib.sha256(b"hello again\n").hexdigest()
    raw_file = tracking.client().request("GET", f"/api/runs/{run_id}/artifacts/one.csv").read()
    assert raw_file == one.read_bytes()


def test_tracking_api_lists_from_the_run_root(tracking: ServerProcess, folder: Path) -> None:
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), artifact_path="data")
    run_id = run.info.run_id
    status, body = raw(tracking, "GET", f"/api/2.0/mlflow/artifacts/list?run_id={run_id}"
                                        "&path=data/sub")
    assert status == 200, body
    assert body["root_uri"] == run.info.artifact_uri
    assert body["root_uri"].startswith("mlflow-artifacts:/") and run_id in body["root_uri"]
    assert body["files"] == [{"path": "data/sub/data.bin", "is_dir": False, "file_size": 10240},
                             {"path": "data/sub/deeper", "is_dir": True}]
    status, body = raw(tracking, "GET", f"/api/2.0/mlflow/artifacts/list?run_id={run_id}")
    assert status == 200 and body["files"] == [{"path": "data", "is_dir": True}]
    status, body = raw(tracking, "GET", "/api/2.0/mlflow/artifacts/list?run_id=nope")
    assert (status, body["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    status, body = raw(tracking, "GET", f"/api/2.0/mlflow/artifacts/list?run_id={run_id}"
                                        "&path=../x")
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def test_agent_files_through_mlflow(tracking: ServerProcess, tmp_path: Path) -> None:
    """A run its agent wrote (run/<id>, files uploaded as blobs) reads through MLflow."""
    run_id = uuid.uuid4().hex
    data = os.urandom(3000)
    source = tmp_path / "weights.bin"
    source.write_bytes(data)
    client = tracking.client()
    sha = client.put_blob(source)
    writer = RunWriter(run_id, project=unique("agent-project"))
    writer.submitted()
    writer.artifact("outputs/weights.bin", sha, len(data))
    client.post_events(encode_batch(writer.events))

    ml = MlflowClient()
    listed = [(f.path, f.is_dir, f.file_size) for f in ml.list_artifacts(run_id, "outputs")]
    assert listed == [("outputs/weights.bin", False, 3000)]
    got = Path(ml.download_artifacts(run_id, "outputs/weights.bin", str(tmp_path / "dl")))
    assert got.read_bytes() == data
    # MLflow's files join the agent's, on the server's own stream for the run.
    mlflow.log_text("from mlflow", "mlflow.txt", run_id=run_id)
    assert set(runstream_files(tracking, run_id)) == {"outputs/weights.bin", "mlflow.txt"}
    streams = {e["stream"] for e in client.get_json(f"/api/runs/{run_id}/events")
               if e["type"] == "artifact.added"}
    assert streams == {f"run/{run_id}", f"mlflow/{run_id}"}


HOSTILE = ["../escape.txt", "sub/../../escape.txt", "%2E%2E/escape.txt", "..%2Fescape.txt",
           "./here.txt", "sub//twice.txt", "%2Fetc/passwd", "back%5Cslash.txt", "nul%00.txt"]


@pytest.mark.parametrize("tail", HOSTILE)
def test_hostile_paths_are_refused(tracking: ServerProcess, tail: str) -> None:
    with mlflow.start_run() as run:
        mlflow.log_text("keep", "kept.txt")
    run_id = run.info.run_id
    base = run.info.artifact_uri.removeprefix("mlflow-artifacts:")
    before, files = stored_blobs(tracking), runstream_files(tracking, run_id)
    status, body = raw(tracking, "PUT", f"{PROXY}{base}/{tail}", b"attack",
                       {"Content-Type": "application/octet-stream"})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), body
    assert stored_blobs(tracking) == before
    assert runstream_files(tracking, run_id) == files
    status, body = raw(tracking, "GET", f"{PROXY}{base}/{tail}")
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), body
    status, body = raw(tracking, "GET", f"{PROXY}?path={base.lstrip('/')}/{tail}")
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), body


def test_uploads_outside_a_known_run_store_nothing(tracking: ServerProcess) -> None:
    with mlflow.start_run() as run:
        pass
    exp, run_id = run.info.experiment_id, run.info.run_id
    before = stored_blobs(tracking)
    cases = {
        f"{exp}/{uuid.uuid4().hex}/artifacts/x.txt": (404, "RESOURCE_DOES_NOT_EXIST"),
        f"{int(exp) + 1000}/{run_id}/artifacts/x.txt": (404, "RESOURCE_DOES_NOT_EXIST"),
        f"{exp}/models/m-{uuid.uuid4().hex}/artifacts/x.txt": (404, "RESOURCE_DOES_NOT_EXIST"),
        f"{exp}/{run_id}/x.txt": (400, "INVALID_PARAMETER_VALUE"),  # not under artifacts/
        f"{exp}/{run_id}/artifacts": (400, "INVALID_PARAMETER_VALUE"),  # names no file
    }
    for path, expected in cases.items():
        status, body = raw(tracking, "PUT", f"{PROXY}/{path}", b"x" * 100_000,
                           {"Content-Type": "application/octet-stream"})
        assert (status, body["error_code"]) == expected, (path, body)
    assert stored_blobs(tracking) == before
    assert runstream_files(tracking, run_id) == {}
    status, body = raw(tracking, "GET", f"{PROXY}/{exp}/{run_id}/artifacts/absent.txt")
    assert (status, body["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    with pytest.raises(MlflowException):
        mlflow.artifacts.download_artifacts(f"runs:/{run_id}/absent.txt")


def test_unserved_artifact_calls_say_so(tracking: ServerProcess) -> None:
    with mlflow.start_run() as run:
        mlflow.log_text("stays", "stays.txt")
    base = run.info.artifact_uri.removeprefix("mlflow-artifacts:/")
    for method, path in [("POST", f"/api/2.0/mlflow-artifacts/mpu/create/{base}/big.bin"),
                         ("POST", f"/api/2.0/mlflow-artifacts/mpu/complete/{base}/big.bin"),
                         ("POST", "/api/2.0/mlflow/artifacts/presigned-upload-url"),
                         ("DELETE", f"{PROXY}/{base}/stays.txt")]:
        status, body = raw(tracking, method, path, b"{}", {"Content-Type": "application/json"})
        assert (status, body["error_code"]) == (404, "ENDPOINT_NOT_FOUND"), (path, body)
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/stays.txt") == "stays"


def _peak_rss(pid: int) -> int:
    """The process's resident memory high-water mark, bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/<pid>/status")


def test_big_file_streams_through(tracking: ServerProcess, tmp_path: Path) -> None:
    size = 64 << 20
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        for _ in range(size >> 20):
            out.write(os.urandom(1 << 20))
    assert tracking.proc is not None
    pid = tracking.proc.pid
    peak_before, highest, done = _peak_rss(pid), [_rss(pid)], threading.Event()

    def watch() -> None:
        while not done.is_set():
            highest.append(_rss(pid))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(big), artifact_path="weights")
        got = Path(MlflowClient().download_artifacts(run.info.run_id, "weights/big.bin",
                                                     str(tmp_path / "dl")))
    finally:
        done.set()
        watcher.join()
    grown = max(_peak_rss(pid) - peak_before, max(highest) - highest[0])
    assert grown < size // 2, f"the server's memory grew by {grown >> 20} MiB for a 64 MiB file"
    assert got.stat().st_size == size and sha256_of(got) == sha256_of(big)
    files = runstream_files(tracking, run.info.run_id)
    assert files["weights/big.bin"]["sha256"] == sha256_of(big)
    assert files["weights/big.bin"]["size"] == size
    assert not list((tracking.data_dir / "blobs" / ".incoming").iterdir())  # no leftovers
