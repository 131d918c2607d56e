"""The event log port, as the API sees it: accept a batch, write the server's own events.

Two adapters: ``EmbeddedLog`` (the event store is the log: append and project at
once) and ``runstream_server.kafka.log.KafkaLog`` (produce to the topic; the
consumer group appends and projects).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from runstream.client import IngestReply
from runstream.events import Envelope, Payload
from runstream_server.eventstore import StoredEvent
from runstream_server.ledger import Ledger

__all__ = ["EmbeddedLog", "EventLog", "LogUnavailable", "MakePayload", "MakePayloads"]

MakePayload = Callable[[int], Payload]
MakePayloads = Callable[[int], Sequence[Payload]]


class LogUnavailable(RuntimeError):
    """The log cannot take events now (broker down, nobody consuming): retry later."""


class EventLog(Protocol):
    async def accept(self, events: Sequence[Envelope]) -> IngestReply:
        """Validate ``events`` and put them in the log (all or none); answer once they
        are applied, with what happened: the stored count, the ids already stored
        (duplicates), the ids of stored events of a type or version this server does
        not know (unknown). A gap in a stream or another event at a taken seq raises
        ConcurrencyError (HTTP 409: the sender resends from its spool, in order)."""

    async def write(self, stream: str, make: MakePayload) -> StoredEvent:
        """Append the server's own event at ``stream``'s next seq, once it is applied."""

    async def write_all(self, stream: str, make: MakePayloads) -> list[StoredEvent]:
        """Append the server's own events from ``stream``'s next seq on (``make`` gets
        the first seq), all or none; answer once they are applied."""


class EmbeddedLog:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def accept(self, events: Sequence[Envelope]) -> IngestReply:
        result = await self.ledger.commit_async(events)
        unknown = [e.id for e in result.stored if e.payload() is None]
        return IngestReply(stored=len(result.stored), duplicates=result.duplicates,
                           unknown=unknown,
                           position=result.stored[-1].position if result.stored else 0)

    async def write(self, stream: str, make: MakePayload) -> StoredEvent:
        return await self.ledger.write_async(stream, make)

    async def write_all(self, stream: str, make: MakePayloads) -> list[StoredEvent]:
        return await self.ledger.write_all_async(stream, make)
