"""What may be logged: every value becomes the schema's exact types, or is refused
at the call with a message naming the metric; nothing else gets through."""

from __future__ import annotations

import enum
import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pytest

from runstream.codec import decode_data, encode_payload
from runstream.events import MAX_EVENT_BYTES, MetricsLogged
from runstream.values import (
    MAX_VALUE_BYTES,
    NONFINITE,
    REPLACED,
    BadValue,
    check_point,
)


class Ratio(float):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


class Count(int):
    def __int__(self) -> int:
        raise RuntimeError("no int for you")

    def __index__(self) -> int:
        raise RuntimeError("no index for you")


class Label(str):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


class Phase(enum.IntEnum):
    WARMUP = 2


class Tensor:
    """Torch-like: a 0-d tensor answers item(), a 1-d one tolist()."""

    def __init__(self, data: Any) -> None:
        self.data = data
        self.shape = (len(data),) if isinstance(data, list) else ()
        self.ndim = len(self.shape)

    def item(self) -> Any:
        return self.data

    def tolist(self) -> Any:
        return self.data


class OnlyTolist:
    def tolist(self) -> Any:
        return [1, np.float32(2.5)]


class BadTolist:
    def tolist(self) -> Any:
        raise ValueError("tolist exploded")


class BadItem:
    def item(self) -> Any:
        raise ValueError("item exploded")


class BadFloat:
    def __float__(self) -> float:
        raise ValueError("float exploded")


class BadRepr:
    def __repr__(self) -> str:
        raise ValueError("repr exploded")


class Forever:
    """tolist() that returns itself: must not recurse without end."""

    def tolist(self) -> Any:
        return self


def _ids(cases: list[tuple[Any, Any]]) -> list[str]:
    # by type: pytest's own ids would call the str() of hostile objects
    return [f"{i}-{type(value).__name__}" for i, (value, _) in enumerate(cases)]


NORMALIZED: list[tuple[Any, Any]] = [
    (1, 1), (2.5, 2.5), (True, 1.0), ("best", "best"), ([1, 2.5], [1.0, 2.5]),
    ((3, 4), [3.0, 4.0]), (range(3), [0.0, 1.0, 2.0]), (2**70, float(2**70)),
    (-(2**63), -(2**63)), (2**63, float(2**63)),
    # NumPy scalars of every kind, and 0-d arrays
    (np.float16(0.5), 0.5), (np.float32(0.25), 0.25), (np.float64(0.125), 0.125),
    (np.longdouble(1.5), 1.5), (np.bool_(True), 1.0), (np.bool_(False), 0.0),
    (np.int8(-7), -7), (np.int16(7), 7), (np.int32(7), 7), (np.int64(7), 7),
    (np.uint8(7), 7), (np.uint16(7), 7), (np.uint32(7), 7), (np.uint64(7), 7),
    (np.uint64(2**64 - 1), float(2**64 - 1)), (np.array(3.0), 3.0), (np.array(4), 4),
    (np.array(np.longdouble(2.0)), 2.0), (np.str_("Iris-setosa"), "Iris-setosa"),
    (np.float64(3.0).max(), 3.0), (max(np.array([0.2, 0.9])), 0.9),
    (np.array([0.5, 1.0]).mean(), 0.75), ((np.array([1, 2]) == np.array([1, 3])).mean(), 0.5),
    # 1-d arrays of any numeric dtype
    (np.array([1.0, 2.0]), [1.0, 2.0]), (np.array([1, 2], dtype=np.int8), [1.0, 2.0]),
    (np.array([1, 2], dtype=np.uint64), [1.0, 2.0]), (np.array([True, False]), [1.0, 0.0]),
    (np.array([0.5], dtype=np.float16), [0.5]), (np.array([], dtype=float), []),
    (np.array([1, 2], dtype=object), [1.0, 2.0]), ([np.float32(0.5), np.int64(2)], [0.5, 2.0]),
    # pandas
    (pd.Series([0.5, 1.5]), [0.5, 1.5]), (pd.Series([1, 2]).mean(), 1.5),
    (pd.Series([1, 2]).sum(), 3), (pd.DataFrame({"a": [1.0, 3.0]}).a.max(), 3.0),
    # the standard library's numbers, subclasses of the builtins
    (Decimal("1.25"), 1.25), (Fraction(1, 4), 0.25), ([Decimal(1), Fraction(1, 2)], [1.0, 0.5]),
    (Ratio(0.5), 0.5), (Count(3), 3), (Label("warmup"), "warmup"), (Phase.WARMUP, 2),
    # torch-like objects
    (Tensor(0.5), 0.5), (Tensor([1, 2]), [1.0, 2.0]), (OnlyTolist(), [1.0, 2.5]),
]


@pytest.mark.parametrize(("value", "expected"), NORMALIZED, ids=_ids(NORMALIZED))
def test_values_become_the_schemas_exact_types(value: Any, expected: Any) -> None:
    name, checked, step, flags = check_point("m", value)
    assert (name, checked, step, flags) == ("m", expected, None, 0)
    assert type(checked) is type(expected)
    if isinstance(checked, list):
        assert all(type(x) is float for x in checked)


@pytest.mark.parametrize(("value", "expected"), NORMALIZED, ids=_ids(NORMALIZED))
def test_every_normalized_value_encodes_and_decodes_as_it_was(value: Any, expected: Any) -> None:
    name, checked, _step, _flags = check_point("m", value)
    batch = MetricsLogged([name], [0], [0], [0.0], [checked])
    decoded = decode_data(MetricsLogged.TYPE, MetricsLogged.VERSION, encode_payload(batch))
    assert decoded == batch


