"""Logged points into columnar ``metrics.logged`` payloads.

The batcher owns the step counters: a point logged without a step gets the
metric's next step (one past the last step logged for that name, 0 at first).
Batches are cut so that none encodes to more than about ``max_bytes`` (1 MiB),
unless a single point is larger by itself (it then travels alone; values that
cannot fit in one event at all are refused at the ``log()`` call).
"""

from __future__ import annotations

from collections.abc import Iterable

from runstream.events import MetricsLogged, MetricValue

__all__ = ["MAX_BYTES", "MAX_POINTS", "Point", "PointBatcher", "point_size", "subset"]

MAX_POINTS = 50_000
MAX_BYTES = 1 << 20

# name, value, step or None, time
Point = tuple[str, MetricValue, int | None, float]

# What one point costs in a batch besides its value, at most: its index (≤ 5 bytes),
# step (≤ 9), time (9). A number value is ≤ 9; a string or list adds a ≤ 5-byte header.
_POINT = 23
_NUMBER = 9
_HEADER = 5


def point_size(value: MetricValue) -> int:
    """An upper bound of the encoded size of one point with ``value`` in a batch."""
    cls = value.__class__
    if cls is str:
        text: str = value  # type: ignore[assignment]
        return _POINT + _HEADER + (len(text) if text.isascii() else len(text.encode()))
    if cls is list:
        return _POINT + _HEADER + _NUMBER * len(value)  # type: ignore[arg-type]
    return _POINT + _NUMBER


class PointBatcher:
    """Columnar batches from points in logging order. Not thread-safe: one caller."""

    def __init__(self, max_points: int = MAX_POINTS, max_bytes: int = MAX_BYTES) -> None:
        self.max_points = max_points
        self.max_bytes = max_bytes
        self._next_step: dict[str, int] = {}

    def batches(self, points: Iterable[Point]) -> list[MetricsLogged]:
        """Group ``points`` into payloads of at most ``max_points`` points and about
        ``max_bytes`` encoded, keeping their order.

        The step counters move only when every point was batched: if this raises,
        calling it again (with fewer points) numbers them as the first call would."""
        out: list[MetricsLogged] = []
        counted = self._next_step
        next_step: dict[str, int] = {}  # this call's counters, committed at the end
        max_points, max_bytes = self.max_points, self.max_bytes
        names: list[str] = []
        slots: dict[str, int] = {}
        index: list[int] = []
        steps: list[int] = []
        times: list[float] = []
        values: list[MetricValue] = []
        size = 0
        for name, value, step, when in points:
            cls = value.__class__
            cost = _POINT + _NUMBER if cls is float or cls is int else point_size(value)
            slot = slots.get(name)
            if slot is None:
                cost += _name_size(name)
            if index and (size + cost > max_bytes or len(index) >= max_points):
                out.append(MetricsLogged(names, index, steps, times, values))
                names, slots, index, steps, times, values, size = [], {}, [], [], [], [], 0
                if slot is not None:  # the name is new to the new batch
                    cost += _name_size(name)
                    slot = None
            if slot is None:
                slot = slots[name] = len(names)
                names.append(name)
            if step is None:
                step = next_step.get(name)
                if step is None:
                    step = counted.get(name, 0)
            next_step[name] = step + 1
            index.append(slot)
            steps.append(step)
            times.append(when)
            values.append(value)
            size += cost
        if index:
            out.append(MetricsLogged(names, index, steps, times, values))
        counted.update(next_step)
        return out


def _name_size(name: str) -> int:
    return _HEADER + (len(name) if name.isascii() else len(name.encode()))


def subset(batch: MetricsLogged, start: int, stop: int) -> MetricsLogged:
    """Points ``start:stop`` of a batch as a batch of their own (steps kept)."""
    index = batch.index[start:stop]
    used = sorted(set(index))
    renumber = {old: new for new, old in enumerate(used)}
    return MetricsLogged(names=[batch.names[i] for i in used],
                         index=[renumber[i] for i in index], steps=batch.steps[start:stop],
                         times=batch.times[start:stop], values=batch.values[start:stop])
