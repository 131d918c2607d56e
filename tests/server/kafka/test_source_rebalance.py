"""The consumer group member when the group will not let it commit.

In CI, kafka-python 3.0 once stayed "not part of an active group" after a second
join: every commit was refused with RebalanceInProgressError for as long as the test
ran (a minute), while records kept being read and applied, so the group's offsets
never moved. The member now tries the commit again even when no record comes, and
after ``STUCK_AFTER`` seconds of refusals starts over as a new member. These tests
drive ``KafkaSource`` with a fake consumer (the real broker's rebalances cannot be
made to hang on demand); the real-broker paths are in ``test_kafka_server.py``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import RebalanceInProgressError

from runstream_server.kafka import KafkaSettings
from runstream_server.kafka import source as source_module
from runstream_server.kafka.source import KafkaSource

TP = TopicPartition("t", 0)


class FakeConsumer:
    """Hands out ``records`` once, then nothing; ``refuse`` commits are refused."""

    def __init__(self, records: list[Any], refuse: float) -> None:
        self.records = records
        self.refuse = refuse  # commits refused (math.inf: for good)
        self.commits = 0
        self.refused = 0
        self.closed = False

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def subscribe(self, topics: list[str]) -> None:
        pass

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def poll(self, timeout_ms: int) -> dict[TopicPartition, list[Any]]:
        time.sleep(timeout_ms / 1000 / 10)
        records, self.records = self.records, []
        return {TP: records} if records else {}

    def commit(self) -> None:
        if self.refused < self.refuse:
            self.refused += 1
            raise RebalanceInProgressError("the consumer is undergoing a rebalance")
        self.commits += 1

    def close(self) -> None:
        self.closed = True


class Source(KafkaSource):
    def __init__(self, consumers: list[FakeConsumer]) -> None:
        super().__init__(KafkaSettings("127.0.0.1:1", topic="t"), None, None)  # type: ignore[arg-type]
        self.pending = list(consumers)
        self.made: list[FakeConsumer] = []

    def consumer(self) -> Any:
        made = self.pending.pop(0)
        self.made.append(made)
        return made


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    seen: list[Any] = []

    def apply(ledger: Any, engine: Any, records: list[Any]) -> int:
        seen.extend(records)
        return len(records)

    monkeypatch.setattr(source_module, "apply_records", apply)
    monkeypatch.setattr(source_module, "STUCK_AFTER", 0.5)
    yield seen


def until(check: Any, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.02)


def test_a_refused_commit_is_tried_again_without_new_records(applied: list[Any]) -> None:
    first = FakeConsumer(["r0", "r1"], refuse=2)
    src = Source([first]).start()
    try:
        until(lambda: first.commits == 1)
        assert applied == ["r0", "r1"] and first.refused == 2
        assert src.made == [first]  # a short rebalance is waited out, not rejoined
        time.sleep(0.3)
        assert first.commits == 1  # nothing more to commit: no commit per idle round
    finally:
        src.stop()
    assert first.closed


def test_a_member_whose_commits_stay_refused_starts_over_as_a_new_one(
        applied: list[Any]) -> None:
    stuck = FakeConsumer(["r0", "r1"], refuse=float("inf"))
    fresh = FakeConsumer(["r0", "r1"], refuse=0)  # re-reads from the committed offsets
    src = Source([stuck, fresh]).start()
    began = time.monotonic()
    try:
        until(lambda: fresh.commits == 1)
        took = time.monotonic() - began
    finally:
        src.stop()
    assert stuck.closed and stuck.commits == 0 and stuck.refused >= 2
    assert src.made == [stuck, fresh]
    assert took >= 0.5  # STUCK_AFTER of refusals first
    assert applied == ["r0", "r1", "r0", "r1"]  # the repeats go to the dedupe
