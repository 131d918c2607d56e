"""The Kafka adapter of the sink port: a stream's batches produced to the event topic.

Selected by ``RUNSTREAM_KAFKA=host:port`` (or ``kafka = "host:port"`` in a
target's table of ``runstream.toml``); see :func:`runstream.sinks.open_sink`.
The producer, the topic default and the record sizes are
:mod:`runstream.kafkaproducer`'s, shared with the server's Kafka log.

One ``send`` is one record (a very large batch is cut into several, at event
boundaries, in order): key = ``partition_key(stream)``, so a run's events stay
in one partition, in order; value = the batch as the codec encodes it, which
is exactly what the server's consumer group reads. The producer is idempotent
with ``acks="all"``, and ``send`` returns once the broker confirmed the
records: only then may the shipper trim the spool. Kafka is the log; whether
the server has applied the events yet is not this sink's business.

What ``send`` raises, per the sink contract:

- :class:`SinkUnavailable` when the broker cannot be reached or does not confirm
  within ``timeout`` (the producer is then dropped and made anew on the next
  call, so nothing stale is left to go out behind the retry);
- :class:`SinkConflict` when the batch skips seqs after what this sink delivered
  of the stream (the shipper then resends from the spool);
- :class:`SinkRejected` when the batch is invalid (checked here, because a record
  on a topic kept forever would be a dead letter forever); :class:`SinkTooLarge`
  when an event is larger than :data:`~runstream.events.MAX_EVENT_BYTES` or a
  record larger than the topic takes (the shipper then sends smaller batches and
  sets aside an event that is too large alone); :class:`SinkUnusable` when the
  client cannot work at all (not installed, a bad address or codec).

Unlike the HTTP sink, this one cannot see what other processes wrote: a second
writer of a stream (another event at a taken seq) is caught by the server's
consumer, which dead-letters the record (``GET /api/dead-letters``).

Blobs (``put_blob``) do not go through Kafka: they are uploaded to the server
by the composed ``blobs`` sink (an :class:`~runstream.httpsink.HttpSink` to
``RUNSTREAM_URL``).

kafka-python is imported on first use, so the bare SDK does not need it
(``pip install 'runstream[kafka]'``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress
from itertools import pairwise
from pathlib import Path
from typing import Any

from runstream.codec import EventError, EventTooLarge, decode_batch, encode_event, validate_batch
from runstream.events import MAX_EVENT_BYTES, Envelope
from runstream.kafkaproducer import (
    DEFAULT_TOPIC,
    RECORD_BYTES,
    cut_records,
    make_producer,
    produce,
)
from runstream.sink import (
    Sink,
    SinkConflict,
    SinkRejected,
    SinkTooLarge,
    SinkUnavailable,
    SinkUnusable,
)

__all__ = ["DEFAULT_TOPIC", "RECORD_BYTES", "KafkaSink"]

TIMEOUT = 10.0


class KafkaSink:
    """Produces batches to ``topic`` on the broker(s) ``bootstrap`` (``host:port[,…]``)."""

    def __init__(self, bootstrap: str, topic: str = DEFAULT_TOPIC, *, blobs: Sink,
                 timeout: float = TIMEOUT, record_bytes: int = RECORD_BYTES,
                 compression: str | None = None, linger_ms: int = 5,
                 client_id: str = "runstream-agent") -> None:
        if not bootstrap:
            raise ValueError("KafkaSink needs a broker address, host:port")
        self.bootstrap = bootstrap
        self.topic = topic
        self.blobs = blobs
        self.timeout = timeout
        self.record_bytes = record_bytes
        self.compression = compression
        self.linger_ms = linger_ms
        self.client_id = client_id
        self.records = 0  # records confirmed by the broker
        self._producer: Any = None
        self._lock = threading.Lock()
        self._heads: dict[str, int] = {}  # stream -> last seq this sink delivered

    # -- the port -------------------------------------------------------------

    def send(self, stream: str, body: bytes, count: int) -> None:
        events = self._checked(stream, body, count)
        if not events:
            return
        first, last = events[0].seq, events[-1].seq
        with self._lock:
            head = self._heads.get(stream)
        if head is not None and first > head + 1:
            raise SinkConflict(f"{stream}: expected seq {head + 1} or earlier, got {first} "
                               "(events are missing before it)")
        records = cut_records(events, self.record_bytes, body)
        what = f"{count} events of {stream}"
        producer = self._connected()
        from kafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError

        try:
            produce(producer, self.topic, [(stream, r) for r in records], self.timeout)
        except (MessageSizeTooLargeError, RecordListTooLargeError) as exc:
            self._reset(producer)  # kafka-python holds this fatal for an idempotent producer
            largest = max(len(r) for r in records)
            raise SinkTooLarge(
                f"Kafka at {self.bootstrap} refused {what}: a record of {largest:,} bytes is "
                f"larger than topic {self.topic!r} takes ({type(exc).__name__}). Raise the "
                "topic's max.message.bytes (the runstream server creates it with 16 MiB), "
                "then send the spool again with `runstream sync`") from None
        except KafkaError as exc:
            self._reset(producer)
            raise SinkUnavailable(
                f"Kafka at {self.bootstrap} did not confirm {what} within "
                f"{self.timeout:g} s ({type(exc).__name__}: {exc}); if topic {self.topic!r} "
                "does not exist, start a runstream server in Kafka mode (it creates the "
                "topic)") from None
        except Exception as exc:  # a client bug must not stop shipping for good: retry
            self._reset(producer)
            raise SinkUnavailable(f"the Kafka client failed sending {what} "
                                  f"({type(exc).__name__}: {exc})") from None
        with self._lock:
            self._heads[stream] = max(last, self._heads.get(stream, -1))
            self.records += len(records)

    def put_blob(self, path: Path, sha256: str,
                 progress: Callable[[int], None] | None = None) -> None:
        self.blobs.put_blob(path, sha256, progress)

    def close(self) -> None:
        """Disconnect. Nothing unconfirmed needs flushing: whatever a ``send`` did not
        see confirmed is still in the sender's spool."""
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            _shut(producer)
        self.blobs.close()

    # -- inside ---------------------------------------------------------------

    def _checked(self, stream: str, body: bytes, count: int) -> list[Envelope]:
        """The batch's envelopes, validated as the server's consumer would."""
        try:
            events = decode_batch(body)
            validate_batch(events)
        except EventTooLarge as exc:
            raise SinkTooLarge(f"invalid batch of {stream}: {exc}") from None
        except EventError as exc:
            raise SinkRejected(f"invalid batch of {stream}: {exc}") from None
        if len(events) != count or any(e.stream != stream for e in events):
            raise SinkRejected(f"the batch is not {count} events of {stream}")
        for before, after in pairwise(events):
            if after.seq != before.seq + 1:
                raise SinkRejected(f"{stream}: the batch is not in seq order "
                                   f"({before.seq} then {after.seq})")
        if len(body) > MAX_EVENT_BYTES:  # only a large batch can hold a too large event
            for i, event in enumerate(events):
                size = len(encode_event(event))
                if size > MAX_EVENT_BYTES:
                    raise SinkTooLarge(f"event #{i} of {stream} (seq {event.seq}) is {size:,} "
                                       f"bytes; one event may be at most {MAX_EVENT_BYTES:,}")
        return events

    def _connected(self) -> Any:
        with self._lock:
            if self._producer is not None:
                return self._producer
        try:
            from kafka.errors import KafkaError
        except ImportError:
            raise SinkUnusable("RUNSTREAM_KAFKA is set but kafka-python is not installed: "
                               "pip install 'runstream[kafka]', then send the spool with "
                               "`runstream sync`") from None
        try:
            producer = make_producer(self.bootstrap, client_id=self.client_id,
                                     timeout=self.timeout, linger_ms=self.linger_ms,
                                     record_bytes=self.record_bytes,
                                     compression=self.compression)
        except KafkaError as exc:
            raise SinkUnavailable(f"cannot reach Kafka at {self.bootstrap} "
                                  f"({type(exc).__name__}: {exc})") from None
        except (ValueError, RuntimeError) as exc:  # a bad address, codec, missing codec library
            raise SinkUnusable(f"cannot use Kafka at {self.bootstrap}: {exc}") from None
        with self._lock:
            if self._producer is None:
                self._producer = producer
                return producer
            other = self._producer
        _shut(producer)  # another thread connected meanwhile
        return other

    def _reset(self, producer: Any) -> None:
        """Drop a producer that failed: what it still buffers must not go out after
        the retry (it would only be a duplicate, but a stale one)."""
        with self._lock:
            if self._producer is producer:
                self._producer = None
        _shut(producer)


def _shut(producer: Any) -> None:
    """Close at once: flushing could wait for a broker that is away."""
    with suppress(Exception):  # closing a broken producer must not hide why it broke
        producer.close(0)
