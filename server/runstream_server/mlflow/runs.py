"""MLflow API: runs — create, get, update, delete, restore, log-metric, log-batch,
log-parameter, set-tag, delete-tag, log-inputs, search — and metric history.

Everything the MLflow API learns about a run is written by the server to the run's
``mlflow/<run id>`` stream (never to ``run/<id>``, its agent's or SDK's); deletion and
restoration go to ``review/<run id>`` as runstream's archive does. A run created here
has ``target = "mlflow"``: its MLflow client ends it (runs/update). Any other run (an
agent's, the SDK's, which ``runstream submit`` hands to the script as
``MLFLOW_RUN_ID``) is ended by its own writer: runs/update leaves its state alone, while
its metrics, parameters and tags from MLflow are still kept.

A call is checked against the run's view before anything is written (an unknown run,
a deleted one, a parameter changing its value), and each call is one write, all its
events or none.
"""

from __future__ import annotations

import random
import time
import uuid
from math import isfinite
from typing import Any

import msgspec
from aiohttp import web
from sqlalchemy import Connection

from runstream.events import (
    MAX_KEY_CHARS,
    MAX_NAME_CHARS,
    MAX_TAG_CHARS,
    MetricsLogged,
    ParamsLogged,
    Payload,
    RunArchived,
    RunCompleted,
    RunRenamed,
    RunRestored,
    RunStarted,
    RunSubmitted,
    TagsDeleted,
    TagsSet,
    mlflow_stream,
    review_stream,
)
from runstream_server import queries
from runstream_server.api.routing import read
from runstream_server.mlflow.answers import answers_key, page_json
from runstream_server.mlflow.convert import (
    DATASETS_TAG,
    ENDED,
    MODEL_INPUTS_TAG,
    RUN_NAME_TAG,
    STATUS_NUMBERS,
    datasets_of,
    model_inputs_of,
    run_info,
    run_json,
)
from runstream_server.mlflow.experiments import active_experiment, experiment_id_in, view_type
from runstream_server.mlflow.logged_models import outputs_of_run
from runstream_server.mlflow.projects import ensure_project_experiments, experiment_of_project
from runstream_server.mlflow.wire import (
    API,
    Body,
    double,
    double_out,
    invalid,
    missing,
    ok,
    routes,
)
from runstream_server.mlflow.writes import write
from runstream_server.projections.experiments import DEFAULT_ID
from runstream_server.projections.runs import RunView, runs_table
from runstream_server.search import SearchError
from runstream_server.search_sql import MAX_RESULTS, decode_page_token, encode_page_token

__all__ = ["ROUTES", "random_run_name", "require_active_run", "require_run"]

# MLflow's client-side batch limits, enforced by its server too.
MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS_TAGS = 100
MAX_BATCH_ENTITIES = 1000
HISTORY_PAGE = 25_000  # get-history's page when the caller names none (the client's own)
MAX_BULK_RUNS = 100
MAX_BULK_RESULTS = 2500
# Column widths of the runs view (projections/runs.py).
_PROJECT_CHARS: int = getattr(runs_table.c.project.type, "length", None) or 200
_USER_CHARS: int = getattr(runs_table.c.user.type, "length", None) or 200

_ARCHIVED = {"active": "hide", "deleted": "only"}


# -- reads -----------------------------------------------------------------------------


async def require_run(request: web.Request, run_id: str) -> tuple[RunView, bool]:
    """A run's view (not numbered) and whether its experiment is deleted."""
    found = await read(request, queries.run_state, run_id)
    if found is None:
        raise missing(f"Run with id={run_id} not found")
    return found


async def require_active_run(request: web.Request, run_id: str) -> RunView:
    """A run that may be written to: MLflow refuses writes to a deleted run."""
    view, experiment_deleted = await require_run(request, run_id)
    if view.archived or experiment_deleted:
        raise invalid(f"The run {run_id} must be in the 'active' state. Current state is "
                      "deleted.")
    return view


async def _answer_run(request: web.Request, run_id: str) -> dict[str, Any]:
    found = await read(request, queries.mlflow_run, run_id)
    if found is None:
        raise missing(f"Run with id={run_id} not found")
    if not found.view.experiment_id:  # an agent's run whose project has no experiment yet
        await experiment_of_project(request, found.view.project)
        found = await read(request, queries.mlflow_run, run_id) or found
    answer = run_json(found)
    outputs = await read(request, outputs_of_run, run_id)  # MLflow 3: the models it logged
    if outputs:
        answer["outputs"] = {"model_outputs": [{"model_id": m, "step": s} for m, s in outputs]}
    return answer


