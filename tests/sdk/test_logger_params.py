"""Parameters, tags and run names from the logger: events in order with the metrics,
fixed parameters, MLflow's text for values, bounds checked at the call."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from runstream.codec import decode_data, decode_payload
from runstream.events import (
    MetricsLogged,
    ParamsLogged,
    Payload,
    RunCompleted,
    RunRenamed,
    TagsDeleted,
    TagsSet,
)
from runstream.logger import Logger
from runstream.memorysink import MemorySink
from runstream.session import Session
from runstream.settings import SUBMITTED_PARAMS, SdkSettings, submitted_params
from runstream.standalone import StandaloneRun
from runstream.values import RunstreamWarning, text_of


def stored(sink: MemorySink, run: StandaloneRun) -> list[Payload]:
    """The run's payloads after run.submitted and run.started."""
    return [decode_payload(e) for e in sink.events[f"run/{run.run_id}"]][2:]


def without_times(event: object) -> object:
    """A metrics batch as (its one name, steps, values); any other event as it is."""
    if isinstance(event, MetricsLogged):
        [name] = event.names
        return name, event.steps, event.values
    return event


class MemoryOutlet:
    """An outlet that keeps what is emitted; ``refuse`` names event types it fails on."""

    run_id = "proj_1"

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.emitted: list[object] = []
        self.refuse = refuse
        self.closed: tuple[int, str] | None = None
        self._lock = threading.Lock()

    def emit(self, type_: str, v: int, data: bytes, ts: float) -> None:
        if type_ in self.refuse:
            raise OSError(28, "No space left on device")
        with self._lock:
            self.emitted.append(decode_data(type_, v, data))

    def when_stored(self, done: Callable[[bool], None]) -> None:
        done(True)

    def close(self, lost: int = 0, reason: str = "") -> None:
        self.closed = (lost, reason)


def test_params_tags_and_name_are_stored_in_order_with_the_metrics(
        logger: Logger, sink: MemorySink, run: StandaloneRun) -> None:
    logger.log("loss", 1.0)
    logger.log_params({"lr": 0.01, "layers": 3})
    logger.log("loss", 0.5)
    logger.set_tag("stage", "dev")
    logger.set_tags({"stage": "done", "team": "vision"})
    logger.delete_tag("team")
    logger.set_name("baseline")
    logger.log("loss", 0.25)
    delivery = logger.wait(10)
    assert delivery and delivery.refused == 0
    assert [without_times(e) for e in stored(sink, run)] == [
        ("loss", [0], [1.0]),
        ParamsLogged(params={"lr": "0.01", "layers": "3"}),
        ("loss", [1], [0.5]),
        TagsSet(tags={"stage": "dev"}),
        TagsSet(tags={"stage": "done", "team": "vision"}),
        TagsDeleted(keys=["team"]),
        RunRenamed(name="baseline"),
        ("loss", [2], [0.25]),
    ]


def test_a_log_params_of_many_keys_is_one_event(logger: Logger, sink: MemorySink,
                                                 run: StandaloneRun) -> None:
    logger.log_params({f"p{i}": i for i in range(500)})
    assert logger.wait(10)
    [event] = stored(sink, run)
    assert isinstance(event, ParamsLogged) and len(event.params) == 500
    assert event.params["p499"] == "499"


