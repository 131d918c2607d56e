"""MLflow API: the model registry (``model_registry.proto``), which is runstream's own.

A registered model is runstream's model of that name, a version is its version: what
``runstream history promote`` made is visible to ``MlflowClient`` and what MLflow
registered is listed by ``runstream models`` and downloaded by ``runstream asset
download --model``. Versions have one numbering (``model/<name>``'s seq + 1, whoever
makes them); everything else about a name goes to ``registry/<name>``.

A version MLflow registers is a directory (MLmodel, model.pkl, conda.yaml, …): its
``source`` (``models:/m-<id>``, ``runs:/<run>/<path>``, ``mlflow-artifacts:/…``) is
resolved to the files runstream stores for that logged model or run, and their list is
kept as a manifest blob, so the version is fixed even if the run's files change later.
It is READY at once (the client polls 300 s for anything else): its files are stored
already. Not served: renaming a model (a model's streams are named by it) and copying
a version from another registered version's ``models:/<name>/<version>``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal

import msgspec
from aiohttp import web
from sqlalchemy import Connection

from runstream.events import (
    ModelAliasSet,
    ModelVersionChanged,
    ModelVersionCreated,
    Payload,
    RegisteredModelChanged,
    RegistryTagsDeleted,
    RegistryTagsSet,
    model_stream,
    registry_stream,
)
from runstream_server import registry
from runstream_server.api.routing import read, services
from runstream_server.mlflow.files import (
    File,
    Location,
    artifact_uri_of_model,
    artifact_uri_of_run,
    model_files,
    parse_artifact_uri,
    run_files,
)
from runstream_server.mlflow.wire import (
    API,
    Body,
    Handler,
    MlflowError,
    exists,
    invalid,
    missing,
    ms,
    ok,
    pairs_out,
    routes,
)
from runstream_server.mlflow.writes import locks_key, write
from runstream_server.names import model_name_problem
from runstream_server.search import (
    Comparison,
    Grammar,
    Kind,
    SearchError,
    Type,
    holds,
    parse_filter,
    parse_order_by,
    sort_by,
)
from runstream_server.search_sql import decode_page_token, encode_page_token

__all__ = ["ROUTES"]

STAGES = ("None", "Staging", "Production", "Archived")
_ALIAS = re.compile(r"[\w\-]+")
_RESERVED_ALIAS = re.compile(r"[vV]\d+")
MAX_ALIAS_CHARS = 255
MODELS_PAGE = (100, 1000)  # registered-models/search: default, most
VERSIONS_PAGE = (10_000, 200_000)  # model-versions/search


# -- reading a request ---------------------------------------------------------------------


def _name(body: Body) -> str:
    name = body.text("name")
    if (why := model_name_problem(name)) is not None:
        raise invalid(why)
    return name


def _version_number(body: Body) -> int:
    raw = body.data.get("version")
    if raw is None or raw == "":
        raise invalid("Missing value for required parameter 'version'.")
    text = str(raw).strip()
    if not text.isdigit() or int(text) < 1:
        raise invalid(f"Model version must be a positive integer, got {raw!r}")
    return int(text)


def _tags(body: Body) -> dict[str, str]:
    tags = body.pairs("tags")
    for key in tags:
        if not key:
            raise invalid("A tag's key cannot be empty.")
    return tags


def _alias(body: Body) -> str:
    alias = body.text("alias")
    if len(alias) > MAX_ALIAS_CHARS or not _ALIAS.fullmatch(alias):
        raise invalid(f"Invalid alias name: {alias!r}. Names may only contain alphanumerics, "
                      f"underscores (_), and dashes (-), up to {MAX_ALIAS_CHARS} characters.")
    if alias.lower() == "latest" or _RESERVED_ALIAS.fullmatch(alias):
        raise invalid(f"The alias name {alias!r} is reserved ('latest' and v<number> name "
                      "versions): choose another, e.g. 'champion'.")
    return alias


def _stage(raw: str) -> str:
    for stage in STAGES:
        if stage.lower() == raw.lower():
            return stage
    raise invalid(f"Invalid Model Version stage: {raw}. Value must be one of "
                  f"{', '.join(STAGES)}.")


# -- answers -------------------------------------------------------------------------------


def _set(values: dict[str, Any]) -> dict[str, Any]:
    """Only the fields that are set, as protobuf's JSON leaves the others out."""
    return {k: v for k, v in values.items() if v is not None}


