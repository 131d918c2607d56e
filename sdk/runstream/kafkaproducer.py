"""The producer side of Kafka, for every producer (the SDK's sink, the server's log).

One topic default, one record limit, one way to build an idempotent producer and
one way to cut a stream's batch into records. A record's key is
``partition_key(stream)``, so a run's events stay in one partition, in order; its
value is a batch of that stream's envelopes as the codec encodes it, which is
exactly what the server's consumer group reads.

kafka-python is imported on first use (in :func:`make_producer`), so the bare SDK
does not need it (``pip install 'runstream[kafka]'``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from runstream.codec import encode_batch, encode_event, join_encoded
from runstream.events import MAX_EVENT_BYTES, Envelope, partition_key

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_TOPIC",
    "MAX_RECORD_BYTES",
    "MAX_REQUEST_BYTES",
    "RECORD_BYTES",
    "cut_records",
    "make_producer",
    "produce",
]

DEFAULT_TOPIC = "runstream.events"
# The largest record the topic takes (its max.message.bytes, set by the server when it
# creates the topic) and consumers fetch: one event of the largest size anything accepts.
# Kafka's default (1 MiB) is less than one 50,000-point metrics event.
MAX_RECORD_BYTES = MAX_EVENT_BYTES
# A record is filled up to about this size. A single event larger than this still
# fits the topic (MAX_RECORD_BYTES), alone in its record.
RECORD_BYTES = 900 << 10
# The producer refuses a request beyond this before the broker does.
MAX_REQUEST_BYTES = 64 << 20
# A broker that is up answers at once; one that is down should not hold the shipper
# (nor a finishing `runstream submit`) for the whole delivery timeout.
CONNECT_TIMEOUT = 3.0


def make_producer(bootstrap: str, *, client_id: str, timeout: float = 10.0,
                  linger_ms: int = 5, record_bytes: int = RECORD_BYTES,
                  compression: str | None = None) -> Any:
    """An idempotent producer with ``acks="all"`` that never creates the topic (the
    server creates it, kept forever). Raises ImportError without kafka-python,
    ``kafka.errors.KafkaError`` when the broker cannot be reached, ValueError or
    RuntimeError for a bad address or codec."""
    from kafka import KafkaProducer

    ms = int(timeout * 1000)
    connect_ms = int(min(timeout, CONNECT_TIMEOUT) * 1000)
    return KafkaProducer(
        bootstrap_servers=bootstrap, client_id=client_id,
        acks="all", enable_idempotence=True,
        # Records are whole batches of events: batches of records only need room for
        # them; the shipper already amortizes per-record costs.
        linger_ms=linger_ms, batch_size=max(1 << 20, record_bytes),
        max_request_size=MAX_REQUEST_BYTES, compression_type=compression,
        allow_auto_create_topics=False,
        bootstrap_timeout_ms=connect_ms, max_block_ms=ms, request_timeout_ms=ms,
        delivery_timeout_ms=ms + linger_ms + 1_000,
        reconnect_backoff_max_ms=1_000)


def cut_records(events: Sequence[Envelope], record_bytes: int = RECORD_BYTES,
                body: bytes | None = None) -> list[bytes]:
    """One stream's ``events`` as record values: the whole batch (``body``, when the
    caller has it encoded) if it fits ``record_bytes``, else cut at event boundaries
    into records of about ``record_bytes`` (an event larger than that goes alone)."""
    if body is not None and len(body) <= record_bytes:
        return [body]
    if not events:
        return [encode_batch(events)]
    records: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for event in events:
        encoded = encode_event(event)
        if chunk and size + len(encoded) > record_bytes:
            records.append(join_encoded(chunk))
            chunk, size = [], 0
        chunk.append(encoded)
        size += len(encoded)
    records.append(join_encoded(chunk))
    return records


def produce(producer: Any, topic: str, records: Sequence[tuple[str, bytes]],
            timeout: float) -> None:
    """Send ``records`` as ``(stream, value)`` pairs (in order, key = the stream's
    partition key) and return once the broker confirmed every one; raises what the
    client raises."""
    futures = [producer.send(topic, key=partition_key(stream).encode(), value=value)
               for stream, value in records]
    # Nothing else is coming for these streams until this returns: send now rather
    # than after linger_ms (concurrent senders share the request).
    producer.flush(timeout)
    deadline = time.monotonic() + timeout
    for future in futures:
        future.get(max(0.0, deadline - time.monotonic()))
