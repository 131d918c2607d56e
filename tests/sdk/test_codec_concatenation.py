"""Encoded envelopes joined into a batch equal the batch encoded at once."""

from __future__ import annotations

import pytest

from runstream.codec import decode_batch, encode_batch, encode_event, join_encoded
from runstream.events import RunStarted, new_event


@pytest.mark.parametrize("n", [0, 1, 15, 16, 300, 70_000])
def test_joined_envelopes_decode_as_the_same_batch(n: int) -> None:
    events = [new_event("run/x_1", i, RunStarted(pid=i)) for i in range(n)]
    joined = join_encoded([encode_event(e) for e in events])
    assert joined == encode_batch(events)
    assert decode_batch(joined) == events
