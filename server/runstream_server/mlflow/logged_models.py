"""MLflow API: logged models (MLflow 3), and the outputs of runs.

``mlflow.<flavor>.log_model`` in MLflow 3 creates a logged model
(``POST /logged-models``, answered PENDING with its ``artifact_uri``
``mlflow-artifacts:/<exp>/models/<id>/artifacts``), names it as the run's output
(``POST /runs/outputs``), uploads its files through the artifact proxy and finalizes it
(``PATCH /logged-models/<id>``: READY, or UPLOAD_FAILED when saving failed). Loading it
back (``models:/m-<id>``) reads it (``GET``) and downloads its files. Each call is an
event on ``logged-model/<id>``; the view is ``projections.logged_models``.

What a logged model's ``data.metrics`` would hold (the run's metrics logged with its
``model_id``) is not recorded: it is always empty. Parameters are recorded at creation
only (the first 100, which is what the client sends with ``POST /logged-models``);
``POST /logged-models/<id>/params``, which the client uses only past 100, is refused.

``POST /runs/outputs`` records nothing when the model already names the run
(``source_run_id``) at step 0, which is what ``log_model`` sends; otherwise it sets the
run tag ``mlflow.runstream.output.<model id>`` = the step on ``mlflow/<run id>``.
``outputs_of_run`` reads both back, for ``runs/get``'s ``outputs``.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from aiohttp import web
from sqlalchemy import Connection, select

from runstream.events import (
    LoggedModelCreated,
    LoggedModelDeleted,
    LoggedModelFinalized,
    LoggedModelTagsDeleted,
    LoggedModelTagsSet,
    TagsSet,
    logged_model_stream,
    mlflow_stream,
)
from runstream_server import queries
from runstream_server.api.routing import read
from runstream_server.mlflow.files import artifact_uri_of_model, clean_path, entries, model_files
from runstream_server.mlflow.wire import (
    API,
    Body,
    Handler,
    invalid,
    missing,
    ms,
    ok,
    pairs_out,
    routes,
)
from runstream_server.mlflow.writes import write_one
from runstream_server.projections.experiments import DEFAULT_ID, experiments_table
from runstream_server.projections.logged_models import logged_models
from runstream_server.projections.registry import model_versions
from runstream_server.search import (
    Comparison,
    Grammar,
    Ordering,
    SearchError,
    Type,
    holds,
    keyed,
    parse_filter,
    parse_order_by,
    sort_by,
)
from runstream_server.search_sql import decode_page_token, encode_page_token
from runstream_server.search_tokens import Value

__all__ = ["OUTPUT_TAG", "ROUTES", "LoggedModel", "find", "outputs_of_run"]

OUTPUT_TAG = "mlflow.runstream.output."  # + model id: a run's output that names another run
DEFAULT_MAX_RESULTS = 100
MAX_RESULTS = 1000
_STATUS_OUT = {"PENDING": "LOGGED_MODEL_PENDING", "READY": "LOGGED_MODEL_READY",
               "FAILED": "LOGGED_MODEL_UPLOAD_FAILED"}
_STATUS_IN = {"LOGGED_MODEL_READY": "READY", "READY": "READY", "2": "READY",
              "LOGGED_MODEL_UPLOAD_FAILED": "FAILED", "FAILED": "FAILED", "3": "FAILED"}


class LoggedModel(msgspec.Struct, kw_only=True):
    """A row of the logged models view."""

    model_id: str
    experiment_id: str
    name: str
    source_run_id: str
    model_type: str
    status: str  # PENDING | READY | FAILED
    params: dict[str, str]
    tags: dict[str, str]
    deleted: bool
    created: float
    updated: float
    # The registry's versions made from it: (registered model name, version).
    registrations: list[tuple[str, int]] = []


def find(conn: Connection, model_id: str) -> LoggedModel | None:
    """The logged model ``model_id`` (deleted ones too), or None."""
    row = conn.execute(select(logged_models).where(
        logged_models.c.model_id == model_id)).first()
    return None if row is None else _with_registrations(conn, [_model(row)])[0]


def _model(row: Any) -> LoggedModel:
    return LoggedModel(model_id=row.model_id, experiment_id=row.experiment_id, name=row.name,
                       source_run_id=row.source_run_id, model_type=row.model_type,
                       status=row.status, params=dict(row.params), tags=dict(row.tags),
                       deleted=bool(row.deleted), created=row.created, updated=row.updated)


def _with_registrations(conn: Connection, models: list[LoggedModel]) -> list[LoggedModel]:
    """``models`` with the registry's live versions registered from each."""
    if not models:
        return models
    v = model_versions.c
    found: dict[str, list[tuple[str, int]]] = {}
    for name, version, model_id in conn.execute(
            select(v.name, v.version, v.model_id)
            .where(v.model_id.in_([m.model_id for m in models]), v.deleted.is_(False))
            .order_by(v.name, v.version)):
        found.setdefault(model_id, []).append((name, int(version)))
    for m in models:
        m.registrations = found.get(m.model_id, [])
    return models


