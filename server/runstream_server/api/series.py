"""GET /api/series: one metric of many runs, downsampled on the server to at most a
budget of points per run (``runstream_server.downsample``), for overlaid curves."""

from __future__ import annotations

import math
from typing import Annotated, Literal

import msgspec
from aiohttp import web
from sqlalchemy import Connection, select

from runstream_server.api.errors import problem
from runstream_server.api.params import params
from runstream_server.api.routing import Route, json_response, read
from runstream_server.database import among
from runstream_server.downsample import SeriesAnswer, downsample
from runstream_server.projections.runs import runs_table

__all__ = ["MAX_RUNS", "ROUTES", "SeriesQuery"]

MAX_RUNS = 500


class SeriesQuery(msgspec.Struct):
    """GET /api/series"""

    metric: Annotated[str, msgspec.Meta(min_length=1, max_length=300,
                                        description="the numeric metric's name")]
    runs: Annotated[str, msgspec.Meta(
        min_length=1, description=f"comma-separated run ids (1 to {MAX_RUNS})")]
    x: Annotated[Literal["step", "time"], msgspec.Meta(
        description="step (default) or time (seconds since the epoch)")] = "step"
    start: Annotated[float | None, msgspec.Meta(
        description="the range's first x, inclusive (a number in x units; default: each "
                    "series' first)")] = None
    end: Annotated[float | None, msgspec.Meta(
        description="the range's last x, inclusive (a number in x units; default: each "
                    "series' last)")] = None
    budget: Annotated[int, msgspec.Meta(
        ge=8, le=20_000, description="the most points answered per series")] = 2000


def _run_ids(text: str) -> list[str]:
    ids = text.split(",")
    if any(not i.strip() for i in ids):
        raise problem(400, f"query parameter `runs` must be run ids separated by commas, "
                           f"with none empty, not {text!r}")
    ids = [i.strip() for i in ids]
    if len(ids) > MAX_RUNS:
        raise problem(400, f"query parameter `runs` names {len(ids)} runs; at most "
                           f"{MAX_RUNS} are answered at once: ask in several requests")
    return ids


def _known(conn: Connection, ids: list[str]) -> set[str]:
    c = runs_table.c
    return set(conn.execute(select(c.run_id).where(among(c.run_id, set(ids)))).scalars())


async def get_series(request: web.Request) -> web.Response:
    q = params(request, SeriesQuery)
    ids = _run_ids(q.runs)
    for name, value in (("start", q.start), ("end", q.end)):
        if value is not None and not math.isfinite(value):
            raise problem(400, f"query parameter `{name}` must be a finite number, "
                               f"not {request.query[name]!r}")
    if q.start is not None and q.end is not None and q.start > q.end:
        raise problem(400, f"query parameter `start` ({request.query['start']}) must not be "
                           f"after `end` ({request.query['end']})")
    known = await read(request, _known, ids)
    unknown = [i for i in dict.fromkeys(ids) if i not in known]
    if unknown:
        raise problem(404, f"no run {unknown[0]!r}" + (
            f" (nor {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else "")
            + ": list runs with GET /api/runs", unknown=unknown)
    answer = await read(request, downsample, ids, q.metric, q.x, q.start, q.end, q.budget)
    return json_response(answer)


ROUTES = [
    Route("GET", "/api/series", get_series,
          "One numeric metric of many runs, at most `budget` points per run: raw when the "
          "range holds that few, else M4 buckets (each bucket's first, min, max, last) "
          "computed from stored summaries.",
          returns=SeriesAnswer, params=SeriesQuery),
]
