"""The published API description lists every route the server serves."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Engine

from runstream_server.app import routes
from tests.server.api import ClientFactory, make_app


async def test_every_api_route_is_described(engine: Engine, tmp_path: Path,
                                            aiohttp_client: ClientFactory) -> None:
    app = make_app(engine, tmp_path)
    client = await aiohttp_client(app)
    spec = await (await client.get("/api/openapi.json")).json()
    served = set()
    for resource in app.router.resources():
        path = resource.canonical
        if not path.startswith("/api"):
            continue
        for route in resource:
            if route.method != "*":
                served.add((route.method.lower(), re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path)))
    described = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert served == described
    assert len(served) == len(routes())
    for path, ops in spec["paths"].items():
        for op in ops.values():
            assert op["summary"], path
