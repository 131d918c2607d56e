"""The MLflow variables of a submitted script, so that its MLflow calls log into its run.

runstream's server speaks MLflow's REST API, so a script that logs with MLflow needs
only to be pointed at it, and at its run:

- ``MLFLOW_TRACKING_URI``: the server, as the script reaches it: the agent's
  ``RUNSTREAM_URL``, which inside a docker target's container is the address the
  container's agent already uses;
- ``MLFLOW_RUN_ID``: the submitted run. ``mlflow.start_run()`` (and every autolog
  integration, which calls it) then resumes that run instead of creating one, so the
  script's printed lines, its MLflow metrics, parameters and tags and its outputs/
  are one run;
- ``MLFLOW_EXPERIMENT_NAME``: the run's project, which is its experiment on the
  server, so that runs the script creates besides (nested runs of a hyperparameter
  search, a second ``start_run()``) land in the same experiment.
  ``MLFLOW_EXPERIMENT_ID`` is removed: MLflow refuses an id that does not match the
  name;
- ``MLFLOW_TRACKING_TOKEN``: the agent's ``RUNSTREAM_TOKEN``, when the server wants one
  (MLflow sends it as ``Authorization: Bearer``, as runstream does).

These replace the user's own values (runstream decides where its run is logged); a
user who wants the script to log to another MLflow server submits with
``--no-mlflow``, which leaves every ``MLFLOW_*`` variable as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["MLFLOW_REMOVED", "mlflow_env", "mlflow_notes", "valid_mlflow_run_id"]

# MLflow's own check of a run id (mlflow.utils.validation._RUN_ID_REGEX): start_run
# raises INVALID_PARAMETER_VALUE for MLFLOW_RUN_ID that does not match it.
_MLFLOW_RUN_ID = re.compile(r"[a-zA-Z0-9][\w\-]{0,255}")
MLFLOW_REMOVED = ("MLFLOW_EXPERIMENT_ID",)


def valid_mlflow_run_id(run_id: str) -> bool:
    """Whether MLflow accepts ``run_id`` (runstream's ids hold the project name, and a
    project folder may have a dot in its name: MLflow's ids may not)."""
    return _MLFLOW_RUN_ID.fullmatch(run_id) is not None


def mlflow_env(url: str, run_id: str, project: str, token: str = "") -> dict[str, str]:
    """The variables that point the script's MLflow client at run ``run_id`` of the server
    at ``url`` (without ``MLFLOW_RUN_ID`` if MLflow would refuse the id: then the
    script's ``start_run()`` makes a run of its own, in the same experiment)."""
    env = {"MLFLOW_TRACKING_URI": url, "MLFLOW_EXPERIMENT_NAME": project}
    if valid_mlflow_run_id(run_id):
        env["MLFLOW_RUN_ID"] = run_id
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    return env


def mlflow_notes(url: str, run_id: str, environ: Mapping[str, str]) -> list[str]:
    """What the submitter should hear about the MLflow variables of run ``run_id``:
    an ``MLFLOW_TRACKING_URI`` of theirs that is replaced, a run id MLflow refuses."""
    notes = []
    given = environ.get("MLFLOW_TRACKING_URI", "").strip()
    if given and given.rstrip("/") != url.rstrip("/"):
        notes.append(f"the script's MLflow calls go to this run on {url}, not to "
                     f"MLFLOW_TRACKING_URI={given}; submit with --no-mlflow to keep yours")
    if not valid_mlflow_run_id(run_id):
        notes.append(f"MLflow does not accept the run id {run_id} (only letters, digits, _ "
                     "and -), so the script's mlflow.start_run() makes a run of its own; "
                     "name the project without other characters (RUNSTREAM_PROJECT=name) to "
                     "have one run")
    return notes
