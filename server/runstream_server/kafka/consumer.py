"""The consumer side of Kafka, for every reader of the topic on the server: the
consumer group that applies records (``source``), the live tail (``tail``) and the
rebuild from offset 0 (``replay``)."""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer
from runstream.kafkaproducer import MAX_RECORD_BYTES
from runstream_server.kafka import KafkaSettings

__all__ = ["FETCH_MAX_BYTES", "consumer"]

# One fetch takes several of the largest records the topic allows.
FETCH_MAX_BYTES = 4 * MAX_RECORD_BYTES


def consumer(settings: KafkaSettings, client_id: str, *, group: bool = False,
             **options: Any) -> KafkaConsumer:
    """A consumer of ``settings.bootstrap`` that never commits on its own and can fetch
    the largest record the topic takes. ``group``: a member of ``settings.group``
    (offsets committed by the caller after its database commit); else it reads the
    partitions it is assigned, no group. ``options`` are kafka-python's."""
    return KafkaConsumer(bootstrap_servers=settings.bootstrap,
                         group_id=settings.group if group else None,
                         client_id=client_id, enable_auto_commit=False,
                         max_partition_fetch_bytes=MAX_RECORD_BYTES,
                         fetch_max_bytes=FETCH_MAX_BYTES, **options)
