"""The one codec: events to bytes and back (MessagePack, validated by msgspec).

A batch on the wire (HTTP body, Kafka record) is a MessagePack array of
envelopes; a payload is a MessagePack map validated against its type's struct.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import msgspec

from runstream.events import INT64_MAX, MAX_EVENT_BYTES, PAYLOADS, Envelope, Payload, run_id_of

__all__ = [
    "LIMITS",
    "TEXT_LIMITS",
    "EventError",
    "EventTooLarge",
    "UnknownEvent",
    "check_envelope",
    "decode_batch",
    "decode_payload",
    "encode_batch",
    "encode_event",
    "encode_payload",
    "join_encoded",
    "validate_batch",
]

# What the event store's columns hold (SQL VARCHAR(n), INTEGER): longer text, NUL
# characters (PostgreSQL refuses them in any text column) or larger numbers are refused
# here, at the boundary, with the field's name, rather than by the database mid-batch.
LIMITS = {"id": 64, "stream": 300, "run id": 200, "type": 100, "v": (1 << 31) - 1}
# Text fields of payloads that the views keep in columns: field -> longest value (None:
# no length limit, but no NUL either). Lists of strings are checked item by item.
TEXT_LIMITS: dict[str, dict[str, int | None]] = {
    "run.submitted": {"project": 500, "script": 500, "target": 100, "user": 200,
                      "snapshot": 64, "host": 200, "args": None, "name": 250,
                      "experiment_id": 40},
    "run.started": {"host": 200},
    "run.completed": {"reason": None},
    "run.lost": {"run_id": 200, "reason": None},
    "run.archived": {"run_id": 200},
    "run.restored": {"run_id": 200},
    "metrics.logged": {"names": 300},
    "artifact.added": {"path": 1000, "media_type": 200},
    "model.version_created": {"name": 300, "run_id": 200, "path": 1000},
    "event.dropped": {"type": 100, "reason": None},
}

_encoder = msgspec.msgpack.Encoder()
_batch_decoder = msgspec.msgpack.Decoder(list[Envelope])
_payload_decoders = {name: msgspec.msgpack.Decoder(cls) for name, cls in PAYLOADS.items()}
_any_decoder = msgspec.msgpack.Decoder()

# (type, version) -> function turning that version's payload (as plain data)
# into the next version's. Old versions are upgraded by small pure functions, listed
# here in the source (a read-only table: nothing registers upgrades at run time).
Upgrade = Callable[[dict[str, Any]], dict[str, Any]]
UPGRADES: Mapping[tuple[str, int], Upgrade] = MappingProxyType({})


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


class EventTooLarge(EventError):
    """An event larger than any sink takes (``MAX_EVENT_BYTES``): HTTP 413."""


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
    except RecursionError:
        raise EventError(_TOO_DEEP.format(what="the batch")) from None


_TOO_DEEP = ("not a batch of event envelopes: {what} nests lists or maps deeper than can be "
             "decoded; an event's `data` must not nest that deep (send flat lists of numbers)")


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
    missing = [n for n in range(v, cls.VERSION) if (type_, n) not in UPGRADES]
    if missing:
        raise UnknownEvent(f"{type_} version {v} cannot be read: no upgrade from version "
                           f"{missing[0]} to {missing[0] + 1} (this code knows version "
                           f"{cls.VERSION}); stored, not applied")
    try:
        if v == cls.VERSION:
            return _payload_decoders[type_].decode(data)
        raw: dict[str, Any] = _any_decoder.decode(data)
        while v < cls.VERSION:
            raw = UPGRADES[(type_, v)](raw)
            v += 1
        return msgspec.convert(raw, cls)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        message = _field_message(exc)
        if "UTF-8" in message:
            message += " (a name or string holds bytes that are not UTF-8, e.g. a lone surrogate)"
        raise EventError(f"invalid {type_} payload: {message}") from None
    except RecursionError:
        raise EventError(f"invalid {type_} payload: nested deeper than can be decoded; "
                         "values must be numbers, strings or flat lists of numbers") from None


def validate_batch(events: Sequence[Envelope]) -> list[Payload | None]:
    """Validate every event of a batch; raise EventError naming the first bad one.

    Unknown types or versions are not errors: their slot is None, they are
    stored as they came and reported by the consumer. Everything the event store
    or a view could not hold (see ``LIMITS`` and ``TEXT_LIMITS``) is an error here."""
    payloads: list[Payload | None] = []
    seen: dict[str, int] = {}
    for i, event in enumerate(events):
        check_envelope(event, i)
        if (first := seen.setdefault(event.id, i)) != i:
            raise EventError(f"field `id`: {event.id!r} is also the id of event #{first} of "
                             "this batch; every event needs its own id", index=i,
                             event_id=event.id)
        try:
            payload: Payload | None = decode_payload(event)
        except UnknownEvent:
            payload = None
        except EventError as exc:
            raise EventError(f"field `data`: {exc.detail}", index=i, event_id=event.id) from None
        if payload is not None:
            problem = _text_problem(payload)
            if problem:
                raise EventError(f"field `data`: invalid {event.type} payload: {problem}",
                                 index=i, event_id=event.id)
        payloads.append(payload)
    return payloads


def check_envelope(event: Envelope, index: int | None = None) -> None:
    """Refuse an envelope the event store could not keep, naming the field and the limit."""
    def bad(message: str) -> EventError:
        return EventError(message, index=index, event_id=event.id)

    if not event.id:
        raise bad("field `id`: must not be empty")
    for name, value in (("id", event.id), ("stream", event.stream), ("type", event.type)):
        if "\x00" in value:
            raise bad(f"field `{name}`: {value!r} holds a NUL character (\\x00), which no "
                      "database text column can store")
        if len(value) > LIMITS[name]:
            raise bad(f"field `{name}`: {len(value)} characters, more than the limit of "
                      f"{LIMITS[name]}")
    if not event.stream or "/" not in event.stream:
        raise bad(f"field `stream`: {event.stream!r} is not of the form kind/name")
    run_id = run_id_of(event.stream)
    if run_id is not None and len(run_id) > LIMITS["run id"]:
        raise bad(f"field `stream`: the run id is {len(run_id)} characters, more than the "
                  f"limit of {LIMITS['run id']}")
    if not event.type:
        raise bad("field `type`: must not be empty")
    if not 0 <= event.seq <= INT64_MAX:
        raise bad(f"field `seq`: must be between 0 and 2**63-1, not {event.seq}")
    if not 1 <= event.v <= LIMITS["v"]:
        raise bad(f"field `v`: the schema version must be between 1 and 2**31-1, not {event.v}")
    # The limit is on the encoded envelope; only a payload near it needs encoding to tell.
    if len(event.data) > MAX_EVENT_BYTES - 4096 and (
            size := len(encode_event(event))) > MAX_EVENT_BYTES:
        raise EventTooLarge(f"field `data`: the event is {size:,} bytes encoded; one event may "
                            f"be at most {MAX_EVENT_BYTES:,} bytes (split it into several)",
                            index=index, event_id=event.id)
    if not math.isfinite(event.ts):
        raise bad(f"field `ts`: must be a finite time in seconds since the epoch, not "
                  f"{event.ts}")


def _text_problem(payload: Payload) -> str:
    """What is wrong with ``payload``'s text fields for the views' columns ("" if nothing)."""
    for name, limit in TEXT_LIMITS.get(payload.TYPE, {}).items():
        value = getattr(payload, name)
        for text in value if isinstance(value, list) else (value,):
            if "\x00" in text:
                return (f"`{name}` holds a NUL character (\\x00) in {text!r}, which no "
                        "database text column can store")
            if limit is not None and len(text) > limit:
                return (f"`{name}` is {len(text)} characters ({text[:40]!r}…), more than the "
                        f"limit of {limit}")
    return ""


def _field_message(exc: Exception) -> str:
    # msgspec says "... - at `$.values[3]`"; `$` is the payload (or batch) root.
    return str(exc).replace("`$.", "`").replace("`$[", "`[")
