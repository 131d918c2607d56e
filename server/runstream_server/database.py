"""Engines and the schema's metadata: SQLite (WAL, one writer) by default, PostgreSQL for scale."""

from __future__ import annotations

import errno
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    MetaData,
    bindparam,
    create_engine,
    event,
    text,
)
from sqlalchemy.pool import StaticPool

__all__ = ["among", "disk_full_reason", "is_disk_full", "metadata", "no_space_left",
           "open_engine", "sqlite_url", "widen_columns"]

metadata = MetaData()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def open_engine(url: str, *, readonly: bool = False) -> Engine:
    """An engine for ``url`` with the settings runstream relies on. ``readonly`` (SQLite
    only): open the file for reading, without creating the WAL's files, as a full disk
    requires."""
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        kwargs: dict[str, Any] = {}
        if memory:
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        else:
            kwargs = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        # A read-only file keeps the journal mode it has: nothing to set.
        wal = not memory and not readonly
        if readonly and not memory:
            path = url.removeprefix("sqlite:///")
            wal_file = Path(path + "-wal")
            # With no committed frames in the WAL, the file alone is the database:
            # "immutable" reads it without the WAL's shared memory, which a full disk
            # cannot hold. Nothing writes meanwhile: this server is the only writer.
            quiet = not wal_file.exists() or wal_file.stat().st_size == 0
            url = f"sqlite:///file:{path}?{'immutable=1' if quiet else 'mode=ro'}&uri=true"
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Transactions are begun by SQLAlchemy's "begin" (below), not by pysqlite,
            # which would begin only before a write and so let one transaction's reads
            # see different snapshots.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            if wal:
                cur.execute("PRAGMA journal_mode=WAL")
            # FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on a power
            # cut, and an acknowledged batch is one the agent has already dropped
            # from its spool. FULL syncs the WAL at every commit.
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA cache_size=-65536")
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # BEGIN (deferred), not BEGIN IMMEDIATE: most transactions only read, and in
            # WAL mode a deferred reader never waits for the writer nor holds it up,
            # where IMMEDIATE would take the one write lock for every read. A transaction
            # takes the write lock at its first write, waiting (the 30 s busy timeout)
            # while another one holds it. Writes go through one writer at a time (the
            # ledger's lock; in Kafka mode the consumer thread), so a transaction that
            # reads before it writes never finds its snapshot outdated by another
            # writer's commit, the one case where SQLite fails late instead of waiting.
            conn.exec_driver_sql("BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # synchronous_commit=on whatever the server's default: a commit (and so an
    # acknowledgement) returns once the WAL is flushed to disk.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                         connect_args={"options": "-c synchronous_commit=on"})


def widen_columns(engine: Engine) -> list[str]:
    """Widen the integer columns of an existing PostgreSQL database that the schema now
    declares BIGINT (positions and counts once written as INTEGER), in place, without a
    rebuild; returns the ``table.column`` widened. SQLite stores every integer in up to
    64 bits whatever the declared type: nothing to do there."""
    if engine.dialect.name != "postgresql":
        return []
    wanted = {(t.name, c.name) for t in metadata.tables.values() for c in t.columns
              if isinstance(c.type, BigInteger)}
    widened = []
    with engine.begin() as conn:
        rows = conn.execute(text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type = 'integer'")).all()
        for table, column in sorted((r[0], r[1]) for r in rows):
            if (table, column) in wanted:
                conn.execute(text(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE BIGINT'))
                widened.append(f"{table}.{column}")
    return widened


def among(column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN values``, with the values written into the statement. PostgreSQL
    hashes such a list, while a list of bound parameters is compared item by item
    with each row: on a table not yet analyzed (a fresh database filling in one big
    batch) that is a scan per key lookup, and the cost of a batch grew with the table."""
    return column.in_(bindparam("among", list(values), expanding=True, literal_execute=True,
                                unique=True))


def is_disk_full(exc: BaseException) -> bool:
    """Did ``exc`` (or what it wraps) fail because a disk is full?"""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(seen).lower()
        # SQLite: SQLITE_FULL; PostgreSQL: SQLSTATE 53100 (disk_full), "No space left".
        if ("database or disk is full" in text or "no space left on device" in text
                or getattr(seen, "sqlstate", None) == "53100"):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return False


def no_space_left(data_dir: Path, database_url: str, margin: int = 1 << 20) -> bool:
    """Is the SQLite data dir's disk (nearly) full? SQLite reports a WAL it cannot
    create on a full disk as a mere "disk I/O error"."""
    if not database_url.startswith("sqlite"):
        return False
    try:
        return shutil.disk_usage(data_dir).free < margin
    except OSError:
        return False


def disk_full_reason(data_dir: Path, database_url: str) -> str:
    """The user's words for a full disk: where, and how much is left."""
    if database_url.startswith("sqlite") or not database_url:
        try:
            free = shutil.disk_usage(data_dir).free
        except OSError:
            return f"the server's disk is full (data dir {data_dir})"
        return f"the server's disk is full: {free / 1e6:.1f} MB free space in {data_dir}"
    return "the database's disk is full (PostgreSQL said: no space left on device)"
