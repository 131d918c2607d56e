"""MLflow API: the artifact proxy, into runstream's content-addressed blob store.

A run's ``artifact_uri`` is ``mlflow-artifacts:/<exp>/<run>/artifacts`` and a logged
model's ``mlflow-artifacts:/<exp>/models/<model id>/artifacts`` (``files``), so the
client (``HttpArtifactRepository``) sends every file here, one raw ``PUT`` each, under
``/api/2.0/mlflow-artifacts/artifacts/<that path>/<file>``; lists a directory with
``GET …/artifacts?path=<dir>`` and downloads a file with ``GET …/artifacts/<path>``.

An upload streams into the blob store (hashed while written, never held in memory),
then becomes ``artifact.added`` on ``mlflow/<run id>`` (so MLflow's files are the run's
files in runstream too, beside those its agent uploaded) or on ``logged-model/<id>``.
The run or model must exist before any byte is stored, and a path that could leave it
(``..``, absolute, NUL, backslash) is refused before then as well.

Not served (answered ENDPOINT_NOT_FOUND, which the client takes as "not offered"):
multipart uploads (``/mlflow-artifacts/mpu/…``), presigned URLs
(``/mlflow/artifacts/presigned-*-url``) — runstream's ``server-info`` offers neither —
and deleting a file: runstream keeps every uploaded file (files are events).
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import AsyncIterator

from aiohttp import web

from runstream.events import ArtifactAdded, logged_model_stream, mlflow_stream
from runstream_server import queries
from runstream_server.api.download import CHUNK, content_disposition, send_blob
from runstream_server.api.routing import read, services
from runstream_server.mlflow import logged_models
from runstream_server.mlflow.files import (
    File,
    Location,
    artifact_uri_of_run,
    clean_path,
    entries,
    model_files,
    parse_proxy_path,
    run_files,
)
from runstream_server.mlflow.wire import (
    API,
    ARTIFACTS_API,
    Body,
    Handler,
    MlflowError,
    invalid,
    missing,
    ok,
    routes,
)
from runstream_server.mlflow.writes import write_one

__all__ = ["ROUTES"]

_MEDIA = re.compile(r"^[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*$")
_GENERIC = ("application/octet-stream", "binary/octet-stream")


def _media_type(path: str, declared: str) -> str:
    """What the file is: known from its name (``.json``: application/json), else the
    client's Content-Type when it says something specific (MLflow sends text/plain for
    every text file, ``MLmodel`` too), else application/octet-stream."""
    guessed = mimetypes.guess_type(path)[0]
    if guessed:
        return guessed
    declared = declared.split(";", 1)[0].strip().lower()
    if declared and declared not in _GENERIC and len(declared) <= 200 \
            and _MEDIA.match(declared):
        return declared
    return "application/octet-stream"


async def _owner(request: web.Request, where: Location) -> None:
    """Refuse (RESOURCE_DOES_NOT_EXIST) a run or logged model that is not there, or
    one addressed under another experiment than its own."""
    if where.kind == "run":
        run = await read(request, queries.get_run, where.id)
        if run is None:
            raise missing(f"Run with id={where.id} not found: upload files to a run "
                          "created first (mlflow.start_run)")
        actual = run.experiment_id
        noun = f"run {where.id}"
    else:
        model = await read(request, logged_models.find, where.id)
        if model is None or model.deleted:
            raise missing(f"Logged model with id={where.id} not found"
                          + (" (it was deleted)" if model is not None else ""))
        actual = model.experiment_id
        noun = f"logged model {where.id}"
    if where.experiment_id and actual and where.experiment_id != actual:
        raise missing(f"{noun} belongs to experiment {actual}, not {where.experiment_id}: "
                      "use the artifact_uri runstream gave it")


async def _files(request: web.Request, where: Location, prefix: str) -> list[File]:
    fn = run_files if where.kind == "run" else model_files
    return await read(request, fn, where.id, prefix)


async def upload(request: web.Request) -> web.StreamResponse:
    """PUT …/mlflow-artifacts/artifacts/<path>: one file's raw bytes."""
    where = parse_proxy_path(request.match_info["path"])
    if not where.path:
        raise invalid("the artifact path names no file: PUT "
                      f"{ARTIFACTS_API}/artifacts/<artifact root>/<file path>")
    await _owner(request, where)

    async def chunks() -> AsyncIterator[bytes]:
        async for chunk in request.content.iter_chunked(CHUNK):
            yield chunk

    sha256, size = await services(request).blobs.put_new(chunks())
    media = _media_type(where.path, request.headers.get("Content-Type", ""))
    stream = mlflow_stream(where.id) if where.kind == "run" else logged_model_stream(where.id)
    await write_one(request, stream, ArtifactAdded(path=where.path, sha256=sha256, size=size,
                                                   media_type=media))
    return ok()


