"""The agent's system metrics: real psutil on real process trees, NVML present, absent or faked,
and ``runstream submit -c local`` against a real server, with and without them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from runstream.client import Client
from runstream.codec import decode_payload
from runstream.events import MetricsLogged, RunCompleted
from runstream.memorysink import MemorySink
from runstream.spool import Spool
from runstream_agent import system
from runstream_agent.agent import Agent, RunSpec
from runstream_agent.system import GpuReader, ProcessTree, SystemSampler, load_nvml
from tests.agent.cli.test_run import project, run_id_in, runstream
from tests.conftest import ServerProcess

# A parent that starts a child which holds ~200 MB and burns CPU: the tree's figures
# rise only if the sampler follows children.
HOG_CHILD = """
import time
block = bytearray(200 << 20)
for i in range(0, len(block), 4096):
    block[i] = 1
print("ready", flush=True)
end = time.monotonic() + 30
while time.monotonic() < end:
    sum(range(10_000))
"""
PARENT = f"""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", {HOG_CHILD!r}], stdout=sys.stdout)
child.wait()
"""


def _tree_process() -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_the_tree_s_memory_and_cpu_rise_with_what_its_child_process_does() -> None:
    quiet = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    busy = _tree_process()
    try:
        trees = ProcessTree(quiet.pid), ProcessTree(busy.pid)
        for tree in trees:
            tree.sample()
        time.sleep(1.0)
        calm, hot = (tree.sample() for tree in trees)
    finally:
        for proc in (quiet, busy):
            proc.kill()
            proc.wait()
    assert hot["sys/memory_rss_bytes"] > 200e6 > calm["sys/memory_rss_bytes"]
    # Busy on one core; on a loaded machine it gets less of it, a sleeper next to nothing.
    assert hot["sys/cpu_percent"] > max(10.0, 10 * calm["sys/cpu_percent"])
    assert hot["sys/cpu_percent"] < 100 * 2 + 20  # at most the two cores of the machine


def test_a_tree_whose_root_ended_samples_nothing() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert ProcessTree(proc.pid).sample() == {}


def test_the_sampler_emits_numbered_samples_of_every_series_soon_after_the_start() -> None:
    busy = _tree_process()
    events: list[MetricsLogged] = []
    sampler = SystemSampler(busy.pid, events.append, interval=0.3, first=0.1,
                            nvml=lambda: None).start()
    try:
        time.sleep(1.2)
    finally:
        sampler.stop()
        busy.kill()
        busy.wait()
    assert len(events) >= 3
    for number, event in enumerate(events):
        assert set(event.steps) == {number}
        assert len(set(event.times)) == 1
        assert {"sys/cpu_percent", "sys/memory_rss_bytes", "sys/disk_read_bytes",
                "sys/disk_write_bytes", "sys/net_recv_bytes",
                "sys/net_sent_bytes"} <= set(event.names)
        assert not any("gpu" in name for name in event.names)
    rss = [e.values[e.names.index("sys/memory_rss_bytes")] for e in events]
    assert min(rss) > 200e6  # type: ignore[operator]


def test_a_sampler_that_keeps_failing_goes_on_trying_without_raising() -> None:
    busy = _tree_process()
    calls: list[MetricsLogged] = []

    def emit(event: MetricsLogged) -> None:
        calls.append(event)
        raise RuntimeError("the writer is broken")

    sampler = SystemSampler(busy.pid, emit, interval=0.1, first=0.05, nvml=lambda: None)
    sampler.start()
    try:
        time.sleep(0.8)
    finally:
        sampler.stop()
        busy.kill()
        busy.wait()
    assert len(calls) >= 3 and sampler.samples == 0
    assert any("the writer is broken" in p for p in sampler.problems)


SCRIPT = """
import time, runstream
log = runstream.get_logger()
end = time.monotonic() + 1.5
while time.monotonic() < end:
    sum(range(10_000))
