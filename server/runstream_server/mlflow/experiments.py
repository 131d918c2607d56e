"""MLflow API: experiments (create, get, get-by-name, search, update, delete, restore,
set-experiment-tag, delete-experiment-tag), all on the ``experiments/all`` stream.

An experiment is a runstream project (a project that only an agent's runs name becomes
one when MLflow first asks: ``projects``). Ids are assigned by the experiments view (the
order experiments first appear in the log), so ``create`` writes the event, then reads
the row its name made. Names stay unique, deleted experiments' names included, as in
MLflow. "0" ("Default") always exists.
"""

from __future__ import annotations

from aiohttp import web

from runstream.events import (
    EXPERIMENTS_STREAM,
    ExperimentCreated,
    ExperimentDeleted,
    ExperimentRenamed,
    ExperimentRestored,
    ExperimentTagsDeleted,
    ExperimentTagsSet,
)
from runstream_server import queries
from runstream_server.api.routing import read
from runstream_server.mlflow.convert import experiment_json
from runstream_server.mlflow.projects import ensure_project_experiments
from runstream_server.mlflow.wire import (
    API,
    Body,
    MlflowError,
    exists,
    invalid,
    missing,
    ok,
    routes,
)
from runstream_server.mlflow.writes import write_one
from runstream_server.projections.experiments import DEFAULT_NAME, Experiment
from runstream_server.search import SearchError
from runstream_server.search_sql import MAX_RESULTS

__all__ = ["ROUTES", "active_experiment", "experiment_id_in", "require_experiment",
           "view_type"]

# MLflow's ViewType: by name (what the client sends) or proto number.
_VIEW_TYPES = {"ACTIVE_ONLY": ("active",), "DELETED_ONLY": ("deleted",),
               "ALL": ("active", "deleted"), "1": ("active",), "2": ("deleted",),
               "3": ("active", "deleted")}


def view_type(body: Body, key: str) -> tuple[str, ...]:
    """The lifecycle stages a ViewType field asks for (ACTIVE_ONLY when absent)."""
    value = body.data.get(key)
    if value is None or value == "":
        return ("active",)
    found = _VIEW_TYPES.get(str(value).upper())
    if found is None:
        raise invalid(f"Invalid value {value!r} for parameter '{key}': expected ACTIVE_ONLY, "
                      "DELETED_ONLY or ALL")
    return found


def experiment_id_in(body: Body, key: str = "experiment_id", default: str | None = None) -> str:
    """An experiment id field: a string (the proto's type) or, leniently, a JSON number."""
    value = body.data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return body.text(key, default)


async def require_experiment(request: web.Request, experiment_id: str) -> Experiment:
    found = await read(request, queries.experiment, experiment_id)
    if found is None:  # perhaps a project's, not made yet
        await ensure_project_experiments(request)
        found = await read(request, queries.experiment, experiment_id)
    if found is None:
        raise missing(f"No Experiment with id={experiment_id} exists")
    return found


async def active_experiment(request: web.Request, experiment_id: str) -> Experiment:
    """The experiment, which must not be deleted (runs and tags go to active ones only)."""
    found = await require_experiment(request, experiment_id)
    if found.lifecycle_stage != "active":
        raise invalid(f"The experiment {experiment_id} must be in the 'active' state. Current "
                      f"state is {found.lifecycle_stage}.")
    return found


async def create(request: web.Request) -> web.Response:
    body = await Body.of(request)
    name = body.text("name")
    artifact_location = body.text("artifact_location", "")
    tags = body.pairs("tags")
    if name == DEFAULT_NAME or await read(request, queries.experiment_named, name) is not None:
        raise exists(f"Experiment(name={name}) already exists. Choose another name, or restore "
                     "it (experiments/restore) if it is deleted.")
    stored = await write_one(request, EXPERIMENTS_STREAM, ExperimentCreated(
        name=name, artifact_location=artifact_location, tags=tags))
    made = await read(request, queries.experiment_named, name)
    if made is None or made.created != stored.ts:
        # Another request created the name between the check and this write: the view
        # kept the first creation and ignored this one.
        raise exists(f"Experiment(name={name}) already exists (created concurrently).")
    return ok({"experiment_id": made.experiment_id})


async def get(request: web.Request) -> web.Response:
    body = await Body.of(request)
    found = await require_experiment(request, experiment_id_in(body))
    return ok({"experiment": experiment_json(found)})


