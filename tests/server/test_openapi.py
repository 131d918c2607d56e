"""The published API description lists every route the server serves."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import msgspec
from sqlalchemy import Engine

from runstream_server.api.params import path_names
from runstream_server.app import openapi_document, routes
from runstream_server.generate import ROOT, openapi_json
from tests.server.api import ClientFactory, make_app

DOCS_OPENAPI = ROOT / "docs" / "openapi.json"


async def test_every_api_route_is_described(engine: Engine, tmp_path: Path,
                                            aiohttp_client: ClientFactory) -> None:
    app = make_app(engine, tmp_path)
    client = await aiohttp_client(app)
    spec = await (await client.get("/api/openapi.json")).json()
    served = set()
    mlflow = set()
    for resource in app.router.resources():
        path = resource.canonical
        if not path.startswith("/api"):
            continue
        if path.startswith(("/api/2.0/mlflow", "/api/3.0/mlflow")):
            # MLflow's REST API: described by MLflow's own protos (docs/mlflow.md), not here.
            mlflow.add(path)
            continue
        for route in resource:
            if route.method != "*":
                served.add((route.method.lower(), re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path)))
    described = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert served == described
    assert mlflow and not any("mlflow" in p for p in spec["paths"])
    assert len(served) == len(routes())
    for path, ops in spec["paths"].items():
        for op in ops.values():
            assert op["summary"], path


async def test_docs_openapi_json_is_what_the_server_serves(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    served = await (await client.get("/api/openapi.json")).json()
    assert DOCS_OPENAPI.is_file(), "docs/openapi.json is missing: run scripts/generate"
    assert DOCS_OPENAPI.read_text(encoding="utf-8") == openapi_json(), (
        "docs/openapi.json is stale: run scripts/generate")
    assert json.loads(DOCS_OPENAPI.read_text(encoding="utf-8")) == served


def test_every_path_and_query_parameter_is_declared_with_its_type() -> None:
    spec = openapi_document()
    for route in routes():
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", route.path)
        if route.params is None:
            assert not path_names(path), f"{route.method} {path}: declare its Route.params"
            continue
        declared = {f.name for f in msgspec.structs.fields(route.params)}
        assert set(path_names(path)) <= declared, f"{route.method} {path}"
        op = spec["paths"][path][route.method.lower()]
        assert {p["name"] for p in op["parameters"]} == declared
    runs = {p["name"]: p for p in spec["paths"]["/api/runs"]["get"]["parameters"]}
    assert runs["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100_000,
                                       "default": 100}
    assert runs["archived"]["schema"]["enum"] == ["hide", "include", "only"]
    assert runs["limit"]["in"] == "query" and not runs["limit"]["required"]
    asof = {p["name"]: p for p in spec["paths"]["/api/asof/runs"]["get"]["parameters"]}
    assert asof["until"]["required"] and asof["until"]["schema"]["type"] == "integer"
    kind = spec["paths"]["/api/charts/{kind}"]["get"]["parameters"][0]
    assert kind["in"] == "path" and set(kind["schema"]["enum"]) == {
        "scalar", "status", "array", "series"}


async def test_a_bad_query_parameter_is_a_400_naming_it_and_what_is_allowed(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    cases = {
        "/api/runs?limit=lots": "query parameter `limit` must be an integer from 1 to "
                                "100000, not 'lots' (page size)",
        "/api/runs?limit=0": "query parameter `limit` must be an integer from 1 to 100000, "
                             "not '0'",
        "/api/runs?archived=all": "query parameter `archived` must be one of hide, include, "
                                  "only, not 'all'",
        "/api/asof/runs": "query parameter `until` is required: an integer from 0 to 2**63-1",
        "/api/asof/runs?until=-1": "query parameter `until` must be an integer from 0 to "
                                   "2**63-1, not '-1'",
    }
    for url, message in cases.items():
        resp = await client.get(url)
        body = await resp.json()
        assert resp.status == 400 and body["error"].startswith(message), (url, body)
    good = await client.get("/api/runs?limit=5&offset=0&archived=include&unknown=ignored")
    assert good.status == 200 and (await good.json())["runs"] == []


async def test_a_path_parameter_outside_its_set_is_a_404_naming_the_choices(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    resp = await client.get("/api/charts/pie")
    assert resp.status == 404
    assert (await resp.json())["error"] == (
        "path parameter `kind` must be one of array, scalar, series, status, not 'pie' "
        "(the chart's kind)")


def test_scripts_generate_check_names_a_stale_file(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "generate"
    fresh = subprocess.run([str(script), "--check"], capture_output=True, text=True,
                           timeout=120)
    assert fresh.returncode == 0, fresh.stderr
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "openapi.json").write_text(openapi_json() + " ")
    stale = subprocess.run([str(script), "--check", "--root", str(tmp_path)],
                           capture_output=True, text=True, timeout=120)
    assert stale.returncode == 1
    assert "stale: docs/openapi.json (run scripts/generate)" in stale.stderr
    assert "stale: web/src/api/generated.ts" in stale.stderr  # missing counts as stale
    written = subprocess.run([str(script), "--root", str(tmp_path)], capture_output=True,
                             text=True, timeout=120)
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "docs" / "openapi.json").read_text() == openapi_json()
    again = subprocess.run([str(script), "--root", str(tmp_path)], capture_output=True,
                           text=True, timeout=120)
    assert "wrote" not in again.stdout  # idempotent
