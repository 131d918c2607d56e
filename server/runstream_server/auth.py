"""Who may call: API tokens (full or read-only), and the Host and Origin checks that stop
other web sites (CSRF) and DNS-rebinding pages from using a server on this machine.

Tokens travel only in ``Authorization: Bearer <token>`` or, for a browser's websocket,
which cannot set headers, as the subprotocol ``runstream.token.<token>``: a token in a
URL ends up in logs, proxies and the browser's history, so ``?token=`` is refused.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from runstream_server.api.errors import problem
from runstream_server.settings import Settings, is_loopback

__all__ = ["SUBPROTOCOL", "TOKEN_PROTOCOL", "guard_middleware", "token_middleware"]

# The websocket subprotocol the server answers with, and the prefix of the one that
# carries a browser's token.
SUBPROTOCOL = "runstream"
TOKEN_PROTOCOL = "runstream.token."

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# MLflow's searches are POSTs that change nothing: a read-only token may make them.
READ_POSTS = frozenset(f"/api/2.0/mlflow/{path}" for path in (
    "runs/search", "experiments/search", "logged-models/search",
    "registered-models/get-latest-versions"))
# Bodies a page on another site may send without asking first (CORS "simple" requests).
SIMPLE_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded",
                          "multipart/form-data"})


def _token_of(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    for proto in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        if proto.strip().startswith(TOKEN_PROTOCOL):
            return proto.strip().removeprefix(TOKEN_PROTOCOL)
    return ""


def _matches(given: str, expected: str) -> bool:
    # Constant time: the comparison must not tell how much of a guess was right.
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def token_middleware(token: str, read_token: str = "") -> Any:
    """Every /api call needs a token; the read-only one is refused for writes."""

    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/api"):
            if "token" in request.query:
                raise problem(401, "the API token is not accepted in the URL (it would end "
                                   "up in logs and browser history): send it as "
                                   "`Authorization: Bearer <token>`, or for a websocket as "
                                   f"the subprotocol `{TOKEN_PROTOCOL}<token>`")
            given = _token_of(request)
            if _matches(given, read_token) and not _matches(given, token):
                if request.method in WRITES and not (
                        request.method == "POST" and request.path in READ_POSTS):
                    raise problem(403, "this token is read-only (RUNSTREAM_READ_TOKEN): "
                                       f"{request.method} {request.path} needs the write "
                                       "token (RUNSTREAM_TOKEN)")
            elif not _matches(given, token):
                raise problem(401, "this server requires an API token: send "
                                   "`Authorization: Bearer <token>` (set RUNSTREAM_TOKEN, "
                                   "or RUNSTREAM_READ_TOKEN to read only)")
        response: web.StreamResponse = await handler(request)
        return response

    return check


def _hostname(netloc: str) -> str:
    """``host:port``, ``[::1]:port`` or ``host`` -> the host name, lowercased."""
    try:
        name = urlsplit(f"//{netloc}").hostname or ""
    except ValueError:
        return ""
    return name.rstrip(".").lower()


def guard_middleware(settings: Settings) -> Any:
    """Refuse requests a browser was tricked into sending.

    Host: a DNS-rebinding page reaches 127.0.0.1 under its own name (``evil.example``);
    only loopback names, the address the server binds and ``allowed_hosts`` are
    served. With a token and no ``allowed_hosts`` any Host is served (such a page has
    no token). Origin: a write or websocket from a page must come from the server's
    own origin or one in ``allowed_origins``; clients that are not browsers send no
    Origin. A POST's body must not be one a form could send (CSRF without Origin); other
    writes cannot be sent cross-site without a CORS preflight, which is never granted.
    """
    hosts = {h.lower() for h in settings.allowed_hosts}
    if settings.host not in ("", "0.0.0.0", "::"):
        hosts.add(settings.host.lower())
    any_host = "*" in hosts or (bool(settings.token) and not settings.allowed_hosts)
    origins = {o.rstrip("/").lower() for o in settings.allowed_origins}

    def host_ok(name: str) -> bool:
        return any_host or is_loopback(name) or name in hosts

    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        host = request.headers.get("Host")
        if host is not None and not host_ok(_hostname(host)):
            raise problem(403, f"this server is not served under the name {host!r} (a web "
                               "page may be trying to reach it by DNS rebinding). To reach "
                               "it by this name, add it to RUNSTREAM_ALLOWED_HOSTS "
                               "(comma-separated host names).")
        origin = request.headers.get("Origin")
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        if origin is not None and (request.method in WRITES or websocket):
            # Its own page: the Origin names the Host it was asked by. The scheme is left
            # out, as behind a TLS proxy the page is https and the request to us http.
            own = bool(host) and urlsplit(origin).netloc.lower() == (host or "").lower()
            if not own and origin.rstrip("/").lower() not in origins:
                raise problem(403, f"a page at {origin} may not write to this server or "
                                   "open its live feed (cross-site request). To allow that "
                                   "site, add its origin to RUNSTREAM_ALLOWED_ORIGINS.")
        # Only a POST can come from a form (or a no-cors fetch) without a preflight; a PUT
        # (MLflow's artifact upload, typed by file name: text/plain) cannot.
        if request.method == "POST" and request.content_type in SIMPLE_TYPES \
                and "Content-Type" in request.headers:
            raise problem(415, f"{request.method} {request.path} does not accept "
                               f"{request.content_type} (a body any web form can send): "
                               "send application/json, application/msgpack or "
                               "application/octet-stream")
        response: web.StreamResponse = await handler(request)
        return response

    return check