async def download(request: web.Request) -> web.StreamResponse:
    """GET …/mlflow-artifacts/artifacts/<path>: the file's bytes, streamed."""
    where = parse_proxy_path(request.match_info["path"])
    found = [f for f in await _files(request, where, where.path) if f.path == where.path]
    if not found:
        await _owner(request, where)
        raise missing(f"no artifact {where.path!r} in {where.kind} {where.id}"
                      if where.path else "the artifact path names no file")
    media = mimetypes.guess_type(where.path)[0] or found[0].media_type \
        or "application/octet-stream"
    headers = {"Content-Type": media, "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "sandbox",
               "Content-Disposition": content_disposition("attachment", where.path)}
    return await send_blob(request, found[0].sha256, headers)


async def list_proxied(request: web.Request) -> web.StreamResponse:
    """GET …/mlflow-artifacts/artifacts?path=<dir>: the names in one directory, each
    relative to it (``{"files": [{path, is_dir, file_size}]}``; no ``files`` when
    there are none, as MLflow answers)."""
    body = await Body.of(request)
    if not body.has("path"):
        raise invalid("Missing value for required parameter 'path': list a run's or "
                      "model's artifact root (<experiment id>/<run id>/artifacts) or a "
                      "directory under it")
    where = parse_proxy_path(body.text("path"))
    await _owner(request, where)
    files = entries(await _files(request, where, where.path), where.path)
    return ok({"files": [_info(e.name, e.is_dir, e.size) for e in files] or None})


async def list_run(request: web.Request) -> web.StreamResponse:
    """GET /api/2.0/mlflow/artifacts/list: a run's directory, paths from its root."""
    body = await Body.of(request)
    run_id = body.run_id()
    directory = clean_path(body.text("path", ""))
    run = await read(request, queries.get_run, run_id)
    if run is None:
        raise missing(f"Run with id={run_id} not found")
    listed = entries(await read(request, run_files, run_id, directory), directory)
    prefix = directory + "/" if directory else ""
    return ok({"root_uri": artifact_uri_of_run(run.experiment_id or "0", run_id),
               "files": [_info(prefix + e.name, e.is_dir, e.size) for e in listed] or None})


def _info(path: str, is_dir: bool, size: int | None) -> dict[str, object]:
    info: dict[str, object] = {"path": path, "is_dir": is_dir}
    if size is not None:
        info["file_size"] = size
    return info


async def not_deletable(request: web.Request) -> web.StreamResponse:
    raise MlflowError("ENDPOINT_NOT_FOUND",
                      "runstream keeps every uploaded artifact (each file is an event of its "
                      "run or model), so artifacts cannot be deleted; upload the path again "
                      "to replace what it shows")


async def not_offered(request: web.Request) -> web.StreamResponse:
    raise MlflowError("ENDPOINT_NOT_FOUND",
                      f"{request.method} {request.path} is not served: runstream takes each "
                      "file as one PUT to /api/2.0/mlflow-artifacts/artifacts/<path> (no "
                      "multipart uploads, no presigned URLs)")


ROUTES: list[tuple[str, str, Handler]] = [
    *routes(ARTIFACTS_API, [
        ("GET", "/artifacts", list_proxied),
        ("PUT", "/artifacts/{path:.+}", upload),
        ("GET", "/artifacts/{path:.+}", download),
        ("DELETE", "/artifacts/{path:.+}", not_deletable),
        ("POST", "/mpu/create/{path:.+}", not_offered),
        ("POST", "/mpu/complete/{path:.+}", not_offered),
        ("POST", "/mpu/abort/{path:.+}", not_offered),
    ]),
    *routes(API, [
        ("GET", "/artifacts/list", list_run),
        ("POST", "/artifacts/presigned-upload-url", not_offered),
        ("POST", "/artifacts/presigned-download-url", not_offered),
    ]),
]
