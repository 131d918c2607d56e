"""A small client for the server's HTTP API (standard library only: the SDK stays light).

The client is told its server and token; it reads no environment. Programs read
``RUNSTREAM_URL`` (default :data:`DEFAULT_URL`) and ``RUNSTREAM_TOKEN`` once, into
:class:`~runstream.settings.SdkSettings`, and pass them in:
``Client(settings.url, token=settings.token)``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode, urlsplit

import msgspec

__all__ = [
    "DEFAULT_URL",
    "ApiError",
    "Client",
    "DownloadError",
    "IngestReply",
    "ServerUnreachable",
]

DEFAULT_URL = "http://127.0.0.1:8787"
_CHUNK = 1 << 20


class ServerUnreachable(ConnectionError):
    def __init__(self, url: str, reason: object) -> None:
        super().__init__(
            f"cannot reach the runstream server at {url} ({reason}). Start one with "
            "`runstream server`, or point RUNSTREAM_URL at a running server.")
        self.url = url


class ApiError(RuntimeError):
    """The server answered with an error; ``message`` is its explanation."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status
        self.message = message
        self.body = body


class DownloadError(RuntimeError):
    """A download whose bytes were cut short or do not match their sha256: not kept."""


class IngestReply(msgspec.Struct):
    stored: int
    duplicates: list[str] = []
    unknown: list[str] = []
    position: int = 0


class Client:
    """The server at ``url``, sent ``token`` (when not empty) as a bearer token.

    Thread-safe: each thread keeps its own keep-alive connection."""

    def __init__(self, url: str, token: str = "", timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"RUNSTREAM_URL {self.url!r} is not an http(s) URL")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._local = threading.local()

    # -- plumbing ---------------------------------------------------------

    def _conn(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = (http.client.HTTPSConnection if self._scheme == "https"
                   else http.client.HTTPConnection)
            conn = cls(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def request(self, method: str, path: str, body: bytes | BinaryIO | None = None, *,
                headers: dict[str, str] | None = None,
                query: dict[str, Any] | None = None) -> http.client.HTTPResponse:
        """Send a request; return the response (status < 400) for the caller to read."""
        target = self._prefix + path
        if query:
            target += "?" + urlencode({k: v for k, v in query.items() if v is not None},
                                      doseq=True)
        hdrs = dict(headers or {})
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        for attempt in (0, 1):
            conn = self._conn()
            try:
                conn.request(method, target, body=body, headers=hdrs)
                resp = conn.getresponse()
                break
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                self._drop()
                # A keep-alive connection the server closed: retry once on a new one.
                reusable = isinstance(exc, http.client.RemoteDisconnected | BrokenPipeError)
                if attempt or not reusable or (body is not None and not isinstance(body, bytes)):
                    raise ServerUnreachable(self.url, exc) from None
        if resp.status >= 400:
            raw = resp.read()
            try:
                data = json.loads(raw)
                message = data.get("error") or raw.decode(errors="replace")
            except ValueError:
                data, message = None, raw.decode(errors="replace") or resp.reason
            raise ApiError(resp.status, message, data)
        return resp

    def get_json(self, path: str, **query: Any) -> Any:
        return json.loads(self.request("GET", path, query=query).read())

    def send_json(self, method: str, path: str, data: Any) -> Any:
        resp = self.request(method, path, json.dumps(data).encode(),
                            headers={"Content-Type": "application/json"})
        return json.loads(resp.read() or b"null")

    # -- ingest -----------------------------------------------------------

    def post_events(self, body: bytes) -> IngestReply:
        """Send an encoded batch of envelopes (see runstream.codec.encode_batch)."""
        resp = self.request("POST", "/api/events", body,
                            headers={"Content-Type": "application/msgpack"})
        return msgspec.json.decode(resp.read(), type=IngestReply)

    def has_blob(self, sha256: str) -> bool:
        try:
            self.request("HEAD", f"/api/blobs/{sha256}").read()
            return True
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise

    def put_blob(self, path: Path, sha256: str | None = None,
                 progress: Callable[[int], None] | None = None) -> str:
        """Upload a file to the content-addressed blob store; returns its sha256."""
        sha256 = sha256 or file_sha256(path)
        if self.has_blob(sha256):
            if progress:
                progress(path.stat().st_size)
            return sha256
        with path.open("rb") as fh:
            body: BinaryIO = _Progress(fh, progress) if progress else fh  # type: ignore[assignment]
            self.request("PUT", f"/api/blobs/{sha256}", body, headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(path.stat().st_size)}).read()
        return sha256

    def download(self, path: str, dest: Path, progress: Callable[[int], None] | None = None,
                 *, sha256: str | None = None, **query: Any) -> Path:
        """Stream ``path`` (already quoted) into ``dest`` through a temporary name; only
        bytes that hash to ``sha256`` and to the server's ``X-Content-SHA256`` (when either
        is known) are renamed into place. Raises DownloadError, leaving nothing."""
        resp = self.request("GET", path, query=query)
        announced = (resp.getheader("X-Content-SHA256") or "").lower() or None
        expected = sha256.lower() if sha256 else announced
        if sha256 and announced and announced != expected:
            self._drop()
            raise DownloadError(
                f"{path} hashes to {announced} on the server (its X-Content-SHA256), but "
                f"{expected} was expected; nothing was written")
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".runstream-", suffix=".part", dir=dest.parent)
        tmp = Path(name)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    for chunk in iter_chunks(resp):
                        digest.update(chunk)
                        out.write(chunk)
                        if progress:
                            progress(len(chunk))
                except (http.client.HTTPException, OSError) as exc:
                    self._drop()
                    raise DownloadError(
                        f"the download of {path} was cut short ({exc!r}); nothing was written. "
                        "If it happens again the server may hold a corrupted copy: see its "
                        "/api/dead-letters") from None
            if expected and digest.hexdigest() != expected:
                raise DownloadError(
                    f"{path} hashes to {digest.hexdigest()}, but its sha256 is {expected}; "
                    "the bytes are corrupted or not the expected file, so nothing was written")
            mask = os.umask(0)
            os.umask(mask)
            tmp.chmod(0o666 & ~mask)  # mkstemp made it private
            tmp.replace(dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return dest

    @staticmethod
    def quote(value: str) -> str:
        return quote(value, safe="")

    @staticmethod
    def quote_path(value: str) -> str:
        """A relative path for a URL: its slashes kept, everything else (space, #, ?, %)
        quoted."""
        return quote(value, safe="/")


def iter_chunks(resp: http.client.HTTPResponse) -> Iterator[bytes]:
    while chunk := resp.read(_CHUNK):
        yield chunk


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class _Progress:
    """A file wrapper that reports how many bytes were read (for upload progress bars)."""

    def __init__(self, fh: BinaryIO, progress: Callable[[int], None]) -> None:
        self._fh = fh
        self._progress = progress

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self._progress(len(data))
        return data
