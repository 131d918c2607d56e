"""The sink port: where a stream's event batches and blobs go.

Two adapters: the embedded :class:`~runstream.httpsink.HttpSink` (POST to the
server's ingest endpoint; the default) and :class:`~runstream.kafkasink.KafkaSink`
(records on the event topic; blobs still over HTTP), chosen by
:func:`runstream.sinks.open_sink` (this module imports neither).
A test or an offline tool can use :class:`~runstream.memorysink.MemorySink`,
which keeps the same contract in memory. Every adapter passes
``tests/sdk/test_sink_contract.py``.

Contract of ``send``: the batch is the encoded envelopes of *one* stream, in
seq order. Returning means every event is stored — by the server, or durably in
the event log (Kafka), which the server applies — or was already: resending is
harmless. Raising says what the caller should do:

- :class:`SinkUnavailable`: nothing is known to be stored; retry later, unchanged.
- :class:`SinkConflict`: the sink expects earlier events (a gap); resend from the
  oldest unacknowledged event. Raised again after that, the stream has a second writer.
- :class:`SinkRejected`: the batch is invalid; retrying it cannot help. The
  shipper narrows it down to the refused event(s) and sets those aside.
- :class:`SinkTooLarge` (a :class:`SinkRejected`): the batch, or one event of it,
  is larger than the sink takes; the shipper sends it in smaller pieces.
- :class:`SinkUnusable` (a :class:`SinkRejected`): the sink refuses to work at all
  (credentials, an address that is not a runstream server, a missing client
  library): no event is to blame, so nothing is set aside; fix the configuration,
  then ``runstream sync``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

__all__ = ["Sink", "SinkConflict", "SinkError", "SinkRejected", "SinkTooLarge", "SinkUnavailable",
           "SinkUnusable"]


class SinkError(Exception):
    pass


class SinkUnavailable(SinkError):
    """The sink cannot be reached now; keep everything and retry."""


class SinkConflict(SinkError):
    """The sink refused the batch's order (a gap, or a seq taken by another event)."""


class SinkRejected(SinkError):
    """The sink refused the batch as invalid (some event of it)."""


class SinkTooLarge(SinkRejected):
    """The sink refused the batch, or an event of it, as larger than it takes."""


class SinkUnusable(SinkRejected):
    """The sink refuses every batch, whatever it holds (configuration, credentials).

    A :class:`SinkRejected` (retrying cannot help), but no event is to blame."""


class Sink(Protocol):
    def send(self, stream: str, body: bytes, count: int) -> None:
        """Store ``count`` encoded envelopes of ``stream`` (``body`` is their batch)."""

    def put_blob(self, path: Path, sha256: str,
                 progress: Callable[[int], None] | None = None) -> None:
        """Store a file by its sha256; raises SinkRejected if its bytes do not match."""

    def close(self) -> None: ...
