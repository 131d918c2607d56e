"""Chart specs for the web UI (Vega-Lite, data-free: the browser fills named datasets)."""

from __future__ import annotations

from typing import get_args

from aiohttp import web

from runstream_server import charts
from runstream_server.api.errors import problem
from runstream_server.api.routing import Route, json_response

__all__ = ["ROUTES"]

KINDS = get_args(charts.ChartKind)


async def chart_spec(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    if kind not in KINDS:
        raise problem(404, f"no chart kind {kind!r}; kinds: {', '.join(KINDS)}")
    metric = request.query.get("metric", "")
    if kind != "status" and not metric:
        raise problem(400, f"a {kind} chart needs `?metric=<name>`")
    response = json_response(charts.chart(kind, metric))  # type: ignore[arg-type]
    # Specs depend only on the code: let the browser keep them for a while.
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


ROUTES = [
    Route("GET", "/api/charts/{kind}", chart_spec,
          "A Vega-Lite chart spec: scalar (a metric across runs), status (duration and "
          "status across runs), array or series (a metric of some runs, overlaid).",
          returns=dict, query={"metric": "metric name (all kinds but status)"}),
]
