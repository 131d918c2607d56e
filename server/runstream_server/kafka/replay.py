"""Rebuild the event store and every view from offset 0 of the topic."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from kafka import TopicPartition
from runstream_server.database import metadata
from runstream_server.kafka import KafkaSettings
from runstream_server.kafka.consumer import consumer as kafka_consumer
from runstream_server.kafka.source import apply_records
from runstream_server.ledger import Ledger
from runstream_server.projections.runner import Projector

__all__ = ["replay_from_kafka"]


def replay_from_kafka(settings: KafkaSettings, engine: Engine,
                      progress: Callable[[int, int], None] | None = None) -> int:
    """Drop the store and views of ``engine``, then apply every record the topic holds
    now, through the same path as the consumer group. Returns the records read."""
    consumer = kafka_consumer(settings, "runstream-replay")
    try:
        parts = consumer.partitions_for_topic(settings.topic)
        if not parts:
            raise LookupError(f"topic {settings.topic!r} does not exist on {settings.bootstrap}")
        tps = [TopicPartition(settings.topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        total = sum(end.values())
        metadata.drop_all(engine)
        projector = Projector()
        projector.prepare(engine)
        ledger = Ledger(engine, projector)
        done = 0
        while any(consumer.position(tp) < end[tp] for tp in tps):
            batches = consumer.poll(timeout_ms=500, max_records=1_000)
            records = [r for tp, rs in batches.items() for r in rs if r.offset < end[tp]]
            if records:
                apply_records(ledger, engine, records)
                done += len(records)
                if progress:
                    progress(done, total)
        ledger.close()
        return done
    finally:
        consumer.close()
