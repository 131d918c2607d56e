"""The model registry: promote a run's file to a new version of a named model."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from runstream.events import ModelVersionCreated, model_stream
from runstream_server import queries
from runstream_server.api.download import content_disposition, send_blob
from runstream_server.api.errors import problem
from runstream_server.api.params import params
from runstream_server.api.routing import Route, json_response, parse_body, read, services
from runstream_server.api.runs import require_run
from runstream_server.names import model_name_problem

__all__ = ["ROUTES", "ModelDetail", "ModelPath", "PromoteIn", "VersionPath"]


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
    version: Annotated[str, msgspec.Meta(description="a version number, or latest")]


class ModelDetail(msgspec.Struct):
    name: str
    versions: list[queries.ModelVersion]


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
    stored = await services(request).log.write(
        model_stream(body.name),
        lambda seq: ModelVersionCreated(
            name=body.name, version=seq + 1, run_id=run.run_id, path=artifact.path,
            sha256=artifact.sha256, size=artifact.size))
    version = stored.payload()
    assert isinstance(version, ModelVersionCreated)
    return json_response(queries.ModelVersion(
        version.name, version.version, version.run_id, version.path, version.sha256,
        version.size, stored.ts), status=201)


async def list_models(request: web.Request) -> web.Response:
    return json_response(await read(request, queries.models))


async def _versions(request: web.Request, name: str) -> list[queries.ModelVersion]:
    versions = await read(request, queries.model_versions_of, name)
    if not versions:
        known = [m.name for m in await read(request, queries.models)]
        raise problem(404, f"no model {name!r}; registered models: {', '.join(known) or 'none'}",
                      nearest=known)
    return versions


async def get_model(request: web.Request) -> web.Response:
    name = params(request, ModelPath).name
    return json_response(ModelDetail(name, await _versions(request, name)))


async def _version(request: web.Request) -> queries.ModelVersion:
    q = params(request, VersionPath)
    versions, raw = await _versions(request, q.name), q.version
    if raw == "latest":
        return versions[-1]
    match = [v for v in versions if str(v.version) == raw]
    if not match:
        raise problem(404, f"model {versions[0].name} has versions 1 to {versions[-1].version}, "
                           f"not {raw!r}")
    return match[0]


async def get_version(request: web.Request) -> web.Response:
    return json_response(await _version(request))


async def download_version(request: web.Request) -> web.StreamResponse:
    version = await _version(request)
    return await send_blob(request, version.sha256, {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": content_disposition("attachment", version.name)})


MODEL = "/api/models/{name}"
ROUTES = [
    Route("POST", "/api/models", promote,
          "Promote a run's file to the next version of a named model.",
          body=PromoteIn, returns=queries.ModelVersion, status=201),
    Route("GET", "/api/models", list_models, "Registered models.",
          returns=list[queries.ModelSummary]),
    Route("GET", MODEL, get_model, "A model and its versions.", returns=ModelDetail,
          params=ModelPath),
    Route("GET", MODEL + "/versions/{version}", get_version,
          "One version (a number or `latest`).", returns=queries.ModelVersion,
          params=VersionPath),
    Route("GET", MODEL + "/versions/{version}/download", download_version,
          "Download a version's file.", content="application/octet-stream",
          params=VersionPath),
]
