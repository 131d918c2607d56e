"""System metrics: what the script's process tree uses, sampled by the run agent.

While a run runs the agent samples, every few seconds, the whole process tree
of the script (children come and go) and logs one ``metrics.logged`` event per
sample through the run's own stream writer, so system series share the seq
order, the spool and the delivery of every other metric. Names are under the
reserved prefix ``sys/``; each series' step is the sample number (0, 1, 2, …)
and its time the sample's time:

- ``sys/cpu_percent``: CPU time of the tree over the wall time since the last
  sample, in % of one core (a tree busy on two cores shows 200);
- ``sys/memory_rss_bytes``: resident memory of the tree (each process' RSS
  summed, so shared pages count once per process);
- ``sys/disk_read_bytes``, ``sys/disk_write_bytes``: bytes the tree read from
  and wrote to storage since the run started (a process that ended keeps what
  it did);
- ``sys/net_recv_bytes``, ``sys/net_sent_bytes``: bytes received and sent on the
  machine's interfaces (in a container, the container's) since the run
  started: the OS counts no network per process;
- ``sys/gpu/<i>/utilization_percent``, ``sys/gpu/<i>/memory_used_bytes``,
  ``sys/gpu/<i>/power_watts``: per NVIDIA device ``i``, where NVIDIA's
  management library (``pynvml``, ``pip install 'runstream[gpu]'``) answers;
  without it, or without a GPU, there is no GPU series and no complaint.

Cumulative counters, not rates: they never lose bytes between samples, and the
chart's slope is the rate. Samples come soon after the start (0.5, 1, 2, 4, 8 s)
and then every ``interval`` seconds (5), so that even a short run shows
something. A sampler that fails never affects the run: each distinct problem is
logged once at debug level and the sample goes on without that figure; points
the spool cannot keep stop the sampling and are not counted as the script's
losses (they are the agent's own observations).

Off with ``runstream submit --no-system-metrics`` or ``RUNSTREAM_SYSTEM_METRICS=0``.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from runstream.events import SYSTEM_PREFIX, MetricsLogged

__all__ = ["DEFAULT_INTERVAL", "PREFIX", "GpuReader", "ProcessTree", "SystemSampler",
           "load_nvml"]

PREFIX = SYSTEM_PREFIX
DEFAULT_INTERVAL = 5.0  # seconds between samples once the run is under way
FIRST_DELAY = 0.5  # the first sample; then 1, 2, 4… s, up to ``interval`` apart

log = logging.getLogger(__name__)

Sample = dict[str, float]


@dataclass
class _Seen:
    """What a process of the tree had used at the previous sample."""

    cpu: float = 0.0
    read: int = 0
    written: int = 0


@dataclass
class ProcessTree:
    """The process ``pid`` and its descendants, with counters that survive processes ending.

    CPU time and disk bytes are summed from per-process deltas, keyed by (pid,
    start time) so that a reused pid is a new process; a process first seen now
    started after the previous sample, so all it used counts in this interval."""

    pid: int
    problems: set[str] = field(default_factory=set)
    _seen: dict[tuple[int, float], _Seen] = field(default_factory=dict)
    _last: float = 0.0  # wall time of the previous sample (0: none yet)
    _read: int = 0
    _written: int = 0

    def sample(self, now: float | None = None) -> Sample:
        """CPU %, RSS and cumulative disk bytes of the tree; {} once the root is gone."""
        psutil = _psutil()

        now = time.time() if now is None else now
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
            since = self._last or root.create_time()
        except psutil.Error:
            return {}  # the script ended: nothing to sample
        cpu = 0.0
        rss = 0
        seen: dict[tuple[int, float], _Seen] = {}
        for proc in processes:
            try:
                with proc.oneshot():
                    key = (proc.pid, proc.create_time())
                    times = proc.cpu_times()
                    total = times.user + times.system
                    resident = proc.memory_info().rss
                    read, written = self._io(proc)
            except psutil.Error:
                continue  # ended meanwhile, a zombie, or not ours to read
            rss += resident
            before = self._seen.get(key, _Seen())
            cpu += max(0.0, total - before.cpu)
            self._read += max(0, read - before.read)
            self._written += max(0, written - before.written)
            seen[key] = _Seen(total, read, written)
        self._seen = seen
        self._last = now
        out: Sample = {"sys/memory_rss_bytes": float(rss),
                       "sys/disk_read_bytes": float(self._read),
                       "sys/disk_write_bytes": float(self._written)}
        if now > since:
            out["sys/cpu_percent"] = 100.0 * cpu / (now - since)
        return out

    def _io(self, proc: Any) -> tuple[int, int]:
        psutil = _psutil()

        try:
            counters = proc.io_counters()
        # AccessDenied: another user's process; AttributeError: psutil has no per-process
        # I/O on this OS (macOS); NotImplementedError: the kernel keeps none. Counted as
        # 0 (said once at debug), the run's other figures go on.
        except (psutil.AccessDenied, AttributeError, NotImplementedError) as exc:
            _once(self.problems, f"disk counters: {exc.__class__.__name__}")
            return 0, 0
        return int(counters.read_bytes), int(counters.write_bytes)


@dataclass
class _Network:
    """Bytes sent and received on every interface since the first sample."""

    problems: set[str]
    _base: tuple[int, int] | None = None

    def sample(self) -> Sample:
        psutil = _psutil()

        try:
            counters = psutil.net_io_counters()
        except (OSError, RuntimeError, psutil.Error) as exc:
            _once(self.problems, f"network counters: {exc!r}")
            return {}
        if counters is None:  # no interface at all
            return {}
        now = (int(counters.bytes_recv), int(counters.bytes_sent))
        if self._base is None:
            self._base = now
        return {"sys/net_recv_bytes": float(max(0, now[0] - self._base[0])),
                "sys/net_sent_bytes": float(max(0, now[1] - self._base[1]))}


def load_nvml() -> ModuleType | None:
    """NVIDIA's management library, initialised; None where it does not answer (no
    nvidia-ml-py installed, no driver, no GPU): GPUs are then skipped quietly."""
    try:
        nvml = importlib.import_module("pynvml")
        nvml.nvmlInit()
    except Exception as exc:  # ImportError, NVMLError_LibraryNotFound, NVMLError_DriverNotLoaded…
        log.debug("no GPU metrics: %r", exc)
        return None
    return nvml


class GpuReader:
    """Utilization, memory used and power of each NVIDIA device, through ``nvml``."""

    def __init__(self, nvml: Any, problems: set[str]) -> None:
        self._nvml = nvml
        self._problems = problems
        try:
            self.count = int(nvml.nvmlDeviceGetCount())
        except Exception as exc:
            _once(problems, f"GPU count: {exc!r}")
            self.count = 0

    def sample(self) -> Sample:
        out: Sample = {}
        for i in range(self.count):
            for name, read in self._figures(i):
                try:
                    out[f"sys/gpu/{i}/{name}"] = float(read())
                except Exception as exc:  # NVMLError_NotSupported on some devices
                    _once(self._problems, f"GPU {i} {name}: {exc!r}")
        return out

    def _figures(self, i: int) -> Iterator[tuple[str, Callable[[], float]]]:
        nvml = self._nvml
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
        except Exception as exc:
            _once(self._problems, f"GPU {i}: {exc!r}")
            return
        yield "utilization_percent", lambda: nvml.nvmlDeviceGetUtilizationRates(handle).gpu
        yield "memory_used_bytes", lambda: nvml.nvmlDeviceGetMemoryInfo(handle).used
        # NVML answers milliwatts.
        yield "power_watts", lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception as exc:
            _once(self._problems, f"NVML shutdown: {exc!r}")


class SystemSampler:
    """Samples the tree of ``pid`` on a thread and hands each sample to ``emit``.

    ``emit`` gets a ``MetricsLogged`` of every series' point (step = the sample's
    number); an OSError from it (the spool is full) stops the sampling, any other
    exception of a sample is logged once at debug and the next sample comes."""

    def __init__(self, pid: int, emit: Callable[[MetricsLogged], object], *,
                 interval: float = DEFAULT_INTERVAL, first: float = FIRST_DELAY,
                 nvml: Callable[[], Any] = load_nvml) -> None:
        self.problems: set[str] = set()
        self.samples = 0  # how many were emitted
        self._tree = ProcessTree(pid, self.problems)
        self._network = _Network(self.problems)
        self._emit = emit
        self._interval = max(0.05, interval)
        self._first = min(first, self._interval)
        self._nvml = nvml
        self._gpu: GpuReader | None = None
        self._stop = threading.Event()
        self._emitting = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="runstream-system-metrics")

    def start(self) -> SystemSampler:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop sampling: once this returns, nothing more is emitted (a sample being
        taken is waited for at most ``timeout`` seconds, then dropped)."""
        with self._emitting:  # once it is held, no sample is appended any more
            self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def sample_once(self) -> MetricsLogged | None:
        """One sample of everything, as an event (None: nothing to report)."""
        now = time.time()
        figures = self._tree.sample(now)
        if not figures:
            return None
        figures.update(self._network.sample())
        if self._gpu is not None:
            figures.update(self._gpu.sample())
        names = sorted(figures)
        n = len(names)
        return MetricsLogged(names=names, index=list(range(n)), steps=[self.samples] * n,
                             times=[now] * n, values=[figures[k] for k in names])

    def _loop(self) -> None:
        try:
            nvml = self._nvml()
            if nvml is not None:
                self._gpu = GpuReader(nvml, self.problems)
        except Exception as exc:
            _once(self.problems, f"GPU setup: {exc!r}")
        began = time.monotonic()
        due = self._first  # seconds after ``began``: doubling, then every ``interval``
        try:
            while not self._stop.wait(max(0.0, began + due - time.monotonic())):
                due = min(due * 2, due + self._interval)
                try:
                    event = self.sample_once()
                    if event is None:
                        continue
                    with self._emitting:
                        if self._stop.is_set():
                            return  # never after stop(): the run's end may be written
                        self._emit(event)
                        self.samples += 1
                except OSError as exc:  # the spool cannot keep more: stop, the run goes on
                    _once(self.problems, f"system metrics stopped: {exc!r}")
                    return
                except Exception as exc:
                    _once(self.problems, f"a system sample failed: {exc!r}")
        finally:
            if self._gpu is not None:
                self._gpu.close()


def _psutil() -> Any:
    """psutil, imported on use (an agent dependency; without it a sample fails, once)."""
    return importlib.import_module("psutil")


def _once(problems: set[str], message: str) -> None:
    """Log ``message`` at debug level the first time it comes."""
    if message not in problems:
        problems.add(message)
        log.debug("runstream system metrics: %s", message)
