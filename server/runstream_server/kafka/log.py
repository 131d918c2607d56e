"""The Kafka adapter of the server's event log port.

HTTP ingest in Kafka mode answers like the embedded log: the batch is validated
and checked against the event store (resends of stored events are duplicates; a
gap or another event at a taken seq is refused with a ConcurrencyError, HTTP 409,
so that the sender rewinds), its new events are produced to the topic (the source
of truth), and the answer comes once the consumer group applied them.

Waiting for the consumer is what makes the check sound: the store lags the
topic, so a check against it alone would call a legitimate next batch a gap. A
stream has one writer, sending batches one after another; with each batch
answered only once applied, the next one is checked against an exact head. The
price is the consumer's latency on every batch (``bench/kafka_ingest.py``
measures it); agents that produce straight to the topic (``KafkaSink``) do not
pay it.

The server's own events (archive, restore, model versions) are produced the same
way, at the stream's next seq; if another replica took that seq first, the next
one is tried.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from sqlalchemy import Engine, select, tuple_

from kafka.errors import KafkaError
from runstream.client import IngestReply
from runstream.codec import validate_batch
from runstream.events import Envelope, new_event
from runstream.kafkaproducer import cut_records, make_producer, produce
from runstream_server.database import among
from runstream_server.eventlog import LogUnavailable, MakePayload, MakePayloads
from runstream_server.eventstore import (
    ConcurrencyError,
    StoredEvent,
    check_append,
    events_table,
    stream_head,
)
from runstream_server.kafka import KafkaSettings

__all__ = ["KafkaLog"]

PATIENCE = 30.0  # seconds for produced events to be applied by the consumer group
POLL = 0.01  # seconds between looks at the store, unless poked sooner
_PAGE = 500


class KafkaLog:
    def __init__(self, settings: KafkaSettings, engine: Engine, *,
                 patience: float = PATIENCE) -> None:
        self.settings = settings
        self.engine = engine
        self.patience = patience
        self._producer: Any = None
        self._wake = threading.Condition()

    def poke(self, _events: object = None) -> None:
        """Something was committed (a ledger listener): look at the store now rather
        than at the next poll."""
        with self._wake:
            self._wake.notify_all()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(5)

    async def accept(self, events: Sequence[Envelope]) -> IngestReply:
        payloads = await asyncio.to_thread(validate_batch, events)
        return await asyncio.to_thread(self._accept, events, payloads)

    async def write(self, stream: str, make: MakePayload) -> StoredEvent:
        return (await asyncio.to_thread(self._write, stream, lambda seq: [make(seq)]))[0]

    async def write_all(self, stream: str, make: MakePayloads) -> list[StoredEvent]:
        return await asyncio.to_thread(self._write, stream, make)

    # -- inside ---------------------------------------------------------------

    def _accept(self, events: Sequence[Envelope], payloads: Sequence[object]) -> IngestReply:
        with self.engine.connect() as conn:
            fresh = check_append(conn, events)  # ConcurrencyError: HTTP 409
        new = {e.id for e in fresh}
        position = 0
        if fresh:
            self._send(fresh, "the batch")
            rows, taken = self._applied(_lasts(fresh), time.monotonic() + self.patience)
            if taken:
                e = taken[0]
                raise ConcurrencyError(
                    f"stream {e.stream}: seq {e.seq} was taken by another event while this "
                    "batch was on its way; a stream must have exactly one writer",
                    event_id=e.id)
            position = max(row.position for row in rows)
        return IngestReply(
            stored=len(fresh), duplicates=[e.id for e in events if e.id not in new],
            unknown=[e.id for e, p in zip(events, payloads, strict=True)
                     if p is None and e.id in new],
            position=position)

    def _write(self, stream: str, make: MakePayloads) -> list[StoredEvent]:
        deadline = time.monotonic() + self.patience
        while time.monotonic() < deadline:
            with self.engine.connect() as conn:
                seq = stream_head(conn, stream) + 1
            events = [new_event(stream, seq + i, p) for i, p in enumerate(make(seq))]
            self._send(events, "the events" if len(events) > 1 else "the event")
            # One stream's events are applied in order: once the last is there, all are.
            rows, taken = self._applied(events[-1:], deadline)
            if rows:
                return self._rows([(e.stream, e.seq) for e in events]) if len(events) > 1 \
                    else rows
            if not taken:
                break
            # another writer took this seq first: try the next one
        raise LogUnavailable(f"the events for {stream} were not applied within "
                             f"{self.patience:.0f} s; is a server consuming the topic?")

    def _send(self, events: Sequence[Envelope], what: str) -> None:
        """Produce ``events`` as records of one stream each and wait for the acks."""
        records = [(stream, value)
                   for stream, group in groupby(events, key=lambda e: e.stream)
                   for value in cut_records(list(group))]
        try:
            if self._producer is None:
                self._producer = make_producer(self.settings.bootstrap,
                                               client_id="runstream-server", timeout=30)
            produce(self._producer, self.settings.topic, records, 30)
        except KafkaError as exc:
            producer, self._producer = self._producer, None
            if producer is not None:
                producer.close(0)
            raise LogUnavailable(f"the Kafka broker did not take {what}: {exc}") from None

    def _applied(self, events: Sequence[Envelope], deadline: float,
                 ) -> tuple[list[StoredEvent], list[Envelope]]:
        """Wait until the store holds an event at the (stream, seq) of each of ``events``;
        return the stored ones that are ``events`` and the ``events`` whose seq another
        event took. Raise LogUnavailable after ``deadline`` (the events are on the
        topic: resending them is harmless)."""
        wanted = {(e.stream, e.seq): e for e in events}
        while True:
            found = self._rows(list(wanted))
            if len(found) == len(wanted):
                ours = [r for r in found if r.id == wanted[(r.stream, r.seq)].id]
                theirs = [wanted[(r.stream, r.seq)] for r in found
                          if r.id != wanted[(r.stream, r.seq)].id]
                return ours, theirs
            if time.monotonic() > deadline:
                raise LogUnavailable(
                    f"{len(wanted) - len(found)} of {len(wanted)} streams' events were "
                    f"produced to topic {self.settings.topic!r} but not applied within "
                    f"{self.patience:.0f} s; is a server consuming it? Resending is harmless")
            with self._wake:
                self._wake.wait(POLL)

    def _rows(self, keys: list[tuple[str, int]]) -> list[StoredEvent]:
        rows: list[StoredEvent] = []
        with self.engine.connect() as conn:
            for i in range(0, len(keys), _PAGE):
                rows += [StoredEvent(*row) for row in conn.execute(
                    select(events_table).where(among(
                        tuple_(events_table.c.stream, events_table.c.seq),
                        keys[i:i + _PAGE])))]
        return rows


def _lasts(events: Sequence[Envelope]) -> list[Envelope]:
    """The last event of each stream: a stream's events are applied in order, so
    once its last one is stored, all are."""
    return list({e.stream: e for e in events}.values())
