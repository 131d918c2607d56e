"""The live feed of one replica in Kafka mode.

Replicas share the consumer group's work, so a replica commits only some of the
events; its websocket clients must still see all of them. Each replica therefore
tails the whole topic (no group) to learn which events are coming, and publishes
them from the event store once they are committed — in position order, the only
order in which a client can resume without gaps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from kafka import TopicPartition
from runstream.codec import EventError, decode_batch
from runstream_server.eventstore import StoredEvent, head_position, read_events
from runstream_server.kafka import KafkaSettings
from runstream_server.kafka.consumer import consumer as kafka_consumer

__all__ = ["StoreFeed", "TopicTail"]

log = logging.getLogger(__name__)

PATIENCE = 30.0  # seconds to wait for an expected event to be committed somewhere


class StoreFeed:
    """Publishes committed events from the store, in position order, when poked."""

    def __init__(self, engine: Engine, publish: Callable[[list[StoredEvent]], None]) -> None:
        self.engine = engine
        self.publish = publish
        self._wake = threading.Condition()
        self._expected: dict[str, float] = {}  # event id -> when it was announced
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="runstream-feed", daemon=True)
        with engine.connect() as conn:
            self.position = head_position(conn)

    def start(self) -> StoreFeed:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._thread.join(5)

    def expect(self, ids: list[str]) -> None:
        """Events announced on the topic: publish them once the store has them."""
        now = time.monotonic()
        with self._wake:
            for i in ids:
                self._expected[i] = now
            self._wake.notify()

    def poke(self, _events: object = None) -> None:
        with self._wake:
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stop:
                    return
                # Waiting on expected events is the one place that re-reads on a timer.
                self._wake.wait(0.02 if self._expected else None)
                if self._stop:
                    return
            self._drain()

    def _drain(self) -> None:
        while True:
            with self.engine.connect() as conn:
                batch = read_events(conn, self.position, limit=2_000)
            if batch:
                self.position = batch[-1].position
                with self._wake:
                    for e in batch:
                        self._expected.pop(e.id, None)
                self.publish(batch)
            cutoff = time.monotonic() - PATIENCE
            with self._wake:
                for i in [i for i, t in self._expected.items() if t < cutoff]:
                    del self._expected[i]  # a duplicate or a dead letter: never stored anew
            if len(batch) < 2_000:
                return


class TopicTail:
    """Reads the whole topic from its end (no group) and announces event ids to the feed."""

    def __init__(self, settings: KafkaSettings, feed: StoreFeed) -> None:
        self.settings = settings
        self.feed = feed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="runstream-tail", daemon=True)
        self.ready = threading.Event()

    def start(self) -> TopicTail:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        consumer = kafka_consumer(self.settings, "runstream-tail")
        try:
            parts = consumer.partitions_for_topic(self.settings.topic) or set()
            assigned = [TopicPartition(self.settings.topic, p) for p in sorted(parts)]
            consumer.assign(assigned)
            consumer.seek_to_end(*assigned)
            for tp in assigned:
                consumer.position(tp)  # resolve "end" now, before anything is produced
            self.ready.set()
            while not self._stop.is_set():
                batches = consumer.poll(timeout_ms=200)
                ids: list[str] = []
                for records in batches.values():
                    for record in records:
                        try:
                            ids.extend(e.id for e in decode_batch(record.value or b""))
                        except EventError:
                            continue  # the source dead-letters it
                if ids:
                    self.feed.expect(ids)
        except Exception as exc:  # the live feed must not take the server down
            log.error("topic tail stopped: %s", exc)
        finally:
            consumer.close()