log.log("loss", 0.5)
print("done")
"""


def _run_agent(tmp_path: Path, script: str = SCRIPT, **spec: Any) -> list[Any]:
    workdir = tmp_path / "work"
    workdir.mkdir(parents=True)
    (workdir / "train.py").write_text(textwrap.dedent(script))
    run = RunSpec(run_id="iris_1", project="iris", script="train.py", python=sys.executable,
                  workdir=str(workdir), url="http://unused", host="here", **spec)
    sink = MemorySink()
    agent = Agent(run, Spool.create(tmp_path / "spool", "run/iris_1"), sink,
                  on_problem=lambda message: None, delivery_patience=0.5)
    outcome = agent.run()
    assert outcome.status == "completed", outcome
    return [p for e in sink.events["run/iris_1"] if (p := decode_payload(e)) is not None]


def _system_names(payloads: list[Any]) -> set[str]:
    return {name for p in payloads if isinstance(p, MetricsLogged) for name in p.names
            if name.startswith("sys/")}


def test_nothing_is_emitted_once_stop_returned() -> None:
    busy = _tree_process()
    events: list[MetricsLogged] = []
    sampler = SystemSampler(busy.pid, events.append, interval=0.05, first=0.01,
                            nvml=lambda: None).start()
    try:
        time.sleep(0.3)
        sampler.stop()
        stopped = len(events)
        time.sleep(0.3)
    finally:
        busy.kill()
        busy.wait()
    assert stopped >= 2 and len(events) == stopped == sampler.samples


def test_a_script_may_log_its_own_sys_metrics(tmp_path: Path) -> None:
    script = SCRIPT.replace('log.log("loss", 0.5)', 'log.log("sys/queue_length", 3)')
    payloads = _run_agent(tmp_path, script, system_metrics=False)
    assert _system_names(payloads) == {"sys/queue_length"}


def test_a_sampler_that_raises_does_not_affect_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: ProcessTree, now: float | None = None) -> dict[str, float]:
        raise PermissionError("psutil.AccessDenied, say")

    monkeypatch.setattr(ProcessTree, "sample", broken)
    payloads = _run_agent(tmp_path, system_metrics=True)
    assert not _system_names(payloads)
    assert isinstance(payloads[-1], RunCompleted) and payloads[-1].status == "completed"
    assert any(isinstance(p, MetricsLogged) and p.names == ["loss"] for p in payloads)


def test_the_agent_logs_system_series_with_the_run_s_events_and_none_when_off(
        tmp_path: Path) -> None:
    on = _run_agent(tmp_path / "on", system_metrics=True)
    assert {"sys/cpu_percent", "sys/memory_rss_bytes"} <= _system_names(on)
    off = _run_agent(tmp_path / "off", system_metrics=False)
    assert not _system_names(off)


def test_without_pynvml_there_is_no_gpu_series_and_no_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    assert load_nvml() is None
    sampler = SystemSampler(_self_pid(), lambda event: None)
    event = sampler.sample_once()
    assert event is not None and not any("gpu" in n for n in event.names)


def test_nvml_that_finds_no_library_is_skipped_quietly() -> None:
    # On this machine nvidia-ml-py is installed but NVML's library is not.
    pytest.importorskip("pynvml")
    assert load_nvml() is None


class FakeNvml(types.ModuleType):
    """NVML's calls as pynvml names them, for two devices (no GPU exists here)."""

    def __init__(self) -> None:
        super().__init__("pynvml")
        self.shut = False

    def nvmlInit(self) -> None:  # NVML's names
        pass

    def nvmlShutdown(self) -> None:
        self.shut = True

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        return types.SimpleNamespace(gpu=40 + h, memory=10)

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        return types.SimpleNamespace(used=(h + 1) << 30, total=16 << 30, free=0)

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        if h == 1:
            raise RuntimeError("NVMLError_NotSupported")
        return 75_500  # milliwatts