def outputs_of_run(conn: Connection, run_id: str) -> list[tuple[str, int]]:
    """The models a run output, as ``(model id, step)``: the logged models naming it as
    their source (step 0) and those ``runs/outputs`` recorded as a run tag."""
    c = logged_models.c
    found = {m: 0 for m in conn.execute(select(c.model_id).where(
        c.source_run_id == run_id, c.deleted.is_(False)).order_by(c.created)).scalars()}
    run = queries.get_run(conn, run_id)
    for key, value in (run.tags if run is not None else {}).items():
        if key.startswith(OUTPUT_TAG):
            try:
                found[key[len(OUTPUT_TAG):]] = int(value)
            except ValueError:
                continue
    return list(found.items())


def model_json(m: LoggedModel) -> dict[str, Any]:
    """A logged model as MLflow's ``LoggedModel`` message."""
    info = {
        "model_id": m.model_id, "experiment_id": m.experiment_id, "name": m.name,
        "creation_timestamp_ms": ms(m.created), "last_updated_timestamp_ms": ms(m.updated),
        "artifact_uri": artifact_uri_of_model(m.experiment_id, m.model_id),
        "status": _STATUS_OUT.get(m.status, "LOGGED_MODEL_STATUS_UNSPECIFIED"),
        "model_type": m.model_type or None, "source_run_id": m.source_run_id or None,
        "tags": pairs_out(m.tags),
        "registrations": [{"name": name, "version": str(version)}
                          for name, version in m.registrations] or None,
    }
    return {"info": {k: v for k, v in info.items() if v is not None},
            "data": {"params": pairs_out(m.params), "metrics": []}}


async def _require(request: web.Request, model_id: str, *, deleted: bool = False,
                   ) -> LoggedModel:
    model = await read(request, find, model_id)
    if model is None or (model.deleted and not deleted):
        raise missing(f"Logged model with ID '{model_id}' not found"
                      + (" (it was deleted)" if model is not None else ""))
    return model


async def _answer(request: web.Request, model_id: str) -> web.Response:
    return ok({"model": model_json(await _require(request, model_id, deleted=True))})


def _experiment(conn: Connection, experiment_id: str) -> str | None:
    """The experiment's lifecycle stage, or None when there is none."""
    c = experiments_table.c
    stage = conn.execute(select(c.lifecycle_stage).where(
        c.experiment_id == experiment_id)).scalar()
    if stage is None and experiment_id == DEFAULT_ID:
        return "active"
    return None if stage is None else str(stage)


async def create(request: web.Request) -> web.StreamResponse:
    """POST /logged-models"""
    body = await Body.of(request)
    experiment_id = body.text("experiment_id")
    stage = await read(request, _experiment, experiment_id)
    if stage is None:
        raise missing(f"No Experiment with id={experiment_id} exists")
    if stage != "active":
        raise invalid(f"The experiment {experiment_id} is deleted: restore it "
                      "(mlflow.tracking.MlflowClient().restore_experiment) to log models to it")
    run_id = body.text("source_run_id", "")
    if run_id and await read(request, queries.get_run, run_id) is None:
        raise missing(f"Run with id={run_id} not found (the logged model's source_run_id)")
    model_id = f"m-{uuid.uuid4().hex}"
    event = LoggedModelCreated(
        model_id=model_id, experiment_id=experiment_id,
        name=body.text("name", "") or f"model-{model_id[2:10]}", source_run_id=run_id,
        model_type=body.text("model_type", ""), params=body.pairs("params"),
        tags=body.pairs("tags"))
    await write_one(request, logged_model_stream(model_id), event)
    return await _answer(request, model_id)


async def get(request: web.Request) -> web.StreamResponse:
    """GET /logged-models/<id> (``allow_deleted=true`` shows a deleted one)."""
    body = await Body.of(request)
    model = await _require(request, request.match_info["model_id"],
                           deleted=body.flag("allow_deleted"))
    return ok({"model": model_json(model)})


