"""One run's container, from the host: start it, stream it, stop it, remove it, take over.

The container runs the agent (``containers.inside``) with three bind mounts:
the run's working copy (the snapshot, with ``outputs/``), a control folder
(the run's spec in, the agent's outcome out) and the run's spool, so the events
the agent wrote outlive the container. The host attaches to the container
before starting it (the output arrives as it is printed: attach streams
straight from the container, where following the engine's log file polls),
waits for it to exit, reads why it exited (exit code, ``OOMKilled``), removes
it, and only then, the container being gone, finishes the stream if the agent
could not (:mod:`runstream_agent.containers.takeover`).

``cancel()`` stops the container (SIGTERM to the agent, which cancels the
script, uploads its outputs and records the run as canceled; SIGKILL after
``STOP_GRACE`` seconds); a second ``cancel()`` kills it at once.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from runstream.sinks import open_sink
from runstream.spool import SpoolBusy
from runstream_agent.agent import RunSpec
from runstream_agent.containers.inside import (
    CONTROL,
    OOM_REASON,
    OUTCOME_FILE,
    SPEC_FILE,
    SPOOL,
    WORKDIR,
    ContainerOutcome,
)
from runstream_agent.containers.options import DockerOptions
from runstream_agent.containers.takeover import StreamEnd, finish_stream
from runstream_agent.outcome import Outcome
from runstream_agent.outputs import Progress

__all__ = ["KILLED_REASON", "STOP_GRACE", "ContainerResult", "ContainerRun", "container_name"]

STOP_GRACE = 30  # seconds from SIGTERM to SIGKILL when a run is canceled
KILLED_REASON = "killed by the engine (exit 137)"
CANCELED_REASON = "canceled by the user"
STREAM_END_WAIT = 10.0  # for the output stream to end once the container exited
# The script's own setting, passed through unchanged (the host's settings give the rest).
PASSED_ENV = ("RUNSTREAM_STRICT",)

Echo = Callable[[int, bytes], None]


@dataclass(frozen=True)
class ContainerResult:
    outcome: Outcome
    duration: float  # of the script (the agent's measure), else of the container
    delivered: bool
    undelivered: int
    exit_code: int | None  # the container's
    oom_killed: bool
    took_over: bool  # the host wrote the end of the stream
    startup: float  # seconds from creating the container until it was started


def container_name(run_id: str) -> str:
    return "runstream-" + re.sub(r"[^A-Za-z0-9_.-]", "-", run_id)


class ContainerRun:
    def __init__(self, client: Any, spec: RunSpec, spool_dir: Path, image: str,
                 options: DockerOptions, *, echo: Echo | None = None, patience: float = 3.0,
                 inner_patience: float = 3.0, compression: str = "", token: str = "",
                 progress: Progress | None = None,
                 on_problem: Callable[[str], None] | None = None) -> None:
        self.client = client
        self.spec = spec
        self.spool_dir = spool_dir
        self.image = image
        self.options = options
        self._echo = echo
        self._patience = patience
        self._inner_patience = inner_patience
        self._compression = compression
        self._token = token  # for the uploads to spec.url, the host's and the agent's inside
        self._progress = progress
        self._on_problem = on_problem or _to_stderr
        self._lock = threading.Lock()
        self._container: Any = None
        self._started = False
        self._cancels = 0
        self._tail: collections.deque[str] = collections.deque(maxlen=20)
        self._streamed = 0  # bytes of output received while attached
        self._stream_error: BaseException | None = None

    # -- canceling (any thread, signal handlers included) -------------------

    def cancel(self) -> None:
        with self._lock:
            self._cancels += 1
            first = self._cancels == 1
            container = self._container if self._started else None
        if container is None:
            return  # not started: run() will not start it
        action = (lambda: container.stop(timeout=STOP_GRACE)) if first else container.kill
        threading.Thread(target=self._quietly, args=(action,), daemon=True,
                         name="runstream-container-stop").start()

    @property
    def canceled(self) -> bool:
        return self._cancels > 0

    @staticmethod
    def _quietly(action: Callable[[], Any]) -> None:
        from docker.errors import DockerException

        with contextlib.suppress(DockerException):  # it may have exited meanwhile
            action()

    # -- running ------------------------------------------------------------

    def run(self) -> ContainerResult:
        control = Path(tempfile.mkdtemp(prefix=f"runstream-{self.spec.run_id}-control-"))
        began = time.monotonic()
        startup = 0.0
        exit_code: int | None = None
        oom = False
        ending: Outcome | None = None
        try:
            inner = msgspec.structs.replace(self.spec, workdir=WORKDIR)
            (control / SPEC_FILE).write_bytes(msgspec.json.encode(inner))
            try:
                container = self._create(control)
            except Exception as exc:  # the engine refused: on record as a failed run
                ending = Outcome("failed", None, f"the container engine could not create "
                                                 f"the container: {_short(exc)}")
            else:
                try:
                    startup, exit_code, oom, ending = self._execute(container, began)
                finally:
                    self._remove(container)
            duration = time.monotonic() - began
            if ending is None:
                ending = self._ending(exit_code, oom)
            report = _read_report(control / OUTCOME_FILE)
            sink = open_sink(self.spec.url, self.spec.kafka, self.spec.kafka_topic,
                             self._compression, token=self._token)
            try:
                end = finish_stream(self.spool_dir, self.spec, sink, ending,
                                    outputs=Path(self.spec.workdir) / "outputs",
                                    patience=self._patience, progress=self._progress,
                                    on_problem=self._on_problem)
            except SpoolBusy:  # a process still writes it: never a second writer
                self._on_problem(f"the spool of run {self.spec.run_id} ({self.spool_dir}) is "
                                 "held by another process; once that ends, `runstream sync` "
                                 "sends what it holds")
                end = StreamEnd(None, False, False, 0)
            finally:
                sink.close()
        finally:
            shutil.rmtree(control, ignore_errors=True)
            shutil.rmtree(self.spec.workdir, ignore_errors=True)
        if report is not None and not end.took_over:
            outcome = Outcome(report.status, report.exit_code, report.reason)
            duration = report.duration
        else:
            outcome = end.recorded or ending
        return ContainerResult(outcome, duration, end.delivered, end.undelivered, exit_code,
                               oom, end.took_over, startup)

    def _create(self, control: Path) -> Any:
        spec, options = self.spec, self.options
        env = {"RUNSTREAM_EXIT_PATIENCE": f"{self._inner_patience:g}",
               **{k: os.environ[k] for k in PASSED_ENV if k in os.environ}}
        if self._token:
            env["RUNSTREAM_TOKEN"] = self._token
        if self._compression:
            env["RUNSTREAM_KAFKA_COMPRESSION"] = self._compression
        kwargs: dict[str, Any] = {}
        if os.getuid() != 0:  # files in the mounts stay the submitter's
            kwargs["user"] = f"{os.getuid()}:{os.getgid()}"
            env["HOME"] = "/tmp"
        if options.memory is not None:  # swap included: memswap = memory means no swap
            kwargs.update(mem_limit=options.memory, memswap_limit=options.memory)
        if options.cpus is not None:
            kwargs["nano_cpus"] = int(options.cpus * 1e9)
        return self.client.containers.create(
            self.image, [spec.python, "-m", "runstream_agent.containers.inside", CONTROL, SPOOL],
            name=container_name(spec.run_id), init=True, network_mode=options.network,
            environment=env, working_dir=WORKDIR,
            labels={"runstream.run": spec.run_id, "runstream.project": spec.project,
                    "runstream.target": spec.target, "runstream.host-pid": str(os.getpid())},
            volumes={str(control): {"bind": CONTROL, "mode": "rw"},
                     str(self.spool_dir): {"bind": SPOOL, "mode": "rw"},
                     spec.workdir: {"bind": WORKDIR, "mode": "rw"}},
            **kwargs)

    def _execute(self, container: Any,
                 began: float) -> tuple[float, int | None, bool, Outcome | None]:
        """Start, stream and wait: (startup seconds, exit code, OOM-killed, an ending
        when the engine failed us)."""
        streamer = self._attach(container)
        with self._lock:
            if self._cancels:
                return 0.0, None, False, Outcome("canceled", None, CANCELED_REASON)
            container.start()
            self._container, self._started = container, True
        startup = time.monotonic() - began
        try:
            status = container.wait()
            exit_code = status.get("StatusCode")
            container.reload()
            oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
        except Exception as exc:  # DockerException, or the engine's connection broke
            with contextlib.suppress(Exception):
                container.kill()
            return startup, None, False, Outcome(
                "failed", None, f"lost track of the container: {_short(exc)}")
        if streamer is not None:
            streamer.join(STREAM_END_WAIT)
        if streamer is None or (self._stream_error is not None and not self._streamed):
            self._replay_logs(container)
        return startup, exit_code, oom, None

    def _attach(self, container: Any) -> threading.Thread | None:
        """Attached before the start, so no output is missed; None if attach failed."""
        from docker.errors import DockerException

        try:
            frames = self.client.api.attach(container.id, stdout=True, stderr=True,
                                            stream=True, logs=True, demux=True)
        except DockerException as exc:
            self._stream_error = exc
            return None

        def pump() -> None:
            try:
                for out, err in frames:
                    for which, chunk in ((1, out), (2, err)):
                        if chunk:
                            self._show(which, chunk)
            except Exception as exc:  # the stream broke: the logs are read after exit
                self._stream_error = exc

        thread = threading.Thread(target=pump, daemon=True, name="runstream-container-output")
        thread.start()
        return thread

    def _replay_logs(self, container: Any) -> None:
        from docker.errors import DockerException

        try:
            data = container.logs(stdout=True, stderr=True)
        except DockerException:
            return  # treated as no logs
        if data:
            self._show(1, data)

    def _show(self, which: int, chunk: bytes) -> None:
        self._streamed += len(chunk)
        self._tail.extend(line for line in chunk.decode(errors="replace").splitlines()
                          if line.strip())
        if self._echo is not None:
            self._echo(which, chunk)

    def _remove(self, container: Any) -> None:
        """Remove the container (killing what may still run in it). Should that fail, the
        spool's lock still keeps the host from writing while its agent lives."""
        from docker.errors import DockerException, NotFound

        for attempt in range(5):
            try:
                container.remove(force=True)
                return
            except NotFound:
                return
            except DockerException as exc:
                if attempt == 4:
                    self._on_problem(f"could not remove the container {container.name}: "
                                     f"{_short(exc)}; remove it with `docker rm -f "
                                     f"{container.name}`")
                time.sleep(0.2 * (attempt + 1))

    def _ending(self, exit_code: int | None, oom: bool) -> Outcome:
        """How the run ended, for a stream the container left unfinished."""
        if self._cancels:
            return Outcome("canceled", exit_code, CANCELED_REASON)
        if oom:
            return Outcome("failed", exit_code, OOM_REASON)
        if exit_code == 137:
            return Outcome("failed", exit_code, KILLED_REASON)
        last = self._tail[-1] if self._tail else ""
        return Outcome("failed", exit_code,
                       f"the run agent in the container exited with code {exit_code} before "
                       "the run ended" + (f": {last}" if last else ""))


def _to_stderr(message: str) -> None:
    print(f"runstream: {message}", file=sys.stderr, flush=True)


def _read_report(path: Path) -> ContainerOutcome | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=ContainerOutcome)
    except (OSError, msgspec.DecodeError):
        return None


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "…"
