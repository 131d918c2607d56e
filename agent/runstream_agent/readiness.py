"""Before an MLflow-logging script starts, the server must know its run.

A script's first MLflow call, ``mlflow.start_run()`` with ``MLFLOW_RUN_ID``, asks the
server for that run (``runs/get``) and fails if it is unknown. The agent's events
normally reach the server whenever the shipper gets to them; for such a script the
agent holds it at the launch gate (:class:`~runstream_agent.orphans.LaunchGate`)
until the server has ``run.started``:

- over HTTP the server acknowledges a batch once it is applied (the views show it),
  so the shipper's acknowledgement is enough;
- through Kafka an acknowledgement means the event is on the topic, which the server
  consumes a moment later: the agent then also asks the server (``GET /api/runs/<id>``)
  until the run is running.

A server that cannot be reached only delays the script, by at most the patience:
then it starts anyway (its MLflow calls fail until the server is back; the agent's
events wait in the spool as always) and the user is told why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from runstream.client import ApiError, Client, ServerUnreachable
from runstream.shipper import Shipper

__all__ = ["READY_PATIENCE", "wait_until_known"]

READY_PATIENCE = 15.0  # seconds the script waits at most for the server to know its run
_POLL = 0.05


def wait_until_known(shipper: Shipper, seq: int, *, run_id: str, url: str, token: str,
                     kafka: bool, patience: float = READY_PATIENCE,
                     stop: Callable[[], bool] = lambda: False) -> str:
    """Wait until the server has applied the run's events up to ``seq`` (its
    ``run.started``); "" when it has, else why not, for the user. ``stop`` ends the
    wait early (a cancel), answering ""."""
    deadline = time.monotonic() + patience
    acked = threading.Event()
    answer: list[bool] = []

    def done(ok: bool) -> None:
        answer.append(ok)
        acked.set()

    shipper.when_acked(seq, done)
    while not acked.wait(_POLL):
        if stop():
            return ""
        if time.monotonic() >= deadline:
            break
    if not (answer and answer[0]):
        why = shipper.error or (f"the server at {url} cannot be reached"
                                if shipper.down_since is not None else "no answer yet")
        return (f"the script starts before the server has its run {run_id} ({why}): its "
                "MLflow calls fail until the server has it; the run's events wait in the "
                "spool meanwhile")
    if not kafka:
        return ""
    client = Client(url, token=token, timeout=2.0)
    status = ""
    while True:
        try:
            status = str(client.get_json(f"/api/runs/{Client.quote(run_id)}").get("status", ""))
        except (ServerUnreachable, ApiError, ValueError, AttributeError):
            status = ""
        if status and status != "submitted":
            return ""
        if stop():
            return ""
        if time.monotonic() >= deadline:
            return (f"the script starts before the server has consumed run {run_id} from "
                    f"Kafka (after {patience:g} s it says {status or 'nothing about it'}): "
                    "its first MLflow calls may fail")
        time.sleep(_POLL)
