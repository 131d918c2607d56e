"""runstream's views in MLflow's words: a run view as MLflow's ``Run`` (``info``, ``data``,
``inputs``), an experiment row as MLflow's ``Experiment``, run states as MLflow's
``RunStatus`` names. Every MLflow answer about runs and experiments is built here, so
that ``runs/get``, ``runs/search`` and the other modules (artifacts, registry) agree.

Derived, never stored: a run's ``artifact_uri`` (``mlflow-artifacts:/<experiment>/<run>/
artifacts``, which sends the client's uploads to runstream's artifact proxy), its
``lifecycle_stage`` ("deleted" when archived or when its experiment is deleted) and its
``mlflow.runName`` tag (the run's name).
"""

from __future__ import annotations

from math import isfinite
from typing import Any

import msgspec

from runstream_server.mlflow.wire import double_out, finite_json, ms, pairs_out
from runstream_server.projections.experiments import DEFAULT_ID, Experiment
from runstream_server.projections.runs import RunView
from runstream_server.queries import MlflowRun
from runstream_server.search_sql import MLFLOW_STATUS, RUN_NAME_TAG

__all__ = ["DATASETS_TAG", "ENDED", "MODEL_INPUTS_TAG", "RUN_NAME_TAG", "STATUS_NUMBERS",
           "artifact_uri", "datasets_of", "experiment_artifact_location", "experiment_json",
           "lifecycle_stage", "run_info", "run_json", "status_of"]

# MLflow's RunStatus enum: names (what the client sends and reads) and proto numbers.
STATUS_NUMBERS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
# An MLflow status that ends a run → runstream's end state (run.completed's status).
ENDED = {"FINISHED": "completed", "FAILED": "failed", "KILLED": "canceled"}

# Where runs/log-inputs' datasets and model inputs are kept: run tags holding JSON (MLflow's
# own wire shape of DatasetInput / ModelInput), shown by MLflow as ``run.inputs``.
DATASETS_TAG = "mlflow.datasets"
MODEL_INPUTS_TAG = "mlflow.modelInputs"
_INPUT_TAGS = frozenset({DATASETS_TAG, MODEL_INPUTS_TAG})


def status_of(view: RunView) -> str:
    return MLFLOW_STATUS.get(view.status, view.status.upper())


def artifact_uri(experiment_id: str, run_id: str) -> str:
    """A run's artifact root: the client rewrites ``mlflow-artifacts:/…`` to runstream's
    ``/api/2.0/mlflow-artifacts/artifacts/…`` (an empty one would send it to local disk)."""
    return f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"


def lifecycle_stage(view: RunView, experiment_deleted: bool = False) -> str:
    return "deleted" if view.archived or experiment_deleted else "active"


def run_info(view: RunView, experiment_deleted: bool = False) -> dict[str, Any]:
    experiment_id = view.experiment_id or DEFAULT_ID
    return {
        "run_id": view.run_id,
        "run_uuid": view.run_id,
        "run_name": view.name,
        "experiment_id": experiment_id,
        "user_id": view.user,
        "status": status_of(view),
        "start_time": ms(view.started),
        "end_time": ms(view.ended),
        "artifact_uri": artifact_uri(experiment_id, view.run_id),
        "lifecycle_stage": lifecycle_stage(view, experiment_deleted),
    }


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


_list_decoder = msgspec.json.Decoder(list[Any])


def _json_list(text: str | None) -> list[Any]:
    if not text:
        return []
    try:
        return _list_decoder.decode(text)
    except msgspec.DecodeError:
        return []  # a tag set by hand to something else: no inputs to show


def datasets_of(tags: dict[str, str]) -> list[dict[str, Any]]:
    """The dataset inputs recorded by runs/log-inputs (MLflow's DatasetInput JSON)."""
    return [d for d in _json_list(tags.get(DATASETS_TAG)) if isinstance(d, dict)]


def model_inputs_of(tags: dict[str, str]) -> list[dict[str, Any]]:
    return [m for m in _json_list(tags.get(MODEL_INPUTS_TAG)) if isinstance(m, dict)]


def run_json(run: MlflowRun, *, finite: bool = False) -> dict[str, Any]:
    """MLflow's ``Run``: info, data (latest metrics, params, tags) and inputs.
    ``finite``: every double already JSON-safe (NaN and the infinities as MLflow's
    strings), so that the answer can be encoded without a walk (``ok(finite=True)``)."""
    view = run.view
    tags = {k: v for k, v in view.tags.items() if k not in _INPUT_TAGS}
    if view.name:
        tags[RUN_NAME_TAG] = view.name
    metrics = [{"key": m.key, "value": m.value if not finite or isfinite(m.value)
                else double_out(m.value), "timestamp": round(m.time * 1000), "step": m.step}
               for m in run.metrics]
    inputs = {"dataset_inputs": datasets_of(view.tags),
              "model_inputs": model_inputs_of(view.tags)}
    return {
        "info": _drop_none(run_info(view, run.experiment_deleted)),
        "data": {"metrics": metrics, "params": pairs_out(view.params),
                 "tags": pairs_out(tags)},
        # parsed from tags' JSON, which may spell NaN: walked (they are small)
        "inputs": finite_json(inputs) if finite else inputs,
    }


def experiment_artifact_location(experiment: Experiment) -> str:
    return experiment.artifact_location or f"mlflow-artifacts:/{experiment.experiment_id}"


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "artifact_location": experiment_artifact_location(experiment),
        "lifecycle_stage": experiment.lifecycle_stage,
        "last_update_time": ms(experiment.updated),
        "creation_time": ms(experiment.created),
        "tags": pairs_out(experiment.tags),
    }
