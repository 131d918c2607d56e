"""Apache Kafka as the event log: topic, consumer-group source, live tail, writer.

A record's key is its stream ("run/<id>") so one stream's events stay ordered in
one partition; its value is a batch of that stream's envelopes, encoded by the
one codec (``runstream.codec.encode_batch``), so per-record costs are paid once
per batch.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KafkaSettings"]


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str
    topic: str = "runstream.events"
    partitions: int = 6
    group: str = "runstream-projector"
