"""runstream as an MLflow tracking server: ``MLFLOW_TRACKING_URI`` set to runstream's own
URL makes the real MLflow client log here unchanged.

The REST API of MLflow 3.x (``service.proto``, ``model_registry.proto``,
``mlflow_artifacts.proto``) under ``/api/2.0/mlflow`` and ``/api/2.0/mlflow-artifacts``:

* ``experiments`` — experiments (a runstream project is an experiment);
* ``runs`` — runs, their metrics, parameters, tags, search and metric history;
* ``artifacts`` — the artifact proxy, into runstream's content-addressed blob store;
* ``logged_models`` — MLflow 3's logged models (``log_model`` needs them);
* ``registry`` — registered models, versions, aliases, tags: runstream's registry.

Conventions (errors, lenient scalars, epoch milliseconds) live in ``wire``; every call
becomes events through ``writes``.
"""

from __future__ import annotations

from runstream_server.mlflow.wire import Handler

__all__ = ["mlflow_routes"]


def mlflow_routes() -> list[tuple[str, str, Handler]]:
    """Every MLflow endpoint runstream serves: (method, path, handler)."""
    from runstream_server.mlflow import artifacts, experiments, logged_models, registry, runs

    return [*experiments.ROUTES, *runs.ROUTES, *artifacts.ROUTES, *logged_models.ROUTES,
            *registry.ROUTES]
