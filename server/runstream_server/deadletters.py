"""Dead letters: log records that could not be applied, kept with the reason."""

from __future__ import annotations

import time

import msgspec
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    Integer,
    LargeBinary,
    String,
    Table,
    func,
    insert,
    select,
)

from runstream_server.database import metadata

__all__ = ["DeadLetter", "count", "dead_letters", "recent", "record"]

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("source", String(300), nullable=False),  # e.g. "runstream.events/3@1207"
    Column("key", String(300), nullable=False),
    Column("reason", String, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("recorded", Float, nullable=False),
)


class DeadLetter(msgspec.Struct):
    id: int
    source: str
    key: str
    reason: str
    size: int
    recorded: float


def record(conn: Connection, source: str, key: str, reason: str, data: bytes) -> None:
    conn.execute(insert(dead_letters), {"source": source, "key": key, "reason": reason,
                                        "data": data, "recorded": time.time()})


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(dead_letters)).scalar_one())


def recent(conn: Connection, limit: int = 100) -> list[DeadLetter]:
    c = dead_letters.c
    rows = conn.execute(select(c.id, c.source, c.key, c.reason, func.length(c.data), c.recorded)
                        .order_by(c.id.desc()).limit(limit)).all()
    return [DeadLetter(*row) for row in rows]
