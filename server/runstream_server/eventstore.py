"""The event store: the server's append-only archive of the log.

Every event gets a global ``position``. ``(stream, seq)`` is unique: resending
an event is a no-op reported as a duplicate, and a stream's events must come
in order with no gap (each stream has a single writer; a gap or a different
event at a taken ``seq`` means a second writer or a lost event, and is refused).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    UniqueConstraint,
    func,
    insert,
    select,
    text,
    tuple_,
)

from runstream.codec import UnknownEvent, decode_data
from runstream.events import Envelope, Payload
from runstream_server.database import among, metadata

__all__ = [
    "AppendResult",
    "ConcurrencyError",
    "StoredEvent",
    "append",
    "check_append",
    "events_table",
    "head_position",
    "read_events",
    "stream_head",
]

events_table = Table(
    "events",
    metadata,
    Column("position", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("stream", String(300), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("type", String(100), nullable=False),
    Column("v", Integer, nullable=False),
    Column("ts", Float, nullable=False),
    Column("recorded", Float, nullable=False),
    Column("data", LargeBinary, nullable=False),
    UniqueConstraint("stream", "seq", name="uq_events_stream_seq"),
)

streams_table = Table(
    "streams",
    metadata,
    Column("stream", String(300), primary_key=True),
    Column("head", BigInteger, nullable=False),
)


APPEND_LOCK = 0x72756E73  # "runs": the advisory lock key of appends on PostgreSQL


class ConcurrencyError(Exception):
    """An append that would break a stream's order (a gap, or a second writer) or
    reuse a stored event's id."""

    def __init__(self, message: str, *, event_id: str = "") -> None:
        super().__init__(message)
        self.event_id = event_id


_UNDECODED: Any = object()


@dataclass(frozen=True, slots=True)
class StoredEvent:
    position: int
    id: str
    stream: str
    seq: int
    type: str
    v: int
    ts: float
    recorded: float
    data: bytes
    # The decoded payload, memoized: decoding a 10,000-point batch once, not per reader.
    decoded: Payload | None = field(default=_UNDECODED, compare=False, repr=False)

    def payload(self) -> Payload | None:
        """The validated payload, or None for a type or version this code does not know."""
        if self.decoded is _UNDECODED:
            try:
                value: Payload | None = decode_data(self.type, self.v, self.data)
            except UnknownEvent:
                value = None
            object.__setattr__(self, "decoded", value)
        return self.decoded

    def envelope(self) -> Envelope:
        return Envelope(self.id, self.stream, self.seq, self.type, self.v, self.ts,
                        msgspec.Raw(self.data))


@dataclass
class AppendResult:
    stored: list[StoredEvent] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def append(conn: Connection, events: Sequence[Envelope],
           payloads: Sequence[Payload | None] | None = None) -> AppendResult:
    """Append ``events`` inside the caller's transaction.

    Already-stored events (same stream, seq and id) are skipped and reported.
    Raises ConcurrencyError, leaving the transaction to be rolled back, when an
    event would leave a gap in its stream, take a seq that holds another event,
    or reuse the id of a stored event.
    ``payloads``, when the caller has validated the events, are their decoded
    payloads (None for unknown types), kept on the stored events.
    """
    decoded = {} if payloads is None else {
        id(e): p for e, p in zip(events, payloads, strict=True)}
    result = AppendResult()
    if not events:
        return result
    if conn.dialect.name == "postgresql":
        # Appends are serialized so that positions become visible in order: with
        # concurrent writers (server replicas), a reader could otherwise see
        # position 101 committed before 100, and a client resuming "after 101"
        # would never get 100. The lock ends with the transaction.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK})
    heads = _heads(conn, {e.stream for e in events})
    fresh, maybe_dup, new_heads = _plan(events, heads)
    if maybe_dup:
        _check_duplicates(conn, maybe_dup)
        result.duplicates = [e.id for e in maybe_dup]
    if not fresh:
        return result
    _check_ids_free(conn, fresh)
    now = time.time()
    rows = [
        {"id": e.id, "stream": e.stream, "seq": e.seq, "type": e.type, "v": e.v, "ts": e.ts,
         "recorded": now, "data": bytes(e.data)}
        for e in fresh
    ]
    positions = conn.execute(
        insert(events_table).returning(events_table.c.position, sort_by_parameter_order=True),
        rows,
    ).scalars().all()
    result.stored = [
        StoredEvent(pos, e.id, e.stream, e.seq, e.type, e.v, e.ts, now, bytes(e.data),
                    decoded.get(id(e), _UNDECODED))
        for pos, e in zip(positions, fresh, strict=True)
    ]
    _set_heads(conn, new_heads, heads)
    return result


def check_append(conn: Connection, events: Sequence[Envelope]) -> list[Envelope]:
    """Raise the ConcurrencyError that appending ``events`` now would raise, without
    writing; else return the events that are not stored yet (the others are resends
    of stored events: duplicates). A large batch is checked as a whole before it is
    appended in parts; the Kafka log checks a batch before it produces it."""
    heads = _heads(conn, {e.stream for e in events})
    fresh, maybe_dup, _ = _plan(events, heads)
    _check_duplicates(conn, maybe_dup)
    _check_ids_free(conn, fresh)
    return fresh


