"""Apache Kafka as the event log: topic, consumer-group source, live tail, writer.

A record's key is its stream's partition key ("run/<id>") so one stream's events
stay ordered in one partition; its value is a batch of that stream's envelopes,
encoded by the one codec, so per-record costs are paid once per batch.

The producer side (topic default, record sizes, the idempotent producer, cutting
a batch into records) is the SDK's ``runstream.kafkaproducer``, used by agents
and by this server's ``KafkaLog`` alike; the consumer side is
``runstream_server.kafka.consumer``, used by the group source, the live tail and
the replay.
"""

from __future__ import annotations

from dataclasses import dataclass

from runstream.kafkaproducer import DEFAULT_TOPIC

__all__ = ["KafkaSettings"]


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str
    topic: str = DEFAULT_TOPIC
    partitions: int = 6
    group: str = "runstream-projector"
