"""Events a sink refused for good, set aside in their spool folder.

When the sink refuses one event (too large, invalid), the shipper keeps its
bytes and the reason here and sends an ``event.dropped`` at the same seq in its
place, so the stream stays gapless, the loss is on record and the events after
it go on. In the spool folder::

    set-aside/NNN….event    the refused envelope, as the spool held it
    set-aside/NNN….json     stream, seq, type, version, size, reason, the time

The ``.json`` is written (durably) before the ``event.dropped`` is sent and is
what the replacement is built from, so a resend after a crash sends the very
same event. A spool with set-aside events is kept after delivery until
``runstream sync --discard-set-aside`` deletes them.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from pathlib import Path

import msgspec

from runstream.codec import encode_event
from runstream.events import EventDropped, new_event
from runstream.spool import Record

__all__ = ["SetAside", "discard_set_aside", "dropped_record", "find_set_aside",
           "has_set_aside", "list_set_aside", "set_aside"]

FOLDER = "set-aside"
MAX_REASON = 1_000  # characters of the sink's message kept in the event.dropped
MAX_TYPE = 100  # the event store's limits (runstream.codec.LIMITS)
MAX_VERSION = (1 << 31) - 1

_NAMESPACE = uuid.UUID("6a1f3c5e-9b1d-4f0e-8a51-7d2c1b0e4f93")


class SetAside(msgspec.Struct, frozen=True, kw_only=True):
    """What is known of one refused event (its ``.json``)."""

    stream: str
    seq: int
    id: str  # the refused event's id ("" if its envelope could not be read)
    type: str
    v: int
    size: int  # bytes of the encoded envelope
    reason: str
    ts: float  # the refused event's time, or when it was set aside
    kept: bool = True  # its bytes are in the ``.event`` file


_decode_info = msgspec.json.Decoder(SetAside)
_encode_info = msgspec.json.Encoder()


class _Head(msgspec.Struct):
    """The envelope without its payload (a 72 MB event is not decoded for this)."""

    id: str = ""
    type: str = ""
    v: int = 0
    ts: float = 0.0


_decode_head = msgspec.msgpack.Decoder(_Head)


def _folder(spool_path: Path) -> Path:
    return spool_path / FOLDER


def _name(seq: int) -> str:
    return f"{seq:020d}"


def set_aside(spool_path: Path, stream: str, record: Record, reason: str) -> SetAside:
    """Keep ``record`` and why it was refused; returns what was recorded.

    The bytes are kept when the disk allows; the reason always is (it is tiny),
    and if even that cannot be written the OSError goes to the caller, which
    then must not send a replacement."""
    try:
        head = _decode_head.decode(record.data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        head = _Head()
    ts = head.ts if math.isfinite(head.ts) and head.ts > 0 else time.time()
    folder = _folder(spool_path)
    folder.mkdir(exist_ok=True)
    kept = True
    try:
        _write_durably(folder / f"{_name(record.seq)}.event", record.data)
    except OSError as exc:
        kept = False
        (folder / f"{_name(record.seq)}.event").unlink(missing_ok=True)
        reason = f"{reason} (its bytes could not be kept: {exc})"
    # The event.dropped must itself be storable: no NUL, a type and version in bounds.
    info = SetAside(stream=stream, seq=record.seq, id=head.id,
                    type=_clean(head.type)[:MAX_TYPE] or "?",
                    v=head.v if 0 <= head.v <= MAX_VERSION else 0, size=len(record.data),
                    reason=_clean(reason)[:MAX_REASON], ts=ts, kept=kept)
    _write_durably(folder / f"{_name(record.seq)}.json", _encode_info.encode(info))
    return info


def find_set_aside(spool_path: Path, seq: int) -> SetAside | None:
    """The record of the event set aside at ``seq``, if there is one."""
    try:
        return _decode_info.decode((_folder(spool_path) / f"{_name(seq)}.json").read_bytes())
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def list_set_aside(spool_path: Path) -> list[SetAside]:
    """Every event set aside in this spool, in seq order."""
    folder = _folder(spool_path)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append(_decode_info.decode(path.read_bytes()))
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue  # torn by a crash while writing: the shipper writes it again
    return found


def discard_set_aside(spool_path: Path) -> int:
    """Delete the set-aside events (their ``event.dropped`` is on record); how many."""
    folder = _folder(spool_path)
    if not folder.is_dir():
        return 0
    count = len(list(folder.glob("*.json")))
    for path in folder.iterdir():
        path.unlink(missing_ok=True)
    folder.rmdir()
    return count


def has_set_aside(spool_path: Path) -> bool:
    folder = _folder(spool_path)
    return folder.is_dir() and any(folder.glob("*.json"))


def dropped_record(info: SetAside) -> Record:
    """The ``event.dropped`` that stands at the refused event's seq. Its id derives
    from the refused event's, so sending it twice is a harmless duplicate."""
    key = info.id or f"{info.stream}#{info.seq}"
    payload = EventDropped(type=info.type, v=info.v, size=info.size, reason=info.reason)
    event = new_event(info.stream, info.seq, payload, info.ts,
                      event_id=uuid.uuid5(_NAMESPACE, key).hex)
    return Record(info.seq, encode_event(event))


def _clean(text: str) -> str:
    return text.replace("\x00", "\\0").encode("utf-8", "replace").decode("utf-8")


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.part")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