# -- run lifecycle ---------------------------------------------------------------------

_ADJECTIVES = ("able", "agile", "amber", "bold", "brave", "bright", "calm", "clever", "crisp",
               "dapper", "eager", "fleet", "gentle", "glad", "honest", "jolly", "keen", "lucky",
               "merry", "nimble", "polite", "quiet", "rare", "shy", "silent", "swift", "tidy",
               "vivid", "wise", "zesty")
_NOUNS = ("ant", "bass", "bat", "bear", "carp", "crab", "crow", "deer", "dove", "eel", "elk",
          "finch", "fox", "goat", "hare", "hawk", "ibis", "jay", "koi", "lark", "lynx", "mole",
          "newt", "owl", "panda", "ram", "seal", "shrew", "toad", "wolf")


def random_run_name() -> str:
    """A name for a run its creator did not name, in MLflow's style (``bright-fox-417``)."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(0, 999)}"


def _text_field(body: Body, key: str) -> str:
    """An optional string field ("" when absent)."""
    value = body.data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"Invalid value {value!r} for parameter '{key}': a string is expected")
    return value


def _check_length(what: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise invalid(f"{what} {text[:40]!r}… is {len(text)} characters long, more than the "
                      f"limit of {limit}")


async def create_run(request: web.Request) -> web.Response:
    body = await Body.of(request)
    experiment = await active_experiment(request, experiment_id_in(body, default=DEFAULT_ID))
    tags = body.pairs("tags")
    asked, tagged = _text_field(body, "run_name"), tags.get(RUN_NAME_TAG, "")
    if asked and tagged and asked != tagged:
        raise invalid("Both 'run_name' argument and 'mlflow.runName' tag are specified, but "
                      f"with different values (run_name='{asked}', mlflow.runName="
                      f"'{tagged}').")
    name = asked or tagged or random_run_name()
    tags[RUN_NAME_TAG] = name
    user = _text_field(body, "user_id")
    _check_length("run_name", name, MAX_NAME_CHARS)
    _check_length("user_id", user, _USER_CHARS)
    if len(experiment.name) > _PROJECT_CHARS:
        raise invalid(f"the experiment's name is {len(experiment.name)} characters long; runs "
                      f"can be created only in experiments named with up to {_PROJECT_CHARS} "
                      "(a run's project is its experiment's name): rename it "
                      "(experiments/update)")
    run_id = uuid.uuid4().hex
    await write(request, mlflow_stream(run_id), [
        RunSubmitted(project=experiment.name, script="", target="mlflow", user=user, name=name,
                     experiment_id=experiment.experiment_id),
        RunStarted(lease=0.0),
        TagsSet(tags),
    ])
    return ok({"run": await _answer_run(request, run_id)})


async def get_run(request: web.Request) -> web.Response:
    body = await Body.of(request)
    return ok({"run": await _answer_run(request, body.run_id())})


def _status(body: Body) -> str | None:
    value = body.data.get("status")
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = STATUS_NUMBERS.get(value, str(value))
    status = str(value).upper()
    if status not in STATUS_NUMBERS.values():
        raise invalid(f"Invalid value {value!r} for parameter 'status': expected one of "
                      f"{', '.join(STATUS_NUMBERS.values())}")
    return status


async def update_run(request: web.Request) -> web.Response:
    """Rename and end a run. Only a run created through MLflow (target "mlflow") is ended
    here; RUNNING and SCHEDULED change nothing (a run's end is final in runstream), and
    ``end_time`` is the time the server records the end."""
    body = await Body.of(request)
    run_id = body.run_id()
    status, name = _status(body), _text_field(body, "run_name")
    view = await require_active_run(request, run_id)
    payloads: list[Payload] = []
    if name and name != view.name:
        _check_length("run_name", name, MAX_NAME_CHARS)
        payloads += [RunRenamed(name), TagsSet({RUN_NAME_TAG: name})]
    if status in ENDED and view.target == "mlflow" and view.status != ENDED[status]:
        payloads.append(RunCompleted(status=ENDED[status]))  # type: ignore[arg-type]
    await write(request, mlflow_stream(run_id), payloads)
    if not view.experiment_id:
        await experiment_of_project(request, view.project)
    after = await require_run(request, run_id)
    return ok({"run_info": run_info(*after)})


async def delete_run(request: web.Request) -> web.Response:
    """MLflow's deletion is runstream's archive (``review/<run id>``): hidden, kept."""
    body = await Body.of(request)
    run_id = body.run_id()
    view, _ = await require_run(request, run_id)
    if not view.archived:
        await write(request, review_stream(run_id), [RunArchived(run_id)])
    return ok()


async def restore_run(request: web.Request) -> web.Response:
    body = await Body.of(request)
    run_id = body.run_id()
    view, _ = await require_run(request, run_id)
    if view.archived:
        await write(request, review_stream(run_id), [RunRestored(run_id)])
    return ok()


# -- logging ---------------------------------------------------------------------------


def _int(value: Any, field: str, default: int | None = None) -> int:
    """An int64 as MLflow sends it: a JSON number or a string of digits."""
    if value is None or value == "":
        if default is None:
            raise invalid(f"Missing value for required parameter '{field}'.")
        return default
    if type(value) is int:
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise invalid(f"Invalid value {value!r} for parameter '{field}': an integer is expected")


def _metric_key(key: Any, field: str) -> str:
    if not isinstance(key, str) or not key:
        raise invalid(f"Missing value for required parameter '{field}'.")
    if len(key) > MAX_KEY_CHARS or "\x00" in key:
        raise invalid(f"Invalid value for parameter '{field}': a metric name is 1-"
                      f"{MAX_KEY_CHARS} characters without NUL, not {key[:40]!r}…")
    return key


def _param_changes(view: RunView, params: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The parameters not logged yet, and MLflow's words for each that would change."""
    fresh, changed = {}, []
    for key, value in params.items():
        old = view.params.get(key)
        if old is None:
            fresh[key] = value
        elif old != value:
            changed.append(f"Param with key='{key}' was already logged with value='{old}' for "
                           f"run ID='{view.run_id}'. Attempted logging new value '{value}'.")
    return fresh, changed


def _refuse_changes(changed: list[str]) -> None:
    if changed:
        raise invalid("Changing param values is not allowed. " + " ".join(changed))


def _tag_payloads(tags: dict[str, str]) -> list[Payload]:
    """Tags, and a rename when MLflow's name tag is among them (MLflow renames then)."""
    if not tags:
        return []
    payloads: list[Payload] = [TagsSet(tags)]
    if tags.get(RUN_NAME_TAG):
        payloads.append(RunRenamed(tags[RUN_NAME_TAG]))
    return payloads


async def log_metric(request: web.Request) -> web.Response:
    body = await Body.of(request)
    run_id = body.run_id()
    key = _metric_key(body.data.get("key"), "key")
    value = body.number("value")
    stamp = _int(body.data.get("timestamp"), "timestamp", round(time.time() * 1000))
    step = _int(body.data.get("step"), "step", 0)
    await require_active_run(request, run_id)
    await write(request, mlflow_stream(run_id), [MetricsLogged(
        names=[key], index=[0], steps=[step], times=[stamp / 1000], values=[value])])
    return ok()


def _batch_metrics(items: list[Any]) -> MetricsLogged | None:
    """The batch's points as one columnar MetricsLogged."""
    if not items:
        return None
    names: dict[str, int] = {}
    index: list[int] = []
    steps: list[int] = []
    times: list[float] = []
    values: list[float] = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise invalid(f"Invalid value for metrics[{n}]: a {{key, value, timestamp, step}} "
                          "object is expected")
        key = item.get("key")
        at = names.get(key) if isinstance(key, str) else None
        if at is None:
            at = names[_metric_key(key, f"metrics[{n}].key")] = len(names)
        index.append(at)
        value = item.get("value")
        values.append(float(value) if isinstance(value, float | int) and type(value) is not bool
                      else double(value, f"metrics[{n}].value"))
        stamp = item.get("timestamp")
        times.append((stamp if type(stamp) is int else _int(stamp, f"metrics[{n}].timestamp"))
                     / 1000)
        step = item.get("step")
        steps.append(step if type(step) is int else _int(step, f"metrics[{n}].step", 0))
    return MetricsLogged(names=list(names), index=index, steps=steps, times=times,
                         values=list(values))


def _batch_pairs(items: list[Any], field: str) -> dict[str, str]:
    """``[{key, value}]`` as a dict; a key given twice must keep its value (params)."""
    found: dict[str, str] = {}
    for n, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
            raise invalid(f"Missing value for required parameter '{field}[{n}].key'.")
        key, value = item["key"], item.get("value")
        text = "" if value is None else str(value)
        if field == "params" and key in found and found[key] != text:
            raise invalid(f"Duplicate parameter keys have been submitted: '{key}' with values "
                          f"'{found[key]}' and '{text}'. Please ensure the request contains "
                          "only one param value per param key.")
        found[key] = text
    return found


async def log_batch(request: web.Request) -> web.Response:
    """Metrics, parameters and tags in one write: one columnar MetricsLogged for all the
    points, ParamsLogged for the new parameters, TagsSet."""
    body = await Body.of(request)
    run_id = body.run_id()
    metric_items, param_items, tag_items = (body.items("metrics"), body.items("params"),
                                            body.items("tags"))
    for what, got, limit in (("metrics", metric_items, MAX_BATCH_METRICS),
                             ("params", param_items, MAX_BATCH_PARAMS_TAGS),
                             ("tags", tag_items, MAX_BATCH_PARAMS_TAGS)):
        if len(got) > limit:
            raise invalid(f"A batch logging request can contain at most {limit} {what}. Got "
                          f"{len(got)} {what}. Please split up {what} across multiple requests "
                          "and try again.")
    total = len(metric_items) + len(param_items) + len(tag_items)
    if total > MAX_BATCH_ENTITIES:
        raise invalid(f"A batch logging request can contain at most {MAX_BATCH_ENTITIES} "
                      f"total metrics, params and tags. Got {total}. Please split up the "
                      "entities across multiple requests and try again.")
    metrics = _batch_metrics(metric_items)
    params = _batch_pairs(param_items, "params")
    tags = _batch_pairs(tag_items, "tags")
    view = await require_active_run(request, run_id)
    fresh, changed = _param_changes(view, params)
    _refuse_changes(changed)
    payloads: list[Payload] = []
    if fresh:
        payloads.append(ParamsLogged(fresh))
    payloads += _tag_payloads(tags)
    if metrics is not None:
        payloads.append(metrics)
    await write(request, mlflow_stream(run_id), payloads)
    return ok()


async def log_param(request: web.Request) -> web.Response:
    body = await Body.of(request)
    run_id, key = body.run_id(), body.text("key")
    value = body.data.get("value")
    params = {key: "" if value is None else str(value)}
    view = await require_active_run(request, run_id)
    fresh, changed = _param_changes(view, params)
    _refuse_changes(changed)
    if fresh:  # the same value again: nothing to record
        await write(request, mlflow_stream(run_id), [ParamsLogged(fresh)])
    return ok()


async def set_tag(request: web.Request) -> web.Response:
    body = await Body.of(request)
    run_id, key = body.run_id(), body.text("key")
    value = body.data.get("value")
    await require_active_run(request, run_id)
    await write(request, mlflow_stream(run_id),
                _tag_payloads({key: "" if value is None else str(value)}))
    return ok()


async def delete_tag(request: web.Request) -> web.Response:
    body = await Body.of(request)
    run_id, key = body.run_id(), body.text("key")
    view = await require_active_run(request, run_id)
    if key not in view.tags and not (key == RUN_NAME_TAG and view.name):
        raise missing(f"No tag with name: {key} in run with id {run_id}")
    await write(request, mlflow_stream(run_id), [TagsDeleted([key])])
    return ok()


_encoder = msgspec.json.Encoder()


def _dataset_input(item: Any, n: int) -> dict[str, Any]:
    """One DatasetInput as MLflow sends it: {tags: [{key, value}], dataset: {name, digest,
    source_type, source, schema, profile}}."""
    dataset = item.get("dataset") if isinstance(item, dict) else None
    if not isinstance(dataset, dict):
        raise invalid(f"Missing value for required parameter 'datasets[{n}].dataset'.")
    for field in ("name", "digest", "source_type", "source"):
        if not isinstance(dataset.get(field), str) or not dataset[field]:
            raise invalid(f"Missing value for required parameter 'datasets[{n}].dataset."
                          f"{field}'.")
    tags = item.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, dict) for t in tags):
        raise invalid(f"Invalid value for parameter 'datasets[{n}].tags': a list of "
                      "{key, value} objects")
    kept = {k: str(v) for k, v in dataset.items()
            if k in ("name", "digest", "source_type", "source", "schema", "profile") and v}
    return {"tags": [{"key": str(t.get("key", "")), "value": str(t.get("value", ""))}
                     for t in tags], "dataset": kept}


