"""The run agent: runs one script in its working copy and is the single writer of its stream.

It writes ``run.submitted`` and ``run.started``, runs ``python -u script args``
with stdout and stderr captured line by line, serves the SDK channel so metrics
and lines share one seq order, uploads ``outputs/`` and writes
``run.completed``. Every event goes through the run's spool and shipper, so a
server that is down only delays delivery. A script submitted with MLflow's variables
(``RunSpec.mlflow``, see :mod:`runstream_agent.mlflow_env`) is held at a launch gate
until the server knows its run (:mod:`runstream_agent.readiness`): its first MLflow
call asks for it. Between ``run.started`` and
``run.completed`` a heartbeat keeps the lease of a quiet run, and the script's
process tree is sampled into ``sys/`` series (:mod:`runstream_agent.system`); the
script is started so that it dies with this agent (see :mod:`runstream_agent.orphans`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import msgspec

from runstream.events import LogLines, ParamsLogged, Payload, RunStarted, RunSubmitted, TagsSet
from runstream.heartbeat import DEFAULT_LEASE
from runstream.recorder import Ending, RunRecorder
from runstream.settings import SUBMITTED_PARAMS
from runstream.sink import Sink
from runstream.spool import Spool
from runstream_agent.capture import LineCapture
from runstream_agent.channel import ChannelServer
from runstream_agent.mlflow_env import MLFLOW_REMOVED, mlflow_env
from runstream_agent.orphans import LaunchGate, guarded_command, record_script
from runstream_agent.outcome import Outcome, TracebackWatch, decide
from runstream_agent.outputs import Progress, upload_outputs
from runstream_agent.readiness import READY_PATIENCE, wait_until_known
from runstream_agent.system import SystemSampler

__all__ = ["Agent", "RunSpec", "opening_events"]

# After a cancel: SIGINT to the script's process group, then SIGTERM, then SIGKILL.
CANCEL_GRACE = (10.0, 5.0)


class RunSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the agent needs to run a submitted script (JSON for a detached agent)."""

    run_id: str
    project: str
    script: str  # posix path relative to the working copy
    args: list[str] = []
    target: str = "local"
    python: str
    env: dict[str, str] = {}
    workdir: str
    url: str
    kafka: str = ""  # a broker: events go to its topic (files still to ``url``)
    kafka_topic: str = ""  # "" = the default topic
    snapshot: str = ""
    user: str = ""
    host: str = ""
    lease: float = DEFAULT_LEASE  # promised in run.started, kept by the heartbeat; 0: none
    name: str = ""  # the run's name (`submit --name`)
    params: dict[str, str] = {}  # `submit --param k=v`: one params.logged after run.submitted
    tags: dict[str, str] = {}  # `submit --tag k=v`
    # Point the script's MLflow client at this run (`submit` does unless --no-mlflow);
    # the script then starts once the server knows the run.
    mlflow: bool = False
    # Sample the script's CPU, memory, disk, network and GPUs into `sys/` series
    # (runstream_agent.system); `submit --no-system-metrics` or RUNSTREAM_SYSTEM_METRICS=0: off.
    system_metrics: bool = True


def opening_events(spec: RunSpec) -> list[Payload]:
    """The first events of a submitted run's stream: ``run.submitted``, then the
    parameters and tags given at submission (one event each, if any)."""
    events: list[Payload] = [RunSubmitted(
        project=spec.project, script=spec.script, args=list(spec.args), target=spec.target,
        user=spec.user, snapshot=spec.snapshot, host=spec.host, name=spec.name)]
    if spec.params:
        events.append(ParamsLogged(params=dict(spec.params)))
    if spec.tags:
        events.append(TagsSet(tags=dict(spec.tags)))
    return events


