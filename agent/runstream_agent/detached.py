"""The background agent of ``runstream submit --detach``.

Started by :func:`runstream_agent.submission.launch_detached` as
``python -m runstream_agent.detached SPOOL_DIR LOCK_FD``; it runs the run to its
end, then keeps delivering its events for up to an hour if the server (or the
Kafka broker, when the run ships through Kafka) is down; what is still
undelivered after that waits in the spool for ``runstream sync``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec

from runstream.settings import SdkSettings
from runstream.sinks import open_sink
from runstream.spool import Spool
from runstream_agent.agent import Agent, RunSpec
from runstream_agent.submission import SPEC_FILE

__all__ = ["main"]

DELIVERY_PATIENCE = 3600.0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m runstream_agent.detached SPOOL_DIR LOCK_FD", file=sys.stderr)
        return 2
    path, lock_fd = Path(args[0]), int(args[1])
    spool = Spool.open(path, lock_fd=lock_fd)
    spec = msgspec.json.decode((path / SPEC_FILE).read_bytes(), type=RunSpec)
    settings = SdkSettings.from_env()
    sink = open_sink(spec.url, spec.kafka, spec.kafka_topic, settings.kafka_compression,
                     token=settings.token)
    agent = Agent(spec, spool, sink, delivery_patience=DELIVERY_PATIENCE)
    print(f"RunId: {spec.run_id}", flush=True)
    try:
        outcome = agent.run()
    finally:
        sink.close()
    left = spool.pending
    spool.close()
    print(f"run {spec.run_id} {outcome.status} ({outcome.reason or 'exit code 0'}); "
          f"{'all events delivered' if agent.delivered else f'{left} events left in {path}'}",
          flush=True)
    return outcome.cli_exit_code


if __name__ == "__main__":
    sys.exit(main())