async def finalize(request: web.Request) -> web.StreamResponse:
    """PATCH /logged-models/<id>: status LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED."""
    model_id = request.match_info["model_id"]
    body = await Body.of(request)
    given = body.data.get("status")
    status = _STATUS_IN.get(str(given).upper() if given is not None else "")
    if status is None:
        raise invalid(f"Invalid value {given!r} for parameter 'status': a logged model is "
                      "finalized as LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED")
    await _require(request, model_id)
    await write_one(request, logged_model_stream(model_id),
                    LoggedModelFinalized(model_id=model_id,
                                         status="READY" if status == "READY" else "FAILED"))
    return await _answer(request, model_id)


async def delete(request: web.Request) -> web.StreamResponse:
    """DELETE /logged-models/<id>: hidden; its id and files stay."""
    model_id = request.match_info["model_id"]
    await _require(request, model_id)
    await write_one(request, logged_model_stream(model_id),
                    LoggedModelDeleted(model_id=model_id))
    return ok()


async def set_tags(request: web.Request) -> web.StreamResponse:
    """PATCH /logged-models/<id>/tags"""
    model_id = request.match_info["model_id"]
    tags = (await Body.of(request)).pairs("tags")
    await _require(request, model_id)
    if tags:
        await write_one(request, logged_model_stream(model_id),
                        LoggedModelTagsSet(model_id=model_id, tags=tags))
    return ok()


async def delete_tag(request: web.Request) -> web.StreamResponse:
    """DELETE /logged-models/<id>/tags/<key> (a key may hold slashes)."""
    model_id, key = request.match_info["model_id"], request.match_info["key"]
    model = await _require(request, model_id)
    if key not in model.tags:
        raise missing(f"No tag with key {key!r} found for logged model {model_id}")
    await write_one(request, logged_model_stream(model_id),
                    LoggedModelTagsDeleted(model_id=model_id, keys=[key]))
    return ok()


async def log_params(request: web.Request) -> web.StreamResponse:
    """POST /logged-models/<id>/params: refused (see the module's docstring)."""
    model_id = request.match_info["model_id"]
    await _require(request, model_id)
    raise invalid("runstream records a logged model's parameters when it is created "
                  "(MLflow's client sends the first 100 then) and cannot add more later; "
                  "log_model copies the run's parameters into the model: a run with more "
                  "than 100 parameters cannot log a model to runstream yet")


async def list_files(request: web.Request) -> web.StreamResponse:
    """GET /logged-models/<id>/artifacts/directories?artifact_directory_path=<dir>"""
    model = await _require(request, request.match_info["model_id"])
    body = await Body.of(request)
    directory = clean_path(body.text("artifact_directory_path", ""))
    listed = entries(await read(request, model_files, model.model_id, directory), directory)
    prefix = directory + "/" if directory else ""
    files = []
    for e in listed:
        info: dict[str, Any] = {"path": prefix + e.name, "is_dir": e.is_dir}
        if e.size is not None:
            info["file_size"] = e.size
        files.append(info)
    return ok({"root_uri": artifact_uri_of_model(model.experiment_id, model.model_id),
               "files": files or None})


async def log_outputs(request: web.Request) -> web.StreamResponse:
    """POST /runs/outputs: ``models`` [{model_id, step}] are the run's outputs."""
    body = await Body.of(request)
    run_id = body.run_id()
    if await read(request, queries.get_run, run_id) is None:
        raise missing(f"Run with id={run_id} not found")
    tags: dict[str, str] = {}
    for item in body.items("models"):
        if not isinstance(item, dict) or not isinstance(item.get("model_id"), str):
            raise invalid("Invalid value for parameter 'models': a list of "
                          "{model_id, step} objects")
        step = Body(item).integer("step", 0)
        model = await _require(request, item["model_id"])
        if model.source_run_id != run_id or step != 0:
            tags[OUTPUT_TAG + model.model_id] = str(step)
    if tags:
        await write_one(request, mlflow_stream(run_id), TagsSet(tags=tags))
    return ok()


# -- search ------------------------------------------------------------------------------

_ATTRIBUTES: dict[str, tuple[str, Type]] = {
    "name": ("name", "string"), "model_id": ("model_id", "string"),
    "model_type": ("model_type", "string"), "status": ("status", "string"),
    "source_run_id": ("source_run_id", "string"),
    "creation_timestamp": ("created", "number"), "creation_time": ("created", "number"),
    "last_updated_timestamp": ("updated", "number"), "last_updated_time": ("updated", "number")}
_STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"})
# The filter language of runs (one parser), over what a logged model has: no metrics or
# datasets (runstream does not link them to logged models).
LOGGED_MODELS = Grammar(
    "logged models",
    {"params": "param", "param": "param", "parameters": "param", "tags": "tag", "tag": "tag",
     "attributes": "attribute", "attribute": "attribute", "attr": "attribute"},
    _ATTRIBUTES, keyed(_STRING_OPS, attributes=_ATTRIBUTES),
    "name, source_run_id, params.alpha or tags.team")


def _field(m: LoggedModel, kind: str, key: str) -> str | int | None:
    if kind == "param":
        return m.params.get(key)
    if kind == "tag":
        return m.tags.get(key)
    if key in ("created", "updated"):
        return ms(m.created if key == "created" else m.updated) or 0
    return str(getattr(m, key))


def _status(value: Value) -> Value:
    """A status as the client may write it (READY, LOGGED_MODEL_READY, 2) as stored."""
    text = str(value).upper()
    return _STATUS_IN.get(text, "PENDING" if text.endswith("PENDING") else str(value))


def _normalized(c: Comparison) -> Comparison:
    if c.kind != "attribute" or c.key != "status" or c.value is None:
        return c
    value = tuple(_status(v) for v in c.value) if isinstance(c.value, tuple) \
        else _status(c.value)
    return dataclasses.replace(c, value=value)


def _orderings(items: Sequence[Any]) -> list[Ordering]:
    """``order_by`` as the client sends it for logged models: ``{field_name, ascending}``."""
    found = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("field_name"), str):
            raise invalid("Invalid value for parameter 'order_by': a list of "
                          "{field_name, ascending} objects")
        (o,) = parse_order_by([item["field_name"]], LOGGED_MODELS)
        found.append(dataclasses.replace(o, ascending=Body(item).flag("ascending", True)))
    return found


def _in_experiments(conn: Connection, experiment_ids: Sequence[str]) -> list[LoggedModel]:
    c = logged_models.c
    query = select(logged_models).where(c.deleted.is_(False))
    if experiment_ids:
        query = query.where(c.experiment_id.in_(list(experiment_ids)))
    return [_model(row) for row in conn.execute(query)]


async def search(request: web.Request) -> web.StreamResponse:
    """POST /logged-models/search"""
    body = await Body.of(request)
    experiment_ids = body.strings("experiment_ids")
    if body.items("datasets"):
        raise invalid("dataset filters are not supported: runstream does not record "
                      "which datasets a logged model's metrics were computed on")
    text = body.text("filter", "")
    try:
        clauses = [_normalized(c) for c in parse_filter(text, LOGGED_MODELS)]
        orders = _orderings(body.items("order_by"))
        query = ("logged-models", sorted(experiment_ids), text, body.items("order_by"))
        start = decode_page_token(body.text("page_token"), *query) \
            if body.has("page_token") else 0
    except SearchError as exc:
        raise invalid(str(exc)) from None
    limit = body.integer("max_results", DEFAULT_MAX_RESULTS)
    if not 1 <= limit <= MAX_RESULTS:
        raise invalid(f"Invalid value {limit} for parameter 'max_results': between 1 and "
                      f"{MAX_RESULTS}")
    models = [m for m in await read(request, _in_experiments, experiment_ids)
              if all(holds(c, _field(m, c.kind, c.key)) for c in clauses)]
    # Newest first by default, then by id so that pages never overlap.
    models.sort(key=lambda m: m.model_id)
    models.sort(key=lambda m: m.created, reverse=True)
    ordered = sort_by(models, orders, lambda m, o: _field(m, o.kind, o.key))
    page = await read(request, _with_registrations, ordered[start:start + limit])
    more = start + limit < len(models)
    return ok({"models": [model_json(m) for m in page],
               "next_page_token": encode_page_token(start + limit, *query) if more else None})


ROUTES: list[tuple[str, str, Handler]] = routes(API, [
    ("POST", "/logged-models", create),
    ("POST", "/logged-models/search", search),
    ("GET", "/logged-models/{model_id}", get),
    ("PATCH", "/logged-models/{model_id}", finalize),
    ("DELETE", "/logged-models/{model_id}", delete),
    ("PATCH", "/logged-models/{model_id}/tags", set_tags),
    ("DELETE", "/logged-models/{model_id}/tags/{key:.+}", delete_tag),
    ("POST", "/logged-models/{model_id}/params", log_params),
    ("GET", "/logged-models/{model_id}/artifacts/directories", list_files),
    ("POST", "/runs/outputs", log_outputs),
])
