"""Dead letters: log records that could not be applied, kept with the reason.

A dead letter from the Kafka consumer keeps the original record: its value (the
bytes as produced), key, and where it was (``source`` is ``topic/partition@offset``),
so that it can be fed again once the cause is fixed
(``runstream_server.kafka.source.redeliver``)."""

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

__all__ = ["DeadLetter", "Original", "count", "dead_letters", "original", "recent", "record",
           "remove", "source_of"]

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("source", String(300), nullable=False),  # e.g. "runstream.events/3@1207"
    # The original record's value (the download check records "" with the blob's sha256).
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


class Original(msgspec.Struct, frozen=True):
    """A dead letter's original record, as it was read from the topic."""

    id: int
    topic: str
    partition: int
    offset: int
    key: str
    value: bytes
    reason: str


def source_of(topic: str, partition: int, offset: int) -> str:
    return f"{topic}/{partition}@{offset}"


def original(conn: Connection, letter_id: int) -> Original:
    """The record dead letter ``letter_id`` keeps; LookupError if there is none or it
    does not come from a topic."""
    c = dead_letters.c
    row = conn.execute(select(c.source, c.key, c.data, c.reason)
                       .where(c.id == letter_id)).first()
    if row is None:
        raise LookupError(f"no dead letter {letter_id} (see GET /api/dead-letters)")
    topic, _, where = row.source.rpartition("/")
    partition, _, offset = where.partition("@")
    if not (topic and partition.isdigit() and offset.isdigit()):
        raise LookupError(f"dead letter {letter_id} ({row.source}) is not a Kafka record")
    return Original(letter_id, topic, int(partition), int(offset), row.key, bytes(row.data),
                    row.reason)


def remove(conn: Connection, letter_id: int) -> None:
    conn.execute(dead_letters.delete().where(dead_letters.c.id == letter_id))
