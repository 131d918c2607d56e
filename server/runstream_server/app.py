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
from runstream_server.auth import token_middleware
from runstream_server.blobs import LocalBlobStore
from runstream_server.database import open_engine
from runstream_server.eventlog import EmbeddedLog
from runstream_server.ledger import Ledger
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
    engine = engine or open_engine(settings.db_url)
    projector = projector or Projector()
    projector.prepare(engine)
    hub = Hub(settings.client_queue)
    ledger = Ledger(engine, projector)
    if not settings.kafka:
        # Embedded: this ledger is the only writer; what it commits is the feed.
        ledger.subscribe(hub.publish_threadsafe)
    svc = Services(settings, engine, projector, ledger, hub, LocalBlobStore(settings.blob_dir),
                   EmbeddedLog(ledger))

    middlewares = [error_middleware]
    if settings.token:
        middlewares.insert(0, token_middleware(settings.token))
    app = web.Application(middlewares=middlewares, client_max_size=64 << 20)
    app[services_key] = svc
    for route in routes():
        app.router.add_route(route.method, route.path, route.handler)
    _static(app, settings.static_dir or STATIC)
    app.cleanup_ctx.append(_lifecycle)
    app.on_shutdown.append(_close_sockets)
    return app


async def _close_sockets(app: web.Application) -> None:
    for ws in set(app[services_key].sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


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