async def get_by_name(request: web.Request) -> web.Response:
    body = await Body.of(request)
    name = body.text("experiment_name")
    await ensure_project_experiments(request, [name])  # a project's runs name it: make it
    found = await read(request, queries.experiment_named, name)
    if found is None:
        raise missing(f"Could not find experiment with name '{name}'")
    return ok({"experiment": experiment_json(found)})


async def search(request: web.Request) -> web.Response:
    body = await Body.of(request)
    max_results = body.integer("max_results", 1000)
    if not 1 <= max_results <= MAX_RESULTS:
        raise invalid(f"Invalid value {max_results} for parameter 'max_results': it must be "
                      f"between 1 and {MAX_RESULTS}")
    filter_ = body.text("filter", "") if body.has("filter") else ""
    token = body.text("page_token") if body.has("page_token") else None
    await ensure_project_experiments(request)
    try:
        found, next_token = await read(
            request, queries.search_experiments, filter_, body.strings("order_by"),
            view_type(body, "view_type"), max_results, token)
    except SearchError as exc:
        raise invalid(str(exc)) from None
    return ok({"experiments": [experiment_json(e) for e in found],
               "next_page_token": next_token})


async def update(request: web.Request) -> web.Response:
    body = await Body.of(request)
    experiment_id, new_name = experiment_id_in(body), body.text("new_name")
    found = await require_experiment(request, experiment_id)
    if found.lifecycle_stage != "active":
        raise MlflowError("INVALID_STATE", "Cannot rename a non-active experiment.")
    if new_name == found.name:
        return ok()
    taken = await read(request, queries.experiment_named, new_name)
    if taken is not None or new_name == DEFAULT_NAME:
        raise exists(f"Experiment(name={new_name}) already exists.")
    await write_one(request, EXPERIMENTS_STREAM, ExperimentRenamed(experiment_id, new_name))
    renamed = await require_experiment(request, experiment_id)
    if renamed.name != new_name:  # taken concurrently: the first holder keeps it
        raise exists(f"Experiment(name={new_name}) already exists (taken concurrently).")
    return ok()


async def delete(request: web.Request) -> web.Response:
    body = await Body.of(request)
    experiment_id = experiment_id_in(body)
    found = await require_experiment(request, experiment_id)
    if found.lifecycle_stage != "active":
        raise missing(f"No Experiment with id={experiment_id} exists (it is already deleted)")
    await write_one(request, EXPERIMENTS_STREAM, ExperimentDeleted(experiment_id))
    return ok()


async def restore(request: web.Request) -> web.Response:
    body = await Body.of(request)
    experiment_id = experiment_id_in(body)
    found = await require_experiment(request, experiment_id)
    if found.lifecycle_stage != "deleted":
        raise missing(f"No deleted Experiment with id={experiment_id} exists (it is active)")
    await write_one(request, EXPERIMENTS_STREAM, ExperimentRestored(experiment_id))
    return ok()


async def set_tag(request: web.Request) -> web.Response:
    body = await Body.of(request)
    experiment_id, key = experiment_id_in(body), body.text("key")
    value = body.data.get("value")
    await active_experiment(request, experiment_id)
    await write_one(request, EXPERIMENTS_STREAM, ExperimentTagsSet(
        experiment_id, {key: "" if value is None else str(value)}))
    return ok()


async def delete_tag(request: web.Request) -> web.Response:
    body = await Body.of(request)
    experiment_id, key = experiment_id_in(body), body.text("key")
    found = await active_experiment(request, experiment_id)
    if key not in found.tags:
        raise missing(f"No tag with name: {key} in experiment with id {experiment_id}")
    await write_one(request, EXPERIMENTS_STREAM, ExperimentTagsDeleted(experiment_id, [key]))
    return ok()


ROUTES = routes(API, [
    ("POST", "/experiments/create", create),
    ("GET", "/experiments/get", get),
    ("GET", "/experiments/get-by-name", get_by_name),
    ("POST", "/experiments/search", search),
    ("GET", "/experiments/search", search),
    ("POST", "/experiments/update", update),
    ("POST", "/experiments/delete", delete),
    ("POST", "/experiments/restore", restore),
    ("POST", "/experiments/set-experiment-tag", set_tag),
    ("POST", "/experiments/delete-experiment-tag", delete_tag),
])
