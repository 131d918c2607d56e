"""The run agent inside a docker target's container.

Started by the host as ``python -m runstream_agent.containers.inside CONTROL SPOOL``
where both are bind-mounted folders: CONTROL holds the run's spec
(``agent.json``, its working copy at ``/runstream/work``) and receives
``outcome.json`` at the end; SPOOL is the run's spool on the host, so whatever
this agent wrote survives the container. From here on this agent is the
stream's single writer: it runs the script exactly as the local target does,
echoes its output to the container's stdout and stderr (which the host
streams), and ships events over Kafka when the spec names a broker, else over
HTTP to the server.

SIGTERM (``docker stop``, the host's cancel) cancels the script; once the
script has ended it is ignored, so the outputs upload and the last events
still go out before the engine's grace period ends.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType

import msgspec

from runstream.events import RunStatus
from runstream.settings import SdkSettings
from runstream.sinks import open_sink
from runstream.spool import Spool, SpoolBusy
from runstream_agent.agent import Agent, RunSpec
from runstream_agent.console import echo
from runstream_agent.outcome import Outcome

__all__ = ["CONTROL", "OOM_REASON", "OUTCOME_FILE", "SPEC_FILE", "SPOOL", "WORKDIR",
           "ContainerOutcome", "main", "oom_kills"]

CONTROL = "/runstream/control"
SPOOL = "/runstream/spool"
WORKDIR = "/runstream/work"
SPEC_FILE = "agent.json"
OUTCOME_FILE = "outcome.json"
OOM_REASON = "out of memory (OOM-killed)"
SPOOL_PATIENCE = 30.0  # `runstream sync` may hold the spool for a moment
# The container's memory cgroup: v2, then v1. Both count the OOM killer's kills.
OOM_COUNTERS = (Path("/sys/fs/cgroup/memory.events"),
                Path("/sys/fs/cgroup/memory/memory.oom_control"))


class ContainerOutcome(msgspec.Struct, frozen=True):
    """What the agent reports to the host when it is done (``outcome.json``)."""

    status: RunStatus
    exit_code: int | None
    reason: str
    duration: float
    delivered: bool
    pending: int


def oom_kills(counters: tuple[Path, ...] = OOM_COUNTERS) -> int:
    """How many processes the OOM killer killed in this container's cgroup."""
    for path in counters:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    return 0


def explain(outcome: Outcome) -> Outcome:
    """A script killed by SIGKILL in a container that saw an OOM kill ran out of memory
    (the agent itself survives: the kernel kills the largest process)."""
    if outcome.status == "failed" and outcome.exit_code == -signal.SIGKILL and oom_kills():
        return Outcome("failed", outcome.exit_code, OOM_REASON)
    return outcome


def open_spool(path: Path, patience: float = SPOOL_PATIENCE) -> Spool:
    deadline = time.monotonic() + patience
    while True:
        try:
            return Spool.open(path)
        except SpoolBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m runstream_agent.containers.inside CONTROL SPOOL",
              file=sys.stderr)
        return 2
    control, spool_path = Path(args[0]), Path(args[1])
    spec = msgspec.json.decode((control / SPEC_FILE).read_bytes(), type=RunSpec)
    settings = SdkSettings.from_env()
    spool = open_spool(spool_path)
    if spool.finished:
        # Another process ended the run before this agent got the spool (`runstream sync`
        # after the host's `runstream submit` died): never a second writer of its end.
        print(f"runstream: run {spec.run_id} was already ended by another process; "
              "not starting it", file=sys.stderr, flush=True)
        spool.close()
        return 1
    sink = open_sink(spec.url, spec.kafka, spec.kafka_topic, settings.kafka_compression,
                     token=settings.token)
    agent = Agent(spec, spool, sink, echo=echo, explain=explain,
                  delivery_patience=settings.exit_patience)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        agent.cancel()  # outside the script's lifetime: nothing to cancel, keep going

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        outcome = agent.run()
    finally:
        sink.close()
    report = ContainerOutcome(outcome.status, outcome.exit_code, outcome.reason,
                              agent.duration, agent.delivered, spool.pending)
    (control / OUTCOME_FILE).write_bytes(msgspec.json.encode(report))
    spool.close()
    return outcome.cli_exit_code


if __name__ == "__main__":
    sys.exit(main())
