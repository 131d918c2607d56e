"""The logger: cheap calls, columnar batches, acknowledged waits, bad values dropped loudly."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from runstream.codec import decode_payload
from runstream.events import MetricsLogged, RunCompleted, RunStarted, RunSubmitted
from runstream.logger import Logger
from runstream.memorysink import MemorySink
from runstream.settings import SdkSettings
from runstream.standalone import StandaloneRun
from runstream.values import RunstreamWarning


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def run(tmp_path: Path, sink: MemorySink) -> Iterator[StandaloneRun]:
    settings = SdkSettings(url="http://unused", spool_dir=tmp_path / "spool",
                           project="proj", exit_patience=0.2)
    run = StandaloneRun.start(settings, ["train.py", "--lr", "0.1"], sink=sink,
                              hook_exceptions=False)
    yield run
    run.close()


@pytest.fixture
def logger(run: StandaloneRun) -> Iterator[Logger]:
    logger = Logger(run)
    yield logger
    logger.close()


def payloads(sink: MemorySink, run: StandaloneRun) -> list[object]:
    return [decode_payload(e) for e in sink.events.get(f"run/{run.run_id}", [])]


def points(sink: MemorySink, run: StandaloneRun) -> list[tuple[str, int, object]]:
    out = []
    for p in payloads(sink, run):
        if isinstance(p, MetricsLogged):
            out += [(p.names[i], s, v) for i, s, v in zip(p.index, p.steps, p.values, strict=True)]
    return out


def test_wait_returns_once_every_point_is_stored(logger: Logger, sink: MemorySink,
                                                 run: StandaloneRun) -> None:
    for i in range(1000):
        logger.log("loss", 1.0 / (i + 1))
    logger.log("acc", 0.5)
    assert logger.wait(timeout=5)
    stored = points(sink, run)
    assert [s for n, s, _ in stored if n == "loss"] == list(range(1000))
    assert ("acc", 0, 0.5) in stored


def test_many_points_travel_in_few_columnar_events(logger: Logger, sink: MemorySink,
                                                   run: StandaloneRun) -> None:
    for i in range(100_000):
        logger.log("loss", float(i))
    assert logger.wait(timeout=10)
    metric_events = [p for p in payloads(sink, run) if isinstance(p, MetricsLogged)]
    assert sum(len(p.index) for p in metric_events) == 100_000
    assert len(metric_events) < 100


def test_explicit_steps_arrays_and_strings_are_kept(logger: Logger, sink: MemorySink,
                                                    run: StandaloneRun) -> None:
    logger.log("loss", 0.3, step=10)
    logger.log("loss", 0.2)
    logger.log("confusion", np.array([1, 2, 3]))
    logger.log("note", "best so far")
    assert logger.wait(timeout=5)
    assert points(sink, run) == [("loss", 10, 0.3), ("loss", 11, 0.2),
                                 ("confusion", 0, [1.0, 2.0, 3.0]), ("note", 0, "best so far")]


def test_a_bad_value_is_dropped_with_a_warning_naming_the_metric(
        logger: Logger, sink: MemorySink, run: StandaloneRun) -> None:
    with pytest.warns(RunstreamWarning, match="'params'.*dict.*dropped"):
        logger.log("params", {"lr": 0.1})  # type: ignore[arg-type]
    with pytest.warns(RunstreamWarning, match="non-empty string"):
        logger.log("", 1.0)
    logger.log("ok", 1.0)
    assert logger.wait(timeout=5)
    assert points(sink, run) == [("ok", 0, 1.0)]


def test_nan_is_kept_and_warned_about_once_per_metric(logger: Logger, sink: MemorySink,
                                                      run: StandaloneRun) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger.log("loss", float("nan"))
        logger.log("loss", float("inf"))
        logger.log("other", float("-inf"))
    assert len([w for w in caught if "NaN" in str(w.message)]) == 2
    assert logger.wait(timeout=5)
    values = [v for _, _, v in points(sink, run)]
    assert len(values) == 3 and all(isinstance(v, float) and math.isnan(v) for v in values)


def test_strict_mode_raises_instead_of_dropping(run: StandaloneRun) -> None:
    logger = Logger(run, strict=True)
    with pytest.raises(TypeError, match="nested lists"):
        logger.log("m", [[1, 2]])  # type: ignore[list-item]
    logger.close()


def test_logging_never_raises_while_the_server_is_down(logger: Logger, sink: MemorySink,
                                                       run: StandaloneRun) -> None:
    sink.reachable = False
    for i in range(100):
        logger.log("loss", float(i))
    assert logger.wait(timeout=0.3) is False
    sink.reachable = True
    assert logger.wait(timeout=5)
    assert len(points(sink, run)) == 100


def test_a_standalone_run_is_submitted_started_and_completed(sink: MemorySink,
                                                             run: StandaloneRun) -> None:
    logger = Logger(run)
    logger.log("loss", 1.0)
    logger.close()
    kinds = payloads(sink, run)
    assert isinstance(kinds[0], RunSubmitted) and kinds[0].project == "proj"
    assert kinds[0].args == ["--lr", "0.1"] and kinds[0].target == "standalone"
    assert isinstance(kinds[1], RunStarted)
    assert isinstance(kinds[-1], RunCompleted) and kinds[-1].status == "completed"
    assert run.run_id.startswith("proj_")


def test_an_uncaught_exception_fails_the_run_with_its_last_line(sink: MemorySink,
                                                                run: StandaloneRun) -> None:
    try:
        raise ValueError("bad learning rate")
    except ValueError as exc:
        run.record_exception(exc)
    Logger(run).close()
    completed = payloads(sink, run)[-1]
    assert isinstance(completed, RunCompleted)
    assert (completed.status, completed.reason) == ("failed", "ValueError: bad learning rate")


def test_keyboard_interrupt_cancels_the_run(sink: MemorySink, run: StandaloneRun) -> None:
    run.record_exception(KeyboardInterrupt())
    Logger(run).close()
    completed = payloads(sink, run)[-1]
    assert isinstance(completed, RunCompleted) and completed.status == "canceled"


def test_logging_after_close_is_ignored(logger: Logger) -> None:
    logger.close()
    logger.log("late", 1.0)
    assert logger.wait(timeout=0.1) is False
