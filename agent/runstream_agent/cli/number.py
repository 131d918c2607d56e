"""A run's number, as ``runstream submit`` prints it in its footer (any target).

The server numbers a run once it has stored its ``run.submitted``; through Kafka
that is when it has consumed it, so the caller may wait a little for it."""

from __future__ import annotations

import time

from runstream.client import ApiError, Client, ServerUnreachable

__all__ = ["KAFKA_NUMBER_PATIENCE", "run_number"]

KAFKA_NUMBER_PATIENCE = 3.0  # seconds to wait for the server to number a run sent via Kafka


def run_number(client: Client, run_id: str, patience: float = 0.0) -> int | None:
    """The run's number, asking for up to ``patience`` seconds; None if the server does
    not know it by then (or cannot be reached)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            number = client.get_json(f"/api/runs/{Client.quote(run_id)}").get("number")
        except ServerUnreachable:
            return None
        except (ApiError, ValueError):
            number = None
        if isinstance(number, int):
            return number
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)
