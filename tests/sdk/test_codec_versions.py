"""Versions on decode: a newer version, or an older one without an upgrade function, is
an UnknownEvent (stored and reported by the server, never a KeyError); an older one with
its upgrades is read as the current version."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from runstream import codec
from runstream.codec import UnknownEvent, decode_payload, validate_batch
from runstream.events import Envelope, RunStarted, envelope, new_event


def started(v: int, data: dict[str, Any]) -> Envelope:
    return envelope("run/r1", 1, "run.started", v, msgspec.msgpack.encode(data), 1.0)


def test_a_newer_version_is_unknown() -> None:
    with pytest.raises(UnknownEvent, match="version 2 is not supported"):
        decode_payload(started(2, {"pid": 1}))


def test_an_old_version_without_an_upgrade_is_unknown_not_a_key_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RunStarted, "VERSION", 3)
    monkeypatch.setattr(codec, "UPGRADES", {("run.started", 2): lambda d: d})
    with pytest.raises(UnknownEvent, match="no upgrade from version 1 to 2"):
        decode_payload(started(1, {"pid": 1}))
    assert validate_batch([started(1, {"pid": 1})]) == [None]  # stored, reported


def test_an_old_version_is_upgraded_step_by_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RunStarted, "VERSION", 3)
    monkeypatch.setattr(codec, "UPGRADES", {
        ("run.started", 1): lambda d: {**d, "host": d.pop("machine")},
        ("run.started", 2): lambda d: {**d, "lease": 5.0},
    })
    assert decode_payload(started(1, {"pid": 7, "machine": "box"})) == RunStarted(
        pid=7, host="box", lease=5.0)


def test_new_event_and_envelope_build_the_same_envelope() -> None:
    payload = RunStarted(pid=3, host="h")
    made = new_event("run/r1", 4, payload, ts=9.0)
    built = envelope("run/r1", 4, payload.TYPE, payload.VERSION, codec.encode_payload(payload),
                     9.0)
    assert msgspec.structs.replace(built, id=made.id) == made
    assert made.id != built.id and len(made.id) == 32
