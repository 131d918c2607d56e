"""MLflow API: artifacts (being written)."""

from __future__ import annotations

from runstream_server.mlflow.wire import Handler

__all__ = ["ROUTES"]

ROUTES: list[tuple[str, str, Handler]] = []