def _fit(inputs: list[dict[str, Any]]) -> str:
    """The datasets as the tag's JSON, within a tag's limit: schemas and profiles (which
    can be large) are left out when all would not fit."""
    text = _encoder.encode(inputs).decode()
    if len(text) <= MAX_TAG_CHARS:
        return text
    slim = [{**d, "dataset": {k: v for k, v in d["dataset"].items()
                              if k not in ("schema", "profile")}} for d in inputs]
    text = _encoder.encode(slim).decode()
    if len(text) > MAX_TAG_CHARS:
        raise invalid(f"the run's dataset inputs take {len(text)} characters, more than a "
                      f"tag's {MAX_TAG_CHARS}: runstream keeps them in the run's "
                      f"{DATASETS_TAG} tag; log fewer datasets, or shorter sources")
    return text


async def log_inputs(request: web.Request) -> web.Response:
    """Dataset inputs (and MLflow 3's model inputs) of a run. runstream has no dataset
    entity: they are kept as JSON in the run's ``mlflow.datasets`` and
    ``mlflow.modelInputs`` tags (MLflow's own wire shape, so runs/get shows them again
    as ``run.inputs``), a dataset given twice (same name, digest and tags) once."""
    body = await Body.of(request)
    run_id = body.run_id()
    datasets = [_dataset_input(item, n) for n, item in enumerate(body.items("datasets"))]
    models = []
    for n, item in enumerate(body.items("models")):
        if not isinstance(item, dict) or not isinstance(item.get("model_id"), str):
            raise invalid(f"Missing value for required parameter 'models[{n}].model_id'.")
        models.append({"model_id": item["model_id"]})
    view = await require_active_run(request, run_id)
    tags: dict[str, str] = {}
    if datasets:
        known = datasets_of(view.tags)
        seen = {_encoder.encode(d) for d in known}
        fresh = [d for d in datasets if _encoder.encode(d) not in seen]
        if fresh:
            tags[DATASETS_TAG] = _fit(known + fresh)
    if models:
        known_models = model_inputs_of(view.tags)
        ids = {m.get("model_id") for m in known_models}
        fresh_models = [m for m in models if m["model_id"] not in ids]
        if fresh_models:
            tags[MODEL_INPUTS_TAG] = _encoder.encode(known_models + fresh_models).decode()
    if tags:
        await write(request, mlflow_stream(run_id), [TagsSet(tags)])
    return ok()


