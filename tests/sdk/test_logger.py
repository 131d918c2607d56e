"""The logger: cheap calls, columnar batches, acknowledged waits, bad values dropped loudly."""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from runstream.codec import decode_data, decode_payload
from runstream.events import MetricsLogged, RunCompleted, RunStarted, RunSubmitted
from runstream.logger import Delivery, Logger
from runstream.memorysink import MemorySink
from runstream.settings import SdkSettings
from runstream.standalone import StandaloneRun
from runstream.values import RunstreamWarning


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
    assert not logger.wait(timeout=0.3)
    sink.reachable = True
    assert logger.wait(timeout=5)
    assert len(points(sink, run)) == 100


def test_wait_without_timeout_returns_while_the_server_stays_down(
        tmp_path: Path, sink: MemorySink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("runstream.shipper.WAIT_PATIENCE", 0.3)
    settings = SdkSettings(url="http://unused", spool_dir=tmp_path / "spool", project="proj",
                           exit_patience=0.2)
    run = StandaloneRun.start(settings, ["train.py"], sink=sink, hook_exceptions=False)
    logger = Logger(run)
    sink.reachable = False
    logger.log("loss", 1.0)
    delivery = wait_in_thread(logger)  # no timeout: it must answer by itself
    assert not delivery and delivery.lost == 0  # not stored now, but nothing lost
    sink.reachable = True
    assert logger.wait(timeout=5)
    logger.close()


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
    assert not logger.wait(timeout=0.1)


# -- values the natural NumPy way, isolation, exact counting ------------------


class RecordingOutlet:
    """An outlet that keeps decoded payloads; ``refuse`` makes ``emit`` raise."""

    run_id = "rec_1"

    def __init__(self) -> None:
        self.batches: list[MetricsLogged] = []
        self.refuse: BaseException | None = None
        self.closed: tuple[int, str] | None = None

    def emit(self, type_: str, v: int, data: bytes, ts: float) -> None:
        if self.refuse is not None:
            raise self.refuse
        payload = decode_data(type_, v, data)
        assert isinstance(payload, MetricsLogged)
        self.batches.append(payload)

    def when_stored(self, done: Callable[[bool], None]) -> None:
        done(True)

    def close(self, lost: int = 0, reason: str = "") -> None:
        self.closed = (lost, reason)

    def points(self) -> list[tuple[str, int, object]]:
        return [(b.names[i], s, v) for b in self.batches
                for i, s, v in zip(b.index, b.steps, b.values, strict=True)]


def wait_in_thread(logger: Logger, seconds: float = 10) -> Delivery:
    """``logger.wait()`` without a timeout, watched: fails instead of hanging."""
    answer: list[Delivery] = []
    thread = threading.Thread(target=lambda: answer.append(logger.wait()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert answer, f"wait() did not return within {seconds} s"
    return answer[0]


def test_a_training_loop_logging_numpy_means_stores_every_step() -> None:
    outlet = RecordingOutlet()
    logger = Logger(outlet)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about: these are ordinary values
        for _ in range(600):
            pred = rng.integers(0, 3, size=50)
            logger.log("train accuracy", (pred == y).mean())
            logger.log("max score", max(rng.random(5)))
            logger.log("label", np.str_("Iris-setosa"))
    assert wait_in_thread(logger)
    stored = outlet.points()
    assert [s for n, s, _ in stored if n == "train accuracy"] == list(range(600))
    assert all(type(v) is float for n, _, v in stored if n != "label")
    assert len(stored) == 1800
    logger.close()


def test_wait_returns_after_a_failure_and_says_what_was_dropped(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import runstream.logger as logger_module

    real = logger_module.encode_payload

    def encode(batch: MetricsLogged) -> bytes:
        if "poison" in batch.names:  # our own bug, for the points of one metric
            raise TypeError("Encoding objects of type Poison is unsupported")
        return real(batch)

    monkeypatch.setattr(logger_module, "encode_payload", encode)
    outlet = RecordingOutlet()
    logger = Logger(outlet)
    for i in range(1000):
        logger.log("loss", 1.0 / (i + 1))
        if i in (10, 500):
            logger.log("poison", 1.0)
        logger.log("acc", 0.5)
    result = wait_in_thread(logger)
    assert not result and result.stored and result.lost == 2 and result.refused == 0
    assert any("'poison'" in reason for reason in result.reasons)
    stored = outlet.points()
    assert [s for n, s, _ in stored if n == "loss"] == list(range(1000))
    assert len([n for n, _, _ in stored if n == "acc"]) == 1000
    assert not [n for n, _, _ in stored if n == "poison"]
    logger.log("later", 1.0)  # the logger still works
    assert wait_in_thread(logger).lost == 2
    assert ("later", 0, 1.0) in outlet.points()
    assert capsys.readouterr().err.count("'poison'") == 1  # one distinct failure, once
    logger.close()
    assert outlet.closed is not None and outlet.closed[0] == 2 and "poison" in outlet.closed[1]


def test_points_the_outlet_cannot_take_are_counted_exactly_and_reported_once(
        capsys: pytest.CaptureFixture[str]) -> None:
    outlet = RecordingOutlet()
    logger = Logger(outlet)
    for i in range(100):
        logger.log("loss", float(i))
    assert wait_in_thread(logger)
    outlet.refuse = OSError(28, "No space left on device")
    for i in range(120_000):  # more than one batch
        logger.log("loss", float(i))
        if i % 1000 == 0:
            logger.log("acc", 0.5)
    first = wait_in_thread(logger)
    for _ in range(7):
        logger.log("loss", 1.0)
    second = wait_in_thread(logger)
    outlet.refuse = None
    logger.log("loss", 2.0)
    third = wait_in_thread(logger)
    assert (first.lost, second.lost, third.lost) == (120_120, 120_127, 120_127)
    assert not first and not third and third.stored
    assert len(outlet.points()) == 101
    err = capsys.readouterr().err
    assert err.count("No space left on device") == 1, err
    assert "could not be kept" in err and "'loss'" in err
    logger.close()
    assert outlet.closed == (120_127, "[Errno 28] No space left on device")


def test_a_failing_when_stored_still_answers_the_wait() -> None:
    outlet = RecordingOutlet()

    def broken(done: Callable[[bool], None]) -> None:
        raise RuntimeError("the channel is gone")

    outlet.when_stored = broken  # type: ignore[method-assign]
    logger = Logger(outlet)
    logger.log("loss", 1.0)
    result = wait_in_thread(logger)
    assert not result and not result.stored and result.lost == 0
    assert any("the channel is gone" in reason for reason in result.reasons)
    assert outlet.points() == [("loss", 0, 1.0)]
    logger.close()


def test_refused_values_are_counted_and_the_rest_is_stored() -> None:
    outlet = RecordingOutlet()
    logger = Logger(outlet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger.log("weights", np.zeros(8_000_000))
        logger.log("grid", np.zeros((3, 3)))  # type: ignore[arg-type]
        logger.log("ok", np.float64(0.5))
    assert [str(w.message) for w in caught] == [
        "runstream: metric 'weights': an array of 8,000,000 numbers (72 MB) is larger than "
        "one event may be (16 MiB); save it to outputs/ (np.save) and it is stored as an "
        "artifact; the point was dropped",
        "runstream: metric 'grid': an array of shape (3, 3) cannot be logged (a logged list "
        "is flat); flatten it with .ravel() or log each row under its own name; the point "
        "was dropped"]
    result = wait_in_thread(logger)
    assert result and (result.refused, result.lost) == (2, 0)
    assert outlet.points() == [("ok", 0, 0.5)]
    logger.close()
    assert outlet.closed == (0, "")


def test_surrogates_are_replaced_with_one_warning_naming_the_metric() -> None:
    outlet = RecordingOutlet()
    logger = Logger(outlet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger.log("file", "data/\udce9t\udce9.csv")
        logger.log("file", "data/\udce9.csv")
        logger.log("caf\udce9", 1.0)
    assert [str(w.message).split(" had ")[0] for w in caught] == [
        "runstream: metric 'file'", "runstream: metric 'caf\ufffd'"]
    assert wait_in_thread(logger)
    assert outlet.points() == [("file", 0, "data/\ufffdt\ufffd.csv"),
                               ("file", 1, "data/\ufffd.csv"), ("caf\ufffd", 0, 1.0)]
    logger.close()


def test_strict_mode_raises_a_clear_type_error_for_a_hostile_object() -> None:
    class Hostile:
        def tolist(self) -> list[float]:
            raise RuntimeError("tolist exploded")

    logger = Logger(RecordingOutlet(), strict=True)
    with pytest.raises(TypeError, match=r"metric 'm': .*could not be converted.*tolist exploded"):
        logger.log("m", Hostile())
    logger.close()
