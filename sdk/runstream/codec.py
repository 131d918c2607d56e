"""The one codec: events to bytes and back (MessagePack, validated by msgspec).

A batch on the wire (HTTP body, Kafka record) is a MessagePack array of
envelopes; a payload is a MessagePack map validated against its type's struct.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from runstream.events import PAYLOADS, Envelope, Payload

__all__ = [
    "EventError",
    "UnknownEvent",
    "decode_batch",
    "decode_payload",
    "encode_batch",
    "encode_event",
    "encode_payload",
    "join_encoded",
    "validate_batch",
]

_encoder = msgspec.msgpack.Encoder()
_batch_decoder = msgspec.msgpack.Decoder(list[Envelope])
_payload_decoders = {name: msgspec.msgpack.Decoder(cls) for name, cls in PAYLOADS.items()}
_any_decoder = msgspec.msgpack.Decoder()

# (type, version) -> function turning that version's payload (as plain data)
# into the next version's. Old versions are upgraded by small pure functions.
UPGRADES: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


class EventError(ValueError):
    """An event that cannot be accepted; says which one and what is wrong."""

    def __init__(self, message: str, *, index: int | None = None, event_id: str = "") -> None:
        where = []
        if index is not None:
            where.append(f"event #{index}")
        if event_id:
            where.append(f"id {event_id}")
        self.index = index
        self.event_id = event_id
        self.detail = message
        super().__init__(f"{' '.join(where)}: {message}" if where else message)


class UnknownEvent(EventError):
    """A type or version this code does not know. Stored and reported, not applied."""


def encode_batch(events: Sequence[Envelope]) -> bytes:
    return _encoder.encode(events)


def encode_event(event: Envelope) -> bytes:
    """One envelope on its own (as a spool keeps it); ``join_encoded`` makes a batch."""
    return _encoder.encode(event)


def join_encoded(events: Sequence[bytes]) -> bytes:
    """The batch of already-encoded envelopes: equal to ``encode_batch`` of the
    decoded envelopes, without decoding or re-encoding them."""
    n = len(events)
    if n < 16:
        header = bytes((0x90 | n,))
    elif n < 1 << 16:
        header = b"\xdc" + n.to_bytes(2, "big")
    else:
        header = b"\xdd" + n.to_bytes(4, "big")
    return header + b"".join(events)


def encode_payload(payload: Payload) -> bytes:
    return _encoder.encode(payload)


def decode_batch(body: bytes) -> list[Envelope]:
    try:
        return _batch_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise EventError(f"not a batch of event envelopes: {_field_message(exc)}") from None


def decode_payload(event: Envelope) -> Payload:
    """Decode and validate the payload of an event (upgrading old versions)."""
    return decode_data(event.type, event.v, bytes(event.data))


def decode_data(type_: str, v: int, data: bytes) -> Payload:
    cls = PAYLOADS.get(type_)
    if cls is None:
        raise UnknownEvent(f"unknown event type {type_!r}")
    if v > cls.VERSION or v < 1:
        raise UnknownEvent(
            f"{type_} version {v} is not supported (this code knows up to {cls.VERSION})")
    try:
        if v == cls.VERSION:
            return _payload_decoders[type_].decode(data)
        raw: dict[str, Any] = _any_decoder.decode(data)
        while v < cls.VERSION:
            raw = UPGRADES[(type_, v)](raw)
            v += 1
        return msgspec.convert(raw, cls)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise EventError(f"invalid {type_} payload: {_field_message(exc)}") from None


def validate_batch(events: Sequence[Envelope]) -> list[Payload | None]:
    """Validate every event of a batch; raise EventError naming the first bad one.

    Unknown types or versions are not errors: their slot is None, they are
    stored as they came and reported by the consumer."""
    payloads: list[Payload | None] = []
    for i, event in enumerate(events):
        if not event.stream or "/" not in event.stream:
            raise EventError(
                f"field `stream`: {event.stream!r} is not of the form kind/name", index=i,
                event_id=event.id,
            )
        if event.seq < 0:
            raise EventError("field `seq`: must be >= 0", index=i, event_id=event.id)
        if not event.id:
            raise EventError("field `id`: must not be empty", index=i)
        try:
            payloads.append(decode_payload(event))
        except UnknownEvent:
            payloads.append(None)
        except EventError as exc:
            raise EventError(f"field `data`: {exc.detail}", index=i, event_id=event.id) from None
    return payloads


def _field_message(exc: Exception) -> str:
    # msgspec says "... - at `$.values[3]`"; `$` is the payload (or batch) root.
    return str(exc).replace("`$.", "`").replace("`$[", "`[")
