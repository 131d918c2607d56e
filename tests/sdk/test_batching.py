"""Points into columnar metrics.logged payloads, with steps counted per metric."""

from __future__ import annotations

from runstream.batching import PointBatcher


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


def test_big_strings_and_arrays_cut_a_batch_by_size() -> None:
    points = [("text", "x" * 600, None, 0.0) for _ in range(4)]
    batches = PointBatcher(max_bytes=1000).batches(points)
    assert [len(b.index) for b in batches] == [2, 2]
