"""The heartbeat: signs of life for a quiet stream, nothing extra for a busy one."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest

from runstream.codec import decode_batch, join_encoded
from runstream.events import Envelope, LogLines, RunCompleted, RunHeartbeat
from runstream.heartbeat import Heartbeat
from runstream.memorysink import MemorySink
from runstream.settings import SdkSettings
from runstream.spool import Spool
from runstream.standalone import StandaloneRun
from runstream.writer import StreamWriter


def spooled(spool: Spool) -> list[Envelope]:
    return decode_batch(join_encoded([r.data for r in spool.read(-1, 10_000, 1 << 30)]))


def writer(tmp_path: Path) -> StreamWriter:
    return StreamWriter(Spool.create(tmp_path / "spool", "run/iris_1"))


def line(i: int) -> LogLines:
    return LogLines(first=i, lines=["x"], times=[0.0], fds=[1])


def test_a_quiet_stream_gets_a_heartbeat_within_every_lease(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.append([line(0)])
    beat = Heartbeat(w, lease=0.3).start()
    time.sleep(1.2)
    beat.stop()
    events = spooled(w.spool)
    assert {e.type for e in events[1:]} == {"run.heartbeat"} and beat.beats == len(events) - 1
    assert 3 <= beat.beats <= 7  # one every 2·lease/3 of quiet
    times = [e.ts for e in events] + [time.time()]
    assert max(b - a for a, b in itertools.pairwise(times)) < 0.3  # the promise is kept


def test_a_busy_stream_costs_no_heartbeat(tmp_path: Path) -> None:
    w = writer(tmp_path)
    beat = Heartbeat(w, lease=0.3).start()
    for i in range(40):  # 1.2 s, an event every 30 ms
        w.append([line(i)])
        time.sleep(0.03)
    beat.stop()
    assert beat.beats == 0
    assert all(e.type == "log.lines" for e in spooled(w.spool))


def test_no_heartbeat_after_stop_and_none_without_a_lease(tmp_path: Path) -> None:
    w = writer(tmp_path)
    beat = Heartbeat(w, lease=0.15).start()
    time.sleep(0.4)
    began = time.monotonic()
    beat.stop()
    assert time.monotonic() - began < 0.1  # stopping does not wait out a period
    last = w.last_seq
    time.sleep(0.4)
    assert w.last_seq == last
    none = Heartbeat(w, lease=0.0).start()
    time.sleep(0.1)
    none.stop()
    assert w.last_seq == last and none.beats == 0


def test_a_heartbeat_that_cannot_be_written_is_reported_once_and_retried(
        tmp_path: Path) -> None:
    w = writer(tmp_path)
    problems: list[str] = []
    failing = threading.Event()
    failing.set()
    real = w.append

    def append(payloads: list[RunHeartbeat], ts: float | None = None) -> int:
        if failing.is_set():
            raise OSError(28, "No space left on device")
        return real(payloads, ts)

    w.append = append  # type: ignore[method-assign,assignment]
    beat = Heartbeat(w, lease=0.09, on_problem=problems.append).start()
    time.sleep(0.4)
    failing.clear()  # space was freed
    time.sleep(0.2)
    beat.stop()
    assert len(problems) == 1 and "No space left" in problems[0]
    assert beat.beats >= 1


def test_a_standalone_run_announces_its_lease_and_ends_without_a_heartbeat_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = SdkSettings.from_env({"RUNSTREAM_SPOOL_DIR": str(tmp_path / "spool"),
                                     "RUNSTREAM_LEASE": "0.15", "RUNSTREAM_PROJECT": "iris"})
    sink = MemorySink()
    run = StandaloneRun.start(settings, ["train.py"], sink=sink, hook_exceptions=False)
    time.sleep(0.5)  # a quiet script
    run.close()
    events = sink.events[f"run/{run.run_id}"]
    types = [e.type for e in events]
    assert types[:2] == ["run.submitted", "run.started"] and types[-1] == "run.completed"
    assert "run.heartbeat" in types[2:-1]
    from runstream.codec import decode_payload

    started = decode_payload(events[1])
    assert getattr(started, "lease", None) == 0.15
    assert isinstance(decode_payload(events[-1]), RunCompleted)


def test_the_lease_setting_is_checked() -> None:
    assert SdkSettings.from_env({}).lease == 30.0
    assert SdkSettings.from_env({"RUNSTREAM_LEASE": "0"}).lease == 0.0
    with pytest.raises(ValueError, match="RUNSTREAM_LEASE must be seconds"):
        SdkSettings.from_env({"RUNSTREAM_LEASE": "soon"})
