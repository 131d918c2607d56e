"""The aiohttp application: ``create_app(settings)`` wires the collaborators."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from aiohttp import WSCloseCode, web
from sqlalchemy import Engine

from runstream_server.api import asof, charts, docs, ingest, models, runs
from runstream_server.api import live as live_api
from runstream_server.api.errors import error_middleware
from runstream_server.api.routing import Route
from runstream_server.auth import guard_middleware, token_middleware
from runstream_server.blobs import LocalBlobStore
from runstream_server.database import (
    disk_full_reason,
    is_disk_full,
    no_space_left,
    open_engine,
)
from runstream_server.eventlog import EmbeddedLog
from runstream_server.lease import lease_expiry
from runstream_server.ledger import DiskFull, Ledger
from runstream_server.live import Hub
from runstream_server.projections.runner import Projector
from runstream_server.services import Services, services_key
from runstream_server.settings import Settings

__all__ = ["create_app", "routes"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


def _version() -> str:
    try:
        return version("runstream")
    except PackageNotFoundError:
        return "0+unknown"


def routes() -> list[Route]:
    """Every API route: what the server serves and the OpenAPI description lists."""
    api = [*ingest.ROUTES, *runs.ROUTES, *models.ROUTES, *live_api.ROUTES]
    api += [*charts.ROUTES, *asof.ROUTES]  # the web UI's read side
    return [*api, *docs.status_routes(api, _version())]


def create_app(settings: Settings, *, engine: Engine | None = None,
               projector: Projector | None = None) -> web.Application:
    settings.check()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    given = engine
    engine = engine or open_engine(settings.db_url)
    projector = projector or Projector()
    readonly = _prepare(settings, engine, projector)
    if readonly and given is None and settings.db_url.startswith("sqlite"):
        # SQLite cannot even open its WAL for writing on a full disk: read without it.
        engine.dispose()
        engine = open_engine(settings.db_url, readonly=True)

    def reopen() -> Engine:
        writable = given or open_engine(settings.db_url)
        try:
            projector.prepare(writable)
        except Exception as exc:
            if writable is not given:
                writable.dispose()
            if no_space_left(settings.data_dir, settings.db_url):
                raise DiskFull(readonly, readonly=True) from exc
            raise
        if writable is not svc.engine:
            svc.engine.dispose()
            svc.engine = writable
        return writable

    ledger = Ledger(engine, projector, readonly=readonly, reopen=reopen,
                    retry=settings.readonly_retry, part_events=settings.write_part_events,
                    part_bytes=settings.write_part_bytes)
    hub = Hub(settings.client_buffer)
    if not settings.kafka:
        # Embedded: this ledger is the only writer; what it commits is the feed.
        ledger.subscribe(hub.publish_threadsafe)
    svc = Services(settings, engine, projector, ledger, hub, LocalBlobStore(settings.blob_dir),
                   EmbeddedLog(ledger))

    # Outermost first: who is asking (Host, Origin), then with what token, then errors.
    middlewares = [guard_middleware(settings), error_middleware]
    if settings.token:
        middlewares.insert(1, token_middleware(settings.token, settings.read_token))
    app = web.Application(middlewares=middlewares, client_max_size=64 << 20)
    app[services_key] = svc
    for route in routes():
        app.router.add_route(route.method, route.path, route.handler)
    _static(app, settings.static_dir or STATIC)
    app.cleanup_ctx.append(_lifecycle)
    app.cleanup_ctx.append(lease_expiry)  # after _lifecycle: Kafka mode has set svc.log
    app.on_shutdown.append(_close_sockets)
    return app


def _prepare(settings: Settings, engine: Engine, projector: Projector) -> str:
    """Prepare the views for writing; on a full disk, say why the server is read-only."""
    try:
        projector.prepare(engine)
    except Exception as exc:
        if not (is_disk_full(exc) or no_space_left(settings.data_dir, settings.db_url)):
            raise
        full = disk_full_reason(settings.data_dir, settings.db_url)
        reason = (f"the server started read-only: {full}; it tries to open for writing "
                  f"again at the next write (at most every {settings.readonly_retry:g} s)")
        log.warning("%s", reason)
        return reason
    return ""


async def _close_sockets(app: web.Application) -> None:
    # All at once, and cut after a second: a client that does not read would hold the
    # stop for ever (aiohttp's close waits for it to take the close frame).
    await asyncio.gather(*(
        live_api.close_socket(ws, WSCloseCode.GOING_AWAY, b"server shutting down", grace=1.0)
        for ws in set(app[services_key].sockets)))


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    svc = app[services_key]
    svc.hub.attach(asyncio.get_running_loop())
    async with AsyncExitStack() as stack:
        if svc.settings.kafka:
            from runstream_server.kafka.wiring import kafka_mode

            await stack.enter_async_context(kafka_mode(svc))
        yield
    svc.ledger.close()
    svc.engine.dispose()


def _static(app: web.Application, root: Path) -> None:
    """Serve the built web UI at / (index.html for the app's own routes)."""
    index = root / "index.html"

    async def page(request: web.Request) -> web.StreamResponse:
        if not index.is_file():
            return web.Response(
                text="runstream's web UI is not built. Build it with `scripts/build-web`; "
                     "the API is at /api.", content_type="text/plain", status=503)
        return web.FileResponse(index)

    if (root / "assets").is_dir():
        app.router.add_static("/assets", root / "assets")
    app.router.add_get("/", page)
    app.router.add_get("/{tail:(?!api/|api$|assets/).*}", page)