def _model_json(model: registry.Registered) -> dict[str, Any]:
    m = model.model
    return _set({
        "name": m.name,
        "creation_timestamp": ms(m.created),
        "last_updated_timestamp": ms(m.updated),
        "description": m.description or None,
        "latest_versions": [_version_json(v) for v in _latest_per_stage(model.versions)],
        "tags": pairs_out(m.tags) or None,
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(m.aliases.items())]
        or None,
    })


def _version_json(v: registry.ModelVersion, source: str | None = None) -> dict[str, Any]:
    return _set({
        "name": v.name,
        "version": str(v.version),
        "creation_timestamp": ms(v.created),
        "last_updated_timestamp": ms(v.updated or v.created),
        "current_stage": v.stage,
        "description": v.description or None,
        "source": source if source is not None else v.source,
        "run_id": v.run_id or None,
        "status": "READY",
        "tags": pairs_out(v.tags) or None,
        "aliases": v.aliases or None,
        "model_id": v.model_id or None,
    })


def _latest_per_stage(versions: Sequence[registry.ModelVersion],
                      stages: Sequence[str] = STAGES) -> list[registry.ModelVersion]:
    latest: dict[str, registry.ModelVersion] = {}
    for v in versions:
        if v.stage in stages and (v.stage not in latest or v.version > latest[v.stage].version):
            latest[v.stage] = v
    return sorted(latest.values(), key=lambda v: v.version)


# -- where a version's files are, as MLflow names them ---------------------------------------


def _location(v: registry.ModelVersion) -> Location:
    """Where the version's files are: its source's run or logged model (runstream's
    promote: its run), at its path."""
    if v.source:
        try:
            found = parse_artifact_uri(v.source)
        except MlflowError:
            found = None
        if found is not None and found.kind == "model":
            return Location("model", found.id, v.path)
    return Location("run", v.run_id, v.path)


def _download_uri(conn: Connection, v: registry.ModelVersion) -> str:
    where = _location(v)
    if where.kind == "model":
        origin = registry.logged_model_origin(conn, where.id)
        root = artifact_uri_of_model(origin[0] if origin else "0", where.id)
    else:
        root = artifact_uri_of_run(registry.run_experiment(conn, where.id) or "0", where.id)
    return f"{root}/{where.path}" if where.path else root


def _answer_source(conn: Connection, v: registry.ModelVersion) -> str:
    """MLflow's ``source``: as its client gave it; for runstream's promote, the MLflow
    URI of the promoted file."""
    return v.source or _download_uri(conn, v)


# -- reads ---------------------------------------------------------------------------------


def _require_model(conn: Connection, name: str) -> registry.Registered:
    found = registry.get_model(conn, name)
    if found is None:
        raise missing(f"Registered Model with name={name} not found")
    return found


def _require_version(conn: Connection, name: str, version: int) -> registry.ModelVersion:
    _require_model(conn, name)
    found = registry.get_version(conn, name, version)
    if found is None:
        raise missing(f"Model Version (name={name}, version={version}) not found")
    return found


def _version_answer(conn: Connection, name: str, version: int) -> dict[str, Any]:
    v = _require_version(conn, name, version)
    return {"model_version": _version_json(v, _answer_source(conn, v))}


def _model_answer(conn: Connection, name: str) -> dict[str, Any]:
    return {"registered_model": _model_json(_require_model(conn, name))}


# -- search --------------------------------------------------------------------------------


def _registry_rules(types: dict[str, str]) -> Any:
    """Operators by attribute: ``string`` (=, !=, LIKE, ILIKE), ``list`` (and IN, NOT IN),
    ``number`` (comparisons and IN, NOT IN; a quoted number too, as MLflow takes it)."""
    ops = {"string": frozenset({"=", "!=", "LIKE", "ILIKE"}),
           "list": frozenset({"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"}),
           "number": frozenset({"=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN"})}

    def rules(kind: Kind, key: str, op: str) -> tuple[frozenset[str], Type]:
        if kind == "tag":
            return ops["string"], "string"
        typ = types[key]
        return ops[typ], "any" if typ == "number" else "string"

    return rules


_REGISTRY_KINDS: dict[str, Kind] = {"tags": "tag", "tag": "tag", "attributes": "attribute",
                                    "attribute": "attribute"}
_MODEL_TYPES = {"name": "string"}
_VERSION_TYPES = {"name": "list", "run_id": "list", "version_number": "number",
                  "source_path": "string", "model_id": "list"}
