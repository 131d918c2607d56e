"""A tiny HTTP server on 127.0.0.1 that answers canned responses and records every request:
a stand-in for a hostile or broken runstream server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Recorded", "RecordingServer", "recording_server"]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class RecordingServer:
    url: str
    # raw request path (still quoted) → (status, headers, body)
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def json(self, path: str, data: Any) -> None:
        self.routes[path] = (200, {"Content-Type": "application/json"},
                             json.dumps(data).encode())

    def file(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.routes[path] = (200, {"Content-Type": "application/octet-stream",
                                   **(headers or {})}, body)


@contextmanager
def recording_server() -> Iterator[RecordingServer]:
    box: list[RecordingServer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake = box[0]
            fake.requests.append(Recorded("GET", self.path, dict(self.headers.items())))
            status, headers, body = fake.routes.get(
                self.path, (404, {"Content-Type": "application/json"},
                            b'{"error": "no such route on the fake server"}'))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.append(RecordingServer(f"http://127.0.0.1:{httpd.server_address[1]}"))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        httpd.shutdown()
        httpd.server_close()
