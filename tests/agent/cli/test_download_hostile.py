"""``history download``: every file checked against its sha256 before it is kept, all of a
run's files written or none, and any artifact name (spaces, #, ?, %) downloadable."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner, Result

from runstream.codec import encode_batch
from runstream_agent.cli import main
from tests.agent.cli.recording import RecordingServer, recording_server
from tests.conftest import ServerProcess
from tests.server.history import RunWriter

AWKWARD = ["outputs/confusion matrix.png", "outputs/a#b?c.txt", "outputs/100%.txt",
           "outputs/deep/x.txt"]


def download(url: str, dest: Path) -> Result:
    return CliRunner().invoke(main, ["history", "download", "--run", "r1", "-d", str(dest)],
                              env={"RUNSTREAM_URL": url})


def seed_files(server: ServerProcess, tmp_path: Path,
               names: list[str] = AWKWARD) -> dict[str, bytes]:
    client = server.client()
    w = RunWriter("r1")
    w.submitted()
    w.lines("hello")
    contents = {}
    for k, name in enumerate(names):
        body = f"file {k}: {name}\n".encode()
        src = tmp_path / f"src{k}"
        src.write_bytes(body)
        w.artifact(name, client.put_blob(src), len(body))
        contents[name] = body
    w.completed()
    client.post_events(encode_batch(w.events))
    return contents


def test_names_with_spaces_hashes_and_percents_download(server: ServerProcess,
                                                        tmp_path: Path) -> None:
    contents = seed_files(server, tmp_path)
    dest = tmp_path / "dl"
    dest.mkdir()
    (dest / "mine.txt").write_text("kept")  # a folder that is not empty: files are added
    result = download(server.url, dest)
    assert result.exit_code == 0, result.output
    for name, body in contents.items():
        assert (dest / name).read_bytes() == body, name
    assert (dest / "driver_log.txt").read_text().strip() == "hello"
    assert (dest / "mine.txt").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    shown = CliRunner().invoke(main, ["history", "info", "--run", "r1", "--artifact",
                                      "outputs/confusion matrix.png"],
                               env={"RUNSTREAM_URL": server.url})
    assert shown.output == contents["outputs/confusion matrix.png"].decode()


def test_a_blob_corrupted_on_the_server_is_not_written(server: ServerProcess,
                                                       tmp_path: Path) -> None:
    contents = seed_files(server, tmp_path, ["outputs/a.txt", "outputs/b.txt"])
    sha = hashlib.sha256(contents["outputs/b.txt"]).hexdigest()
    [blob] = [p for p in server.data_dir.rglob(sha[2:]) if p.parent.name == sha[:2]]
    blob.write_bytes(b"file 1: tampered with\n")
    result = download(server.url, tmp_path / "dl")
    assert result.exit_code == 1, result.output
    assert sha in result.output.replace("\n", "")
    assert not (tmp_path / "dl").exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def fake_run(fake: RecordingServer, files: dict[str, bytes],
             served: dict[str, bytes] | None = None) -> None:
    """A run listing ``files`` (with their true hashes), serving ``served`` instead."""
    fake.json("/api/runs/r1", {"run_id": "r1"})
    fake.json("/api/runs/r1/artifacts", [
        {"path": name, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
        for name, body in files.items()])
    for name, body in {**files, **(served or {})}.items():
        fake.file(f"/api/runs/r1/artifacts/{name}", body)
    fake.file("/api/runs/r1/driver_log", b"log\n")


def test_one_hostile_name_anywhere_writes_nothing_and_is_named(tmp_path: Path) -> None:
    with recording_server() as fake:
        fake_run(fake, {"outputs/a.txt": b"a", "../../escape.txt": b"x", "outputs/b.txt": b"b"})
        result = download(fake.url, tmp_path / "dl")
    assert result.exit_code == 1
    assert "'../../escape.txt' climbs out" in result.output
    assert list(tmp_path.iterdir()) == []
    assert not any("/artifacts/" in r.path for r in fake.requests)  # refused before any


def test_a_corrupted_file_anywhere_keeps_none_of_the_run(tmp_path: Path) -> None:
    with recording_server() as fake:
        fake_run(fake, {"outputs/a.txt": b"good", "outputs/b.txt": b"good too"},
                 served={"outputs/b.txt": b"bad bytes"})
        result = download(fake.url, tmp_path / "dl")
    assert result.exit_code == 1
    assert "hashes to" in result.output and "nothing was written" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_server_announcing_another_hash_is_refused(tmp_path: Path) -> None:
    with recording_server() as fake:
        fake_run(fake, {"outputs/a.txt": b"good"})
        path = "/api/runs/r1/artifacts/outputs/a.txt"
        fake.file(path, b"good", {"X-Content-SHA256": "f" * 64})
        result = download(fake.url, tmp_path / "dl")
    assert result.exit_code == 1
    assert "f" * 64 in result.output.replace("\n", "")
    assert list(tmp_path.iterdir()) == []


def test_the_fake_run_downloads_when_nothing_is_wrong(tmp_path: Path) -> None:
    # So the refusals above are the checks at work, not a fake the CLI cannot read.
    with recording_server() as fake:
        fake_run(fake, {"outputs/a.txt": b"good"})
        result = download(fake.url, tmp_path / "dl")
        assert result.exit_code == 0, result.output
        assert json.loads(fake.routes["/api/runs/r1/artifacts"][2])[0]["size"] == 4
    assert (tmp_path / "dl" / "outputs" / "a.txt").read_bytes() == b"good"
