"""The model registry: promote a run's file to a new version of a named model; list
models and versions, whoever made them (``history promote`` or MLflow's client, see
``runstream_server.mlflow.registry``), and download them: a file version as its file,
a directory version (an MLflow model) file by file from its manifest."""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
from aiohttp import web

from runstream.events import ModelVersionCreated, model_stream
from runstream_server import queries, registry
from runstream_server.api.download import content_disposition, send_blob
from runstream_server.api.errors import problem
from runstream_server.api.params import params
from runstream_server.api.routing import Route, json_response, parse_body, read, services
from runstream_server.api.runs import require_run
from runstream_server.names import model_name_problem
from runstream_server.registry import ManifestEntry, ModelSummary, ModelVersion

__all__ = ["ROUTES", "FilePath", "ModelDetail", "ModelPath", "PromoteIn", "VersionPath"]


class PromoteIn(msgspec.Struct):
    run_id: str
    path: str
    name: str

    def __post_init__(self) -> None:
        if (why := model_name_problem(self.name)) is not None:
            raise ValueError(f"`name`: {why}")


ModelName = Annotated[str, msgspec.Meta(description="the model's name")]


class ModelPath(msgspec.Struct):
    """/api/models/{name}"""

    name: ModelName


class VersionPath(msgspec.Struct):
    """/api/models/{name}/versions/{version}…"""

    name: ModelName
    version: Annotated[str, msgspec.Meta(description="a version number, latest, or @alias")]


class ModelDetail(msgspec.Struct):
    name: str
    versions: list[ModelVersion]
    description: str = ""
    tags: dict[str, str] = {}
    aliases: dict[str, int] = {}


class FilePath(msgspec.Struct):
    """/api/models/{name}/versions/{version}/files/{path}"""

    name: ModelName
    version: Annotated[str, msgspec.Meta(description="a version number, latest, or @alias")]
    path: Annotated[str, msgspec.Meta(description="the file's path in the directory version")]


async def promote(request: web.Request) -> web.Response:
    body = await parse_body(request, PromoteIn)
    run = await require_run(request, body.run_id)
    found = [a for a in await read(request, queries.artifacts, run.run_id) if a.path == body.path]
    if not found:
        have = [a.path for a in await read(request, queries.artifacts, run.run_id)]
        raise problem(404, f"run {run.run_id} has no artifact {body.path!r}; it has: "
                           f"{', '.join(have) or 'no artifacts'}")
    artifact = found[0]
    if not services(request).blobs.exists(artifact.sha256):
        raise problem(409, f"the content of {body.path} ({artifact.sha256}) is not in the blob "
                           "store; upload it again (runstream sync) and retry")
    # One numbering with MLflow's model-versions/create: the model stream's seq + 1.
    stored = await services(request).log.write(
        model_stream(body.name),
        lambda seq: ModelVersionCreated(
            name=body.name, version=seq + 1, run_id=run.run_id, path=artifact.path,
            sha256=artifact.sha256, size=artifact.size))
    version = stored.payload()
    assert isinstance(version, ModelVersionCreated)
    made = await read(request, registry.get_version, version.name, version.version)
    if made is None:  # deleted at once by someone else: answer what was made
        made = ModelVersion(version.name, version.version, version.run_id, version.path,
                            version.sha256, version.size, stored.ts)
    return json_response(made, status=201)


async def list_models(request: web.Request) -> web.Response:
    return json_response(await read(request, registry.list_models))


async def _model(request: web.Request, name: str) -> registry.Registered:
    found = await read(request, registry.get_model, name)
    if found is None:
        known = [m.name for m in await read(request, registry.list_models)]
        raise problem(404, f"no model {name!r}; registered models: {', '.join(known) or 'none'}",
                      nearest=known)
    return found


async def get_model(request: web.Request) -> web.Response:
    found = await _model(request, params(request, ModelPath).name)
    m = found.model
    return json_response(ModelDetail(m.name, found.versions, m.description, m.tags, m.aliases))


