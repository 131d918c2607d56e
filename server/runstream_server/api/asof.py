"""The state as of a past position: what the dashboard's time slider asks for."""

from __future__ import annotations

from aiohttp import web

from runstream_server.api.errors import problem
from runstream_server.api.routing import Route, json_response, read
from runstream_server.asof import RunsAsOf, runs_as_of

__all__ = ["ROUTES"]


async def runs_until(request: web.Request) -> web.Response:
    raw = request.query.get("until", "")
    if not raw.isdigit():
        raise problem(400, "query parameter `until` must be a log position (an integer >= 0); "
                           "GET /api tells the current position")
    archived = request.query.get("archived", "hide")
    if archived not in ("hide", "only", "include"):
        raise problem(400, "query parameter `archived` must be hide, only or include")
    return json_response(await read(request, runs_as_of, int(raw), archived=archived))


ROUTES = [
    Route("GET", "/api/asof/runs", runs_until,
          "Runs as they were at a past log position, folded from the event log in memory.",
          returns=RunsAsOf, query={"until": "log position (required)",
                                   "archived": "hide (default), only or include"}),
]