_PAGE = 500  # keys per IN (…) query: far below SQLite's limit on bound parameters


def _pages(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), _PAGE):
        yield items[i:i + _PAGE]


def _heads(conn: Connection, streams: Iterable[str]) -> dict[str, int]:
    heads: dict[str, int] = {}
    for page in _pages(sorted(streams)):
        heads.update((s, int(h)) for s, h in conn.execute(
            select(streams_table.c.stream, streams_table.c.head)
            .where(among(streams_table.c.stream, page))))
    return heads


def _plan(events: Sequence[Envelope], heads: dict[str, int],
          ) -> tuple[list[Envelope], list[Envelope], dict[str, int]]:
    """Split ``events`` into new ones and possible resends, given the stored heads."""
    new_heads: dict[str, int] = {}
    fresh: list[Envelope] = []
    maybe_dup: list[Envelope] = []
    for event in events:
        head = new_heads.get(event.stream, heads.get(event.stream, -1))
        if event.seq <= heads.get(event.stream, -1):
            maybe_dup.append(event)
        elif event.seq == head + 1:
            fresh.append(event)
            new_heads[event.stream] = event.seq
        elif event.seq <= head:
            raise ConcurrencyError(
                f"stream {event.stream}: seq {event.seq} appears twice in one batch",
                event_id=event.id)
        else:
            raise ConcurrencyError(
                f"stream {event.stream}: expected seq {head + 1}, got {event.seq} "
                "(events are missing before it; resend from the spool in order)",
                event_id=event.id)
    return fresh, maybe_dup, new_heads


def _check_duplicates(conn: Connection, events: list[Envelope]) -> None:
    stored: dict[tuple[str, int], str] = {}
    for page in _pages([(e.stream, e.seq) for e in events]):
        stored.update(((s, q), i) for s, q, i in conn.execute(
            select(events_table.c.stream, events_table.c.seq, events_table.c.id).where(
                among(tuple_(events_table.c.stream, events_table.c.seq), page))))
    for e in events:
        if stored.get((e.stream, e.seq)) != e.id:
            raise ConcurrencyError(
                f"stream {e.stream}: seq {e.seq} already holds another event "
                f"(not {e.id}); a stream must have exactly one writer", event_id=e.id)


def _check_ids_free(conn: Connection, events: list[Envelope]) -> None:
    """New events must not reuse a stored event's id (the id is how a resend is known)."""
    t = events_table.c
    for page in _pages([e.id for e in events]):
        taken = conn.execute(select(t.id, t.stream, t.seq).where(among(t.id, page))).first()
        if taken is not None:
            raise ConcurrencyError(
                f"event id {taken.id!r} is already stored, at {taken.stream} seq {taken.seq}; "
                "every event needs its own id (a fresh uuid4 hex)", event_id=taken.id)


def _set_heads(conn: Connection, new_heads: dict[str, int], old: dict[str, int]) -> None:
    inserts = [{"stream": s, "head": h} for s, h in new_heads.items() if s not in old]
    updates = [(s, h, old[s]) for s, h in new_heads.items() if s in old]
    if inserts:
        conn.execute(insert(streams_table), inserts)
    for stream, head, was in updates:
        # The old head in the WHERE makes this optimistic: a concurrent writer
        # that moved the head first makes the update miss, and we refuse.
        done = conn.execute(
            streams_table.update()
            .where(streams_table.c.stream == stream, streams_table.c.head == was)
            .values(head=head)
        ).rowcount
        if done != 1:
            raise ConcurrencyError(f"stream {stream}: another writer appended concurrently")


def stream_head(conn: Connection, stream: str) -> int:
    """The last seq of ``stream``, -1 when it has no event."""
    head = conn.execute(
        select(streams_table.c.head).where(streams_table.c.stream == stream)).scalar()
    return -1 if head is None else int(head)


def head_position(conn: Connection) -> int:
    top = select(func.coalesce(func.max(events_table.c.position), 0))
    return int(conn.execute(top).scalar_one())


def read_events(
    conn: Connection,
    after: int = 0,
    *,
    limit: int = 10_000,
    streams: Iterable[str] | None = None,
    until: int | None = None,
    types: Iterable[str] | None = None,
) -> list[StoredEvent]:
    """Events with position > ``after`` (and <= ``until``), oldest first."""
    t = events_table.c
    query = select(events_table).where(t.position > after).order_by(t.position).limit(limit)
    if until is not None:
        query = query.where(t.position <= until)
    if streams is not None:
        query = query.where(t.stream.in_(list(streams)))
    if types is not None:
        query = query.where(t.type.in_(list(types)))
    return [StoredEvent(*row) for row in conn.execute(query)]


def iter_events(conn: Connection, after: int = 0, *, until: int | None = None,
                page: int = 5_000) -> Iterator[list[StoredEvent]]:
    """All events after ``after`` in pages, for replay."""
    while True:
        batch = read_events(conn, after, limit=page, until=until)
        if not batch:
            return
        yield batch
        after = batch[-1].position