# -- search and history ----------------------------------------------------------------


async def search_runs(request: web.Request) -> web.Response:
    body = await Body.of(request)
    ids = [str(i) for i in body.items("experiment_ids")]
    max_results = body.integer("max_results", 1000)
    if not 1 <= max_results <= MAX_RESULTS:
        raise invalid(f"Invalid value {max_results} for parameter 'max_results': it must be "
                      f"between 1 and {MAX_RESULTS}")
    stages = view_type(body, "run_view_type")
    archived = _ARCHIVED[stages[0]] if len(stages) == 1 else "include"
    filter_ = body.text("filter", "") if body.has("filter") else ""
    token = body.text("page_token") if body.has("page_token") else None
    if not ids:
        return ok({"runs": []})
    await ensure_project_experiments(request)  # the runs of projects MLflow has not named
    try:
        page = await read(request, queries.mlflow_search_keys, ids, filter_,
                          body.strings("order_by"), archived, max_results, token)
    except SearchError as exc:
        raise invalid(str(exc)) from None
    answers = request.app[answers_key]
    encoded: dict[str, bytes] = {}
    missing_ids = []
    for run_id, position, experiment_id in page.runs:
        held = answers.get(run_id, position, experiment_id in page.deleted_experiments)
        if held is None:
            missing_ids.append(run_id)
        else:
            encoded[run_id] = held
    if missing_ids:  # read at their latest positions (perhaps newer than the page's keys)
        for run in await read(request, queries.mlflow_runs_of, missing_ids):
            encoded[run.view.run_id] = answers.put(run)
    return web.Response(body=page_json([encoded[i] for i, *_ in page.runs if i in encoded],
                                       page.next_page_token),
                        status=200, content_type="application/json")


