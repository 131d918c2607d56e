"""Cutting a stream's batch into Kafka records: at event boundaries, each record a valid
batch, together exactly the batch, in order."""

from __future__ import annotations

from runstream.codec import decode_batch, encode_batch, encode_event
from runstream.events import Envelope, LogLines, new_event
from runstream.kafkaproducer import cut_records


def lines(n: int, width: int = 100) -> list[Envelope]:
    return [new_event("run/r1", i, LogLines(first=i, lines=["x" * width], times=[1.0],
                                            fds=[1])) for i in range(n)]


def test_a_batch_that_fits_is_one_record_as_encoded() -> None:
    events = lines(5)
    body = encode_batch(events)
    assert cut_records(events, 10_000, body) == [body]
    assert cut_records(events, 10_000) == [body]


def test_a_large_batch_is_cut_at_event_boundaries_in_order() -> None:
    events = lines(50)
    size = len(encode_event(events[0]))
    records = cut_records(events, size * 8, encode_batch(events))
    assert len(records) == 7 and all(len(r) <= size * 8 + 3 for r in records)
    assert [e for r in records for e in decode_batch(r)] == events


def test_an_event_larger_than_a_record_goes_alone() -> None:
    events = [*lines(2), *lines(1, width=5_000), *lines(2)]
    records = cut_records(events, 1_000)
    assert [len(decode_batch(r)) for r in records] == [2, 1, 2]
