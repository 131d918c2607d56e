"""Points into columnar metrics.logged payloads, with steps counted per metric."""

from __future__ import annotations

import random

import pytest

from runstream.batching import MAX_BYTES, Point, PointBatcher, subset
from runstream.codec import encode_payload
from runstream.events import MetricValue


def test_points_of_several_metrics_share_one_columnar_batch() -> None:
    [batch] = PointBatcher().batches([
        ("loss", 0.5, None, 1.0), ("acc", 0.9, None, 1.1), ("loss", 0.4, None, 1.2)])
    assert batch.names == ["loss", "acc"]
    assert batch.index == [0, 1, 0]
    assert batch.steps == [0, 0, 1]
    assert batch.times == [1.0, 1.1, 1.2]
    assert batch.values == [0.5, 0.9, 0.4]


def test_steps_continue_across_batches_and_after_an_explicit_step() -> None:
    batcher = PointBatcher()
    batcher.batches([("loss", 1.0, None, 0.0), ("loss", 1.0, 10, 0.0)])
    [batch] = batcher.batches([("loss", 1.0, None, 0.0), ("acc", 1.0, None, 0.0)])
    assert batch.steps == [11, 0]


def test_a_large_burst_is_cut_into_batches_in_order() -> None:
    points = [("m", float(i), None, 0.0) for i in range(25)]
    batches = PointBatcher(max_points=10).batches(points)
    assert [len(b.index) for b in batches] == [10, 10, 5]
    assert [s for b in batches for s in b.steps] == list(range(25))


def test_big_strings_and_arrays_cut_a_batch_before_it_grows_too_large() -> None:
    points: list[Point] = [("text", "x" * 300, None, 0.0) for _ in range(6)]
    batches = PointBatcher(max_bytes=1000).batches(points)
    assert [len(b.index) for b in batches] == [3, 3]
    assert all(len(encode_payload(b)) <= 1000 for b in batches)


def test_no_batch_encodes_larger_than_the_limit_unless_one_point_is() -> None:
    rng = random.Random(9)
    points: list[Point] = []
    for i in range(2000):
        value: MetricValue
        kind = rng.random()
        if kind < 0.6:
            value = rng.random()
        elif kind < 0.8:
            value = "ü" * rng.randrange(0, 4000)  # two bytes a character
        else:
            value = [rng.random() for _ in range(rng.randrange(0, 3000))]
        points.append((f"metric {i % 37} ✓", value, None, float(i)))
    points.append(("huge", [0.5] * 200_000, None, 0.0))  # 1.8 MB: one point alone
    batches = PointBatcher().batches(points)
    assert sum(len(b.index) for b in batches) == len(points)
    for batch in batches:
        assert len(encode_payload(batch)) <= MAX_BYTES or len(batch.index) == 1
    assert batches[-1].names == ["huge"]


def test_a_failed_call_leaves_the_step_counters_as_they_were() -> None:
    batcher = PointBatcher()
    batcher.batches([("loss", 1.0, None, 0.0)])
    with pytest.raises(ValueError, match="steps"):
        batcher.batches([("loss", 1.0, None, 0.0), ("acc", 1.0, 2**63, 0.0)])
    [batch] = batcher.batches([("loss", 2.0, None, 0.0)])
    assert batch.steps == [1]


def test_a_subset_is_a_batch_of_its_own_with_the_same_steps() -> None:
    [batch] = PointBatcher().batches([
        ("a", 1.0, None, 1.0), ("b", 2.0, None, 2.0), ("c", 3.0, 7, 3.0), ("b", 4.0, None, 4.0)])
    part = subset(batch, 1, 4)
    assert (part.names, part.index, part.steps, part.values) == (
        ["b", "c"], [0, 1, 0], [0, 7, 1], [2.0, 3.0, 4.0])
