"""The consumer group: records → event store + projections in one transaction, then
the offsets. A crash between the two redelivers records the (stream, seq) dedupe
drops: each event takes effect exactly once. Poison records become dead letters."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from kafka import KafkaConsumer
from kafka.errors import CommitFailedError, KafkaError
from runstream.codec import EventError, decode_batch, validate_batch
from runstream.events import Envelope, Payload, partition_key
from runstream_server import deadletters
from runstream_server.eventstore import ConcurrencyError
from runstream_server.kafka import KafkaSettings
from runstream_server.ledger import DiskFull, Ledger

__all__ = ["Decoded", "KafkaSource", "apply_records"]

log = logging.getLogger(__name__)

JOIN_PATIENCE = 8.0  # seconds without any assigned partition before joining again
MAX_REJOINS = 3


@dataclass
class Decoded:
    source: str
    key: str
    events: list[Envelope]
    payloads: list[Payload | None]


def _key(record: Any) -> str:
    key = record.key
    return key.decode(errors="replace") if isinstance(key, bytes) else str(key or "")


def apply_records(ledger: Ledger, engine: Engine, records: Sequence[Any]) -> int:
    """Decode, validate and apply records; dead-letter what cannot be. Returns events stored."""
    good: list[Decoded] = []
    poison: list[tuple[Any, str]] = []
    for record in records:
        source = f"{record.topic}/{record.partition}@{record.offset}"
        try:
            events = decode_batch(record.value or b"")
            payloads = validate_batch(events)
            key = _key(record)
            strays = {e.stream for e in events if partition_key(e.stream) != key}
            if strays:
                raise EventError(f"record key {key!r} holds events of {sorted(strays)}")
            good.append(Decoded(source, key, events, payloads))
        except EventError as exc:
            poison.append((record, str(exc)))
    stored = 0
    if good:
        try:
            stored = len(ledger.commit([e for d in good for e in d.events],
                                       [p for d in good for p in d.payloads]).stored)
        except ConcurrencyError:
            # One record breaks its stream's order: apply them one by one to find it.
            for d in good:
                try:
                    stored += len(ledger.commit(d.events, d.payloads).stored)
                except ConcurrencyError as exc:
                    poison.append((d, str(exc)))
    if poison:
        with engine.begin() as conn:
            for item, reason in poison:
                if isinstance(item, Decoded):
                    source, key = item.source, item.key
                    data = b"".join(bytes(e.data) for e in item.events)
                else:
                    source, key = f"{item.topic}/{item.partition}@{item.offset}", _key(item)
                    data = item.value or b""
                log.warning("dead letter %s (key %s): %s", source, key, reason)
                deadletters.record(conn, source, key, reason, data)
    return stored


class KafkaSource:
    """A member of the projection-writing consumer group, on its own thread."""

    def __init__(self, settings: KafkaSettings, ledger: Ledger, engine: Engine) -> None:
        self.settings = settings
        self.ledger = ledger
        self.engine = engine
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="runstream-kafka-source",
                                        daemon=True)
        self.error: BaseException | None = None

    def start(self) -> KafkaSource:
        self._thread.start()
        return self

    def stop(self, timeout: float = 15) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def consumer(self) -> KafkaConsumer:
        return KafkaConsumer(
            bootstrap_servers=self.settings.bootstrap, group_id=self.settings.group,
            client_id="runstream-server", enable_auto_commit=False,
            auto_offset_reset="earliest", max_poll_records=500,
            max_partition_fetch_bytes=16 << 20, fetch_max_bytes=64 << 20,
            session_timeout_ms=10_000, heartbeat_interval_ms=1_000,
            max_poll_interval_ms=300_000)

    def _run(self) -> None:
        consumer = self._join()
        joined, rejoins = time.monotonic(), 0
        try:
            while not self._stop.is_set():
                if (not consumer.assignment() and rejoins < MAX_REJOINS
                        and time.monotonic() - joined > JOIN_PATIENCE):
                    # kafka-python 3.0 can hang in its first group assignment and never
                    # consume: start over with a fresh member (only early on, so that a
                    # replica with no partition to own does not churn the group).
                    log.warning("no partitions assigned after %.0f s; joining again",
                                JOIN_PATIENCE)
                    consumer.close()
                    consumer = self._join()
                    joined, rejoins = time.monotonic(), rejoins + 1
                try:
                    self._round(consumer)
                except (KafkaError, OSError, SQLAlchemyError, DiskFull) as exc:
                    # The broker or the database is away (or its disk full): nothing was
                    # committed, so the records come again; wait a little and go on.
                    self.error = exc
                    log.error("kafka source: %s; retrying", exc)
                    self._stop.wait(1.0)
                    _rewind(consumer)
        finally:
            consumer.close()

    def _join(self) -> KafkaConsumer:
        consumer = self.consumer()
        # Know the topic's partitions before the first join: a leader that assigns
        # without them must rejoin at once, and kafka-python 3.0 can then hang in
        # the second assignment (the member stops heartbeating and never consumes).
        consumer.partitions_for_topic(self.settings.topic)
        consumer.subscribe([self.settings.topic])
        return consumer

    def _round(self, consumer: KafkaConsumer) -> None:
        batches = consumer.poll(timeout_ms=200)
        records = [r for part in batches.values() for r in part]
        if not records:
            return
        apply_records(self.ledger, self.engine, records)
        try:
            consumer.commit()  # only after the database commit
        except CommitFailedError as exc:
            # A rebalance gave the partitions away: the new owner re-reads these
            # records and the dedupe drops them.
            log.warning("offsets not committed (%s); records will be redelivered", exc)


def _rewind(consumer: KafkaConsumer) -> None:
    """Go back to the committed offsets, so that records whose processing failed are
    read again instead of skipped."""
    for tp in consumer.assignment():
        committed = consumer.committed(tp)
        if committed is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)
