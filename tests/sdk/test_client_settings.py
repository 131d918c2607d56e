"""The HTTP client is told its server and token: it never reads the environment."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from runstream.client import Client
from runstream.httpsink import HttpSink
from runstream.settings import SdkSettings
from runstream.sinks import open_sink


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]]  # (path, Authorization header)

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization", "")))
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def server() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    seen: list[tuple[str, str]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


def test_a_client_uses_the_server_and_token_it_is_given_not_the_environment(
        server: tuple[str, list[tuple[str, str]]], monkeypatch: pytest.MonkeyPatch) -> None:
    url, seen = server
    monkeypatch.setenv("RUNSTREAM_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("RUNSTREAM_TOKEN", "from-the-environment")
    assert Client(url + "/", token="given").get_json("/api") == {"ok": True}
    assert Client(url).get_json("/api") == {"ok": True}
    assert seen == [("/api", "Bearer given"), ("/api", "")]
    assert Client(url + "/").url == url


def test_the_token_is_read_once_into_the_settings_and_passed_on(
        server: tuple[str, list[tuple[str, str]]]) -> None:
    url, seen = server
    settings = SdkSettings.from_env({"RUNSTREAM_URL": url, "RUNSTREAM_TOKEN": "s3cret"})
    assert settings.token == "s3cret" and "s3cret" not in repr(settings)
    Client(settings.url, token=settings.token).get_json("/api")
    sink = open_sink(settings.url, token=settings.token)
    assert isinstance(sink, HttpSink) and sink.client.token == "s3cret"
    assert seen == [("/api", "Bearer s3cret")]


def test_a_url_that_is_not_http_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="'ftp://example' is not an http"):
        Client("ftp://example")
