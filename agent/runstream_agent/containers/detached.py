"""The host side of ``runstream submit --detach`` for a docker target, in the background.

Started as ``python -m runstream_agent.containers.detached PLAN`` (a JSON
:class:`ContainerPlan` written by the submitting command, which already
prepared the image); it runs the container to its end, takes the stream over
if the container died, and keeps delivering for up to an hour if the server
(or the broker) is down; what is still undelivered then waits in the spool for
``runstream sync``. SIGTERM cancels the run (the container is stopped).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

import msgspec

from runstream_agent.agent import RunSpec

__all__ = ["DELIVERY_PATIENCE", "ContainerPlan", "main"]

DELIVERY_PATIENCE = 3600.0


class ContainerPlan(msgspec.Struct, frozen=True, kw_only=True):
    spec: RunSpec
    spool_dir: str
    image: str  # the prepared image's tag
    network: str = "host"
    memory: int | None = None
    cpus: float | None = None
    inner_patience: float = 3.0
    compression: str = ""
    # An inherited descriptor holding the spool's watch lock (kept open until this
    # process ends, so `runstream sync` leaves the stream to the container's agent).
    watch_fd: int = -1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m runstream_agent.containers.detached PLAN", file=sys.stderr)
        return 2
    from runstream.settings import SdkSettings
    from runstream_agent.console import echo
    from runstream_agent.containers.engine import EngineError, connect
    from runstream_agent.containers.options import DockerOptions
    from runstream_agent.containers.supervisor import ContainerRun

    path = Path(args[0])
    plan = msgspec.json.decode(path.read_bytes(), type=ContainerPlan)
    path.unlink(missing_ok=True)
    spec = plan.spec
    print(f"RunId: {spec.run_id}", flush=True)
    try:
        client = connect()
    except EngineError as exc:
        print(f"runstream: {exc}", flush=True)
        client = None
    options = DockerOptions(network=plan.network, memory=plan.memory, cpus=plan.cpus)
    run = ContainerRun(client, spec, Path(plan.spool_dir), plan.image, options, echo=echo,
                       patience=DELIVERY_PATIENCE, inner_patience=plan.inner_patience,
                       compression=plan.compression,
                       token=SdkSettings.from_env().token)  # inherited; never in the plan file

    def on_signal(signum: int, frame: FrameType | None) -> None:
        run.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    result = run.run()
    delivery = ("all events delivered" if result.delivered
                else f"{result.undelivered} events left in {plan.spool_dir}")
    print(f"run {spec.run_id} {result.outcome.status} "
          f"({result.outcome.reason or 'exit code 0'}); {delivery}", flush=True)
    return result.outcome.cli_exit_code


if __name__ == "__main__":
    sys.exit(main())
