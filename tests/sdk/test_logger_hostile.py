"""Whatever a script logs, on a real server: every point the logger accepts is
queryable exactly once and in order, everything else is refused at the call,
``wait()`` returns, and the run completes."""

from __future__ import annotations

import math
import time
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runstream.client import Client
from runstream.logger import Logger
from runstream.settings import SdkSettings
from runstream.standalone import StandaloneRun
from runstream.values import RunstreamWarning
from tests.conftest import ServerProcess
from tests.sdk.test_logger import wait_in_thread

# -- what a script logs -------------------------------------------------------


class Ratio(float):
    def __str__(self) -> str:
        raise RuntimeError("__str__ exploded")


class Label(str):
    def __str__(self) -> str:
        raise RuntimeError("__str__ exploded")


class Count(int):
    pass


class Tensor:
    def __init__(self, data: Any) -> None:
        self.data = data

    def item(self) -> Any:
        return self.data


class RaisingTolist:
    def tolist(self) -> Any:
        raise ValueError("tolist exploded")


class RaisingFloat:
    def __float__(self) -> float:
        raise ValueError("__float__ exploded")


class RaisingStr:
    def __str__(self) -> str:
        raise ValueError("__str__ exploded")

    def __repr__(self) -> str:
        raise ValueError("__repr__ exploded")


HUGE = np.zeros(8_000_000)  # 72 MB as one event: more than any event may be

numbers = st.floats(allow_nan=False, allow_infinity=False, width=32)
ints = st.integers(-(2**53), 2**53)
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
floats = st.lists(numbers, max_size=20)

# (kind, value as logged, the value the server should give back)
Valid = tuple[str, Any, Any]


def _scalar() -> st.SearchStrategy[Valid]:
    return st.one_of(
        numbers.map(lambda x: ("scalar", x, x)),
        ints.map(lambda x: ("scalar", x, float(x))),
        numbers.map(lambda x: ("scalar", np.float64(x), x)),
        numbers.map(lambda x: ("scalar", np.float32(x), x)),
        st.floats(-60000, 60000).map(lambda x: ("scalar", np.float16(x), float(np.float16(x)))),
        numbers.map(lambda x: ("scalar", np.longdouble(x), x)),
        numbers.map(lambda x: ("scalar", np.array(x), x)),
        ints.map(lambda x: ("scalar", np.int64(x), float(x))),
        st.integers(0, 2**64 - 1).map(lambda x: ("scalar", np.uint64(x), float(x))),
        st.booleans().map(lambda b: ("scalar", np.bool_(b), float(b))),
        numbers.map(lambda x: ("scalar", Decimal(x), float(Decimal(x)))),
        st.fractions(max_denominator=1000).map(lambda f: ("scalar", f, float(f))),
        numbers.map(lambda x: ("scalar", Ratio(x), x)),
        ints.map(lambda x: ("scalar", Count(x), float(x))),
        numbers.map(lambda x: ("scalar", Tensor(x), x)),
        st.lists(numbers, min_size=1, max_size=5).map(
            lambda xs: ("scalar", pd.Series(xs).max(), max(xs))),
        st.sampled_from([math.nan, math.inf, -math.inf]).map(lambda x: ("scalar", x, None)),
    )


def _string() -> st.SearchStrategy[Valid]:
    return st.one_of(
        texts.map(lambda s: ("string", s, s)),
        texts.map(lambda s: ("string", np.str_(s), s)),
        texts.map(lambda s: ("string", Label(s), s)),
        texts.map(lambda s: ("string", s + "\udcff", s + "\ufffd")),  # a lone surrogate
    )


def _array() -> st.SearchStrategy[Valid]:
    return st.one_of(
        floats.map(lambda xs: ("array", xs, xs)),
        floats.map(lambda xs: ("array", tuple(xs), xs)),
        floats.map(lambda xs: ("array", np.array(xs, dtype=np.float64), xs)),
        st.lists(st.integers(-1000, 1000), max_size=20).map(
            lambda xs: ("array", np.array(xs, dtype=np.int16), [float(x) for x in xs])),
        floats.map(lambda xs: ("array", pd.Series(xs, dtype="float64"), xs)),
        floats.map(lambda xs: ("array", [np.float32(x) for x in xs], xs)),
    )


# Refused at the call, never stored, never breaking anything else.
hostile = st.sampled_from([
    None, {"lr": 0.1}, [[1.0, 2.0]], [1.0, "a"], np.zeros((2, 2)), 1 + 2j, np.complex64(1),
    b"bytes", {1, 2}, object(), RaisingTolist(), RaisingFloat(), RaisingStr(),
    [RaisingFloat()], HUGE, 10**400, pd.NA, pd.DataFrame({"a": [1.0]}), np.float64,
])
hostile_names = st.sampled_from(["", None, 3, "n" * 301, b"loss"])

NAMES = {"scalar": ["loss", "Accuracy ✓"], "string": ["phase"], "array": ["Precision", "w"]}

