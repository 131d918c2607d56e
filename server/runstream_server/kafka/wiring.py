"""Kafka mode of the server: topic, consumer group, live tail and log, started and stopped
with the application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from runstream_server.kafka import KafkaSettings
from runstream_server.kafka.log import KafkaLog
from runstream_server.kafka.source import KafkaSource
from runstream_server.kafka.tail import StoreFeed, TopicTail
from runstream_server.kafka.topic import ensure_topic
from runstream_server.services import Services

__all__ = ["kafka_mode"]


@asynccontextmanager
async def kafka_mode(svc: Services) -> AsyncIterator[None]:
    s = svc.settings
    settings = KafkaSettings(s.kafka, s.kafka_topic, s.kafka_partitions,
                             s.kafka_group or f"runstream-projector.{s.kafka_topic}")
    await asyncio.to_thread(ensure_topic, settings)
    feed = StoreFeed(svc.engine, svc.hub.publish_threadsafe).start()
    svc.ledger.subscribe(feed.poke)
    tail = TopicTail(settings, feed).start()
    source = KafkaSource(settings, svc.ledger, svc.engine).start()
    log = KafkaLog(settings, svc.engine)
    svc.log = log
    try:
        yield
    finally:
        await asyncio.to_thread(source.stop)
        await asyncio.to_thread(tail.stop)
        feed.stop()
        log.close()
