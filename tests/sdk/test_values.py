"""What may be logged: numbers, strings, flat lists of numbers; the rest is refused."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from runstream.values import BadValue, check_point


@pytest.mark.parametrize(("value", "expected"), [
    (1, 1), (2.5, 2.5), (True, 1.0), ("best", "best"), ([1, 2.5], [1, 2.5]),
    ((3, 4), [3, 4]), (np.float32(0.5), 0.5), (np.int64(7), 7),
    (np.array([1.0, 2.0]), [1.0, 2.0]), (np.array(3.0), 3.0), (2**70, float(2**70)),
])
def test_numbers_strings_and_flat_lists_are_accepted(value: Any, expected: Any) -> None:
    name, checked, step, nonfinite = check_point("m", value)
    assert (name, checked, step, nonfinite) == ("m", expected, None, False)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), np.float64("inf")])
def test_nan_and_infinities_are_kept_as_nan_and_flagged(value: float) -> None:
    _name, checked, _step, nonfinite = check_point("m", value)
    assert isinstance(checked, float) and math.isnan(checked) and nonfinite


def test_non_finite_list_items_become_nan() -> None:
    _name, checked, _step, nonfinite = check_point("m", [1.0, float("inf")])
    assert isinstance(checked, list) and checked[0] == 1.0 and math.isnan(checked[1])
    assert nonfinite


@pytest.mark.parametrize(("value", "says"), [
    ([[1, 2], [3, 4]], "nested lists"), (np.zeros((2, 2)), "nested lists"),
    ({"a": 1}, "dict"), (None, "NoneType"), (object(), "object"), (["a", "b"], "only numbers"),
])
def test_unloggable_values_are_refused_with_a_reason(value: Any, says: str) -> None:
    with pytest.raises(BadValue, match=says):
        check_point("m", value)


@pytest.mark.parametrize("name", ["", None, 3])
def test_a_metric_needs_a_non_empty_string_name(name: Any) -> None:
    with pytest.raises(BadValue, match="non-empty string"):
        check_point(name, 1.0)


def test_steps_are_non_negative_integers() -> None:
    assert check_point("m", 1.0, np.int32(4))[2] == 4
    with pytest.raises(BadValue, match="integer"):
        check_point("m", 1.0, 1.5)
    with pytest.raises(BadValue, match="between"):
        check_point("m", 1.0, -1)


def test_bad_value_is_a_type_error() -> None:
    assert issubclass(BadValue, TypeError)