Step = tuple[str, Any, Any, Any]  # (what, name, value, expected)
steps = st.one_of(
    st.tuples(st.sampled_from(NAMES["scalar"]), _scalar()).map(
        lambda t: ("valid", t[0], t[1][1], t[1][2])),
    _string().map(lambda v: ("valid", "phase", v[1], v[2])),
    st.tuples(st.sampled_from(NAMES["array"]), _array()).map(
        lambda t: ("valid", t[0], t[1][1], t[1][2])),
    st.tuples(st.sampled_from(["loss", "phase", "w"]), hostile).map(
        lambda t: ("hostile", t[0], t[1], None)),
    st.tuples(hostile_names, numbers).map(lambda t: ("hostile", t[0], t[1], None)),
    # a name with a lone surrogate is kept, repaired
    numbers.map(lambda x: ("valid", "bad\udc80name", x, x)),
)

# -- checking -----------------------------------------------------------------


def stored_points(client: Client, run_id: str, name: str, expect: int) -> list[tuple[int, Any]]:
    """(step, value) of a metric, once the server has ``expect`` of them (or 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        got = client.get_json(f"/api/runs/{Client.quote(run_id)}/metrics/{Client.quote(name)}")
        if got["format"] == "series":
            points = list(zip(got["steps"], got["values"], strict=True))
        else:
            points = [(p["step"], p["value"]) for p in got["points"]]
        if len(points) >= expect or time.monotonic() > deadline:
            return points
        time.sleep(0.05)


def same(stored: Any, expected: Any) -> bool:
    if expected is None:  # NaN or infinity: stored as NaN (JSON null)
        return stored is None or (isinstance(stored, float) and math.isnan(stored))
    if isinstance(expected, list):
        return isinstance(stored, list) and len(stored) == len(expected) and all(
            same(s, e) for s, e in zip(stored, expected, strict=True))
    if isinstance(expected, float):
        return isinstance(stored, int | float) and float(stored) == expected
    return bool(stored == expected)


def start(server: ServerProcess, spool: Path) -> StandaloneRun:
    config = SdkSettings(url=server.url, spool_dir=spool, project="hostile", exit_patience=10)
    return StandaloneRun.start(config, ["hostile.py"], hook_exceptions=False)


def test_every_accepted_point_is_stored_once_in_order_whatever_else_is_logged(
        server: ServerProcess, tmp_path: Path) -> None:
    client = server.client()

    @settings(max_examples=30, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(steps, min_size=5, max_size=60))
    def check(script: list[Step]) -> None:
        run = start(server, tmp_path / "spool")
        logger = Logger(run)
        expected: dict[str, list[Any]] = {}
        refused = 0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for what, name, value, result in script:
                logger.log(name, value)
                if what == "valid":
                    stored_name = name.replace("\udc80", "\ufffd")
                    expected.setdefault(stored_name, []).append(result)
                else:
                    refused += 1
        assert all(issubclass(w.category, RunstreamWarning) for w in caught)
        assert sum("dropped" in str(w.message) for w in caught) == refused

        delivery = wait_in_thread(logger)
        assert delivery, delivery
        assert (delivery.refused, delivery.lost) == (refused, 0)
        logger.close()
        for name, values in expected.items():
            points = stored_points(client, run.run_id, name, len(values))
            assert [s for s, _ in points] == list(range(len(values))), name
            for (_step, got), want in zip(points, values, strict=True):
                assert same(got, want), (name, got, want)
        view = client.get_json(f"/api/runs/{Client.quote(run.run_id)}")
        assert view["status"] == "completed", view

    check()


def test_an_array_too_large_for_one_event_is_refused_and_the_run_goes_on(
        server: ServerProcess, tmp_path: Path) -> None:
    client = server.client()
    run = start(server, tmp_path / "spool")
    logger = Logger(run)
    logger.log("Accuracy", 0.5)
    with pytest.warns(RunstreamWarning) as caught:
        logger.log("w", np.random.default_rng(0).random(8_000_000))
    assert [str(w.message) for w in caught] == [
        "runstream: metric 'w': an array of 8,000,000 numbers (72 MB) is larger than one "
        "event may be (16 MiB); save it to outputs/ (np.save) and it is stored as an "
        "artifact; the point was dropped"]
    logger.log("w", np.arange(1_000_000, dtype=np.float64))  # 9 MB: fits in one event
    for step in range(100):
        logger.log("loss", np.float64(1 / (step + 1)))
    delivery = wait_in_thread(logger)
    assert delivery and (delivery.refused, delivery.lost) == (1, 0)
    logger.close()
    run_path = f"/api/runs/{Client.quote(run.run_id)}"
    assert len(stored_points(client, run.run_id, "loss", 100)) == 100
    [(step, big)] = stored_points(client, run.run_id, "w", 1)
    assert step == 0 and len(big) == 1_000_000 and big[-1] == 999_999.0
    assert client.get_json(run_path)["status"] == "completed"
    assert client.get_json(run_path)["metrics"]["Accuracy"] == 0.5
