"""Logged points into columnar ``metrics.logged`` payloads.

The batcher owns the step counters: a point logged without a step gets the
metric's next step (one past the last step logged for that name, 0 at first).
"""

from __future__ import annotations

from collections.abc import Iterable

from runstream.events import MetricsLogged, MetricValue

__all__ = ["MAX_POINTS", "Point", "PointBatcher"]

# A batch stays well under the ingest limit of a few MB per POST.
MAX_POINTS = 50_000
MAX_BYTES = 1 << 20

# name, value, step or None, time
Point = tuple[str, MetricValue, int | None, float]


class PointBatcher:
    """Columnar batches from points in logging order. Not thread-safe: one caller."""

    def __init__(self, max_points: int = MAX_POINTS, max_bytes: int = MAX_BYTES) -> None:
        self.max_points = max_points
        self.max_bytes = max_bytes
        self._next_step: dict[str, int] = {}

    def batches(self, points: Iterable[Point]) -> list[MetricsLogged]:
        """Group ``points`` into payloads of at most ``max_points`` points (and about
        ``max_bytes`` of strings and lists), keeping their order."""
        out: list[MetricsLogged] = []
        next_step = self._next_step
        names: list[str] = []
        slots: dict[str, int] = {}
        index: list[int] = []
        steps: list[int] = []
        times: list[float] = []
        values: list[MetricValue] = []
        size = 0
        for name, value, step, when in points:
            slot = slots.get(name)
            if slot is None:
                slot = slots[name] = len(names)
                names.append(name)
            if step is None:
                step = next_step.get(name, 0)
            next_step[name] = step + 1
            index.append(slot)
            steps.append(step)
            times.append(when)
            values.append(value)
            if value.__class__ is str:
                size += len(value)
            elif value.__class__ is list:
                size += 9 * len(value)  # a msgpack float64 each
            if len(index) >= self.max_points or size >= self.max_bytes:
                out.append(MetricsLogged(names, index, steps, times, values))
                names, slots, index, steps, times, values, size = [], {}, [], [], [], [], 0
        if index:
            out.append(MetricsLogged(names, index, steps, times, values))
        return out