# The filter language of runs (one parser), over what the registry has.
REGISTERED_MODELS = Grammar(
    "registered models", _REGISTRY_KINDS, {"name": ("name", "string")},
    _registry_rules(_MODEL_TYPES), "name or tags.team")
MODEL_VERSIONS = Grammar(
    "model versions", _REGISTRY_KINDS,
    {k: (k, "number" if t == "number" else "string") for k, t in _VERSION_TYPES.items()},
    _registry_rules(_VERSION_TYPES), "name, run_id, version_number or tags.team")
_MODEL_ORDER = Grammar("registered models", {}, {
    "name": ("name", "string"), "timestamp": ("last_updated_timestamp", "number"),
    "creation_timestamp": ("creation_timestamp", "number"),
    "last_updated_timestamp": ("last_updated_timestamp", "number")},
    _registry_rules({}), "name, creation_timestamp or last_updated_timestamp")
_VERSION_ORDER = Grammar("model versions", {}, {
    "name": ("name", "string"), "version_number": ("version_number", "number"),
    "creation_timestamp": ("creation_timestamp", "number"),
    "last_updated_timestamp": ("last_updated_timestamp", "number"),
    "timestamp": ("last_updated_timestamp", "number")},
    _registry_rules({}), "name, version_number or last_updated_timestamp")


def _filter(text: str, grammar: Grammar) -> list[Comparison]:
    try:
        found = parse_filter(text, grammar)
    except SearchError as exc:
        raise invalid(f"Invalid filter {text!r}: {exc}") from None
    typed = []
    for c in found:  # version numbers compare as numbers, quoted or not
        if c.kind == "attribute" and grammar.type_of(c.key) == "number":
            value = tuple(_number(v, text) for v in c.value) if isinstance(c.value, tuple) \
                else _number(c.value, text)
            c = dataclasses.replace(c, value=value)
        typed.append(c)
    return typed