async def get_history(request: web.Request) -> web.Response:
    """A numeric metric's points in the order they were logged, a page at a time (the
    client asks 25,000 a page and follows next_page_token, absent on the last)."""
    body = await Body.of(request)
    run_id, key = body.run_id(), body.text("metric_key")
    limit = body.integer("max_results", HISTORY_PAGE)
    if limit <= 0:
        raise invalid(f"Invalid value {limit} for parameter 'max_results' supplied. It must be "
                      "a positive integer.")
    token = body.text("page_token") if body.has("page_token") else None
    try:
        offset = decode_page_token(token, "history", run_id, key) if token else 0
    except SearchError as exc:
        raise invalid(str(exc)) from None
    await require_run(request, run_id)
    page = await read(request, queries.metric_history, run_id, key, offset, limit)
    metrics = [{"key": key, "value": v if isfinite(v) else double_out(v),
                "timestamp": round(t * 1000), "step": s}
               for s, t, v in zip(page.steps, page.times, page.values, strict=True)]
    next_token = encode_page_token(offset + limit, "history", run_id, key) if page.more else None
    return ok({"metrics": metrics, "next_page_token": next_token}, finite=True)


def _sampled(conn: Connection, run_ids: list[str], key: str, start: int | None,
             end: int | None, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` points of each run between ``start`` and ``end`` (steps, both
    included), at steps spread evenly over the run's (its first and last among them),
    as MLflow's get-history-bulk-interval samples for its charts."""
    found: list[dict[str, Any]] = []
    for run_id in sorted(set(run_ids)):
        series = queries.series_arrays(conn, run_id, key)
        if series is None:
            continue
        steps, times, values = series
        inside = [i for i in range(len(steps))
                  if (start is None or steps[i] >= start) and (end is None or steps[i] <= end)]
        distinct = sorted({steps[i] for i in inside})
        if len(distinct) > limit:
            if limit == 1:
                distinct = distinct[:1]
            else:
                gap = (len(distinct) - 1) / (limit - 1)
                distinct = sorted({distinct[round(k * gap)] for k in range(limit)})
        chosen = set(distinct)
        points = sorted((steps[i], times[i], i) for i in inside if steps[i] in chosen)
        found += [{"key": key, "value": values[i], "timestamp": round(t * 1000), "step": s,
                   "run_id": run_id} for s, t, i in points[:limit]]
    return found


async def get_history_bulk_interval(request: web.Request) -> web.Response:
    body = await Body.of(request)
    run_ids = [str(r) for r in body.items("run_ids")]
    if not run_ids:
        raise invalid("Missing value for required parameter 'run_ids'.")
    if len(run_ids) > MAX_BULK_RUNS:
        raise invalid(f"GetMetricHistoryBulkInterval request must specify at most "
                      f"{MAX_BULK_RUNS} run_ids. Received {len(run_ids)} run_ids.")
    key = body.text("metric_key")
    limit = body.integer("max_results", MAX_BULK_RESULTS)
    if not 1 <= limit <= MAX_BULK_RESULTS:
        raise invalid(f"max_results must be between 1 and {MAX_BULK_RESULTS}.")
    start, end = body.optional_integer("start_step"), body.optional_integer("end_step")
    if (start is None) != (end is None):
        raise invalid("If either start step or end step are specified, both must be "
                      "specified.")
    if start is not None and end is not None and start > end:
        raise invalid("end_step must be greater than start_step. Found "
                      f"start_step={start} and end_step={end}.")
    for run_id in run_ids:
        await require_run(request, run_id)
    return ok({"metrics": await read(request, _sampled, run_ids, key, start, end, limit)})


ROUTES = routes(API, [
    ("POST", "/runs/create", create_run),
    ("GET", "/runs/get", get_run),
    ("POST", "/runs/update", update_run),
    ("POST", "/runs/delete", delete_run),
    ("POST", "/runs/restore", restore_run),
    ("POST", "/runs/log-metric", log_metric),
    ("POST", "/runs/log-batch", log_batch),
    ("POST", "/runs/log-parameter", log_param),
    ("POST", "/runs/set-tag", set_tag),
    ("POST", "/runs/delete-tag", delete_tag),
    ("POST", "/runs/log-inputs", log_inputs),
    ("POST", "/runs/search", search_runs),
    ("GET", "/metrics/get-history", get_history),
    ("GET", "/metrics/get-history-bulk-interval", get_history_bulk_interval),
])
