"""The API's own description: status and OpenAPI, generated from the route table."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

from runstream_server import deadletters
from runstream_server.api.params import openapi_parameters, path_names
from runstream_server.api.routing import Route, json_response, read, services
from runstream_server.eventstore import head_position

__all__ = ["Status", "openapi", "status_routes"]


class Status(msgspec.Struct):
    name: str
    version: str
    position: int
    unknown_events: dict[str, int]
    dead_letters: int
    token_required: bool


def openapi(routes: list[Route], version: str) -> dict[str, Any]:
    schemas = [r.returns for r in routes if r.returns not in (None, dict)]
    schemas += [r.body for r in routes if r.body is not None]
    refs, components = msgspec.json.schema_components(
        schemas, ref_template="#/components/schemas/{name}")
    ref = dict(zip([id(s) for s in schemas], refs, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", r.path)
        op: dict[str, Any] = {"summary": r.summary, "operationId": r.handler.__name__}
        if r.params is not None:
            params = openapi_parameters(r.params, path)
        else:
            params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                      for n in path_names(path)]
        if params:
            op["parameters"] = params
        if r.body is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": ref[id(r.body)]}}}
        if r.returns is not None and r.returns is not dict:
            content: dict[str, Any] = {r.content: {"schema": ref[id(r.returns)]}}
        elif r.returns is dict:
            content = {r.content: {"schema": {"type": "object"}}}
        else:
            content = {r.content: {}}
        op["responses"] = {str(r.status): {"description": "OK", "content": content},
                           "default": {"description": "error", "content": {
                               "application/json": {"schema": {
                                   "type": "object", "properties": {
                                       "error": {"type": "string"}}}}}}}
        paths.setdefault(path, {})[r.method.lower()] = op
    return {"openapi": "3.1.0",
            "info": {"title": "runstream", "version": version,
                     "description": "Event-sourced tracking server for ML runs."},
            "components": {"schemas": components,
                           "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
            "security": [{"token": []}], "paths": paths}


def status_routes(all_routes: list[Route], version: str) -> list[Route]:
    async def status(request: web.Request) -> web.Response:
        svc = services(request)
        position = await read(request, head_position)
        dead = await read(request, deadletters.count)
        return json_response(Status("runstream", version, position, dict(svc.projector.unknown),
                                    dead, bool(svc.settings.token)))

    async def describe(request: web.Request) -> web.Response:
        return json_response(spec)

    routes = [
        Route("GET", "/api", status, "Server status: version and log position.", returns=Status),
        Route("GET", "/api/openapi.json", describe, "This description.", returns=dict),
    ]
    spec = openapi([*all_routes, *routes], version)
    return routes