def _number(value: Any, text: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid filter {text!r}: {value!r} is not a number") from None


def _matches(clauses: Sequence[Comparison], field: Callable[[Comparison], Any]) -> bool:
    # A tag the item does not have equals nothing, so it is "!=" anything (the client adds
    # tags.`mlflow.prompt.is_prompt` != 'true' to every search).
    return all(holds(c, field(c), missing_differs=True) for c in clauses)


def _order(items: list[Any], clauses: Sequence[str], grammar: Grammar,
           keys: dict[str, Callable[[Any], Any]], default: Sequence[str]) -> list[Any]:
    """``items`` sorted by ``clauses`` (``"name ASC"``, ``"version_number DESC"``…),
    then by ``default``'s keys not named."""
    try:
        parsed = parse_order_by(clauses, grammar)
        named = {o.key for o in parsed}
        parsed += [o for o in parse_order_by(default, grammar) if o.key not in named]
    except SearchError as exc:
        raise invalid(f"Invalid order_by {list(clauses)!r}: {exc}") from None
    return sort_by(items, parsed, lambda item, o: keys[o.key](item))


def _page(items: list[Any], body: Body, limits: tuple[int, int], *query: Any,
          ) -> tuple[list[Any], str | None]:
    size = body.integer("max_results", limits[0])
    if not 1 <= size <= limits[1]:
        raise invalid(f"Invalid value {size} for parameter 'max_results': from 1 to "
                      f"{limits[1]}")
    try:
        start = decode_page_token(body.text("page_token"), *query) \
            if body.has("page_token") else 0
    except SearchError as exc:
        raise invalid(str(exc)) from None
    end = start + size
    return items[start:end], encode_page_token(end, *query) if end < len(items) else None


def _tag_or(tags: dict[str, str], c: Comparison) -> str | None:
    return tags.get(c.key) if c.kind == "tag" else None


def _search_models(conn: Connection, body: Body) -> dict[str, Any]:
    text = body.text("filter", "")
    clauses = _filter(text, REGISTERED_MODELS)
    found = []
    for summary in registry.list_models(conn):
        def field(c: Comparison, s: registry.ModelSummary = summary) -> Any:
            return s.name if c.kind == "attribute" else _tag_or(s.tags, c)
        if _matches(clauses, field):
            found.append(summary)
    keys: dict[str, Callable[[Any], Any]] = {
        "name": lambda s: s.name, "creation_timestamp": lambda s: s.created,
        "last_updated_timestamp": lambda s: s.updated}
    order_by = body.strings("order_by")
    ordered = _order(found, order_by, _MODEL_ORDER, keys, ["name ASC"])
    page, token = _page(ordered, body, MODELS_PAGE, "registered-models", text, order_by)
    models = [_model_json(m) for s in page if (m := registry.get_model(conn, s.name))]
    return {"registered_models": models or None, "next_page_token": token}


def _search_versions(conn: Connection, body: Body) -> dict[str, Any]:
    text = body.text("filter", "")
    clauses = _filter(text, MODEL_VERSIONS)
    names = [str(c.value) for c in clauses
             if c.kind == "attribute" and c.key == "name" and c.op == "="]
    runs = [str(c.value) for c in clauses
            if c.kind == "attribute" and c.key == "run_id" and c.op == "="]
    versions = registry.find_versions(conn, names or None, runs[0] if runs else None)
    sources = {(v.name, v.version): _answer_source(conn, v) for v in versions}
    found = []
    for version in versions:
        def field(c: Comparison, v: registry.ModelVersion = version) -> Any:
            return {"name": v.name, "run_id": v.run_id, "version_number": v.version,
                    "model_id": v.model_id,
                    "source_path": sources[(v.name, v.version)]}.get(c.key) \
                if c.kind == "attribute" else _tag_or(v.tags, c)
        if _matches(clauses, field):
            found.append(version)
    keys: dict[str, Callable[[Any], Any]] = {
        "name": lambda v: v.name, "version_number": lambda v: v.version,
        "creation_timestamp": lambda v: v.created,
        "last_updated_timestamp": lambda v: v.updated}
    order_by = body.strings("order_by")
    ordered = _order(found, order_by, _VERSION_ORDER, keys,
                     ["last_updated_timestamp DESC", "name ASC", "version_number DESC"])
    page, token = _page(ordered, body, VERSIONS_PAGE, "model-versions", text, order_by)
    return {"model_versions": [_version_json(v, sources[(v.name, v.version)])
                               for v in page] or None,
            "next_page_token": token}


# -- writes --------------------------------------------------------------------------------


async def _write_registry(request: web.Request, name: str,
                          payloads: Sequence[Payload]) -> None:
    await write(request, registry_stream(name), payloads)


async def create_model(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    name, tags = _name(body), _tags(body)
    description = body.text("description", "")
    stream = registry_stream(name)
    events: list[Payload] = [RegisteredModelChanged(name=name, change="created",
                                                    description=description)]
    if tags:
        events.append(RegistryTagsSet(name=name, version=0, tags=tags))
    # Checked and written under the stream's lock: two creations of one name in this
    # process cannot both pass (across replicas the view keeps the first).
    async with request.app[locks_key].of(stream):
        if await read(request, registry.get_model, name) is not None:
            raise exists(f"Registered Model (name={name}) already exists.")
        await services(request).log.write_all(stream, lambda _seq: events)
    return ok(await read(request, _model_answer, name))


async def get_model(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    return ok(await read(request, _model_answer, body.text("name")))


async def rename_model(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    name = body.text("name")
    await read(request, _require_model, name)
    raise MlflowError("ENDPOINT_NOT_FOUND",
                      f"runstream does not rename registered models (its versions' history is "
                      f"kept under the name {name!r}); register the versions under the new "
                      "name instead")


async def update_model(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    name = body.text("name")
    await read(request, _require_model, name)
    description = body.text("description", "")
    await _write_registry(request, name, [RegisteredModelChanged(
        name=name, change="described", description=description)])
    return ok(await read(request, _model_answer, name))


async def delete_model(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    name = body.text("name")
    await read(request, _require_model, name)
    await _write_registry(request, name, [RegisteredModelChanged(name=name, change="deleted")])
    return ok()


async def search_models(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    return ok(await read(request, _search_models, body))


def _latest_versions(conn: Connection, name: str, stages: list[str]) -> dict[str, Any]:
    model = _require_model(conn, name)
    wanted = [_stage(s) for s in stages] or list(STAGES)
    return {"model_versions": [_version_json(v, _answer_source(conn, v))
                               for v in _latest_per_stage(model.versions, wanted)] or None}


async def latest_versions(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    return ok(await read(request, _latest_versions, body.text("name"), body.strings("stages")))


async def set_model_tag(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    name, key = body.text("name"), body.text("key")
    value = str(body.data.get("value") or "")
    await read(request, _require_model, name)
    await _write_registry(request, name, [RegistryTagsSet(name=name, version=0,
                                                          tags={key: value})])
    return ok()


async def delete_model_tag(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    name, key = body.text("name"), body.text("key")
    model = await read(request, _require_model, name)
    if key in model.model.tags:
        await _write_registry(request, name, [RegistryTagsDeleted(name=name, version=0,
                                                                  keys=[key])])
    return ok()


async def set_alias(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    name, alias, version = body.text("name"), _alias(body), _version_number(body)
    await read(request, _require_version, name, version)
    await _write_registry(request, name, [ModelAliasSet(name=name, alias=alias,
                                                        version=version)])
    return ok()


async def delete_alias(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    name, alias = body.text("name"), body.text("alias")
    model = await read(request, _require_model, name)
    if alias in model.model.aliases:
        await _write_registry(request, name, [ModelAliasSet(name=name, alias=alias, version=0)])
    return ok()


def _by_alias(conn: Connection, name: str, alias: str) -> dict[str, Any]:
    model = _require_model(conn, name)
    version = model.model.aliases.get(alias)
    if version is None:
        raise missing(f"Registered model alias {alias} not found for model {name}; its "
                      f"aliases: {', '.join(sorted(model.model.aliases)) or 'none'}")
    return _version_answer(conn, name, version)


async def get_by_alias(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    return ok(await read(request, _by_alias, body.text("name"), body.text("alias")))


# -- model versions ------------------------------------------------------------------------


class _Resolved(msgspec.Struct, frozen=True):
    run_id: str
    model_id: str
    path: str
    files: list[File]


def _resolve(conn: Connection, source: str, run_id: str, model_id: str) -> _Resolved:
    """The files ``source`` names, with the run (and logged model) they belong to."""
    scheme = source.partition(":")[0].lower()
    if scheme == "models" and not re.match(r"models:/*m-[0-9a-f]{32}(/|$)", source):
        raise invalid(f"Invalid model version source {source!r}: runstream registers a "
                      "logged model (models:/m-<id>) or a run's files (runs:/<run id>/<path>, "
                      "mlflow-artifacts:/…), not another registered version; register that "
                      "version's source instead")
    where = parse_artifact_uri(source)
    if where.kind == "model":
        if model_id and model_id != where.id:
            raise invalid(f"Invalid model version source {source!r}: the model_id request "
                          f"parameter ({model_id}) must identify the model that contains it")
        origin = registry.logged_model_origin(conn, where.id)
        if origin is None:
            raise missing(f"Logged model {where.id} (the source {source!r}) not found")
        if run_id and origin[1] and run_id != origin[1]:
            raise invalid(f"Invalid model version source {source!r}: logged model {where.id} "
                          f"was logged by run {origin[1]}, not by run_id {run_id}")
        return _Resolved(run_id or origin[1], where.id, where.path,
                         model_files(conn, where.id, where.path))
    if run_id and run_id != where.id:
        raise invalid(f"Invalid model version source {source!r}: the run_id request "
                      f"parameter ({run_id}) must identify the run that contains it")
    if registry.run_experiment(conn, where.id) is None:
        raise missing(f"Run {where.id} (the source {source!r}) not found")
    return _Resolved(where.id, model_id, where.path, run_files(conn, where.id, where.path))


async def _stored(request: web.Request, data: bytes, sha256: str) -> None:
    blobs = services(request).blobs
    if blobs.exists(sha256):
        return

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    await blobs.put(sha256, chunks())


async def create_version(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    name, source = body.text("name"), body.text("source")
    tags, description = _tags(body), body.text("description", "")
    run_id, model_id = body.text("run_id", ""), body.text("model_id", "")
    await read(request, _require_model, name)
    found = await read(request, _resolve, source, run_id, model_id)
    if not found.files:
        raise invalid(f"Invalid model version source {source!r}: it holds no files in "
                      "runstream (upload the model first: log_model, log_artifacts)")
    blobs = services(request).blobs
    absent = [f.path for f in found.files if not blobs.exists(f.sha256)]
    if absent:
        raise MlflowError("INVALID_STATE", f"the content of {', '.join(absent[:5])} is not in "
                                           "the blob store; upload it again and retry")
    kind: Literal["file", "directory"]
    if len(found.files) == 1 and found.files[0].path == found.path:
        only = found.files[0]  # one file: a file version, as runstream's promote makes
        kind, sha, size, path = "file", only.sha256, only.size, only.path
    else:
        start = len(found.path) + 1 if found.path else 0
        manifest = [registry.ManifestEntry(f.path[start:], f.sha256, f.size)
                    for f in found.files]
        data, sha = registry.encode_manifest(manifest)
        await _stored(request, data, sha)
        kind, size, path = "directory", sum(f.size for f in manifest), found.path
    stored = await write(request, model_stream(name), lambda seq: [ModelVersionCreated(
        name=name, version=seq + 1, run_id=found.run_id, path=path, sha256=sha, size=size,
        kind=kind, source=source, model_id=found.model_id, description=description,
        tags=tags)])
    made = stored[0].payload()
    assert isinstance(made, ModelVersionCreated)
    return ok(await read(request, _version_answer, name, made.version))


async def get_version(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    return ok(await read(request, _version_answer, body.text("name"), _version_number(body)))


async def update_version(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    name, version = body.text("name"), _version_number(body)
    await read(request, _require_version, name, version)
    if body.has("description"):
        await _write_registry(request, name, [ModelVersionChanged(
            name=name, version=version, change="described", value=body.text("description"))])
    return ok(await read(request, _version_answer, name, version))


async def transition_stage(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    name, version = body.text("name"), _version_number(body)
    stage = _stage(body.text("stage"))
    archive = body.flag("archive_existing_versions")
    if archive and stage not in ("Staging", "Production"):
        raise invalid(f"archive_existing_versions is only allowed with the stages Staging "
                      f"and Production, not {stage}")
    await read(request, _require_version, name, version)
    events: list[Payload] = [ModelVersionChanged(name=name, version=version, change="staged",
                                                 value=stage)]
    if archive:
        others = await read(request, registry.versions_of, name)
        events += [ModelVersionChanged(name=name, version=v.version, change="staged",
                                       value="Archived")
                   for v in others if v.stage == stage and v.version != version]
    await _write_registry(request, name, events)
    return ok(await read(request, _version_answer, name, version))


async def delete_version(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    name, version = body.text("name"), _version_number(body)
    await read(request, _require_version, name, version)
    await _write_registry(request, name, [ModelVersionChanged(name=name, version=version,
                                                              change="deleted")])
    return ok()


async def search_versions(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    return ok(await read(request, _search_versions, body))


def _download(conn: Connection, name: str, version: int) -> dict[str, Any]:
    return {"artifact_uri": _download_uri(conn, _require_version(conn, name, version))}


async def download_uri(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    return ok(await read(request, _download, body.text("name"), _version_number(body)))


async def set_version_tag(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    name, version, key = body.text("name"), _version_number(body), body.text("key")
    value = str(body.data.get("value") or "")
    await read(request, _require_version, name, version)
    await _write_registry(request, name, [RegistryTagsSet(name=name, version=version,
                                                          tags={key: value})])
    return ok()


async def delete_version_tag(request: web.Request) -> web.StreamResponse:
    body = await Body.of(request)
    name, version, key = body.text("name"), _version_number(body), body.text("key")
    found = await read(request, _require_version, name, version)
    if key in found.tags:
        await _write_registry(request, name, [RegistryTagsDeleted(name=name, version=version,
                                                                  keys=[key])])
    return ok()


_TABLE: list[tuple[str, str, Handler]] = [
    ("POST", "/registered-models/create", create_model),
    ("GET", "/registered-models/get", get_model),
    ("POST", "/registered-models/rename", rename_model),
    ("PATCH", "/registered-models/update", update_model),
    ("DELETE", "/registered-models/delete", delete_model),
    ("GET", "/registered-models/search", search_models),
    ("POST", "/registered-models/get-latest-versions", latest_versions),
    ("GET", "/registered-models/get-latest-versions", latest_versions),
    ("POST", "/registered-models/set-tag", set_model_tag),
    ("DELETE", "/registered-models/delete-tag", delete_model_tag),
    ("POST", "/registered-models/alias", set_alias),
    ("DELETE", "/registered-models/alias", delete_alias),
    ("GET", "/registered-models/alias", get_by_alias),
    ("POST", "/model-versions/create", create_version),
    ("GET", "/model-versions/get", get_version),
    ("PATCH", "/model-versions/update", update_version),
    ("POST", "/model-versions/transition-stage", transition_stage),
    ("DELETE", "/model-versions/delete", delete_version),
    ("GET", "/model-versions/search", search_versions),
    ("GET", "/model-versions/get-download-uri", download_uri),
    ("POST", "/model-versions/set-tag", set_version_tag),
    ("DELETE", "/model-versions/delete-tag", delete_version_tag),
]

ROUTES: list[tuple[str, str, Handler]] = routes(API, _TABLE)