def test_logging_a_parameter_again_with_the_same_value_is_a_no_op(
        logger: Logger, sink: MemorySink, run: StandaloneRun) -> None:
    logger.log_param("lr", 0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning either
        logger.log_param("lr", "0.01")
        logger.log_params({"lr": 0.01})
    assert logger.wait(10).refused == 0
    assert stored(sink, run) == [ParamsLogged(params={"lr": "0.01"})]
    assert logger.params == {"lr": "0.01"}


def test_another_value_for_a_logged_parameter_is_refused_with_a_warning_naming_it(
        logger: Logger, sink: MemorySink, run: StandaloneRun) -> None:
    logger.log_param("lr", 0.01)
    with pytest.warns(RunstreamWarning, match=r"parameter 'lr' is already logged as '0\.01', "
                                              r"so '0\.02' was refused") as caught:
        logger.log_params({"lr": 0.02, "epochs": 10})
    assert caught[0].filename == __file__  # the warning points at the script's call
    delivery = logger.wait(10)
    assert delivery and delivery.refused == 1
    assert stored(sink, run) == [ParamsLogged(params={"lr": "0.01"}),
                                 ParamsLogged(params={"epochs": "10"})]


def test_strict_refuses_the_whole_call_with_a_type_error(tmp_path: Path, sink: MemorySink,
                                                         run: StandaloneRun) -> None:
    logger = Logger(run, strict=True)
    try:
        logger.log_param("lr", 0.01)
        with pytest.raises(TypeError, match="parameter 'lr' is already logged"):
            logger.log_params({"epochs": 10, "lr": 0.02})
        with pytest.raises(TypeError, match="longer than 250"):
            logger.set_tags({"ok": "1", "k" * 251: "v"})
        assert logger.wait(10)
        assert stored(sink, run) == [ParamsLogged(params={"lr": "0.01"})]
        assert logger.params == {"lr": "0.01"}  # epochs was not taken either
    finally:
        logger.close()


def test_values_become_text_as_mlflow_writes_them() -> None:
    assert text_of(np.float64(0.5)) == "0.5"
    assert text_of(np.float32(0.1)) == "0.1"
    assert text_of(np.int64(3)) == "3"
    assert text_of(np.bool_(True)) == "True"
    assert text_of(np.array(0.25)) == "0.25"
    assert text_of(True) == "True"
    assert text_of(1e-05) == "1e-05"
    assert text_of(None) == "None"
    assert text_of([1, 2]) == "[1, 2]"


def test_numpy_values_are_logged_as_their_text(logger: Logger, sink: MemorySink,
                                               run: StandaloneRun) -> None:
    logger.log_params({"reg": np.float64(0.5), "shuffle": True, "n": np.int32(7)})
    logger.set_tag("best", np.float32(0.75))
    assert logger.wait(10)
    assert stored(sink, run) == [ParamsLogged(params={"reg": "0.5", "shuffle": "True",
                                                      "n": "7"}),
                                 TagsSet(tags={"best": "0.75"})]


@pytest.mark.parametrize(("call", "message"), [
    (lambda lg: lg.log_param("", 1), "a parameter name must be a non-empty string"),
    (lambda lg: lg.log_param("k" * 251, 1), "a name of 251 characters is longer than 250"),
    (lambda lg: lg.log_param("lr", "x" * 6001), "a value of 6,001 characters is longer than "
                                                "6,000"),
    (lambda lg: lg.log_param("lr", "a\x00b"), "NUL character"),
    (lambda lg: lg.set_tag("note", "x" * 8001), "a value of 8,001 characters is longer than "
                                                "8,000"),
    (lambda lg: lg.delete_tag(""), "a tag name must be a non-empty string"),
    (lambda lg: lg.set_name("n" * 251), "at most 250 characters"),
    (lambda lg: lg.set_name(7), "a run name must be a string, not int"),
    (lambda lg: lg.log_params([("lr", 1)]), "as a mapping of name → value"),
])
def test_values_beyond_the_bounds_are_refused_at_the_call_saying_what_to_do(
        logger: Logger, sink: MemorySink, run: StandaloneRun,
        call: Callable[[Logger], None], message: str) -> None:
    with pytest.warns(RunstreamWarning, match=message):
        call(logger)
    delivery = logger.wait(10)
    assert delivery and delivery.refused == 1
    assert stored(sink, run) == []


def test_values_at_the_bounds_are_kept(logger: Logger, sink: MemorySink,
                                       run: StandaloneRun) -> None:
    logger.log_param("k" * 250, "v" * 6000)
    logger.set_tag("note", "t" * 8000)
    logger.set_name("n" * 250)
    assert logger.wait(10)
    assert stored(sink, run) == [ParamsLogged(params={"k" * 250: "v" * 6000}),
                                 TagsSet(tags={"note": "t" * 8000}), RunRenamed(name="n" * 250)]


def test_parameters_too_large_for_one_event_are_sent_in_several(
        logger: Logger, sink: MemorySink, run: StandaloneRun) -> None:
    params = {f"p{i:04d}": "v" * 6000 for i in range(3000)}  # 18 MB of text
    logger.log_params(params)
    assert logger.wait(30)
    events = stored(sink, run)
    assert len(events) > 1 and all(isinstance(e, ParamsLogged) for e in events)
    merged = {k: v for e in events if isinstance(e, ParamsLogged) for k, v in e.params.items()}
    assert merged == params


def test_an_event_the_outlet_cannot_keep_is_counted_lost_and_ends_the_run_so() -> None:
    outlet = MemoryOutlet(refuse=frozenset({ParamsLogged.TYPE}))
    logger = Logger(outlet)
    logger.log("loss", 1.0)
    logger.log_param("lr", 0.1)
    logger.set_tag("stage", "dev")
    delivery = logger.wait(10)
    assert not delivery and delivery.lost == 1
    assert "No space left on device" in delivery.reasons[0]
    logger.close()
    assert outlet.closed == (1, "[Errno 28] No space left on device")
    assert [type(e) for e in outlet.emitted] == [MetricsLogged, TagsSet]


def test_a_standalone_run_counts_no_points_for_parameters(
        logger: Logger, sink: MemorySink, run: StandaloneRun) -> None:
    logger.log("loss", 1.0)
    logger.log_params({"lr": 0.1, "epochs": 3})
    assert logger.wait(10)
    assert run.losses.points_kept == 1
    logger.close()
    assert isinstance(decode_payload(sink.events[f"run/{run.run_id}"][-1]), RunCompleted)


def test_parameters_given_at_submission_are_fixed_for_the_scripts_logger(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("atexit.register", lambda fn: None)
    monkeypatch.setattr("atexit.unregister", lambda fn: None)
    settings = SdkSettings(url="http://127.0.0.1:9", spool_dir=tmp_path / "spool",
                           project="iris", exit_patience=0.0, lease=0.0,
                           submitted_params={"seed": "7"})
    session = Session(lambda: settings, argv=lambda: ["train.py"])
    logger = session.logger()
    try:
        assert logger.params == {"seed": "7"}
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            logger.log_param("seed", 7)  # the same value: nothing to do
        with pytest.warns(RunstreamWarning, match="parameter 'seed' is already logged as '7'"):
            logger.log_param("seed", 8)
    finally:
        session.reset()


@pytest.mark.parametrize("text", ["", "not json", "[1]", '{"seed": 7}'])
def test_a_missing_or_unreadable_submitted_params_variable_means_none(text: str) -> None:
    assert submitted_params(text) == {}
    assert SdkSettings.from_env({SUBMITTED_PARAMS: text}).submitted_params == {}


def test_the_submitted_params_variable_is_read_with_the_other_settings() -> None:
    settings = SdkSettings.from_env({SUBMITTED_PARAMS: '{"seed": "7", "reg": "0.5"}'})
    assert settings.submitted_params == {"seed": "7", "reg": "0.5"}


def test_text_with_lone_surrogates_is_stored_with_replacement_characters(
        logger: Logger, sink: MemorySink, run: StandaloneRun) -> None:
    logger.log_param("path", "data/\udcff.csv")
    logger.set_tag("by\ud800", "x")
    logger.set_name("run \udcff")
    assert logger.wait(10)
    assert stored(sink, run) == [ParamsLogged(params={"path": "data/\ufffd.csv"}),
                                 TagsSet(tags={"by\ufffd": "x"}), RunRenamed(name="run \ufffd")]
