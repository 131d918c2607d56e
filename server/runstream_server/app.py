"""The aiohttp application: ``create_app(settings, …)`` wires the collaborators."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, web
from sqlalchemy import Engine

from runstream_server.api import asof, charts, docs, ingest, models, runs, series
from runstream_server.api import live as live_api
from runstream_server.api.errors import error_middleware
from runstream_server.api.routing import Route
from runstream_server.auth import guard_middleware, token_middleware
from runstream_server.blobs import BlobStore, LocalBlobStore
from runstream_server.database import (
    disk_full_reason,
    is_disk_full,
    no_space_left,
    open_engine,
    widen_columns,
)
from runstream_server.eventlog import EmbeddedLog, EventLog
from runstream_server.folder import folding
from runstream_server.lease import lease_expiry
from runstream_server.ledger import DiskFull, Ledger
from runstream_server.live import Hub, view_reader
from runstream_server.mlflow import mlflow_routes
from runstream_server.mlflow.answers import RunAnswers, answers_key
from runstream_server.mlflow.writes import StreamLocks, locks_key
from runstream_server.projections.runner import Projector
from runstream_server.services import Services, services_key
from runstream_server.settings import Settings

__all__ = ["create_app", "openapi_document", "routes"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
Lifecycle = Callable[[web.Application], AsyncIterator[None]]


def _version() -> str:
    try:
        return version("runstream")
    except PackageNotFoundError:
        return "0+unknown"


def routes() -> list[Route]:
    """Every API route: what the server serves and the OpenAPI description lists."""
    api = [*ingest.ROUTES, *runs.ROUTES, *models.ROUTES, *live_api.ROUTES]
    api += [*charts.ROUTES, *asof.ROUTES, *series.ROUTES]  # the web UI's read side
    return [*api, *docs.status_routes(api, _version())]


def openapi_document() -> dict[str, Any]:
    """The API description ``GET /api/openapi.json`` serves (and docs/openapi.json holds)."""
    return docs.openapi(routes(), _version())


def create_app(settings: Settings, *, event_log: EventLog | None = None,
               blobs: BlobStore | None = None, engine: Engine | None = None,
               projector: Projector | None = None) -> web.Application:
    """The server, wired from ``settings``; each collaborator passed in is used as given,
    each left out is built from the settings (an embedded or a Kafka event log, blobs in
    the data dir, the database at ``settings.db_url``, every projection).

    Everything is made here, before the application starts: in Kafka mode its start
    only launches the consumer threads that feed the store and the live tail."""
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
            widen_columns(writable)
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
    hub = Hub(settings.client_buffer, views=view_reader(lambda: svc.engine))
    if not settings.kafka:
        # Embedded: this ledger is the only writer; what it commits is the feed.
        ledger.subscribe(hub.publish_threadsafe)
    closers: list[Callable[[], None]] = []
    if event_log is None and settings.kafka:
        from runstream_server.kafka.wiring import kafka_log

        kafka = kafka_log(settings, engine)
        closers.append(kafka.close)
        event_log = kafka
    svc = Services(settings, engine, projector, ledger, hub,
                   blobs or LocalBlobStore(settings.blob_dir), event_log or EmbeddedLog(ledger))

    # Outermost first: who is asking (Host, Origin), then with what token, then errors.
    middlewares = [guard_middleware(settings), error_middleware]
    if settings.token:
        middlewares.insert(1, token_middleware(settings.token, settings.read_token))
    app = web.Application(middlewares=middlewares, client_max_size=64 << 20)
    app[services_key] = svc
    for route in routes():
        app.router.add_route(route.method, route.path, route.handler)
    app[locks_key] = StreamLocks()
    app[answers_key] = RunAnswers()
    for method, path, handler in mlflow_routes():
        app.router.add_route(method, path, handler)
    _static(app, settings.static_dir or STATIC)
    app.cleanup_ctx.append(_lifecycle(closers))
    # After _lifecycle, so stopped before it: no lost run is written to a log being closed.
    app.cleanup_ctx.append(lease_expiry)
    app.cleanup_ctx.append(folding)
    app.on_shutdown.append(_close_sockets)
    return app


def _prepare(settings: Settings, engine: Engine, projector: Projector) -> str:
    """Prepare the views for writing; on a full disk, say why the server is read-only."""
    try:
        widen_columns(engine)
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


def _lifecycle(closers: list[Callable[[], None]]) -> Lifecycle:
    """Start what runs beside the requests (the hub's loop; in Kafka mode the consumer
    group and the live tail), and at the end stop it and close what ``create_app``
    opened (``closers``: the Kafka producer), then the ledger and the database."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        svc = app[services_key]
        svc.hub.attach(asyncio.get_running_loop())
        async with AsyncExitStack() as stack:
            if svc.settings.kafka:
                from runstream_server.kafka.wiring import kafka_mode

                await stack.enter_async_context(kafka_mode(svc))
            yield
        for close in closers:
            close()
        svc.ledger.close()
        svc.engine.dispose()

    return lifecycle


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
