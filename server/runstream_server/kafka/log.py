"""The Kafka adapter of the server's event log port.

HTTP ingest in Kafka mode validates a batch and produces it (the topic, not the
database, is the source of truth; the consumer group applies it). The server's
own events (archive, restore, model versions) are produced too, at the stream's
next seq, and the call returns once the event is applied; if another replica
took that seq first, it tries the next one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from itertools import groupby

from sqlalchemy import Engine, select

from kafka import KafkaProducer
from kafka.errors import KafkaError
from runstream.client import IngestReply
from runstream.codec import encode_batch, validate_batch
from runstream.events import Envelope, new_event, partition_key
from runstream.kafkasink import RECORD_BYTES
from runstream_server.eventlog import LogUnavailable, MakePayload
from runstream_server.eventstore import StoredEvent, events_table, stream_head
from runstream_server.kafka import KafkaSettings

__all__ = ["KafkaLog", "producer"]


def producer(settings: KafkaSettings) -> KafkaProducer:
    """Idempotent, acks=all, batched: one record per stream batch, many records per request."""
    return KafkaProducer(bootstrap_servers=settings.bootstrap, acks="all",
                         enable_idempotence=True, linger_ms=5, batch_size=1 << 20,
                         max_request_size=16 << 20,
                         client_id="runstream-server")


def send_streams(prod: KafkaProducer, topic: str, events: Sequence[Envelope],
                 timeout: float = 30) -> None:
    """Produce ``events`` as records of one stream each (key = stream), of about
    ``RECORD_BYTES`` at most (as agents fill them: a large HTTP batch of one stream
    must not make a record the broker refuses), and wait for the acks."""
    futures = [prod.send(topic, key=partition_key(stream).encode(), value=encode_batch(part))
               for stream, group in groupby(events, key=lambda e: e.stream)
               for part in _records(list(group))]
    prod.flush(timeout)
    for future in futures:
        future.get(timeout)


def _records(events: list[Envelope]) -> list[list[Envelope]]:
    parts: list[list[Envelope]] = [[]]
    size = 0
    for event in events:
        if parts[-1] and size + len(event.data) > RECORD_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(event)
        size += len(event.data)
    return parts


class KafkaLog:
    def __init__(self, settings: KafkaSettings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self._producer: KafkaProducer | None = None

    def _prod(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = producer(self.settings)
        return self._producer

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(5)

    async def accept(self, events: Sequence[Envelope]) -> IngestReply:
        payloads = validate_batch(events)
        try:
            await asyncio.to_thread(send_streams, self._prod(), self.settings.topic, events)
        except KafkaError as exc:
            raise LogUnavailable(f"the Kafka broker did not take the batch: {exc}") from None
        return IngestReply(stored=len(events), duplicates=[],
                           unknown=[e.id for e, p in zip(events, payloads, strict=True)
                                    if p is None])

    async def write(self, stream: str, make: MakePayload) -> StoredEvent:
        return await asyncio.to_thread(self._write, stream, make)

    def _write(self, stream: str, make: MakePayload, patience: float = 30) -> StoredEvent:
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            with self.engine.connect() as conn:
                seq = stream_head(conn, stream) + 1
            event = new_event(stream, seq, make(seq))
            try:
                send_streams(self._prod(), self.settings.topic, [event])
            except KafkaError as exc:
                raise LogUnavailable(f"the Kafka broker did not take the event: {exc}") from None
            while time.monotonic() < deadline:
                with self.engine.connect() as conn:
                    row = conn.execute(select(events_table).where(
                        events_table.c.stream == stream, events_table.c.seq == seq)).first()
                if row is None:
                    time.sleep(0.01)
                    continue
                if row.id == event.id:
                    return StoredEvent(*row)
                break  # another writer took this seq first: try the next one
        raise LogUnavailable(f"the event for {stream} was not applied within {patience:.0f} s; "
                             "is a server consuming the topic?")
