"""Runs: list, detail, metrics, logs, artifacts, archive and restore."""

from __future__ import annotations

import mimetypes
from typing import Any, Literal, get_args

from aiohttp import web
from sqlalchemy import Connection

from runstream.events import RunArchived, RunRestored, review_stream
from runstream_server import audit, queries
from runstream_server.api.download import content_disposition, send_blob
from runstream_server.api.errors import problem
from runstream_server.api.routing import Route, json_response, read, services
from runstream_server.projections.runs import RunView

__all__ = ["ROUTES", "require_run"]


def _int(request: web.Request, name: str, default: int, lo: int = 0, hi: int = 10**9) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise problem(400, f"query parameter `{name}` must be an integer, not {raw!r}") from None
    if not lo <= value <= hi:
        raise problem(400, f"query parameter `{name}` must be between {lo} and {hi}")
    return value


def _lookup(conn: Connection, run_id: str) -> tuple[RunView | None, list[str]]:
    run = queries.get_run(conn, run_id)
    return run, ([] if run else queries.nearest_runs(conn, run_id))


async def require_run(request: web.Request, run_id: str | None = None) -> RunView:
    # `is None`, not `or`: an empty run id from a body (POST /api/models) is a 404, not a
    # KeyError on a route without {run_id}.
    run_id = request.match_info["run_id"] if run_id is None else run_id
    run, nearest = await read(request, _lookup, run_id)
    if run is None:
        hint = f" Did you mean {', '.join(nearest)}?" if nearest else \
            " List runs with `runstream history list`."
        raise problem(404, f"no run {run_id!r}.{hint}", nearest=nearest)
    return run


async def list_runs(request: web.Request) -> web.Response:
    q = request.query
    archived = q.get("archived", "hide")
    if archived not in get_args(queries.Archived):
        raise problem(400, "query parameter `archived` must be hide, only or include")
    result = await read(
        request, queries.list_runs, project=q.get("project"), status=q.get("status"),
        archived=archived, search=q.get("q"), sort=q.get("sort", "-number"),
        limit=_int(request, "limit", 100, 1, 100_000), offset=_int(request, "offset", 0))
    return json_response(result)


async def get_run(request: web.Request) -> web.Response:
    return json_response(await require_run(request))


async def metric_names(request: web.Request) -> web.Response:
    run = await require_run(request)
    return json_response(await read(request, queries.metric_names, run.run_id))


async def get_metric(request: web.Request) -> web.Response:
    run = await require_run(request)
    name = request.match_info["name"]
    if request.query.get("format") == "binary":
        packed = await read(request, queries.series_binary, run.run_id, name)
        if packed is not None:
            return web.Response(body=packed, content_type="application/octet-stream")
    found: Any = await read(request, queries.series, run.run_id, name)
    if found is None:
        found = await read(request, queries.value_series, run.run_id, name)
    if found is None:
        raise problem(404, f"run {run.run_id} has no metric {name!r}; "
                           f"see GET /api/runs/{run.run_id}/metrics for its metrics")
    return json_response(found)


async def get_logs(request: web.Request) -> web.Response:
    run = await require_run(request)
    page = await read(request, queries.log_page, run.run_id,
                      _int(request, "start", 0), _int(request, "limit", 1000, 1, 100_000))
    return json_response(page)


async def driver_log(request: web.Request) -> web.StreamResponse:
    """The whole printed output as text, streamed."""
    run = await require_run(request)
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    await response.prepare(request)
    start = 0
    while True:
        page = await read(request, queries.log_page, run.run_id, start, 20_000)
        if not page.lines:
            break
        await response.write("".join(line.text + "\n" for line in page.lines).encode())
        start = page.lines[-1].n + 1
    await response.write_eof()
    return response


async def list_artifacts(request: web.Request) -> web.Response:
    run = await require_run(request)
    return json_response(await read(request, queries.artifacts, run.run_id))


async def get_artifact(request: web.Request) -> web.StreamResponse:
    run = await require_run(request)
    path = request.match_info["path"]
    found = [a for a in await read(request, queries.artifacts, run.run_id) if a.path == path]
    if not found:
        raise problem(404, f"run {run.run_id} has no artifact {path!r}")
    media = found[0].media_type or mimetypes.guess_type(path)[0] or "application/octet-stream"
    inline = bool(request.query.get("inline"))
    if inline and not media.startswith("image/") and media != "text/plain":
        media = "application/octet-stream"  # a run's HTML or SVG must not run as our page
    headers = {"Content-Type": media, "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "sandbox",
               "Content-Disposition": content_disposition(
                   "inline" if inline else "attachment", path)}
    return await send_blob(request, found[0].sha256, headers)


async def run_events(request: web.Request) -> web.Response:
    run = await require_run(request)
    return json_response(await read(request, audit.run_events, run.run_id,
                                    _int(request, "after", 0), _int(request, "limit", 10_000)))


Review = Literal["archive", "restore"]


async def _review(request: web.Request, action: Review) -> web.Response:
    run = await require_run(request)
    if run.archived == (action == "archive"):
        return json_response(run)  # already so: nothing to record
    event = RunArchived(run.run_id) if action == "archive" else RunRestored(run.run_id)
    await services(request).log.write(review_stream(run.run_id), lambda _seq: event)
    return json_response(await require_run(request))


async def archive(request: web.Request) -> web.Response:
    return await _review(request, "archive")


async def restore(request: web.Request) -> web.Response:
    return await _review(request, "restore")


RUN = "/api/runs/{run_id}"
ROUTES = [
    Route("GET", "/api/runs", list_runs, "List runs (archived hidden unless asked).",
          returns=queries.RunList, query={
              "project": "only this project", "status": "comma-separated statuses",
              "archived": "hide (default), only or include", "q": "search script, id, reason",
              "sort": "column or metric name, - prefix for descending (default -number)",
              "limit": "page size (default 100)", "offset": "page start"}),
    Route("GET", RUN, get_run, "One run.", returns=RunView),
    Route("GET", RUN + "/metrics", metric_names, "A run's metric names by kind.",
          returns=queries.MetricNames),
    Route("GET", RUN + "/metrics/{name}", get_metric,
          "A metric's points: numeric series columnar, arrays and strings as values.",
          returns=queries.Series | queries.ValueSeries,  # type: ignore[arg-type]
          query={"format": "binary: a numeric series as n (uint64) then n int64 steps, "
                           "n float64 times, n float64 values, little-endian"}),
    Route("GET", RUN + "/logs", get_logs, "Printed lines, paged by line number.",
          returns=queries.LogPage, query={"start": "first line (0-based)", "limit": "lines"}),
    Route("GET", RUN + "/driver_log", driver_log, "The whole printed output as text.",
          content="text/plain"),
    Route("GET", RUN + "/artifacts", list_artifacts, "A run's stored files.",
          returns=list[queries.Artifact]),
    Route("GET", RUN + "/artifacts/{path:[\\s\\S]+}", get_artifact, "Download a run's file.",
          content="application/octet-stream", query={"inline": "show instead of download"}),
    Route("GET", RUN + "/events", run_events,
          "A run's events in order, with a summary of each (the audit trail).",
          returns=list[audit.AuditEntry], query={"after": "position", "limit": "events"}),
    Route("POST", RUN + "/archive", archive, "Archive a run (hidden from lists).",
          returns=RunView),
    Route("POST", RUN + "/restore", restore, "Restore an archived run.", returns=RunView),
]