class Agent:
    def __init__(self, spec: RunSpec, spool: Spool, sink: Sink, *,
                 echo: Callable[[int, bytes], None] | None = None,
                 progress: Progress | None = None,
                 on_problem: Callable[[str], None] | None = None,
                 delivery_patience: float = 15.0,
                 explain: Callable[[Outcome], Outcome] | None = None,
                 ready_patience: float = READY_PATIENCE) -> None:
        self.spec = spec
        self.spool = spool
        self.sink = sink
        self.delivered = False  # every event acknowledged when run() returned
        self.duration = 0.0
        self._echo = echo
        self._progress = progress
        self._patience = delivery_patience
        self._ready_patience = ready_patience  # for the server to know an MLflow run
        # Told how the script ended before that is recorded; may say more (the docker
        # target's agent names an OOM kill, which looks like any SIGKILL from here).
        self._explain = explain
        self.recorder = RunRecorder(spool, sink, lease=spec.lease, on_problem=on_problem)
        self.shipper = self.recorder.shipper
        self.writer = self.recorder.writer
        self.losses = self.recorder.losses  # what the spool could not keep (a full disk)
        self.heartbeat = self.recorder.heartbeat
        self._on_problem = on_problem
        self._child: subprocess.Popen[bytes] | None = None
        self._canceled = False

    def run(self) -> Outcome:
        """Run the script to its end and record it; returns how it ended."""
        spec = self.spec
        recorder = self.recorder
        recorder.ship()
        self.writer.append(opening_events(spec))
        socket_dir = Path(tempfile.mkdtemp(prefix="runstream-"))
        channel = ChannelServer(socket_dir / "agent.sock", self.writer, self.shipper,
                                self.losses).start()
        started = time.monotonic()
        try:
            outcome = self._execute(channel)
        except Exception as exc:  # the agent's own failure still ends the run on record
            self._signal(signal.SIGKILL)
            outcome = Outcome("failed", None, f"the run agent failed: {exc!r}")
        finally:
            channel.finish()
            shutil.rmtree(socket_dir, ignore_errors=True)
        if self._explain is not None:
            outcome = self._explain(outcome)
        # Not all it produced is on record: never "completed".
        ending = recorder.settle(Ending(outcome.status, outcome.exit_code, outcome.reason))
        outcome = Outcome(ending.status, ending.exit_code, ending.reason)
        self.duration = time.monotonic() - started
        workdir = Path(spec.workdir)
        recorder.complete(ending, lambda: upload_outputs(workdir / "outputs", self.sink,
                                                         self.spool, self._progress))
        try:
            self.delivered = recorder.deliver(self._patience)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return outcome

    def _execute(self, channel: ChannelServer) -> Outcome:
        spec = self.spec
        env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1",
               "RUNSTREAM_AGENT_SOCKET": str(channel.path), "RUNSTREAM_RUN_ID": spec.run_id,
               "RUNSTREAM_PROJECT": spec.project, "RUNSTREAM_URL": spec.url,
               SUBMITTED_PARAMS: json.dumps(spec.params)}
        gate = LaunchGate() if spec.mlflow else None
        if spec.mlflow:
            for name in MLFLOW_REMOVED:
                env.pop(name, None)
            env.update(mlflow_env(spec.url, spec.run_id, spec.project,
                                  os.environ.get("RUNSTREAM_TOKEN", "")))
        try:
            try:
                # Killed by the kernel should this agent die (SIGKILL, OOM): never
                # unwatched. This thread forks it and lives until it ended, as
                # PR_SET_PDEATHSIG needs.
                child = subprocess.Popen(
                    guarded_command(spec.python, ["-u", spec.script, *spec.args],
                                    gate=gate.read_fd if gate else None),
                    cwd=spec.workdir, env=env, pass_fds=(gate.read_fd,) if gate else (),
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    start_new_session=True)  # its own group: the agent decides about Ctrl-C
            except OSError as exc:
                return Outcome("failed", None, f"cannot start {spec.python}: {exc}")
            if gate is not None:
                gate.started()
            return self._watch(child, gate)
        finally:
            if gate is not None:
                gate.close()  # never opened: the script does not start

    def _watch(self, child: subprocess.Popen[bytes], gate: LaunchGate | None) -> Outcome:
        """Record the script's start, let it run (through the gate) and capture it."""
        spec = self.spec
        self._child = child
        assert child.stdout is not None and child.stderr is not None
        # Whoever takes the stream over after this agent died stops what is left of it.
        with contextlib.suppress(OSError):  # without it, only the kernel's kill remains
            record_script(self.spool.path, child.pid, spec.run_id)
        started = self.writer.append([RunStarted(pid=child.pid, host=spec.host,
                                                 lease=spec.lease)])
        self.recorder.alive()
        watch = TracebackWatch()

        def on_batch(batch: LogLines) -> None:
            try:
                self.writer.append([batch])
            except OSError as exc:  # a full disk: count the lines, go on running the script
                if self.losses.lost(str(exc), lines=len(batch.lines)):
                    self._say(f"the spool cannot keep more of run {spec.run_id} ({exc}); "
                              "what is lost is counted and the run will end failed")

        capture = LineCapture({child.stdout.fileno(): 1, child.stderr.fileno(): 2}, on_batch,
                              echo=self._echo, on_line=watch.feed)
        with self._cancel_on_signals():
            if gate is not None:
                self._await_server(started)
                if not self._canceled:
                    gate.open()
                gate.close()
            sampler = self._system_sampler(child.pid)
            try:
                capture.run()
                returncode = child.wait()
            finally:
                if sampler is not None:
                    sampler.stop()
        child.stdout.close()
        child.stderr.close()
        return decide(returncode, canceled=self._canceled, watch=watch)

    def _system_sampler(self, pid: int) -> SystemSampler | None:
        """Sample the script's process tree into ``sys/`` series (unless turned off)."""
        if not self.spec.system_metrics:
            return None
        return SystemSampler(pid, lambda event: self.writer.append([event])).start()

    def _await_server(self, seq: int) -> None:
        """Hold the script until the server has the run's events up to ``seq``."""
        problem = wait_until_known(
            self.shipper, seq, run_id=self.spec.run_id, url=self.spec.url,
            token=os.environ.get("RUNSTREAM_TOKEN", ""), kafka=bool(self.spec.kafka),
            patience=self._ready_patience, stop=lambda: self._canceled)
        if problem:
            self._say(problem)

    def _say(self, message: str) -> None:
        if self._on_problem is not None:
            self._on_problem(message)
        else:
            print(f"runstream: {message}", file=sys.stderr, flush=True)

    # -- canceling ----------------------------------------------------------

    def cancel(self) -> None:
        """Stop the script: SIGINT (KeyboardInterrupt, so its SDK flushes), then
        SIGTERM and SIGKILL if it does not end. A second cancel kills at once."""
        child = self._child
        if child is None or child.poll() is not None:
            self._canceled = True
            return
        if self._canceled:
            self._signal(signal.SIGKILL)
            return
        self._canceled = True
        self._signal(signal.SIGINT)
        threading.Thread(target=self._escalate, daemon=True, name="runstream-cancel").start()

    def _escalate(self) -> None:
        for sig, wait in zip((signal.SIGTERM, signal.SIGKILL), CANCEL_GRACE, strict=True):
            child = self._child
            if child is None:
                return
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(wait)
                return
            self._signal(sig)

    def _signal(self, sig: signal.Signals) -> None:
        if self._child is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._child.pid, sig)

    @contextlib.contextmanager
    def _cancel_on_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            self.cancel()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
