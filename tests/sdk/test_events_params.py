"""Parameters, tags and run names: what their events accept, as MLflow bounds them."""

from __future__ import annotations

import msgspec
import pytest

from runstream.codec import EventError, decode_payload, encode_payload, validate_batch
from runstream.events import (
    MAX_PARAM_CHARS,
    MAX_TAG_CHARS,
    ParamsLogged,
    RunRenamed,
    TagsDeleted,
    TagsSet,
    envelope,
    new_event,
)


def test_params_tags_and_names_round_trip_through_the_codec() -> None:
    for payload in (ParamsLogged(params={"reg": "0.5", "solver": "lbfgs"}),
                    TagsSet(tags={"stage": "keep", "empty": ""}),
                    TagsDeleted(keys=["stage"]), RunRenamed(name="baseline")):
        event = new_event("run/iris_1", 3, payload)
        assert decode_payload(event) == payload


@pytest.mark.parametrize(("make", "message"), [
    (lambda: ParamsLogged(params={"reg": "x" * (MAX_PARAM_CHARS + 1)}), "more than the limit"),
    (lambda: ParamsLogged(params={"": "1"}), "must not be empty"),
    (lambda: ParamsLogged(params={"k" * 251: "1"}), "more than the limit of 250"),
    (lambda: TagsSet(tags={"note": "x" * (MAX_TAG_CHARS + 1)}), "more than the limit"),
    (lambda: TagsSet(tags={"note": "a\x00b"}), "NUL"),
    (lambda: TagsDeleted(keys=[""]), "must not be empty"),
    (lambda: RunRenamed(name="n" * 251), "more than the limit of 250"),
])
def test_out_of_bounds_params_tags_and_names_are_refused_with_the_reason(
        make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_a_batch_with_an_oversized_param_is_refused_whole_at_ingest() -> None:
    good = new_event("run/iris_1", 0, ParamsLogged(params={"reg": "0.5"}))
    raw = msgspec.msgpack.encode({"params": {"reg": "x" * (MAX_PARAM_CHARS + 1)}})
    bad = envelope("run/iris_1", 1, ParamsLogged.TYPE, ParamsLogged.VERSION, raw)
    with pytest.raises(EventError, match="more than the limit") as caught:
        validate_batch([good, bad])
    assert caught.value.index == 1


def test_tags_keep_their_values_exactly_including_unicode() -> None:
    payload = TagsSet(tags={"note": "ünï\u2603 — done"})
    assert msgspec.msgpack.decode(encode_payload(payload), type=TagsSet) == payload
