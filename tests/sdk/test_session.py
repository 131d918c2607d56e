"""The process's logger lives in one explicit session: made on first use, resettable."""

from __future__ import annotations

import atexit
from pathlib import Path
from urllib.parse import quote

import pytest

import runstream
from runstream.session import SESSION, Session, get_logger
from runstream.settings import SdkSettings
from runstream.spool import Spool, stream_folders
from tests.conftest import free_port


def test_the_session_makes_one_logger_on_first_use_and_a_new_one_after_reset(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registered: list[object] = []
    monkeypatch.setattr(atexit, "register", registered.append)
    monkeypatch.setattr(atexit, "unregister", registered.remove)
    asked: list[str] = []

    def settings() -> SdkSettings:
        asked.append("settings")
        return SdkSettings(url=f"http://127.0.0.1:{free_port()}", spool_dir=tmp_path / "spool",
                           project="iris", exit_patience=0.0, lease=0.0)

    session = Session(settings, argv=lambda: ["train.py"])
    assert asked == []  # nothing is read before the logger is asked for
    first = session.logger()
    assert session.logger() is first and asked == ["settings"]  # read once
    assert registered == [first.close]  # it completes the run at exit
    first.log("loss", 0.5)
    session.reset()
    assert registered == []
    second = session.logger()
    assert second is not first and second.run_id != first.run_id
    session.reset()
    spools = {p.name for p in stream_folders(tmp_path / "spool")}
    assert spools == {quote(f"run/{run_id}", safe="") for run_id in (first.run_id, second.run_id)}
    # Each run was completed by its reset (the server is down: it waits in its spool).
    for run_id in (first.run_id, second.run_id):
        spool = Spool.open(tmp_path / "spool" / quote(f"run/{run_id}", safe=""))
        assert spool.finished
        spool.close()


def test_get_logger_is_the_public_api_and_asks_the_process_session() -> None:
    assert runstream.get_logger is get_logger and isinstance(SESSION, Session)
