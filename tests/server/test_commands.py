"""``runstream replay``: in place, and as of a past position or time into another database."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import update

from runstream_agent.cli import main
from runstream_server.database import open_engine
from runstream_server.eventstore import events_table
from runstream_server.ledger import Ledger
from runstream_server.projections.runner import Projector, default_projections
from runstream_server.queries import list_runs
from tests.server.history import finished_run
from tests.server.test_replay import snapshot


def seeded(data_dir: Path, runs: int = 3) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{data_dir / 'runstream.db'}"
    engine = open_engine(url)
    projector = Projector()
    projector.prepare(engine)
    ledger = Ledger(engine, projector)
    for i in range(runs):
        ledger.commit(finished_run(f"iris_{i}", accuracy=i / 10))
    ledger.close()
    engine.dispose()
    return url


def test_replay_rebuilds_the_same_views(tmp_path: Path) -> None:
    url = seeded(tmp_path / "data")
    engine = open_engine(url)
    before = snapshot(engine)
    result = CliRunner().invoke(main, ["replay", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    every = len(default_projections())
    assert f"rebuilt {every} projections from 15 events" in result.output
    assert snapshot(engine) == before


def test_replay_until_a_position_builds_the_past_elsewhere(tmp_path: Path) -> None:
    url = seeded(tmp_path / "data")
    result = CliRunner().invoke(main, ["replay", "--data-dir", str(tmp_path / "data"),
                                       "--until", "6"])
    assert result.exit_code == 0, result.output
    past_file = tmp_path / "data" / "replay-6.db"
    assert past_file.is_file()
    with open_engine(f"sqlite:///{past_file}").connect() as conn:
        runs = {r.run_id: r.status for r in list_runs(conn, archived="include").runs}
    assert runs == {"iris_0": "completed", "iris_1": "submitted"}  # position 6: iris_1 submitted
    with open_engine(url).connect() as conn:
        assert list_runs(conn).total == 3  # the live database is untouched


def test_replay_until_a_time_and_never_into_the_live_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = seeded(data)
    engine = open_engine(url)
    with engine.begin() as conn:  # pretend the events were recorded a second apart
        for position in range(1, 16):
            conn.execute(update(events_table).where(events_table.c.position == position)
                         .values(recorded=1_000.0 + position))
    into = tmp_path / "then.db"
    result = CliRunner().invoke(main, ["replay", "--data-dir", str(data), "--until", "1010.5",
                                       "--into", str(into)])
    assert result.exit_code == 0, result.output
    with open_engine(f"sqlite:///{into}").connect() as conn:
        assert list_runs(conn, archived="include").total == 2
    refused = CliRunner().invoke(main, ["replay", "--data-dir", str(data), "--until", "3",
                                        "--into", str(data / "runstream.db")])
    assert refused.exit_code != 0 and "live database" in refused.output
    bad = CliRunner().invoke(main, ["replay", "--data-dir", str(data), "--until", "yesterday"])
    assert bad.exit_code != 0 and "neither a position" in bad.output


def test_the_server_command_starts_and_answers(server: object) -> None:
    from tests.conftest import ServerProcess

    assert isinstance(server, ServerProcess)
    status = server.client().get_json("/api")
    assert status["name"] == "runstream" and status["position"] == 0
