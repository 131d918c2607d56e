"""Kafka mode of the server: its event log, made with the application, and the topic,
consumer group and live tail, started and stopped with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Engine

from runstream_server.kafka import KafkaSettings
from runstream_server.kafka.log import KafkaLog
from runstream_server.kafka.source import KafkaSource
from runstream_server.kafka.tail import StoreFeed, TopicTail
from runstream_server.kafka.topic import ensure_topic
from runstream_server.services import Services
from runstream_server.settings import Settings

__all__ = ["kafka_log", "kafka_mode", "kafka_settings"]


def kafka_settings(s: Settings) -> KafkaSettings:
    return KafkaSettings(s.kafka, s.kafka_topic, s.kafka_partitions,
                         s.kafka_group or f"runstream-projector.{s.kafka_topic}")


def kafka_log(s: Settings, engine: Engine) -> KafkaLog:
    """The event log of a Kafka-mode server (its producer connects at the first write)."""
    return KafkaLog(kafka_settings(s), engine)


@asynccontextmanager
async def kafka_mode(svc: Services) -> AsyncIterator[None]:
    """Make sure the topic exists, then run the consumer group that appends and projects,
    and the tail that feeds this server's websockets, until the application stops."""
    settings = kafka_settings(svc.settings)
    await asyncio.to_thread(ensure_topic, settings)
    feed = StoreFeed(svc.engine, svc.hub.publish_threadsafe).start()
    svc.ledger.subscribe(feed.poke)
    tail = TopicTail(settings, feed).start()
    source = KafkaSource(settings, svc.ledger, svc.engine).start()
    try:
        yield
    finally:
        await asyncio.to_thread(source.stop)
        await asyncio.to_thread(tail.stop)
        feed.stop()
