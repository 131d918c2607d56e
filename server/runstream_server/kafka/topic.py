"""The event topic: created at start when missing, with infinite retention and room
for large records."""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from runstream.kafkaproducer import MAX_RECORD_BYTES
from runstream_server.kafka import KafkaSettings

__all__ = ["ensure_topic"]

log = logging.getLogger(__name__)



def ensure_topic(settings: KafkaSettings) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap, client_id="runstream-admin")
    try:
        if settings.topic in admin.list_topics():
            return
        topic = NewTopic(settings.topic, num_partitions=settings.partitions, replication_factor=1,
                         topic_configs={"retention.ms": "-1", "retention.bytes": "-1",
                                        "max.message.bytes": str(MAX_RECORD_BYTES)})
        try:
            admin.create_topics([topic])
            log.info("created topic %s with %d partitions", settings.topic, settings.partitions)
        except TopicAlreadyExistsError:
            pass  # another replica created it first
    finally:
        admin.close()
