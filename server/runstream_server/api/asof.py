"""The state as of a past position: what the dashboard's time slider asks for."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from runstream.events import INT64_MAX
from runstream_server.api.params import params
from runstream_server.api.routing import Route, json_response, read
from runstream_server.asof import RunsAsOf, runs_as_of
from runstream_server.queries import Archived

__all__ = ["ROUTES", "AsOfQuery"]


class AsOfQuery(msgspec.Struct):
    """GET /api/asof/runs"""

    until: Annotated[int, msgspec.Meta(
        ge=0, le=INT64_MAX,
        description="a log position, as GET /api tells the current one; one past the "
                    "end is the current state")]
    archived: Annotated[Archived, msgspec.Meta(
        description="hide (default), only or include archived runs")] = "hide"
    run_id: Annotated[str, msgspec.Meta(
        max_length=200, description="only this run, folded from its own events (a replay)")
    ] | None = None


async def runs_until(request: web.Request) -> web.Response:
    q = params(request, AsOfQuery)
    return json_response(await read(request, runs_as_of, q.until, archived=q.archived,
                                    run_id=q.run_id))


ROUTES = [
    Route("GET", "/api/asof/runs", runs_until,
          "Runs as they were at a past log position, folded from the event log in memory.",
          returns=RunsAsOf, params=AsOfQuery),
]