async def _version(request: web.Request, name: str, raw: str) -> ModelVersion:
    """A version by number, ``latest`` or ``@alias``."""
    found = await _model(request, name)
    versions, aliases = found.versions, found.model.aliases
    if not versions:
        raise problem(404, f"model {name} has no versions yet")
    if raw == "latest":
        return versions[-1]
    if raw.startswith("@"):
        number = aliases.get(raw[1:])
        if number is None:
            raise problem(404, f"model {name} has no alias {raw[1:]!r}; its aliases: "
                               f"{', '.join(sorted(aliases)) or 'none'}",
                          nearest=sorted(aliases))
        raw = str(number)
    match = [v for v in versions if str(v.version) == raw]
    if not match:
        raise problem(404, f"model {name} has versions "
                           f"{', '.join(str(v.version) for v in versions)}, not {raw!r}")
    return match[0]


async def get_version(request: web.Request) -> web.Response:
    q = params(request, VersionPath)
    return json_response(await _version(request, q.name, q.version))


async def download_version(request: web.Request) -> web.StreamResponse:
    q = params(request, VersionPath)
    version = await _version(request, q.name, q.version)
    if version.kind == "directory":
        raise problem(409, f"{version.name} version {version.version} is a directory (an "
                           "MLflow model): list its files at .../files, or download them all "
                           f"with `runstream asset download --model {version.name}/"
                           f"{version.version}`")
    return await send_blob(request, version.sha256, {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": content_disposition("attachment", version.name)})


async def _manifest(request: web.Request, version: ModelVersion) -> list[ManifestEntry]:
    if version.kind == "file":
        return [ManifestEntry(version.path.rsplit("/", 1)[-1], version.sha256, version.size)]
    blobs = services(request).blobs
    if not blobs.exists(version.sha256):
        raise problem(404, f"the file list of {version.name} version {version.version} (blob "
                           f"{version.sha256}) is not in the blob store")
    return await asyncio.to_thread(registry.read_manifest, blobs.path(version.sha256))


async def version_files(request: web.Request) -> web.Response:
    q = params(request, VersionPath)
    return json_response(await _manifest(request, await _version(request, q.name, q.version)))


async def version_file(request: web.Request) -> web.StreamResponse:
    q = params(request, FilePath)
    version = await _version(request, q.name, q.version)
    files = await _manifest(request, version)
    match = [f for f in files if f.path == q.path]
    if not match:
        raise problem(404, f"{version.name} version {version.version} has no file {q.path!r}; "
                           f"it has: {', '.join(f.path for f in files[:20])}")
    return await send_blob(request, match[0].sha256, {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": content_disposition("attachment", q.path)})


MODEL = "/api/models/{name}"
VERSION = MODEL + "/versions/{version}"
ROUTES = [
    Route("POST", "/api/models", promote,
          "Promote a run's file to the next version of a named model.",
          body=PromoteIn, returns=ModelVersion, status=201),
    Route("GET", "/api/models", list_models,
          "Registered models (made by promote or by MLflow's client, versions or not).",
          returns=list[ModelSummary]),
    Route("GET", MODEL, get_model, "A model and its versions.", returns=ModelDetail,
          params=ModelPath),
    Route("GET", VERSION, get_version,
          "One version (a number, `latest` or `@alias`).", returns=ModelVersion,
          params=VersionPath),
    Route("GET", VERSION + "/download", download_version,
          "Download a file version's file (a directory version: see /files).",
          content="application/octet-stream", params=VersionPath),
    Route("GET", VERSION + "/files", version_files,
          "A version's files: a directory version's manifest (a file version: its file).",
          returns=list[ManifestEntry], params=VersionPath),
    Route("GET", VERSION + "/files/{path:[\\s\\S]+}", version_file,
          "Download one file of a version.", content="application/octet-stream",
          params=FilePath),
]
