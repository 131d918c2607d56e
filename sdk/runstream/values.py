"""What may be logged, and how a value is brought into the event schema.

A logged value is a number, a string, or a flat list of numbers (a list, a
tuple, or anything with ``tolist()`` such as a NumPy array or scalar). NaN and
infinities are kept, stored as NaN. Anything else (nested lists, dicts, None,
other objects) and empty metric names are refused with :class:`BadValue`,
whose message says what to log instead.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, Protocol

from runstream.events import MetricValue

__all__ = ["ArrayLike", "BadValue", "Checked", "LogValue", "RunstreamWarning", "check_point"]

_NAN = float("nan")
_INT64 = 1 << 63


class ArrayLike(Protocol):
    """NumPy arrays and scalars, torch tensors: anything that turns into Python data."""

    def tolist(self) -> Any: ...


LogValue = float | str | Sequence[float] | ArrayLike


class RunstreamWarning(UserWarning):
    """A point was dropped or changed; filter it with ``warnings.simplefilter``."""


class BadValue(TypeError):
    """A point that cannot be logged; the message says why and what to do instead."""


# A point ready for the batcher: name, value, step (None: the next one), and
# whether a NaN or infinity was found (the caller warns once per metric).
Checked = tuple[str, MetricValue, int | None, bool]


def check_point(name: object, value: object, step: object = None) -> Checked:
    """Validate and normalize one point, or raise :class:`BadValue`."""
    if not isinstance(name, str) or not name:
        raise BadValue(f"a metric name must be a non-empty string, not {name!r}")
    checked_step = _check_step(name, step)
    converted, nonfinite = _convert(name, value, allow_list=True)
    return name, converted, checked_step, nonfinite


def _check_step(name: str, step: object) -> int | None:
    if step is None:
        return None
    try:
        index = operator.index(step)  # type: ignore[arg-type]
    except TypeError:
        raise BadValue(f"metric {name!r}: step must be an integer, not {step!r}") from None
    if not 0 <= index < _INT64:
        raise BadValue(f"metric {name!r}: step must be between 0 and 2**63-1, not {index}")
    return int(index)


def _convert(name: str, value: object, *, allow_list: bool) -> tuple[MetricValue, bool]:
    if isinstance(value, bool):
        return float(value), False
    if isinstance(value, int):
        return (float(value) if not -_INT64 <= value < _INT64 else value), False
    if isinstance(value, float):
        return (value, False) if math.isfinite(value) else (_NAN, True)
    if isinstance(value, str):
        return value, False
    if isinstance(value, list | tuple):
        if not allow_list:
            raise BadValue(f"metric {name!r}: nested lists cannot be logged; flatten the "
                           "values or log each row under its own name")
        return _flat_numbers(name, value)
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and not isinstance(value, type):
        return _convert(name, tolist(), allow_list=allow_list)
    if isinstance(value, dict):
        raise BadValue(f"metric {name!r}: a dict cannot be logged; log each key as its own "
                       "metric, e.g. log(f'{name}.{key}', value)")
    raise BadValue(f"metric {name!r}: {type(value).__name__} {value!r:.60} cannot be logged; "
                   "log a number, a string, or a flat list of numbers")


def _flat_numbers(name: str, values: Sequence[object]) -> tuple[list[float], bool]:
    out: list[float] = []
    nonfinite = False
    for item in values:
        number, bad = _convert(name, item, allow_list=False)
        if isinstance(number, str):
            raise BadValue(f"metric {name!r}: a list may hold only numbers, not {item!r:.40}")
        out.append(number)  # type: ignore[arg-type]  # a list cannot come back: allow_list=False
        nonfinite = nonfinite or bad
    return out, nonfinite
