"""Chart specs for the web UI (Vega-Lite, data-free: the browser fills named datasets)."""

from __future__ import annotations

import asyncio
import functools
from typing import Annotated

import msgspec
from aiohttp import web

from runstream_server import charts
from runstream_server.api.errors import problem
from runstream_server.api.params import params
from runstream_server.api.routing import Route

__all__ = ["ROUTES", "ChartQuery"]


class ChartQuery(msgspec.Struct):
    """GET /api/charts/{kind}"""

    kind: Annotated[charts.ChartKind, msgspec.Meta(description="the chart's kind")]
    metric: Annotated[str, msgspec.Meta(description="metric name (all kinds but status)")] = ""


@functools.lru_cache(maxsize=1024)
def _encoded(kind: charts.ChartKind, metric: str) -> bytes:
    """A spec, built once (vega-altair takes 50–150 ms a spec): it depends only on the
    code, its kind and its metric."""
    return msgspec.json.encode(charts.chart(kind, metric))


async def chart_spec(request: web.Request) -> web.Response:
    q = params(request, ChartQuery)
    if q.kind != "status" and not q.metric:
        raise problem(400, f"a {q.kind} chart needs `?metric=<name>`")
    # Built off the event loop: a first spec must not hold up the other requests.
    body = await asyncio.to_thread(_encoded, q.kind, q.metric)
    response = web.Response(body=body, content_type="application/json")
    # Specs depend only on the code: let the browser keep them for a while.
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


ROUTES = [
    Route("GET", "/api/charts/{kind}", chart_spec,
          "A Vega-Lite chart spec: scalar (a metric across runs), status (duration and "
          "status across runs), array or series (a metric of some runs, overlaid).",
          returns=dict, params=ChartQuery),
]
