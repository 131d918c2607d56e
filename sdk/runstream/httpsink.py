"""The embedded sink: batches POSTed to the server's ingest endpoint, blobs PUT."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runstream.client import ApiError, Client, ServerUnreachable
from runstream.sink import SinkConflict, SinkRejected, SinkTooLarge, SinkUnavailable, SinkUnusable

__all__ = ["HttpSink"]

# Statuses that say "not now" rather than "never": retry them. 507: the server's disk
# is full; nothing of the batch was stored and it takes it once space is freed.
_TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504, 507})


class HttpSink:
    def __init__(self, client: Client) -> None:
        self.client = client

    def send(self, stream: str, body: bytes, count: int) -> None:
        try:
            self.client.post_events(body)
        except ServerUnreachable as exc:
            raise SinkUnavailable(str(exc)) from None
        except ApiError as exc:
            raise _translate(exc, f"{count} events of {stream}") from None

    def put_blob(self, path: Path, sha256: str,
                 progress: Callable[[int], None] | None = None) -> None:
        try:
            self.client.put_blob(path, sha256, progress)
        except ServerUnreachable as exc:
            raise SinkUnavailable(str(exc)) from None
        except ApiError as exc:
            raise _translate(exc, f"blob {sha256} ({path})") from None

    def close(self) -> None:
        """Nothing to release: the client's keep-alive connections are per thread."""


def _translate(exc: ApiError, what: str) -> Exception:
    message = f"the server refused {what}: {exc.message} (HTTP {exc.status})"
    if exc.status == 409:
        return SinkConflict(message)
    if exc.status in _TRANSIENT:
        return SinkUnavailable(message)
    if exc.status == 413:
        return SinkTooLarge(message)
    if exc.status in (400, 422):  # the batch's content: the shipper finds the bad event
        return SinkRejected(message)
    return SinkUnusable(message)  # 401, 403, 404…: no event is to blame