def test_nvml_with_two_devices_gives_series_per_device(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    nvml = load_nvml()
    assert nvml is fake
    reader = GpuReader(nvml, set())
    assert reader.sample() == {
        "sys/gpu/0/utilization_percent": 40.0, "sys/gpu/0/memory_used_bytes": float(1 << 30),
        "sys/gpu/0/power_watts": 75.5,
        "sys/gpu/1/utilization_percent": 41.0, "sys/gpu/1/memory_used_bytes": float(2 << 30),
    }  # device 1 does not report power: that figure alone is left out

    events: list[MetricsLogged] = []
    sampler = SystemSampler(_self_pid(), events.append, interval=0.1, first=0.05).start()
    time.sleep(0.4)
    sampler.stop()
    assert events and fake.shut
    assert {"sys/gpu/0/power_watts", "sys/gpu/1/utilization_percent",
            "sys/cpu_percent"} <= set(events[0].names)


def _self_pid() -> int:
    import os

    return os.getpid()


# -- end to end: runstream submit against a real server ------------------------------

BUSY = """
import time, runstream
log = runstream.get_logger()
end = time.monotonic() + 3
step = 0
while time.monotonic() < end:
    sum(range(100_000))
    step += 1
log.log("loss", 1 / step)
log.log("cpu_seconds", time.process_time())  # the script's own count, to check against
"""


def sampled_cpu_seconds(cpu: dict[str, Any], started: float) -> float:
    """The CPU time the samples account for: each sample's % over its interval (the
    first one's since the run started)."""
    total, before = 0.0, started
    for t, percent in zip(cpu["times"], cpu["values"], strict=True):
        total += percent / 100 * (t - before)
        before = t
    return total


def system_series(client: Client, run_id: str) -> dict[str, Any]:
    names = client.get_json(f"/api/runs/{run_id}/metrics")
    every = [*names["scalars"], *names["arrays"], *names["strings"]]
    return {name: client.get_json(f"/api/runs/{run_id}/metrics/{quote(name, safe='')}")
            for name in every if name.startswith(system.PREFIX)}


def test_submit_local_shows_cpu_and_memory_series_and_none_when_turned_off(
        tmp_path: Path, server: ServerProcess) -> None:
    project(tmp_path, BUSY)
    client = server.client()
    done = runstream(tmp_path, server.url, "submit", "-c", "local", "train.py")
    assert done.returncode == 0, done.stdout + done.stderr
    series = system_series(client, run_id_in(done.stdout))
    assert {"sys/cpu_percent", "sys/memory_rss_bytes", "sys/disk_read_bytes",
            "sys/net_sent_bytes"} <= set(series)
    cpu, rss = series["sys/cpu_percent"], series["sys/memory_rss_bytes"]
    assert cpu["steps"][:3] == [0, 1, 2]  # sampled at 0.5, 1 and 2 s at least
    assert min(rss["values"]) > 5e6  # a Python interpreter at the least
    # What the samples account for agrees with the script's own CPU time: the last
    # sample (at 2 s) comes before its last second, and Python's start is extra.
    run_id = run_id_in(done.stdout)
    own = client.get_json(f"/api/runs/{run_id}/metrics/cpu_seconds")["values"][-1]
    seen = sampled_cpu_seconds(cpu, client.get_json(f"/api/runs/{run_id}")["started"])
    assert 0.3 * own < seen < own + 0.5, (seen, own, cpu)

    off = runstream(tmp_path, server.url, "submit", "--no-system-metrics", "train.py")
    assert off.returncode == 0, off.stdout + off.stderr
    assert system_series(client, run_id_in(off.stdout)) == {}


def test_runstream_system_metrics_0_turns_them_off_and_a_bad_value_is_named(
        tmp_path: Path, server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    project(tmp_path, BUSY)
    client = server.client()
    monkeypatch.setenv("RUNSTREAM_SYSTEM_METRICS", "0")
    off = runstream(tmp_path, server.url, "submit", "train.py")
    assert off.returncode == 0, off.stdout + off.stderr
    run_id = run_id_in(off.stdout)
    assert client.get_json(f"/api/runs/{run_id}/metrics")["scalars"] == ["cpu_seconds", "loss"]
    monkeypatch.setenv("RUNSTREAM_SYSTEM_METRICS", "maybe")
    bad = runstream(tmp_path, server.url, "submit", "train.py")
    assert bad.returncode != 0
    assert "RUNSTREAM_SYSTEM_METRICS must be 1 (on) or 0 (off), not 'maybe'" in bad.stderr


def test_submit_help_names_the_switch_and_the_variable(tmp_path: Path) -> None:
    (tmp_path / "iris").mkdir()
    shown = runstream(tmp_path, "http://127.0.0.1:9", "submit", "--help")
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    assert "--no-system-metrics" in text and "RUNSTREAM_SYSTEM_METRICS=0" in text
