"""``asset download --link-file``: a link file names a model and version, never where the
file goes nor which server gets the user's token."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner, Result

from runstream_agent.cli import main
from tests.agent.cli.recording import RecordingServer, recording_server

MODEL = b"pickled weights"
SHA = hashlib.sha256(MODEL).hexdigest()


def write_link(tmp_path: Path, model: str, server: str,
               fields: dict[str, object] | None = None) -> Path:
    link = tmp_path / "model.link"
    link.write_text(json.dumps({"link": 1, "server": server, "model": model, "version": 1,
                                "sha256": SHA, **(fields or {})}))
    return link


def serve_model(fake: RecordingServer, model: str, body: bytes = MODEL) -> None:
    fake.file(f"/api/models/{quote(model, safe='')}/versions/1/download", body)


def fetch(link: Path, dest: Path, url: str, *extra: str) -> Result:
    return CliRunner().invoke(
        main, ["asset", "download", "--link-file", str(link), "-d", str(dest), *extra],
        env={"RUNSTREAM_URL": url, "RUNSTREAM_TOKEN": "s3cret"})


@pytest.mark.parametrize("hostile", ["../../x", "/{outside}/x", "sub/../../x", "a\\..\\x"])
def test_a_model_name_cannot_choose_where_the_file_goes(tmp_path: Path, hostile: str) -> None:
    model = hostile.format(outside=tmp_path / "outside")
    work = tmp_path / "work"
    work.mkdir()
    with recording_server() as fake:
        serve_model(fake, model)
        result = fetch(write_link(tmp_path, model, fake.url), work / "d" / "e", fake.url)
    assert result.exit_code == 0, result.output
    assert (work / "d" / "e" / "x").read_bytes() == MODEL
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "model.link", "work", "work/d", "work/d/e", "work/d/e/x"]


@pytest.mark.parametrize("hostile", ["..", "a/..", "\r\n"])
def test_a_model_name_that_is_no_file_name_is_refused(tmp_path: Path, hostile: str) -> None:
    with recording_server() as fake:
        result = fetch(write_link(tmp_path, hostile, fake.url), tmp_path / "d", fake.url)
    assert result.exit_code == 1
    assert "cannot be used as a file name" in result.output
    assert not (tmp_path / "d").exists() and fake.requests == []


def test_the_token_goes_only_to_the_configured_server(tmp_path: Path) -> None:
    with recording_server() as mine, recording_server() as theirs:
        serve_model(mine, "model.pkl")
        serve_model(theirs, "model.pkl")
        link = write_link(tmp_path, "model.pkl", theirs.url)
        result = fetch(link, tmp_path / "d", mine.url)
    assert result.exit_code == 0, result.output
    assert theirs.requests == []  # the link's server is not even asked
    assert [r.headers.get("Authorization") for r in mine.requests] == ["Bearer s3cret"]
    assert f"names the server '{theirs.url}'" in " ".join(result.output.split())
    assert (tmp_path / "d" / "model.pkl").read_bytes() == MODEL


def test_no_token_reaches_the_links_server_without_a_configured_one(tmp_path: Path) -> None:
    with recording_server() as theirs:
        serve_model(theirs, "model.pkl")
        link = write_link(tmp_path, "model.pkl", theirs.url)
        result = CliRunner().invoke(
            main, ["asset", "download", "--link-file", str(link), "-d", str(tmp_path / "d")],
            env={"RUNSTREAM_URL": None, "RUNSTREAM_TOKEN": "s3cret"})
    # The default server (127.0.0.1:8787) is asked instead, whether or not one runs there.
    assert theirs.requests == [], result.output


def test_passing_the_links_server_explicitly_uses_it(tmp_path: Path) -> None:
    with recording_server() as mine, recording_server() as theirs:
        serve_model(theirs, "model.pkl")
        link = write_link(tmp_path, "model.pkl", theirs.url)
        result = fetch(link, tmp_path / "d", mine.url, "--url", theirs.url)
    assert result.exit_code == 0, result.output
    assert mine.requests == [] and len(theirs.requests) == 1
    assert "names the server" not in result.output


def test_bytes_that_do_not_match_the_links_hash_are_not_kept(tmp_path: Path) -> None:
    with recording_server() as fake:
        serve_model(fake, "model.pkl", b"something else")
        result = fetch(write_link(tmp_path, "model.pkl", fake.url), tmp_path / "d", fake.url)
    assert result.exit_code == 1
    assert "hashes to" in result.output and "nothing was written" in result.output
    assert list((tmp_path / "d").iterdir()) == []


@pytest.mark.parametrize("fields", [{"version": "1"}, {"version": 0}, {"version": True},
                                    {"sha256": "abc"}, {"model": 5}, {"model": ""}])
def test_a_malformed_link_file_is_explained(tmp_path: Path, fields: dict[str, object]) -> None:
    with recording_server() as fake:
        link = write_link(tmp_path, "model.pkl", fake.url, fields)
        result = fetch(link, tmp_path / "d", fake.url)
    assert result.exit_code == 1
    assert "is not a runstream link file" in result.output
    assert "runstream history promote" in result.output
    assert fake.requests == []
