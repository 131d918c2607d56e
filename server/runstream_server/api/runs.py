"""Runs: list, detail, metrics, logs, artifacts, archive and restore."""

from __future__ import annotations

import mimetypes
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web
from sqlalchemy import Connection

from runstream.events import RunArchived, RunRestored, review_stream
from runstream_server import audit, queries
from runstream_server.api.download import content_disposition, send_blob
from runstream_server.api.errors import problem
from runstream_server.api.params import params
from runstream_server.api.routing import Route, json_response, read, services
from runstream_server.projections.runs import RunView
from runstream_server.search import SearchError

__all__ = ["ROUTES", "ArtifactQuery", "EventsQuery", "LogQuery", "MetricQuery", "RunListQuery",
           "RunPath", "require_run"]


Count = Annotated[int, msgspec.Meta(ge=0, le=10**9)]
PageSize = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
RunId = Annotated[str, msgspec.Meta(description="the run's id")]


class RunListQuery(msgspec.Struct):
    """GET /api/runs"""

    project: Annotated[str, msgspec.Meta(description="only this project")] = ""
    status: Annotated[str, msgspec.Meta(description="comma-separated statuses")] = ""
    archived: Annotated[queries.Archived, msgspec.Meta(
        description="hide (default), only or include archived runs")] = "hide"
    q: Annotated[str, msgspec.Meta(description="search script, id, reason")] = ""
    filter: Annotated[str, msgspec.Meta(
        max_length=10_000,
        description="an MLflow run filter, e.g. metrics.accuracy > 0.7 and params.lr = '0.1'"
                    " (AND only; metrics., params., tags., attributes.)")] = ""
    order_by: Annotated[str, msgspec.Meta(
        max_length=10_000,
        description="MLflow order clauses, comma-separated, e.g. metrics.loss ASC, "
                    "params.lr DESC (replaces sort; missing keys last)")] = ""
    sort: Annotated[str, msgspec.Meta(
        description="column or metric name, - prefix for descending")] = "-number"
    limit: Annotated[PageSize, msgspec.Meta(description="page size")] = 100
    offset: Annotated[Count, msgspec.Meta(description="page start")] = 0


class RunPath(msgspec.Struct):
    """A run's own URL: /api/runs/{run_id}…"""

    run_id: RunId


class MetricQuery(msgspec.Struct):
    """GET /api/runs/{run_id}/metrics/{name}"""

    run_id: RunId
    name: Annotated[str, msgspec.Meta(description="the metric's name")]
    format: Annotated[Literal["json", "binary"], msgspec.Meta(
        description="binary: a numeric series as n (uint64) then n int64 steps, n float64 "
                    "times, n float64 values, little-endian (compact, for scripts and "
                    "benchmarks); json (default): columnar JSON")] = "json"


class LogQuery(msgspec.Struct):
    """GET /api/runs/{run_id}/logs"""

    run_id: RunId
    start: Annotated[Count, msgspec.Meta(description="first line (0-based)")] = 0
    limit: Annotated[PageSize, msgspec.Meta(description="lines")] = 1000


class ArtifactQuery(msgspec.Struct):
    """GET /api/runs/{run_id}/artifacts/{path}"""

    run_id: RunId
    path: Annotated[str, msgspec.Meta(description="the file's path in the run")]
    inline: Annotated[bool, msgspec.Meta(
        description="show instead of download (images and plain text only)")] = False


class EventsQuery(msgspec.Struct):
    """GET /api/runs/{run_id}/events"""

    run_id: RunId
    after: Annotated[Count, msgspec.Meta(description="only events after this position")] = 0
    limit: Annotated[Count, msgspec.Meta(description="events")] = 10_000


def _lookup(conn: Connection, run_id: str) -> tuple[RunView | None, list[str]]:
    run = queries.get_run(conn, run_id)
    return run, ([] if run else queries.nearest_runs(conn, run_id))


