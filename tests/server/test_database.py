"""Acknowledged means durable: every engine commits to disk before a batch is answered."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    event,
    insert,
    select,
    text,
    update,
)

from runstream_server.database import open_engine, widen_columns
from runstream_server.projections.runner import Projector, positions_table
from tests.server.api import make_app


def test_sqlite_syncs_its_wal_at_every_commit(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path}/runstream.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()


def test_postgresql_commits_synchronously_even_where_the_database_says_otherwise(
        postgres_db: str) -> None:
    admin = open_engine(postgres_db).execution_options(isolation_level="AUTOCOMMIT")
    name = postgres_db.rpartition("/")[2]
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    admin.dispose()
    engine = open_engine(postgres_db)
    with engine.connect() as conn:
        assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
    engine.dispose()


def test_sqlite_readers_never_wait_for_the_writer_and_a_second_writer_waits_its_turn(
        tmp_path: Path) -> None:
    # What BEGIN (deferred, as database.py says and emits) gives in WAL mode.
    engine = open_engine(f"sqlite:///{tmp_path}/runstream.db")
    begun: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.startswith("BEGIN"):
            begun.append(statement)

    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    assert begun == ["BEGIN"]
    second_done = threading.Event()
    waited: list[float] = []

    def second_writer() -> None:
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (3)")
        waited.append(time.perf_counter() - started)
        second_done.set()

    with engine.begin() as writer:
        writer.exec_driver_sql("INSERT INTO t VALUES (2)")  # holds the write lock
        started = time.perf_counter()
        with engine.connect() as reader:  # reads the last commit, at once
            assert reader.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
        assert time.perf_counter() - started < 0.5
        thread = threading.Thread(target=second_writer)
        thread.start()
        time.sleep(0.5)
        assert not second_done.is_set()  # waiting for the lock, not failed
    thread.join(10)
    assert waited and waited[0] >= 0.4
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM t ORDER BY n").scalars().all() == [1, 2, 3]
    engine.dispose()


def test_a_database_made_with_integer_positions_opens_and_takes_64_bit_ones(
        db_url: str, tmp_path: Path) -> None:
    # Before, the views' positions (and the runs' counts of files) were INTEGER: a
    # PostgreSQL database made then must open, and hold positions beyond 2**31.
    old = MetaData()
    Table("projections", old, Column("name", String(100), primary_key=True),
          Column("version", Integer, nullable=False), Column("position", Integer, nullable=False))
    engine = open_engine(db_url)
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(positions_table), [{"name": "runs", "version": 0, "position": 7}])
    make_app(engine, tmp_path / "data")  # opens it: the runs view is rebuilt (version 0)
    with engine.begin() as conn:
        conn.execute(update(positions_table).values(position=2**40))
        assert conn.execute(select(positions_table.c.position)).scalars().all() == [2**40] * len(
            Projector().projections)
    if engine.dialect.name == "postgresql":
        assert widen_columns(engine) == []  # done once, at the first start
    engine.dispose()
