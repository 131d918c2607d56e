"""The server's collaborators, made once in ``create_app`` (before the application
starts) and passed along; ``engine`` alone may change later, when a server started
read-only on a full disk opens for writing again."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy import Engine

from runstream_server.blobs import BlobStore
from runstream_server.eventlog import EventLog
from runstream_server.ledger import Ledger
from runstream_server.live import Hub
from runstream_server.projections.runner import Projector
from runstream_server.settings import Settings

__all__ = ["Services", "services_key"]


@dataclass
class Services:
    settings: Settings
    engine: Engine
    projector: Projector
    ledger: Ledger
    hub: Hub
    blobs: BlobStore
    log: EventLog
    # Open websockets, closed at shutdown so that stopping never waits on a browser.
    sockets: weakref.WeakSet[web.WebSocketResponse] = field(default_factory=weakref.WeakSet)


services_key = web.AppKey("services", Services)
