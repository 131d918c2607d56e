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
from kafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    KafkaError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from runstream.codec import EventError, decode_batch, validate_batch
from runstream.events import Envelope, Payload, partition_key
from runstream_server import deadletters
from runstream_server.eventstore import ConcurrencyError
from runstream_server.kafka import KafkaSettings
from runstream_server.kafka.consumer import consumer as kafka_consumer
from runstream_server.ledger import DiskFull, Ledger

__all__ = ["Decoded", "KafkaSource", "Record", "apply_records", "redeliver"]

log = logging.getLogger(__name__)

JOIN_PATIENCE = 8.0  # seconds without any assigned partition before joining again
MAX_REJOINS = 3
# Seconds of failing offset commits before the member starts over as a new one. A
# rebalance normally settles within the session timeout (10 s); kafka-python 3.0 can
# instead stay "not part of an active group" for good, consuming but never committing.
STUCK_AFTER = 15.0
# What a commit answers while the group is rebalancing (or has moved on without us).
REBALANCING = (CommitFailedError, RebalanceInProgressError, IllegalGenerationError,
               UnknownMemberIdError)


@dataclass
class Decoded:
    record: Any
    key: str
    events: list[Envelope]
    payloads: list[Payload | None]


@dataclass(frozen=True)
class Record:
    """A record as kafka-python gives it, for one read back from a dead letter."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes


def _key(record: Any) -> str:
    key = record.key
    return key.decode(errors="replace") if isinstance(key, bytes) else str(key or "")


def apply_records(ledger: Ledger, engine: Engine, records: Sequence[Any]) -> int:
    """Decode, validate and apply records; dead-letter what cannot be, keeping the
    original record. Returns events stored."""
    return _apply(ledger, engine, records)[0]


def _apply(ledger: Ledger, engine: Engine, records: Sequence[Any]) -> tuple[int, int]:
    """(events stored, records dead-lettered)."""
    good: list[Decoded] = []
    poison: list[tuple[Any, str]] = []
    for record in records:
        try:
            events = decode_batch(record.value or b"")
            payloads = validate_batch(events)
            key = _key(record)
            strays = {e.stream for e in events if partition_key(e.stream) != key}
            if strays:
                raise EventError(f"record key {key!r} holds events of {sorted(strays)}")
            good.append(Decoded(record, key, events, payloads))
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
                    poison.append((d.record, str(exc)))
    if poison:
        with engine.begin() as conn:
            for record, reason in poison:
                source = deadletters.source_of(record.topic, record.partition, record.offset)
                key = _key(record)
                log.warning("dead letter %s (key %s): %s", source, key, reason)
                deadletters.record(conn, source, key, reason, record.value or b"")
    return stored, len(poison)


def redeliver(ledger: Ledger, engine: Engine, letter_id: int) -> int:
    """Feed dead letter ``letter_id``'s original record again, as the consumer group
    would; once it applies, the dead letter is removed (failing again, it is recorded
    anew with the new reason). Returns the events stored."""
    with engine.connect() as conn:
        o = deadletters.original(conn, letter_id)
    stored, poisoned = _apply(ledger, engine, [Record(o.topic, o.partition, o.offset,
                                                      o.key.encode(), o.value)])
    if not poisoned:  # applied (or all duplicates)
        with engine.begin() as conn:
            deadletters.remove(conn, letter_id)
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
        self._uncommitted = False  # records applied whose offsets are not committed yet
        self._failing_since: float | None = None  # when commits began to fail, while they do

    def start(self) -> KafkaSource:
        self._thread.start()
        return self

    def stop(self, timeout: float = 15) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def consumer(self) -> KafkaConsumer:
        return kafka_consumer(
            self.settings, "runstream-server", group=True,
            auto_offset_reset="earliest", max_poll_records=500,
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
                    consumer = self._rejoin(consumer)
                    joined, rejoins = time.monotonic(), rejoins + 1
                if (self._failing_since is not None
                        and time.monotonic() - self._failing_since > STUCK_AFTER):
                    # What was applied is in the store; a new member re-reads from the
                    # committed offsets and the dedupe drops the repeats.
                    log.warning("offsets not committed for %.0f s (the member seems stuck "
                                "in a rebalance); joining again as a new member",
                                STUCK_AFTER)
                    consumer = self._rejoin(consumer)
                    joined = time.monotonic()
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
        self._uncommitted, self._failing_since = False, None
        return consumer

    def _rejoin(self, consumer: KafkaConsumer) -> KafkaConsumer:
        consumer.close()
        return self._join()

    def _round(self, consumer: KafkaConsumer) -> None:
        """One poll: apply what came (one database transaction), then commit the
        offsets. A commit refused by a rebalance is tried again on the next round, with
        or without new records, so the group's offsets catch up once it settles."""
        batches = consumer.poll(timeout_ms=200)
        records = [r for part in batches.values() for r in part]
        if records:
            apply_records(self.ledger, self.engine, records)
            self._uncommitted = True
        if not self._uncommitted:
            return
        try:
            consumer.commit()  # only after the database commit
        except REBALANCING as exc:
            # The partitions may have gone to another member (it re-reads these records
            # and the dedupe drops them) or come back to us after the rebalance.
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                log.warning("offsets not committed (%s); trying again", exc)
            self._stop.wait(0.2)
            return
        self._uncommitted, self._failing_since = False, None


def _rewind(consumer: KafkaConsumer) -> None:
    """Go back to the committed offsets, so that records whose processing failed are
    read again instead of skipped."""
    for tp in consumer.assignment():
        committed = consumer.committed(tp)
        if committed is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)
