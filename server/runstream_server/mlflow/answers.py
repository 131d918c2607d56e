"""Encoded ``Run`` answers, kept while they are true.

A run's MLflow ``Run`` JSON (info, data, inputs) is a function of its view at one
position (every event of the run moves its position: a metric, a tag, an end) and of
whether its experiment is deleted. So the encoded bytes, kept under (position,
deleted), stay exact until the run's next event: a search page is then its keys (one
indexed query) and the bytes of the runs it already knows, with only new or changed
runs read and encoded. Dashboards and scripts repeat the same searches over runs that
mostly stopped changing; MLflow's server rebuilds every run of every page each time.

Per process and bounded (least recently used out first). Nothing here is ever the
only copy: a miss reads the projections, which replay rebuilds from the event log.
"""

from __future__ import annotations

from collections import OrderedDict

import msgspec
from aiohttp import web

from runstream_server.mlflow.convert import run_json
from runstream_server.queries import MlflowRun

__all__ = ["RunAnswers", "answers_key", "page_json"]

_encoder = msgspec.json.Encoder()


class RunAnswers:
    """Run id → (position, experiment deleted, the encoded ``Run``), at most ``limit``
    bytes of answers."""

    def __init__(self, limit: int = 64 << 20) -> None:
        self.limit = limit
        self.size = 0
        self._held: OrderedDict[str, tuple[int, bool, bytes]] = OrderedDict()

    def get(self, run_id: str, position: int, deleted: bool) -> bytes | None:
        held = self._held.get(run_id)
        if held is None or held[0] != position or held[1] != deleted:
            return None
        self._held.move_to_end(run_id)
        return held[2]

    def put(self, run: MlflowRun) -> bytes:
        """``run``'s answer, encoded and kept (under the position it was read at)."""
        encoded = _encoder.encode(run_json(run, finite=True))
        old = self._held.pop(run.view.run_id, None)
        if old is not None:
            self.size -= len(old[2])
        if len(encoded) <= self.limit:
            self._held[run.view.run_id] = (run.view.position, run.experiment_deleted, encoded)
            self.size += len(encoded)
            while self.size > self.limit:
                _, (_, _, dropped) = self._held.popitem(last=False)
                self.size -= len(dropped)
        return encoded

    def __len__(self) -> int:
        return len(self._held)


answers_key = web.AppKey("runstream_mlflow_run_answers", RunAnswers)


def page_json(runs: list[bytes], next_page_token: str | None) -> bytes:
    """``runs/search``'s answer from encoded runs (the last page has no token)."""
    token = (b"" if next_page_token is None
             else b',"next_page_token":' + _encoder.encode(next_page_token))
    return b'{"runs":[' + b",".join(runs) + b"]" + token + b"}"