async def require_run(request: web.Request, run_id: str | None = None) -> RunView:
    # `is None`, not `or`: an empty run id from a body (POST /api/models) is a 404, not a
    # KeyError on a route without {run_id}.
    run_id = params(request, RunPath).run_id if run_id is None else run_id
    run, nearest = await read(request, _lookup, run_id)
    if run is None:
        hint = f" Did you mean {', '.join(nearest)}?" if nearest else \
            " List runs with `runstream history list`."
        raise problem(404, f"no run {run_id!r}.{hint}", nearest=nearest)
    return run


async def list_runs(request: web.Request) -> web.Response:
    q = params(request, RunListQuery)
    try:
        result = await read(
            request, queries.list_runs, project=q.project or None, status=q.status or None,
            archived=q.archived, search=q.q or None, sort=q.sort, limit=q.limit,
            offset=q.offset, filter=q.filter, order_by=q.order_by)
    except SearchError as exc:
        raise problem(400, str(exc)) from None
    return json_response(result)


async def get_run(request: web.Request) -> web.Response:
    return json_response(await require_run(request))


async def metric_names(request: web.Request) -> web.Response:
    run = await require_run(request)
    return json_response(await read(request, queries.metric_names, run.run_id))


async def get_metric(request: web.Request) -> web.Response:
    q = params(request, MetricQuery)
    run, name = await require_run(request, q.run_id), q.name
    if q.format == "binary":
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
    q = params(request, LogQuery)
    run = await require_run(request, q.run_id)
    page = await read(request, queries.log_page, run.run_id, q.start, q.limit)
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
    q = params(request, ArtifactQuery)
    run, path = await require_run(request, q.run_id), q.path
    found = [a for a in await read(request, queries.artifacts, run.run_id) if a.path == path]
    if not found:
        raise problem(404, f"run {run.run_id} has no artifact {path!r}")
    media = found[0].media_type or mimetypes.guess_type(path)[0] or "application/octet-stream"
    inline = q.inline
    if inline and not media.startswith("image/") and media != "text/plain":
        media = "application/octet-stream"  # a run's HTML or SVG must not run as our page
    headers = {"Content-Type": media, "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "sandbox",
               "Content-Disposition": content_disposition(
                   "inline" if inline else "attachment", path)}
    return await send_blob(request, found[0].sha256, headers)


async def run_events(request: web.Request) -> web.Response:
    q = params(request, EventsQuery)
    run = await require_run(request, q.run_id)
    return json_response(await read(request, audit.run_events, run.run_id, q.after, q.limit))


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
          returns=queries.RunList, params=RunListQuery),
    Route("GET", RUN, get_run, "One run.", returns=RunView, params=RunPath),
    Route("GET", RUN + "/metrics", metric_names, "A run's metric names by kind.",
          returns=queries.MetricNames, params=RunPath),
    Route("GET", RUN + "/metrics/{name}", get_metric,
          "A metric's points: numeric series columnar, arrays and strings as values; "
          "format=binary packs a numeric series compactly for scripts and benchmarks "
          "(the web UI reads the JSON).",
          returns=queries.Series | queries.ValueSeries,  # type: ignore[arg-type]
          params=MetricQuery),
    Route("GET", RUN + "/logs", get_logs, "Printed lines, paged by line number.",
          returns=queries.LogPage, params=LogQuery),
    Route("GET", RUN + "/driver_log", driver_log, "The whole printed output as text.",
          content="text/plain", params=RunPath),
    Route("GET", RUN + "/artifacts", list_artifacts, "A run's stored files.",
          returns=list[queries.Artifact], params=RunPath),
    Route("GET", RUN + "/artifacts/{path:[\\s\\S]+}", get_artifact, "Download a run's file.",
          content="application/octet-stream", params=ArtifactQuery),
    Route("GET", RUN + "/events", run_events,
          "A run's events in order, with a summary of each (the audit trail).",
          returns=list[audit.AuditEntry], params=EventsQuery),
    Route("POST", RUN + "/archive", archive, "Archive a run (hidden from lists).",
          returns=RunView, params=RunPath),
    Route("POST", RUN + "/restore", restore, "Restore an archived run.", returns=RunView,
          params=RunPath),
]
