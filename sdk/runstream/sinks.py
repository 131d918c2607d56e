"""Which sink a configuration selects: the factory of the :mod:`runstream.sink` port.

Kept apart from the port so that the port imports none of its adapters
(:mod:`runstream.httpsink`, :mod:`runstream.kafkasink`), which import it.
"""

from __future__ import annotations

from runstream.client import Client
from runstream.httpsink import HttpSink
from runstream.kafkasink import DEFAULT_TOPIC, KafkaSink
from runstream.sink import Sink

__all__ = ["open_sink"]


def open_sink(url: str, kafka: str = "", topic: str = "", compression: str = "", *,
              token: str = "") -> Sink:
    """The sink a configuration selects.

    ``kafka`` (``host:port[,…]``, from ``RUNSTREAM_KAFKA`` or a target's ``kafka``
    key) selects the Kafka sink, producing to ``topic`` (``RUNSTREAM_KAFKA_TOPIC``,
    default ``runstream.events``) with blobs uploaded to the server at ``url``;
    without it, batches are POSTed to the server at ``url`` (the default).
    ``compression`` (``RUNSTREAM_KAFKA_COMPRESSION``: zstd, lz4, gzip; default none)
    is the producer's. ``token`` is sent to the server at ``url`` (``RUNSTREAM_TOKEN``,
    read by the caller's settings)."""
    http = HttpSink(Client(url, token=token))
    if not kafka:
        return http
    return KafkaSink(kafka, topic or DEFAULT_TOPIC, blobs=http,
                     compression=None if compression in ("", "none") else compression)