@pytest.mark.parametrize("value", [
    float("nan"), float("inf"), -float("inf"), np.float64("inf"), np.float32("nan"),
    np.longdouble("inf"), Decimal("NaN"), Decimal("sNaN"), Decimal("-Infinity"),
])
def test_nan_and_infinities_are_kept_as_nan_and_flagged(value: Any) -> None:
    _name, checked, _step, flags = check_point("m", value)
    assert type(checked) is float and math.isnan(checked) and flags == NONFINITE


@pytest.mark.parametrize("value", [
    [1.0, float("inf")], np.array([1.0, np.inf]), pd.Series([1.0, None]),
    pd.Series([1, None], dtype="Int64"),
])
def test_non_finite_list_items_become_nan(value: Any) -> None:
    _name, checked, _step, flags = check_point("m", value)
    assert isinstance(checked, list) and checked[0] == 1.0 and math.isnan(checked[1])
    assert flags == NONFINITE


REFUSED: list[tuple[Any, str]] = [
    ([[1, 2], [3, 4]], "nested lists"), (np.zeros((2, 2)), r"shape \(2, 2\).*ravel"),
    (pd.DataFrame({"a": [1]}), r"shape \(1, 1\)"), ({"a": 1}, "dict"), (None, "None"),
    (object(), "object"), (["a", "b"], "only numbers"), (np.array(["a"]), "only numbers"),
    (1 + 2j, "complex"), (np.complex64(1), "complex"), (np.array([1j]), "complex"),
    (b"bytes", "bytes"), ({1, 2}, "set"), (int, "class"), (10**400, "float's range"),
    (Fraction(10**400), "float's range"), (pd.NA, "NAType"), ([1, None], "None"),
    (BadTolist(), "tolist exploded"), (BadItem(), "item exploded"),
    (BadFloat(), "float exploded"), (BadRepr(), "BadRepr object"), (Forever(), "did not turn"),
    ([BadFloat()], "float exploded"),
]


@pytest.mark.parametrize(("value", "says"), REFUSED, ids=_ids(REFUSED))
def test_unloggable_values_are_refused_with_a_reason(value: Any, says: str) -> None:
    with pytest.raises(BadValue, match=says) as caught:
        check_point("my metric", value)
    assert "'my metric'" in str(caught.value)


def test_a_value_too_large_for_one_event_is_refused_at_the_call_before_conversion() -> None:
    big = np.zeros(8_000_000)
    with pytest.raises(BadValue) as caught:
        check_point("w", big)
    assert str(caught.value) == (
        "metric 'w': an array of 8,000,000 numbers (72 MB) is larger than one event may be "
        "(16 MiB); save it to outputs/ (np.save) and it is stored as an artifact")
    with pytest.raises(BadValue, match="larger than one event"):
        check_point("w", [0.0] * (MAX_VALUE_BYTES // 9 + 1))
    with pytest.raises(BadValue, match=r"a string of .* MB is larger than one event"):
        check_point("w", "x" * (MAX_VALUE_BYTES + 1))


def test_the_largest_value_that_is_accepted_fits_in_one_event() -> None:
    _name, checked, _step, _flags = check_point("w", np.ones(MAX_VALUE_BYTES // 9))
    event = encode_payload(MetricsLogged(["w"], [0], [0], [0.0], [checked]))
    assert len(event) < MAX_EVENT_BYTES


def test_lone_surrogates_are_replaced_and_flagged_in_values_and_names() -> None:
    assert check_point("m", "bad \udc80 byte") == ("m", "bad \ufffd byte", None, REPLACED)
    assert check_point("m\ud800", 1.0) == ("m\ufffd", 1.0, None, REPLACED)
    # a surrogate pair split in two halves is joined again, not replaced
    assert check_point("m", "\ud83d\ude00")[1] == "\U0001f600"
    assert check_point("m", np.str_("ok ü"))[1:] == ("ok ü", None, 0)


@pytest.mark.parametrize(("name", "expected"), [
    (Label("loss"), "loss"), (np.str_("loss"), "loss"), ("Genauigkeit ä", "Genauigkeit ä"),
])
def test_names_become_exact_strings(name: Any, expected: str) -> None:
    checked = check_point(name, 1.0)[0]
    assert checked == expected and type(checked) is str


@pytest.mark.parametrize("name", ["", None, 3, b"loss"])
def test_a_metric_needs_a_non_empty_string_name(name: Any) -> None:
    with pytest.raises(BadValue, match="non-empty string"):
        check_point(name, 1.0)


def test_a_name_longer_than_the_servers_column_is_refused() -> None:
    assert check_point("n" * 300, 1.0)[0] == "n" * 300
    with pytest.raises(BadValue, match="301 characters is longer than 300"):
        check_point("n" * 301, 1.0)


def test_steps_are_non_negative_int64_integers() -> None:
    assert check_point("m", 1.0, np.int32(4))[2] == 4
    assert type(check_point("m", 1.0, np.uint8(4))[2]) is int
    with pytest.raises(BadValue, match="integer"):
        check_point("m", 1.0, 1.5)
    with pytest.raises(BadValue, match="between"):
        check_point("m", 1.0, -1)
    with pytest.raises(BadValue, match="between"):
        check_point("m", 1.0, 2**63)


def test_bad_value_is_a_type_error() -> None:
    assert issubclass(BadValue, TypeError)
