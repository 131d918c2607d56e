"""The server's disk is full: ingest answers 507 with the reason (the SDK retries), it
recovers once space is freed with acknowledged data intact, and a server that starts
on a full disk comes up read-only instead of not at all (real tmpfs mounts)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from runstream.client import ApiError, Client
from runstream.codec import encode_batch
from runstream.httpsink import HttpSink
from runstream.sink import SinkUnavailable
from tests.conftest import ServerProcess, tmpfs
from tests.server.history import finished_run


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs."""
    with tmpfs(tmp_path, "16m") as mount:
        yield mount


def fill(disk: Path) -> Path:
    """Write a file until the disk has no space left; deleting it frees the disk."""
    filler = disk / "filler"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 16))
                f.flush()
        except OSError as exc:
            assert exc.errno == 28, exc
    return filler


def server_on(disk: Path, tmp_path: Path) -> ServerProcess:
    proc = ServerProcess(disk / "data", env={"RUNSTREAM_READONLY_RETRY": "0.2"})
    proc.log = tmp_path / "server.log"  # not on the full disk
    return proc


def refused(client: Client, run_id: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        client.post_events(encode_batch(finished_run(run_id)))
    return caught.value


def test_a_full_disk_answers_507_with_the_reason_and_recovers_when_space_is_freed(
        small_disk: Path, tmp_path: Path) -> None:
    server = server_on(small_disk, tmp_path).start()
    try:
        client = server.client()
        client.post_events(encode_batch(finished_run("iris_1")))
        filler = fill(small_disk)

        error = refused(client, "iris_2")
        assert error.status == 507, error
        assert "disk is full" in error.message and "free space" in error.message
        assert "nothing of this batch was stored" in error.message
        with pytest.raises(SinkUnavailable):  # the SDK keeps it and retries
            HttpSink(client).send("run/iris_3", encode_batch(finished_run("iris_3")), 5)
        assert client.get_json("/api/runs/iris_1")["status"] == "completed"  # reads work
        assert client.get_json("/api/runs")["total"] == 1

        filler.unlink()
        reply = client.post_events(encode_batch(finished_run("iris_2")))
        assert reply.stored == 5
        runs = {r["run_id"]: r for r in client.get_json("/api/runs")["runs"]}
        assert set(runs) == {"iris_1", "iris_2"}
        assert all(r["status"] == "completed" and r["metrics"]["Accuracy"] == 0.9
                   for r in runs.values())
    finally:
        server.stop()


def test_a_server_that_starts_on_a_full_disk_serves_reads_and_refuses_writes_with_507(
        small_disk: Path, tmp_path: Path) -> None:
    server = server_on(small_disk, tmp_path).start()
    server.client().post_events(encode_batch(finished_run("iris_1")))
    server.stop()
    # The next start must write: an upgrade rebuilds a view whose version changed.
    db = create_engine(f"sqlite:///{small_disk / 'data' / 'runstream.db'}")
    with db.begin() as conn:
        conn.execute(text("UPDATE projections SET version = 0 WHERE name = 'runs'"))
    db.dispose()
    filler = fill(small_disk)

    server.start()
    try:
        client = server.client()
        assert client.get_json("/api/runs/iris_1")["status"] == "completed"
        error = refused(client, "iris_2")
        assert error.status == 507, error
        assert "started read-only" in error.message and "disk is full" in error.message
        assert "nothing of this batch was stored" in error.message

        filler.unlink()
        time.sleep(0.3)  # past RUNSTREAM_READONLY_RETRY: the next write opens for writing
        assert client.post_events(encode_batch(finished_run("iris_2"))).stored == 5
        assert {r["run_id"] for r in client.get_json("/api/runs")["runs"]} == {"iris_1",
                                                                              "iris_2"}
    finally:
        server.stop()


def test_mlflow_calls_on_a_full_disk_are_refused_whole_and_work_once_space_is_freed(
        small_disk: Path, tmp_path: Path) -> None:
    """Through MLflow's API: a log-batch and an artifact upload on a full disk answer an
    error in MLflow's shape (a 5xx: its client retries), store nothing — no point, no
    partial blob — and the same calls succeed once space is freed."""
    import requests

    server = server_on(small_disk, tmp_path).start()
    api = server.url + "/api/2.0/mlflow"
    try:
        run = requests.post(api + "/runs/create", json={"experiment_id": "0"}, timeout=30)
        run_id = run.json()["run"]["info"]["run_id"]
        batch = {"run_id": run_id, "metrics": [
            {"key": "loss", "value": 1.0 / (s + 1), "timestamp": 1700000000000 + s, "step": s}
            for s in range(1000)]}
        upload = (f"{server.url}/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/"
                  "notes.txt")
        blobs = small_disk / "data" / "blobs"
        before = sorted(p.name for p in blobs.rglob("*") if p.is_file())
        filler = fill(small_disk)

        refused_batch = requests.post(api + "/runs/log-batch", json=batch, timeout=30)
        assert refused_batch.status_code >= 500, refused_batch.text
        assert refused_batch.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert "disk is full" in refused_batch.json()["message"]
        refused_put = requests.put(upload, data=b"x" * 200_000, timeout=30)
        assert refused_put.status_code >= 500, refused_put.text
        assert refused_put.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        history = requests.get(api + "/metrics/get-history",
                               params={"run_id": run_id, "metric_key": "loss"}, timeout=30)
        assert history.status_code == 200 and not history.json().get("metrics")
        assert sorted(p.name for p in blobs.rglob("*") if p.is_file()) == before

        filler.unlink()
        assert requests.post(api + "/runs/log-batch", json=batch, timeout=30).status_code == 200
        assert requests.put(upload, data=b"x" * 200_000, timeout=30).status_code == 200
        history = requests.get(api + "/metrics/get-history",
                               params={"run_id": run_id, "metric_key": "loss"}, timeout=30)
        assert [m["step"] for m in history.json()["metrics"]] == list(range(1000))
        listed = requests.get(server.url + "/api/2.0/mlflow-artifacts/artifacts",
                              params={"path": f"0/{run_id}/artifacts"}, timeout=30).json()
        assert [(f["path"], f["file_size"]) for f in listed["files"]] == [("notes.txt", 200_000)]
    finally:
        server.stop()
