"""Acknowledged means durable: every engine commits to disk before a batch is answered."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from runstream_server.database import open_engine


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
